//! Times each fused `_backward_*` op against the same gradient composed of registered forward
//! ops, float32 on realistic layer shapes, through the imperative call.
//!
//! ```text
//! cargo run --release --example fused_backward -p mxrs-ndarray-core
//! ```
//!
//! A fused kernel stays in the op layer only where it clearly beats its composition; the
//! figures printed here are quoted beside each kept op. (batch_dot was timed the same way,
//! found as fast composed, and lost its fused op.) Ops whose gradient needs a size that is
//! only known once the shapes are (`one_hot`'s depth for take and pick) are timed against the
//! composition with that size filled in.

use std::time::Instant;

use mxrs_ndarray_core::{Attrs, Context, CpuStorage, NDArray, Result, invoke};

/// Attributes from pairs.
fn at(pairs: &[(&str, &str)]) -> Attrs {
    Attrs::from_pairs(pairs.iter().copied())
}

/// A float32 array of `shape` with values in [lo, hi) from a small LCG.
fn rand(shape: &[usize], seed: u64, lo: f32, hi: f32) -> NDArray {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect();
    NDArray::from_cpu(CpuStorage::F32(v.into()), shape, Context::cpu(0)).expect("a float32 array")
}

/// Integer-valued float32 indices in [0, n).
fn indices(shape: &[usize], seed: u64, n: usize) -> NDArray {
    let r = rand(shape, seed, 0.0, n as f32);
    invoke("floor", &Attrs::default(), &[r], None, None).expect("floor")[0].clone()
}

/// Run op `name` and return its first output.
fn op(name: &str, attrs: &[(&str, &str)], inputs: &[&NDArray]) -> Result<NDArray> {
    let ins: Vec<NDArray> = inputs.iter().map(|a| (*a).clone()).collect();
    Ok(invoke(name, &at(attrs), &ins, None, None)?.remove(0))
}

/// Run op `name` and return all its outputs.
fn ops(name: &str, attrs: &[(&str, &str)], inputs: &[&NDArray]) -> Result<Vec<NDArray>> {
    let ins: Vec<NDArray> = inputs.iter().map(|a| (*a).clone()).collect();
    invoke(name, &at(attrs), &ins, None, None)
}

