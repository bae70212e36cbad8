//! Tests of the layer ops: finite-difference gradients in float64, the loss-op gradients of
//! real MXNet (`op_grads_expected.json`), and the BatchNorm checkpoint net of
//! `ckpt_expected.params`.

use std::path::PathBuf;

use crate::context::Context;
use crate::dtype::DType;
use crate::eager_grad::{EagerGrad, check_numeric_gradient, eager_gradient, f64_array};
use crate::error::Error;
use crate::invoke::invoke_op_full;
use crate::ndarray::NDArray;
use crate::op::grad::test_values;
use crate::op::{Attrs, GradBuilder, NodeEntry, registry};
use crate::storage::CpuStorage;

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    Attrs::from_pairs(pairs.iter().copied())
}

fn arr(shape: &[usize], seed: u64) -> NDArray {
    f64_array(shape, test_values(shape.iter().product(), seed)).unwrap()
}

fn vals(a: &NDArray) -> Vec<f64> {
    let s = a.to_cpu_storage().unwrap();
    (0..s.len()).map(|i| s.get_f64(i)).collect()
}

fn run(name: &str, a: &Attrs, inputs: &[NDArray], is_train: bool) -> crate::error::Result<Vec<NDArray>> {
    let op = registry().get(name)?;
    let op: std::sync::Arc<dyn crate::op::Operator> = std::sync::Arc::from((op.create)(a)?);
    invoke_op_full(op, inputs, None, None, is_train)
}

fn close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}[{i}]: got {g}, want {w}\n got {got:?}\nwant {want:?}");
    }
}

fn check(name: &str, a: &Attrs, inputs: &[NDArray], which: &[usize], is_train: bool) {
    check_numeric_gradient(name, a, inputs, which, is_train, 1e-6, 1e-5, 1e-7)
        .unwrap_or_else(|e| panic!("{name} {a:?} (train={is_train}): {e}"));
}

#[test]
fn fully_connected_gradients() {
    let x = arr(&[4, 2, 3], 1);
    for flatten in ["True", "False"] {
        let k = if flatten == "True" { 6 } else { 3 };
        let w = arr(&[5, k], 2);
        let b = arr(&[5], 3);
        let a = attrs(&[("num_hidden", "5"), ("flatten", flatten)]);
        check("FullyConnected", &a, &[x.clone(), w.clone(), b], &[0, 1, 2], false);
        let a = attrs(&[("num_hidden", "5"), ("flatten", flatten), ("no_bias", "True")]);
        check("FullyConnected", &a, &[x.clone(), w], &[0, 1], false);
    }
}

#[test]
fn fully_connected_shapes_and_errors() {
    let op = (registry().get("FullyConnected").unwrap().create)(&attrs(&[("num_hidden", "5")])).unwrap();
    let mut ins = vec![Some(vec![4, 2, 3]), None, None];
    let mut outs = vec![None];
    op.infer_shape_partial(&mut ins, &mut outs).unwrap();
    assert_eq!(ins, vec![Some(vec![4, 2, 3]), Some(vec![5, 6]), Some(vec![5])]);
    assert_eq!(outs, vec![Some(vec![4, 5])]);
    let mut ins = vec![Some(vec![4, 6]), Some(vec![5, 7]), None];
    assert!(matches!(op.infer_shape_partial(&mut ins, &mut outs), Err(Error::Shape { .. })));
    let nb =
        (registry().get("FullyConnected").unwrap().create)(&attrs(&[("num_hidden", "5"), ("no_bias", "1")])).unwrap();
    assert_eq!(nb.input_names().unwrap(), vec!["data", "weight"]);
    // float32 forward agrees with float64.
    let x = arr(&[3, 4], 4);
    let w = arr(&[2, 4], 5);
    let b = arr(&[2], 6);
    let a = attrs(&[("num_hidden", "2")]);
    let want = vals(&run("FullyConnected", &a, &[x.clone(), w.clone(), b.clone()], false).unwrap()[0]);
    let f32s: Vec<NDArray> = [x, w, b]
        .iter()
        .map(|t| {
            crate::invoke::invoke("Cast", &attrs(&[("dtype", "float32")]), std::slice::from_ref(t), None, None).unwrap()
                [0]
            .clone()
        })
        .collect();
    let got = vals(&run("FullyConnected", &a, &f32s, false).unwrap()[0]);
    close("FullyConnected f32", &got, &want, 1e-5, 1e-6);
    let bad = run("FullyConnected", &a, &[arr(&[3, 4], 1), arr(&[2, 5], 2), arr(&[2], 3)], false);
    let msg = bad.unwrap_err().to_string();
    assert!(msg.contains("weight") && msg.contains("(2,5)"), "{msg}");
}

