//! Tests of the gradient graph.

use mxrs_ndarray_core::registry;

use super::*;
use crate::executor::program::Program;
use crate::executor::testing::{op, var};

/// The backward steps as `name(inputs) -> outputs`.
fn listing(p: &Program) -> Vec<String> {
    p.back.steps.iter().map(|s| format!("{s:?}")).collect()
}

#[test]
fn product_gradients_write_straight_into_the_arrays() {
    // y = a * b: da = dy * b, db = dy * a, each written by its step into the target.
    let p = Program::build(&op("elemwise_mul", "m", &[var("a"), var("b")]), &[("a", vec![3])], GradReq::Write);
    // Entries: a 0, b 1, y 2; then the head gradient 3.
    assert_eq!(p.back.head_grads, [3]);
    let targets: Vec<usize> = p.back.arg_grads.iter().map(|&(_, v)| v).collect();
    assert_eq!(p.back.arg_grads.iter().map(|&(k, _)| k).collect::<Vec<_>>(), [0, 1]);
    let steps = listing(&p);
    assert_eq!(steps.len(), 2, "{steps:?}");
    for st in &p.back.steps {
        assert_eq!(st.op.name(), "elemwise_mul");
        assert!(st.inputs.contains(&3));
        assert_eq!(st.outputs.len(), 1);
        assert!(targets.contains(&st.outputs[0]), "{steps:?}");
    }
    assert!(targets.iter().all(|&t| p.shapes[t] == [3]));
}

#[test]
fn fan_out_gradients_are_summed() {
    // `a` feeds three ops (add_n of three gradients), `e` two (one elemwise_add).
    let a = var("a");
    let e = op("exp", "e", std::slice::from_ref(&a));
    let l = op("elemwise_mul", "l", &[e.clone(), a.clone()]);
    let r = op("elemwise_add", "r", &[op("sin", "s", &[e]), op("negative", "n", std::slice::from_ref(&a))]);
    let p = Program::build(&op("elemwise_add", "y", &[l, r]), &[("a", vec![2, 2])], GradReq::Write);
    let count = |name: &str| p.back.steps.iter().filter(|s| s.op.name() == name).count();
    let sum = p.back.steps.iter().find(|s| s.op.name() == "add_n").expect("a's three gradients summed");
    assert_eq!(sum.inputs.len(), 3);
    assert_eq!(sum.outputs, [p.back.arg_grads[0].1], "the sum is written into a's gradient");
    assert!(count("elemwise_add") >= 1, "{:?}", listing(&p));
    // Every step reads only values known by then.
    let mut known: std::collections::HashSet<usize> = (0..p.g.num_entries()).collect();
    known.extend(p.back.head_grads.iter().copied());
    for st in &p.back.steps {
        assert!(st.inputs.iter().all(|v| known.contains(v)), "{st:?}");
        known.extend(st.outputs.iter().copied());
    }
}

#[test]
fn requests_select_the_work() {
    let y = op("elemwise_mul", "m", &[var("a"), var("b")]);
    let none = Program::build(&y, &[("a", vec![3])], GradReq::Null);
    assert!(none.back.steps.is_empty() && none.back.head_grads.is_empty() && none.back.arg_grads.is_empty());
    assert_eq!(needs_gradient(&none.g, &[GradReq::Null, GradReq::Add]), [false, true, true]);
    // `add` accumulates: target = target + gradient, as the last step of each argument.
    let add = Program::build(&y, &[("a", vec![3])], GradReq::Add);
    for &(_, t) in &add.back.arg_grads {
        let st = add.back.steps.iter().rev().find(|s| s.outputs.contains(&t)).unwrap();
        assert_eq!(st.op.name(), "elemwise_add");
        assert_eq!(st.inputs[0], t);
    }
}

#[test]
fn a_gradient_that_is_not_a_fresh_value_is_copied() {
    // y = a + b passes the head gradient to both: each array gets a copy of it.
    let p = Program::build(&op("elemwise_add", "s", &[var("a"), var("b")]), &[("a", vec![4])], GradReq::Write);
    let hg = p.back.head_grads[0];
    for (st, &(_, t)) in p.back.steps.iter().zip(&p.back.arg_grads) {
        assert_eq!((st.op.name(), &st.inputs[..], &st.outputs[..]), ("_copy", &[hg][..], &[t][..]));
    }
    // exp(a + b): one fresh value, written into a's array, then copied into b's.
    let y = op("exp", "e", &[op("elemwise_add", "s", &[var("a"), var("b")])]);
    let p = Program::build(&y, &[("a", vec![4])], GradReq::Write);
    let (ta, tb) = (p.back.arg_grads[0].1, p.back.arg_grads[1].1);
    let last = p.back.steps.last().unwrap();
    assert_eq!((last.op.name(), &last.inputs[..], &last.outputs[..]), ("_copy", &[ta][..], &[tb][..]));
}

#[test]
fn an_op_without_gradient_is_an_error_only_when_needed() {
    let def = registry().get("argmax").unwrap();
    assert!(def.gradient.is_none(), "the test needs an op without a gradient");
    let y = op("argmax", "am", &[var("x")]);
    let e = Program::try_build(&y, &[("x", vec![2, 3])], GradReq::Write).err().unwrap();
    assert!(matches!(e, Error::NotSupported(_)), "{e}");
    assert!(e.to_string().contains("argmax (am) has no gradient"), "{e}");
    assert!(Program::try_build(&y, &[("x", vec![2, 3])], GradReq::Null).is_ok());
}