/// Median wall time in ms of `f` (which returns the arrays it computed, waited on here).
fn time(f: &dyn Fn() -> Result<Vec<NDArray>>) -> Result<f64> {
    let mut samples = Vec::new();
    let start = Instant::now();
    for i in 0..60 {
        let t = Instant::now();
        for a in f()? {
            a.wait_to_read()?;
        }
        if i >= 3 {
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if i >= 12 && start.elapsed().as_secs_f64() > 2.0 {
            break;
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    Ok(samples[samples.len() / 2])
}

type Case = (&'static str, &'static str, Box<dyn Fn() -> Result<Vec<NDArray>>>, Box<dyn Fn() -> Result<Vec<NDArray>>>);

fn fully_connected_case() -> Case {
    let (x, w, g) = (rand(&[128, 784], 1, -1.0, 1.0), rand(&[256, 784], 2, -0.1, 0.1), rand(&[128, 256], 3, -1.0, 1.0));
    let (x2, w2, g2) = (x.clone(), w.clone(), g.clone());
    (
        "_backward_FullyConnected",
        "FC 128x784 -> 256",
        Box::new(move || ops("_backward_FullyConnected", &[("num_hidden", "256")], &[&g, &x, &w])),
        Box::new(move || {
            Ok(vec![
                op("dot", &[], &[&g2, &w2])?,
                op("dot", &[("transpose_a", "True")], &[&g2, &x2])?,
                op("sum", &[("axis", "0")], &[&g2])?,
            ])
        }),
    )
}

fn dot_case() -> Case {
    let (a, b, g) = (rand(&[256, 256], 4, -1.0, 1.0), rand(&[256, 256], 5, -1.0, 1.0), rand(&[256, 256], 6, -1.0, 1.0));
    let (a2, b2, g2) = (a.clone(), b.clone(), g.clone());
    (
        "_backward_dot",
        "dot 256x256 . 256x256",
        Box::new(move || ops("_backward_dot", &[], &[&g, &a, &b])),
        Box::new(move || {
            Ok(vec![
                op("dot", &[("transpose_b", "True")], &[&g2, &b2])?,
                op("dot", &[("transpose_a", "True")], &[&a2, &g2])?,
            ])
        }),
    )
}

fn conv_cases() -> Vec<Case> {
    let (x, w, g) = (
        rand(&[32, 16, 28, 28], 10, -1.0, 1.0),
        rand(&[32, 16, 3, 3], 11, -0.1, 0.1),
        rand(&[32, 32, 28, 28], 12, -1.0, 1.0),
    );
    let conv = [("kernel", "(3, 3)"), ("pad", "(1, 1)"), ("num_filter", "32")];
    let (x2, w2, g2) = (x.clone(), w.clone(), g.clone());
    // Deconvolution 32x32x28x28 -> 16 channels: its weight is (32, 16, 3, 3), like w.
    let (dx, dg) = (rand(&[32, 32, 28, 28], 13, -1.0, 1.0), rand(&[32, 16, 28, 28], 14, -1.0, 1.0));
    let deconv = [("kernel", "(3, 3)"), ("pad", "(1, 1)"), ("num_filter", "16")];
    let (dx2, dw2, dg2) = (dx.clone(), w.clone(), dg.clone());
    let dw = w.clone();
    let swap = [("axes", "(1, 0, 2, 3)")];
    vec![
        (
            "_backward_Convolution",
            "conv 32x16x28x28, 32 filters 3x3 pad 1",
            Box::new(move || ops("_backward_Convolution", &conv, &[&g, &x, &w])),
            Box::new(move || {
                let dx = op(
                    "Deconvolution",
                    &[("kernel", "(3, 3)"), ("pad", "(1, 1)"), ("num_filter", "16"), ("no_bias", "True")],
                    &[&g2, &w2],
                )?;
                let xt = op("transpose", &swap, &[&x2])?;
                let gt = op("transpose", &swap, &[&g2])?;
                let dwt = op(
                    "Convolution",
                    &[("kernel", "(28, 28)"), ("pad", "(1, 1)"), ("num_filter", "32"), ("no_bias", "True")],
                    &[&xt, &gt],
                )?;
                let dw = op("transpose", &swap, &[&dwt])?;
                Ok(vec![dx, dw, op("sum", &[("axis", "(0, 2, 3)")], &[&g2])?])
            }),
        ),
        (
            "_backward_Deconvolution",
            "deconv 32x32x28x28, 16 filters 3x3 pad 1",
            Box::new(move || ops("_backward_Deconvolution", &deconv, &[&dg, &dx, &dw])),
            Box::new(move || {
                let gx = op(
                    "Convolution",
                    &[("kernel", "(3, 3)"), ("pad", "(1, 1)"), ("num_filter", "32"), ("no_bias", "True")],
                    &[&dg2, &dw2],
                )?;
                let gt = op("transpose", &swap, &[&dg2])?;
                let xt = op("transpose", &swap, &[&dx2])?;
                let dwt = op(
                    "Convolution",
                    &[("kernel", "(28, 28)"), ("pad", "(1, 1)"), ("num_filter", "32"), ("no_bias", "True")],
                    &[&gt, &xt],
                )?;
                let gw = op("transpose", &swap, &[&dwt])?;
                Ok(vec![gx, gw, op("sum", &[("axis", "(0, 2, 3)")], &[&dg2])?])
            }),
        ),
    ]
}

/// `g` repeated 2x2 over the spatial axes (the upsampling of a 2x2, stride 2 pooling).
fn up2(g: &NDArray) -> Result<NDArray> {
    let r = op("repeat", &[("repeats", "2"), ("axis", "2")], &[g])?;
    op("repeat", &[("repeats", "2"), ("axis", "3")], &[&r])
}

fn pooling_cases() -> Vec<Case> {
    let x = rand(&[32, 16, 28, 28], 15, -1.0, 1.0);
    let g = rand(&[32, 16, 14, 14], 16, -1.0, 1.0);
    let mut cases: Vec<Case> = Vec::new();
    for (kind, what) in [("max", "max pooling 32x16x28x28 2x2/2"), ("avg", "avg pooling 32x16x28x28 2x2/2")] {
        let p = [("kernel", "(2, 2)"), ("stride", "(2, 2)"), ("pool_type", kind)];
        let y = op("Pooling", &p, &[&x]).expect("pooling");
        let (x1, y1, g1) = (x.clone(), y.clone(), g.clone());
        let (x2, y2, g2) = (x.clone(), y, g.clone());
        cases.push((
            "_backward_Pooling",
            what,
            Box::new(move || ops("_backward_Pooling", &p, &[&g1, &x1, &y1])),
            Box::new(move || {
                let gu = up2(&g2)?;
                if kind == "avg" {
                    return Ok(vec![op("_mul_scalar", &[("scalar", "0.25")], &[&gu])?]);
                }
                // Exact only without ties inside a window (true of random data).
                let mask = op("broadcast_equal", &[], &[&x2, &up2(&y2)?])?;
                Ok(vec![op("elemwise_mul", &[], &[&gu, &mask])?])
            }),
        ));
    }
    cases
}

fn batch_norm_case() -> Case {
    let x = rand(&[32, 16, 28, 28], 17, -1.0, 1.0);
    let (gamma, beta) = (rand(&[16], 18, 0.5, 1.5), rand(&[16], 19, -0.5, 0.5));
    let (mm, mv) = (rand(&[16], 20, -0.1, 0.1), rand(&[16], 21, 0.9, 1.1));
    let g = rand(&[32, 16, 28, 28], 22, -1.0, 1.0);
    let bn = [("fix_gamma", "False")];
    let outs = {
        let prev = mxrs_ndarray_core::invoke::set_training(true);
        let o =
            ops("BatchNorm", &[("fix_gamma", "False"), ("output_mean_var", "True")], &[&x, &gamma, &beta, &mm, &mv]);
        mxrs_ndarray_core::invoke::set_training(prev);
        o.expect("BatchNorm")
    };
    let (mean, inv_std) = (outs[1].clone(), outs[2].clone());
    let (x2, gamma2, g2, mean2, inv2) = (x.clone(), gamma.clone(), g.clone(), mean.clone(), inv_std.clone());
    let m = (32 * 28 * 28) as f64;
    (
        "_backward_BatchNorm",
        "BatchNorm 32x16x28x28 (training)",
        Box::new(move || ops("_backward_BatchNorm", &bn, &[&g, &x, &gamma, &mean, &inv_std])),
        Box::new(move || {
            let c = [("shape", "(1, -1, 1, 1)")];
            let axes = [("axis", "(0, 2, 3)")];
            let mean = op("Reshape", &c, &[&mean2])?;
            let inv = op("Reshape", &c, &[&inv2])?;
            let xhat = op("broadcast_mul", &[], &[&op("broadcast_sub", &[], &[&x2, &mean])?, &inv])?;
            let dbeta = op("sum", &axes, &[&g2])?;
            let dgamma = op("sum", &axes, &[&op("elemwise_mul", &[], &[&g2, &xhat])?])?;
            let gm = op("_mul_scalar", &[("scalar", &m.to_string())], &[&g2])?;
            let t = op("broadcast_sub", &[], &[&gm, &op("Reshape", &c, &[&dbeta])?])?;
            let t =
                op("elemwise_sub", &[], &[&t, &op("broadcast_mul", &[], &[&xhat, &op("Reshape", &c, &[&dgamma])?])?])?;
            let scale =
                op("_div_scalar", &[("scalar", &m.to_string())], &[&op("elemwise_mul", &[], &[&gamma2, &inv2])?])?;
            Ok(vec![op("broadcast_mul", &[], &[&t, &op("Reshape", &c, &[&scale])?])?, dgamma, dbeta])
        }),
    )
}

fn activation_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (act, what) in [("relu", "relu 32x32x28x28"), ("sigmoid", "sigmoid 32x32x28x28"), ("tanh", "tanh 32x32x28x28")]
    {
        let x = rand(&[32, 32, 28, 28], 23, -2.0, 2.0);
        let g = rand(&[32, 32, 28, 28], 24, -1.0, 1.0);
        let y = op("Activation", &[("act_type", act)], &[&x]).expect("activation");
        let (x1, y1, g1, y2, g2) = (x, y.clone(), g.clone(), y, g);
        cases.push((
            "_backward_Activation",
            what,
            Box::new(move || ops("_backward_Activation", &[("act_type", act)], &[&g1, &x1, &y1])),
            Box::new(move || {
                let d = match act {
                    "relu" => op("_greater_scalar", &[("scalar", "0")], &[&y2])?,
                    "sigmoid" => op("elemwise_mul", &[], &[&y2, &op("_rminus_scalar", &[("scalar", "1")], &[&y2])?])?,
                    _ => op("_rminus_scalar", &[("scalar", "1")], &[&op("square", &[], &[&y2])?])?,
                };
                Ok(vec![op("elemwise_mul", &[], &[&g2, &d])?])
            }),
        ));
    }
    let x = rand(&[128, 256], 25, -2.0, 2.0);
    let g = rand(&[128, 256], 26, -1.0, 1.0);
    let (x2, g2) = (x.clone(), g.clone());
    cases.push((
        "_backward_LeakyReLU",
        "leaky relu 128x256",
        Box::new(move || ops("_backward_LeakyReLU", &[("slope", "0.25")], &[&g, &x])),
        Box::new(move || {
            let pos = op("_greater_scalar", &[("scalar", "0")], &[&x2])?;
            let d = op("_plus_scalar", &[("scalar", "0.25")], &[&op("_mul_scalar", &[("scalar", "0.75")], &[&pos])?])?;
            Ok(vec![op("elemwise_mul", &[], &[&g2, &d])?])
        }),
    ));
    cases
}

fn softmax_cases() -> Vec<Case> {
    let x = rand(&[128, 10], 27, -2.0, 2.0);
    let label = indices(&[128], 28, 10);
    let y = op("SoftmaxOutput", &[], &[&x, &label]).expect("softmax");
    let g = rand(&[128, 10], 29, -1.0, 1.0);
    let (y1, l1, g1, y2, l2) = (y.clone(), label.clone(), g.clone(), y.clone(), label);
    let ys = op("SoftmaxActivation", &[], &[&x]).expect("softmax activation");
    let (ys1, gs1, ys2, gs2) = (ys.clone(), g.clone(), ys, g);
    vec![
        (
            "_backward_SoftmaxOutput",
            "softmax output 128x10",
            Box::new(move || ops("_backward_SoftmaxOutput", &[], &[&g1, &y1, &l1])),
            Box::new(move || Ok(vec![op("elemwise_sub", &[], &[&y2, &op("one_hot", &[("depth", "10")], &[&l2])?])?])),
        ),
        (
            "_backward_SoftmaxActivation",
            "SoftmaxActivation 128x10",
            Box::new(move || ops("_backward_SoftmaxActivation", &[], &[&gs1, &ys1])),
            Box::new(move || {
                let gy = op("elemwise_mul", &[], &[&gs2, &ys2])?;
                let s = op("sum", &[("axis", "-1"), ("keepdims", "True")], &[&gy])?;
                let d = op("broadcast_sub", &[], &[&gs2, &s])?;
                Ok(vec![op("elemwise_mul", &[], &[&ys2, &d])?])
            }),
        ),
    ]
}

fn indexing_cases() -> Vec<Case> {
    let data = indices(&[32, 35], 30, 10000);
    let g = rand(&[32, 35, 128], 31, -1.0, 1.0);
    let emb = [("input_dim", "10000"), ("output_dim", "128")];
    let (d1, g1, d2, g2) = (data.clone(), g.clone(), data.clone(), g.clone());
    let a = rand(&[10000, 128], 32, -1.0, 1.0);
    let (a1, d3, g3, d4, g4) = (a, data.clone(), g.clone(), data, g);
    // One-hot rows times the output gradient: the composed scatter-add of take and Embedding.
    let one_hot_dot = |d: &NDArray, g: &NDArray| -> Result<Vec<NDArray>> {
        let oh = op("one_hot", &[("depth", "10000")], &[&op("Reshape", &[("shape", "(-1,)")], &[d])?])?;
        let gm = op("Reshape", &[("shape", "(-1, 128)")], &[g])?;
        Ok(vec![op("dot", &[("transpose_a", "True")], &[&oh, &gm])?])
    };
    let x = rand(&[128, 64, 14, 14], 33, -1.0, 1.0);
    let gc = rand(&[128, 128, 14, 14], 34, -1.0, 1.0);
    let (x1, gc1, x2, gc2) = (x.clone(), gc.clone(), x.clone(), gc);
    vec![
        (
            "_backward_Embedding",
            "Embedding 32x35 ids of 10000x128",
            Box::new(move || ops("_backward_Embedding", &emb, &[&g1, &d1])),
            Box::new(move || one_hot_dot(&d2, &g2)),
        ),
        (
            "_backward_take",
            "take 32x35 rows of 10000x128",
            Box::new(move || ops("_backward_take", &[], &[&g3, &d3, &a1])),
            Box::new(move || one_hot_dot(&d4, &g4)),
        ),
        (
            "_backward_Concat",
            "Concat 2 x 128x64x14x14 on channels",
            Box::new(move || ops("_backward_Concat", &[("num_args", "2"), ("dim", "1")], &[&gc1, &x1, &x2])),
            Box::new(move || {
                Ok(vec![
                    op("slice_axis", &[("axis", "1"), ("begin", "0"), ("end", "64")], &[&gc2])?,
                    op("slice_axis", &[("axis", "1"), ("begin", "64"), ("end", "128")], &[&gc2])?,
                ])
            }),
        ),
    ]
}

/// The largest absolute difference between the fused and the composed results, relative to the
/// largest fused magnitude: both must compute the same gradient.
fn difference(fused: &[NDArray], composed: &[NDArray]) -> Result<f64> {
    let (mut diff, mut scale) = (0.0f64, 1e-30f64);
    for (f, c) in fused.iter().zip(composed) {
        let (f, c) = (f.to_cpu_storage()?, c.to_cpu_storage()?);
        assert_eq!(f.len(), c.len(), "the fused and composed results differ in size");
        for i in 0..f.len() {
            diff = diff.max((f.get_f64(i) - c.get_f64(i)).abs());
            scale = scale.max(f.get_f64(i).abs());
        }
    }
    Ok(diff / scale)
}

fn main() -> Result<()> {
    let mut cases = vec![fully_connected_case(), dot_case()];
    cases.extend(conv_cases());
    cases.extend(pooling_cases());
    cases.push(batch_norm_case());
    cases.extend(activation_cases());
    cases.extend(softmax_cases());
    cases.extend(indexing_cases());
    println!("{:<28} {:<40} {:>9} {:>12} {:>6} {:>9}", "op", "shape", "fused ms", "composed ms", "ratio", "rel diff");
    for (name, what, fused, composed) in &cases {
        let diff = difference(&fused()?, &composed()?)?;
        let (f, c) = (time(fused.as_ref())?, time(composed.as_ref())?);
        println!("{name:<28} {what:<40} {f:>9.3} {c:>12.3} {:>6.2} {diff:>9.1e}", c / f);
    }
    Ok(())
}