#[test]
fn activation_gradients_and_errors() {
    let x = arr(&[3, 4], 7);
    for t in ["relu", "sigmoid", "tanh", "softrelu", "softsign"] {
        check("Activation", &attrs(&[("act_type", t)]), std::slice::from_ref(&x), &[0], false);
    }
    let msg = run("Activation", &attrs(&[("act_type", "swish")]), &[x], false).unwrap_err().to_string();
    for t in ["relu", "sigmoid", "softrelu", "softsign", "tanh", "swish"] {
        assert!(msg.contains(t), "{msg}");
    }
    let xs = f64_array(&[5], vec![-2.0, -0.5, 0.0, 0.5, 2.0]).unwrap();
    let y = vals(&run("Activation", &attrs(&[("act_type", "softrelu")]), &[xs], false).unwrap()[0]);
    close("softrelu", &y, &[0.12693, 0.47408, std::f64::consts::LN_2, 0.97408, 2.12693], 0.0, 1e-5);
}

#[test]
fn leaky_relu_gradients() {
    let x = arr(&[2, 3, 4], 8);
    for t in ["leaky", "elu", "selu", "gelu"] {
        check("LeakyReLU", &attrs(&[("act_type", t), ("slope", "0.3")]), std::slice::from_ref(&x), &[0], false);
    }
    check("LeakyReLU", &attrs(&[("act_type", "prelu")]), &[x.clone(), arr(&[3], 9)], &[0, 1], false);
    // One slope shared by every channel (Gluon's PReLU() default), as MXNet accepts.
    check("LeakyReLU", &attrs(&[("act_type", "prelu")]), &[x.clone(), arr(&[1], 10)], &[0, 1], false);
    let g = arr(&[1], 11);
    let y = run("LeakyReLU", &attrs(&[("act_type", "prelu")]), &[x.clone(), g.clone()], false).unwrap();
    let (xv, yv, gv) = (vals(&x), vals(&y[0]), vals(&g));
    for i in 0..xv.len() {
        let want = if xv[i] > 0.0 { xv[i] } else { gv[0] * xv[i] };
        assert!((yv[i] - want).abs() < 1e-6);
    }
    // rrelu: fixed slope (lower+upper)/2 outside training.
    check("LeakyReLU", &attrs(&[("act_type", "rrelu")]), std::slice::from_ref(&x), &[0], false);
    // In training the slope is random per element and the mask holds it.
    let outs = run("LeakyReLU", &attrs(&[("act_type", "rrelu")]), std::slice::from_ref(&x), true).unwrap();
    let (xv, yv, mv) = (vals(&x), vals(&outs[0]), vals(&outs[1]));
    for i in 0..xv.len() {
        assert!((0.125..=0.334).contains(&mv[i]));
        let want = if xv[i] > 0.0 { xv[i] } else { mv[i] * xv[i] };
        assert!((yv[i] - want).abs() < 1e-12);
    }
    let op = (registry().get("LeakyReLU").unwrap().create)(&attrs(&[("act_type", "prelu")])).unwrap();
    let mut ins = vec![Some(vec![2, 3, 4]), None];
    let mut o = vec![None];
    op.infer_shape_partial(&mut ins, &mut o).unwrap();
    assert_eq!(ins[1], Some(vec![3]));
    let mut ins = vec![Some(vec![2, 3, 4]), Some(vec![1])];
    op.infer_shape_partial(&mut ins, &mut o).unwrap();
    assert_eq!(ins[1], Some(vec![1]));
    assert!(run("LeakyReLU", &attrs(&[("act_type", "foo")]), &[x], false).is_err());
}

