//! Tests of the Convolution and Deconvolution ops.

use super::*;
use crate::eager_grad::{check_numeric_gradient, f64_array};
use crate::op::grad::test_values;
use crate::op::registry;

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    Attrs::from_pairs(pairs.iter().copied())
}

fn create(name: &str, a: &Attrs) -> Box<dyn Operator> {
    (registry().get(name).unwrap().create)(a).unwrap()
}

/// Inputs of `name` for `data` (weight and bias shapes from partial inference).
fn inputs(name: &str, a: &Attrs, data: &[usize]) -> Vec<crate::ndarray::NDArray> {
    let op = create(name, a);
    let n = op.input_names().unwrap().len();
    let mut shapes: Vec<Option<Shape>> = vec![None; n];
    shapes[0] = Some(data.to_vec());
    op.infer_shape_partial(&mut shapes, &mut [None]).unwrap();
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.unwrap();
            f64_array(&s, test_values(s.iter().product(), 10 + i as u64)).unwrap()
        })
        .collect()
}

fn check(name: &str, pairs: &[(&str, &str)], data: &[usize]) {
    let a = attrs(pairs);
    let ins = inputs(name, &a, data);
    let all: Vec<usize> = (0..ins.len()).collect();
    check_numeric_gradient(name, &a, &ins, &all, true, 1e-6, 1e-5, 1e-8)
        .unwrap_or_else(|e| panic!("{name} {pairs:?} on {data:?}: {e}"));
}

#[test]
fn convolution_gradients_match_finite_differences() {
    check("Convolution", &[("kernel", "(3, 3)"), ("num_filter", "3")], &[2, 2, 5, 5]);
    check(
        "Convolution",
        &[("kernel", "(3, 2)"), ("stride", "(2, 2)"), ("pad", "(1, 1)"), ("num_filter", "2")],
        &[2, 2, 6, 5],
    );
    check(
        "Convolution",
        &[("kernel", "(2, 2)"), ("dilate", "(2, 2)"), ("num_group", "2"), ("num_filter", "4"), ("no_bias", "True")],
        &[1, 4, 5, 5],
    );
    check("Convolution", &[("kernel", "(1, 1)"), ("num_filter", "3")], &[2, 2, 3, 3]);
    check("Convolution", &[("kernel", "(3,)"), ("stride", "(2,)"), ("pad", "(1,)"), ("num_filter", "2")], &[2, 3, 7]);
}

#[test]
fn convolution_3d_gradients_match_finite_differences() {
    check("Convolution", &[("kernel", "(2, 2, 2)"), ("num_filter", "2")], &[2, 2, 3, 4, 3]);
    check(
        "Convolution",
        &[
            ("kernel", "(3, 2, 2)"),
            ("stride", "(2, 1, 2)"),
            ("pad", "(1, 0, 1)"),
            ("dilate", "(1, 2, 1)"),
            ("num_group", "2"),
            ("num_filter", "4"),
        ],
        &[1, 2, 5, 5, 4],
    );
}

#[test]
fn deconvolution_3d_gradients_match_finite_differences() {
    check(
        "Deconvolution",
        &[
            ("kernel", "(2, 3, 2)"),
            ("stride", "(2, 1, 2)"),
            ("pad", "(0, 1, 1)"),
            ("adj", "(1, 0, 1)"),
            ("num_filter", "2"),
            ("no_bias", "False"),
        ],
        &[1, 2, 2, 3, 2],
    );
    check(
        "Deconvolution",
        &[
            ("kernel", "(2, 2, 2)"),
            ("stride", "(2, 2, 2)"),
            ("num_group", "2"),
            ("target_shape", "(4, 3, 3)"),
            ("num_filter", "2"),
        ],
        &[1, 2, 2, 2, 2],
    );
}