#[test]
fn softmax_activation_gradients() {
    let x = arr(&[2, 3, 4], 10);
    for m in ["instance", "channel"] {
        check("SoftmaxActivation", &attrs(&[("mode", m)]), std::slice::from_ref(&x), &[0], false);
    }
}

#[test]
fn embedding_forward_and_gradient() {
    let data = f64_array(&[2, 3], vec![0.0, 5.0, -1.0, 1.7, 2.0, 2.2]).unwrap();
    let w = f64_array(&[4, 2], (0..8).map(|v| v as f64).collect()).unwrap();
    let a = attrs(&[("input_dim", "4"), ("output_dim", "2"), ("dtype", "float64")]);
    let y = vals(&run("Embedding", &a, &[data.clone(), w.clone()], false).unwrap()[0]);
    assert_eq!(y, vec![0., 1., 6., 7., 0., 1., 2., 3., 4., 5., 4., 5.]);
    check("Embedding", &a, &[data.clone(), w], &[1], false);
    let g = arr(&[2, 3, 2], 3);
    let (_, grads) = eager_gradient("Embedding", &a, &[data, arr(&[4, 2], 1)], &[g], true).unwrap();
    assert!(grads[0].is_none());
}

#[test]
fn batch_norm_gradients_train_and_predict() {
    let x = arr(&[4, 3, 2], 11);
    let gamma = arr(&[3], 12);
    let beta = arr(&[3], 13);
    let mm = arr(&[3], 14);
    let mv = f64_array(&[3], vec![0.5, 1.0, 2.0]).unwrap();
    for fix in ["True", "False"] {
        for axis in ["1", "-1"] {
            let a = attrs(&[("fix_gamma", fix), ("axis", axis), ("eps", "1e-5")]);
            let c = if axis == "1" { 3 } else { 2 };
            let g = arr(&[c], 12);
            let ins = [x.clone(), g.clone(), arr(&[c], 13), arr(&[c], 14), f64_array(&[c], vec![0.5; c]).unwrap()];
            for train in [true, false] {
                check("BatchNorm", &a, &ins, &[0, 1, 2], train);
            }
        }
    }
    let a = attrs(&[("fix_gamma", "False"), ("use_global_stats", "True")]);
    check("BatchNorm", &a, &[x, gamma, beta, mm, mv], &[0, 1, 2], true);
}

#[test]
fn batch_norm_moving_stats_and_shapes() {
    let x = f64_array(&[4, 3], vec![1., -1., 0.3, 2., 0.5, -0.2, 3., 0., 1., 4., 2., 5.]).unwrap();
    let mm = f64_array(&[3], vec![0.1, 0.2, -0.3]).unwrap();
    let mv = f64_array(&[3], vec![1.0, 0.5, 2.0]).unwrap();
    let g = f64_array(&[3], vec![1.0, 0.5, 2.0]).unwrap();
    let b = f64_array(&[3], vec![0.0, 0.1, -0.1]).unwrap();
    let a = attrs(&[("fix_gamma", "False"), ("output_mean_var", "True")]);
    let outs = run("BatchNorm", &a, &[x.clone(), g.clone(), b.clone(), mm.clone(), mv.clone()], true).unwrap();
    // Real MXNet 1.9.1 for this input: mean [2.5, 0.375, 1.525], "var" = 1/sqrt(var + eps).
    close("mean", &vals(&outs[1]), &[2.5, 0.375, 1.525], 1e-6, 0.0);
    close("invstd", &vals(&outs[2]), &[0.8940696, 0.92336655, 0.48749322], 1e-6, 0.0);
    close("out row 0", &vals(&outs[0])[..3], &[-1.3411044, -0.5348145, -1.2943583], 1e-6, 0.0);
    close("moving_mean", &vals(&mm), &[0.1 * 0.9 + 0.25, 0.2 * 0.9 + 0.0375, -0.3 * 0.9 + 0.1525], 1e-9, 0.0);
    close("moving_var", &vals(&mv), &[0.9 + 0.125, 0.45 + 0.1171875, 1.8 + 0.4206875], 1e-9, 0.0);
    let op = (registry().get("BatchNorm").unwrap().create)(&a).unwrap();
    assert_eq!((op.num_outputs(), op.num_visible_outputs(), op.num_aux()), (3, 3, 2));
    assert_eq!(op.output_names(), vec!["output", "mean", "var"]);
    let mut ins = vec![Some(vec![2, 5, 3]), None, None, None, None];
    let mut o = vec![None, None, None];
    op.infer_shape_partial(&mut ins, &mut o).unwrap();
    assert!(ins[1..].iter().all(|s| s == &Some(vec![5])));
    let mut d = vec![Some(DType::F16), None, None, None, None];
    let mut od = vec![None, None, None];
    op.infer_dtype_partial(&mut d, &mut od).unwrap();
    assert_eq!(d[1], Some(DType::F32));
    assert_eq!(od, vec![Some(DType::F16), Some(DType::F32), Some(DType::F32)]);
}

#[test]
fn dropout_masks_and_gradient() {
    let x = arr(&[50, 40], 15);
    let a = attrs(&[("p", "0.3")]);
    // Predict mode: identity.
    let outs = run("Dropout", &a, std::slice::from_ref(&x), false).unwrap();
    assert_eq!(vals(&outs[0]), vals(&x));
    let g = arr(&[50, 40], 16);
    let (outs, grads) =
        eager_gradient("Dropout", &a, std::slice::from_ref(&x), std::slice::from_ref(&g), true).unwrap();
    let (xv, yv, mv, gv) = (vals(&x), vals(&outs[0]), vals(&outs[1]), vals(&g));
    let dx = vals(grads[0].as_ref().unwrap());
    let kept = mv.iter().filter(|&&m| m != 0.0).count() as f64 / mv.len() as f64;
    assert!((kept - 0.7).abs() < 0.05, "kept {kept}");
    for i in 0..xv.len() {
        assert!(mv[i] == 0.0 || (mv[i] - 1.0 / 0.7).abs() < 1e-12);
        assert!((yv[i] - xv[i] * mv[i]).abs() < 1e-12);
        assert!((dx[i] - gv[i] * mv[i]).abs() < 1e-12);
    }
    // axes=(1,): one draw per row.
    let outs = run("Dropout", &attrs(&[("p", "0.5"), ("axes", "(1,)"), ("mode", "always")]), &[x], false).unwrap();
    for row in vals(&outs[1]).chunks(40) {
        assert!(row.iter().all(|&m| m == row[0]));
    }
}

#[test]
fn block_grad_and_make_loss() {
    let x = f64_array(&[2, 3], vec![1.0, 0.2, 3.0, 0.5, 0.1, 0.6]).unwrap();
    let g = f64_array(&[2, 3], vec![7.0; 6]).unwrap();
    let (outs, grads) =
        eager_gradient("BlockGrad", &Attrs::default(), std::slice::from_ref(&x), std::slice::from_ref(&g), true)
            .unwrap();
    assert_eq!(vals(&outs[0]), vals(&x));
    assert!(grads[0].is_none());
    assert!(registry().get("stop_gradient").is_ok());
    // Values from real MXNet 1.9.1 (the head gradient 7 is ignored).
    for (p, want) in [
        (vec![], 1.0),
        (vec![("grad_scale", "2")], 2.0),
        (vec![("normalization", "batch")], 0.5),
        (vec![("normalization", "valid"), ("valid_thresh", "0.4")], 0.25),
    ] {
        let (outs, grads) =
            eager_gradient("MakeLoss", &attrs(&p), std::slice::from_ref(&x), std::slice::from_ref(&g), true).unwrap();
        assert_eq!(vals(&outs[0]), vals(&x));
        assert_eq!(vals(grads[0].as_ref().unwrap()), vec![want; 6], "{p:?}");
    }
}

fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/mxnet_fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("note: fixtures folder {} is missing; skipping", dir.display());
        None
    }
}