#[test]
fn shapes_3d_follow_mxnet() {
    let a = attrs(&[
        ("kernel", "(2, 3, 2)"),
        ("num_filter", "6"),
        ("num_group", "2"),
        ("stride", "(1, 2, 1)"),
        ("dilate", "(2, 1, 1)"),
        ("pad", "(1, 1, 0)"),
    ]);
    let mut ins = vec![Some(vec![2, 4, 3, 4, 5]), None, None];
    let mut outs = vec![None];
    create("Convolution", &a).infer_shape_partial(&mut ins, &mut outs).unwrap();
    assert_eq!((ins[1].clone(), outs[0].clone()), (Some(vec![6, 2, 2, 3, 2]), Some(vec![2, 6, 3, 2, 4])));
    let d = attrs(&[
        ("kernel", "(2, 3, 2)"),
        ("num_filter", "6"),
        ("num_group", "2"),
        ("stride", "(2, 2, 1)"),
        ("adj", "(1, 1, 0)"),
    ]);
    let got = create("Deconvolution", &d).infer_shape(&[vec![2, 4, 3, 4, 5], vec![4, 3, 2, 3, 2]]).unwrap();
    assert_eq!(got, vec![vec![2, 6, 7, 10, 6]]);
    let t =
        attrs(&[("kernel", "(2, 3, 2)"), ("num_filter", "6"), ("stride", "(2, 2, 2)"), ("target_shape", "(6, 8, 9)")]);
    let got = create("Deconvolution", &t).infer_shape(&[vec![2, 4, 3, 4, 5], vec![4, 6, 2, 3, 2]]).unwrap();
    assert_eq!(got, vec![vec![2, 6, 6, 8, 9]]);
}

#[test]
fn deconvolution_gradients_match_finite_differences() {
    check("Deconvolution", &[("kernel", "(3, 3)"), ("num_filter", "2")], &[2, 2, 3, 3]);
    check(
        "Deconvolution",
        &[
            ("kernel", "(3, 3)"),
            ("stride", "(2, 2)"),
            ("pad", "(1, 1)"),
            ("adj", "(1, 1)"),
            ("num_filter", "2"),
            ("no_bias", "False"),
        ],
        &[1, 2, 3, 4],
    );
    check(
        "Deconvolution",
        &[("kernel", "(2, 2)"), ("stride", "(2, 2)"), ("num_group", "2"), ("num_filter", "4")],
        &[2, 2, 2, 3],
    );
    check(
        "Deconvolution",
        &[
            ("kernel", "(3, 3)"),
            ("stride", "(2, 2)"),
            ("target_shape", "(6, 6)"),
            ("num_filter", "2"),
            ("dilate", "(1, 2)"),
        ],
        &[1, 2, 3, 3],
    );
    check(
        "Deconvolution",
        &[("kernel", "(3,)"), ("stride", "(2,)"), ("num_filter", "2"), ("no_bias", "False")],
        &[2, 2, 4],
    );
}

#[test]
fn shapes_follow_mxnet() {
    let a = attrs(&[
        ("kernel", "(3, 3)"),
        ("num_filter", "8"),
        ("num_group", "4"),
        ("stride", "(2, 2)"),
        ("pad", "(1, 1)"),
    ]);
    let op = create("Convolution", &a);
    let mut ins = vec![Some(vec![1, 4, 5, 5]), None, None];
    let mut outs = vec![None];
    op.infer_shape_partial(&mut ins, &mut outs).unwrap();
    assert_eq!(ins[1], Some(vec![8, 1, 3, 3]));
    assert_eq!(ins[2], Some(vec![8]));
    assert_eq!(outs[0], Some(vec![1, 8, 3, 3]));
    let d = attrs(&[("kernel", "(3, 3)"), ("num_filter", "6"), ("num_group", "2")]);
    let op = create("Deconvolution", &d);
    assert_eq!(op.input_names().unwrap(), vec!["data", "weight"]);
    let mut ins = vec![Some(vec![1, 4, 5, 5]), None];
    op.infer_shape_partial(&mut ins, &mut outs[..]).unwrap_err();
    let mut outs = vec![None];
    op.infer_shape_partial(&mut ins, &mut outs).unwrap();
    assert_eq!((ins[1].clone(), outs[0].clone()), (Some(vec![4, 3, 3, 3]), Some(vec![1, 6, 7, 7])));
    let t = attrs(&[("kernel", "(3, 3)"), ("num_filter", "6"), ("stride", "(2, 2)"), ("target_shape", "(10, 10)")]);
    assert_eq!(
        create("Deconvolution", &t).infer_shape(&[vec![1, 4, 5, 5], vec![4, 6, 3, 3]]).unwrap(),
        vec![vec![1, 6, 10, 10]]
    );
}