fn json_array(v: &serde_json::Value) -> (Vec<usize>, Vec<f64>) {
    match v {
        serde_json::Value::Array(items) => {
            if items.iter().all(|i| i.is_number()) {
                (vec![items.len()], items.iter().map(|i| i.as_f64().unwrap()).collect())
            } else {
                let parts: Vec<_> = items.iter().map(json_array).collect();
                let mut shape = vec![items.len()];
                shape.extend_from_slice(&parts[0].0);
                (shape, parts.into_iter().flat_map(|p| p.1).collect())
            }
        }
        other => panic!("not an array: {other}"),
    }
}

fn json_attrs(v: &serde_json::Value) -> Attrs {
    let mut a = Attrs::default();
    for (k, v) in v.as_object().unwrap() {
        let s = match v {
            serde_json::Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        a.set(k, s);
    }
    a
}

fn cast(a: &NDArray, dt: DType) -> NDArray {
    crate::invoke::invoke("Cast", &attrs(&[("dtype", dt.name())]), std::slice::from_ref(a), None, None).unwrap()[0]
        .clone()
}

#[test]
fn loss_gradients_match_real_mxnet() {
    let Some(dir) = fixtures_dir() else { return };
    let text = std::fs::read_to_string(dir.join("op_grads_expected.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 20);
    for (i, case) in cases.iter().enumerate() {
        let op = case["op"].as_str().unwrap();
        let a = json_attrs(&case["params"]);
        let (ds, dv) = json_array(&case["data"]);
        let (ls, lv) = json_array(&case["label"]);
        let head = if case["head_grad"].is_null() { vec![1.0; dv.len()] } else { json_array(&case["head_grad"]).1 };
        // Label shape inference agrees with the case's label.
        let opi = (registry().get(op).unwrap().create)(&a).unwrap();
        let mut ins = vec![Some(ds.clone()), None];
        let mut outs = vec![None];
        opi.infer_shape_partial(&mut ins, &mut outs).unwrap();
        if ls != ds && !(a.0.contains_key("multi_output") && ls.len() == 2 && ds.len() == 3) {
            assert_eq!(ins[1].as_ref().unwrap(), &ls, "case {i}: inferred label shape");
        }
        for dt in [DType::F32, DType::F64] {
            let data = cast(&f64_array(&ds, dv.clone()).unwrap(), dt);
            let label = cast(&f64_array(&ls, lv.clone()).unwrap(), dt);
            let hg = cast(&f64_array(&ds, head.clone()).unwrap(), dt);
            let (outs, grads) = eager_gradient(op, &a, &[data, label], &[hg], true).unwrap();
            let what = format!("case {i} {op} {a:?} {dt}");
            close(&format!("{what} output"), &vals(&outs[0]), &json_array(&case["output"]).1, 1e-5, 2e-7);
            let dg = vals(grads[0].as_ref().unwrap());
            close(&format!("{what} data_grad"), &dg, &json_array(&case["data_grad"]).1, 1e-5, 2e-7);
            assert!(grads[1].is_none(), "{what}: the label gets no gradient");
        }
    }
}

#[test]
fn softmax_output_out_grad_multiplies_by_head_gradient() {
    // mxrs follows MXNet's documentation here (1.9.1 multiplies by the output instead).
    let data = f64_array(&[2, 3], vec![1., 2., 3., 1., 1., 1.]).unwrap();
    let label = f64_array(&[2], vec![2., 0.]).unwrap();
    let hg = f64_array(&[2, 3], vec![2.0; 6]).unwrap();
    let (_, g1) = eager_gradient(
        "SoftmaxOutput",
        &Attrs::default(),
        &[data.clone(), label.clone()],
        std::slice::from_ref(&hg),
        true,
    )
    .unwrap();
    let (_, g2) =
        eager_gradient("SoftmaxOutput", &attrs(&[("out_grad", "True")]), &[data, label], &[hg], true).unwrap();
    let (a, b) = (vals(g1[0].as_ref().unwrap()), vals(g2[0].as_ref().unwrap()));
    close("out_grad", &b, &a.iter().map(|v| v * 2.0).collect::<Vec<_>>(), 1e-12, 0.0);
}

fn load_params(path: &std::path::Path) -> std::collections::HashMap<String, NDArray> {
    let (arrays, names) = crate::io::arrays::load(path.to_str().unwrap()).unwrap();
    names.into_iter().zip(arrays).collect()
}

fn copy(a: &NDArray) -> NDArray {
    NDArray::from_cpu(a.to_cpu_storage().unwrap(), a.shape(), Context::cpu(0)).unwrap()
}

/// The checkpoint net (FullyConnected → BatchNorm → relu → FullyConnected → SoftmaxOutput) run
/// op by op; returns the probabilities and, for a training run, the parameter gradients by
/// chaining the registered gradients backwards.
fn ckpt_net(
    p: &std::collections::HashMap<String, NDArray>,
    data: &NDArray,
    label: &NDArray,
    mm: &NDArray,
    mv: &NDArray,
    train: bool,
) -> (NDArray, Vec<(String, NDArray)>) {
    let mut b = EagerGrad::new(train);
    let e = |b: &mut EagerGrad, k: &str| b.push(p[&format!("arg:{k}")].clone());
    let x = b.push(data.clone());
    let (w1, b1, gamma, beta, w2, b2) = (
        e(&mut b, "fc1_weight"),
        e(&mut b, "fc1_bias"),
        e(&mut b, "bn1_gamma"),
        e(&mut b, "bn1_beta"),
        e(&mut b, "fc2_weight"),
        e(&mut b, "fc2_bias"),
    );
    let (em, ev) = (b.push(mm.clone()), b.push(mv.clone()));
    let lab = b.push(label.clone());
    let fc1a = attrs(&[("num_hidden", "4")]);
    let bna = attrs(&[("fix_gamma", "False"), ("eps", "1e-3"), ("momentum", "0.9")]);
    let rea = attrs(&[("act_type", "relu")]);
    let fc2a = attrs(&[("num_hidden", "2")]);
    let so = Attrs::default();
    let h1 = b.op("FullyConnected", &[x, w1, b1], fc1a.clone()).unwrap();
    let bn = b.op("BatchNorm", &[h1[0], gamma, beta, em, ev], bna.clone()).unwrap();
    let r1 = b.op("Activation", &[bn[0]], rea.clone()).unwrap();
    let h2 = b.op("FullyConnected", &[r1[0], w2, b2], fc2a.clone()).unwrap();
    let out = b.op("SoftmaxOutput", &[h2[0], lab], so.clone()).unwrap();
    let prob = b.get(out[0]).clone();
    if !train {
        return (prob, Vec::new());
    }
    let grad = |name: &str| registry().get(name).unwrap().gradient.unwrap();
    let head = b.push(NDArray::from_cpu(CpuStorage::F32(vec![1.0; 4].into()), &[2, 2], Context::cpu(0)).unwrap());
    let g_so = grad("SoftmaxOutput")(&mut b, &so, &[h2[0], lab], &out, &[head]).unwrap();
    let g_fc2 = grad("FullyConnected")(&mut b, &fc2a, &[r1[0], w2, b2], &h2, &[g_so[0].unwrap()]).unwrap();
    let g_re = grad("Activation")(&mut b, &rea, &[bn[0]], &r1, &[g_fc2[0].unwrap()]).unwrap();
    let bn_in: [NodeEntry; 5] = [h1[0], gamma, beta, em, ev];
    let g_bn = grad("BatchNorm")(&mut b, &bna, &bn_in, &bn, &[g_re[0].unwrap()]).unwrap();
    let g_fc1 = grad("FullyConnected")(&mut b, &fc1a, &[x, w1, b1], &h1, &[g_bn[0].unwrap()]).unwrap();
    let grads = [
        ("fc1_weight", g_fc1[1]),
        ("fc1_bias", g_fc1[2]),
        ("bn1_gamma", g_bn[1]),
        ("bn1_beta", g_bn[2]),
        ("fc2_weight", g_fc2[1]),
        ("fc2_bias", g_fc2[2]),
    ];
    (prob, grads.iter().map(|(k, g)| (k.to_string(), b.get(g.unwrap()).clone())).collect())
}

#[test]
fn checkpoint_net_matches_real_mxnet() {
    let Some(dir) = fixtures_dir() else { return };
    let p = load_params(&dir.join("ckpt-0001.params"));
    let want = load_params(&dir.join("ckpt_expected.params"));
    let (data, label) = (&want["data"], &want["label"]);
    let (mm, mv) = (copy(&p["aux:bn1_moving_mean"]), copy(&p["aux:bn1_moving_var"]));
    let (prob, _) = ckpt_net(&p, data, label, &mm, &mv, false);
    close("prob_inference", &vals(&prob), &vals(&want["prob_inference"]), 1e-5, 1e-6);
    close("moving_mean unchanged", &vals(&mm), &vals(&p["aux:bn1_moving_mean"]), 0.0, 0.0);
    let (prob, grads) = ckpt_net(&p, data, label, &mm, &mv, true);
    close("prob_train", &vals(&prob), &vals(&want["prob_train"]), 1e-5, 1e-6);
    close("moving_mean", &vals(&mm), &vals(&want["bn1_moving_mean_after_train_fwd"]), 1e-5, 1e-6);
    close("moving_var", &vals(&mv), &vals(&want["bn1_moving_var_after_train_fwd"]), 1e-5, 1e-6);
    for (k, g) in grads {
        close(&format!("grad:{k}"), &vals(&g), &vals(&want[&format!("grad:{k}")]), 1e-4, 1e-5);
    }
}

/// `infer_shape_partial` from the data shape alone, as `mx.sym.X(...).infer_shape(data=...)`
/// gives in MXNet 1.9.1.
#[test]
fn partial_shapes_match_mxnet() {
    type S = Vec<usize>;
    /// (op, attributes, data shape, number of inputs, deduced input shapes, output shape)
    type Case = (&'static str, Vec<(&'static str, &'static str)>, S, usize, Vec<S>, S);
    let cases: Vec<Case> = vec![
        ("SoftmaxOutput", vec![], vec![2, 3, 4], 2, vec![vec![2, 3]], vec![2, 3, 4]),
        ("SoftmaxOutput", vec![], vec![2, 3], 2, vec![vec![2]], vec![2, 3]),
        ("SoftmaxOutput", vec![("multi_output", "True")], vec![2, 3, 4, 5], 2, vec![vec![2, 20]], vec![2, 3, 4, 5]),
        ("SoftmaxOutput", vec![("preserve_shape", "True")], vec![2, 3, 4], 2, vec![vec![2, 3]], vec![2, 3, 4]),
        ("LinearRegressionOutput", vec![], vec![2, 1], 2, vec![vec![2]], vec![2, 1]),
        ("LinearRegressionOutput", vec![], vec![2, 3], 2, vec![vec![2, 3]], vec![2, 3]),
        ("MAERegressionOutput", vec![], vec![2, 1], 2, vec![vec![2]], vec![2, 1]),
        ("BatchNorm", vec![("axis", "-1")], vec![2, 3, 4], 5, vec![vec![4]; 4], vec![2, 3, 4]),
        (
            "FullyConnected",
            vec![("num_hidden", "5"), ("flatten", "False")],
            vec![2, 3, 4],
            3,
            vec![vec![5, 4], vec![5]],
            vec![2, 3, 5],
        ),
        ("Embedding", vec![("input_dim", "4"), ("output_dim", "2")], vec![2, 3], 2, vec![vec![4, 2]], vec![2, 3, 2]),
    ];
    for (name, a, data, n_in, want_in, want_out) in cases {
        let op = (registry().get(name).unwrap().create)(&attrs(&a)).unwrap();
        let mut ins: Vec<Option<S>> = vec![None; n_in];
        ins[0] = Some(data);
        let mut outs = vec![None; op.num_outputs()];
        op.infer_shape_partial(&mut ins, &mut outs).unwrap();
        let got: Vec<S> = ins[1..].iter().map(|s| s.clone().unwrap()).collect();
        assert_eq!(got, want_in, "{name} {a:?}");
        assert_eq!(outs[0].as_ref().unwrap(), &want_out, "{name} {a:?}");
    }
}