#[test]
fn bad_inputs_are_errors_naming_the_op_and_shapes() {
    let a = attrs(&[("kernel", "(3, 3)"), ("num_filter", "4"), ("no_bias", "True")]);
    let e = create("Convolution", &a).infer_shape(&[vec![1, 3, 5, 5], vec![4, 2, 3, 3]]).unwrap_err().to_string();
    assert!(e.contains("Convolution") && e.contains("(4,2,3,3)") && e.contains("(4,3,3,3)"), "{e}");
    let e = create("Convolution", &a).infer_shape(&[vec![1, 3, 2, 2], vec![4, 3, 3, 3]]).unwrap_err().to_string();
    assert!(e.contains("exceeds") && e.contains("(1,3,2,2)"), "{e}");
    let bad = attrs(&[("kernel", "(3, 3)"), ("num_filter", "5"), ("num_group", "2")]);
    let e = (registry().get("Convolution").unwrap().create)(&bad).unwrap_err().to_string();
    assert!(e.contains("num_filter (5)") && e.contains("num_group (2)"), "{e}");
    let three = attrs(&[("kernel", "(3, 3, 3)"), ("num_filter", "2")]);
    let e = create("Convolution", &three).infer_shape(&[vec![1, 3, 5, 5], vec![2, 3, 3, 3, 3], vec![2]]).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("Convolution") && e.contains("(1,3,5,5)") && e.contains("5 dimensions"), "{e}");
    let four = attrs(&[("kernel", "(3, 3, 3, 3)"), ("num_filter", "2")]);
    let e = (registry().get("Deconvolution").unwrap().create)(&four).unwrap_err().to_string();
    assert!(e.contains("Deconvolution") && e.contains("1, 2 or 3 entries"), "{e}");
    let zero = attrs(&[("kernel", "(3, 3, 3)"), ("stride", "(1, 0, 1)"), ("num_filter", "2")]);
    let e = (registry().get("Convolution").unwrap().create)(&zero).unwrap_err().to_string();
    assert!(e.contains("Convolution") && e.contains("[1, 0, 1]") && e.contains("positive"), "{e}");
    let short = attrs(&[("kernel", "(3, 3, 3)"), ("pad", "(1, 1)"), ("num_filter", "2")]);
    let e = (registry().get("Convolution").unwrap().create)(&short).unwrap_err().to_string();
    assert!(e.contains("pad [1, 1]") && e.contains("3 entries"), "{e}");
    let e = create("Convolution", &a).infer_dtype(&[DType::I32, DType::I32]).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
}

#[test]
fn backward_ops_compute_only_the_kept_gradients() {
    use crate::invoke::invoke_op;
    use std::sync::Arc;
    for (fwd, bwd, data) in [
        ("Convolution", "_backward_Convolution", [2usize, 2, 5, 5]),
        ("Deconvolution", "_backward_Deconvolution", [2, 2, 3, 3]),
    ] {
        let a = attrs(&[("kernel", "(3, 3)"), ("num_filter", "2"), ("no_bias", "False")]);
        let ins = inputs(fwd, &a, &data);
        let y = crate::invoke::invoke(fwd, &a, &ins, None, None).unwrap();
        let bargs = [y[0].clone(), ins[0].clone(), ins[1].clone()];
        let full: Arc<dyn Operator> = Arc::from(create(bwd, &a));
        let all = invoke_op(full.clone(), &bargs, None, None).unwrap();
        assert_eq!(all.len(), 3);
        for keep in [[false, true, true], [true, false, false], [false, false, true]] {
            let op: Arc<dyn Operator> = Arc::from(full.keep_outputs(&keep).unwrap());
            assert_eq!(op.num_outputs(), keep.iter().filter(|&&k| k).count());
            let got = invoke_op(op, &bargs, None, None).unwrap();
            let want: Vec<_> = all.iter().zip(keep).filter(|(_, k)| *k).map(|(a, _)| a).collect();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g.shape(), w.shape());
                let (gs, ws) = (g.to_cpu_storage().unwrap(), w.to_cpu_storage().unwrap());
                assert!((0..ws.len()).all(|i| gs.get_f64(i) == ws.get_f64(i)), "{bwd} {keep:?}");
            }
        }
        assert!(create(fwd, &a).keep_outputs(&[false]).is_none(), "forward ops keep their output");
    }
}
