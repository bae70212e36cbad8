//! Tests of the tape: recording, backward, variables, higher order, custom nodes, release.

use std::sync::Arc;

use super::node::{CustomBackward, GradReq};
use super::record::{self, mark_variable, record_custom};
use super::{BackwardOptions, backward};
use crate::eager_grad::f64_array;
use crate::error::{Error, Result};
use crate::invoke::invoke;
use crate::ndarray::NDArray;
use crate::op::Attrs;

const OPTS: BackwardOptions = BackwardOptions { retain_graph: false, create_graph: false, is_train: true };

fn vals(a: &NDArray) -> Vec<f64> {
    let s = a.to_cpu_storage().unwrap();
    (0..s.len()).map(|i| s.get_f64(i)).collect()
}

fn var(v: &[f64], req: GradReq) -> NDArray {
    let a = f64_array(&[v.len()], v.to_vec()).unwrap();
    let g = f64_array(&[v.len()], vec![0.0; v.len()]).unwrap();
    mark_variable(&a, &g, req).unwrap()
}

fn op(name: &str, inputs: &[&NDArray]) -> NDArray {
    let ins: Vec<NDArray> = inputs.iter().map(|a| (*a).clone()).collect();
    invoke(name, &Attrs::default(), &ins, None, None).unwrap().swap_remove(0)
}

fn scalar(name: &str, a: &NDArray, s: f64) -> NDArray {
    invoke(name, &Attrs::from_pairs([("scalar", format!("{s:?}"))]), std::slice::from_ref(a), None, None)
        .unwrap()
        .swap_remove(0)
}

fn grad(a: &NDArray) -> Vec<f64> {
    vals(&record::grad_of(a).unwrap())
}

/// Runs `f` with this thread recording, restoring the flag after.
fn recording<T>(f: impl FnOnce() -> T) -> T {
    let prev = record::set_recording(true);
    let r = f();
    record::set_recording(prev);
    r
}

#[test]
fn backward_of_a_chain_writes_the_variables_gradients() {
    let x = var(&[1.0, 2.0, -3.0], GradReq::Write);
    let y = recording(|| {
        let sq = op("elemwise_mul", &[&x, &x]);
        let s = op("elemwise_add", &[&sq, &x]);
        scalar("_mul_scalar", &s, 2.0)
    });
    backward(&[y], &[None], None, OPTS).unwrap();
    // d/dx 2(x^2 + x) = 4x + 2
    assert_eq!(grad(&x), [6.0, 10.0, -10.0]);
}

#[test]
fn nothing_is_recorded_when_off() {
    let x = var(&[1.0], GradReq::Write);
    let y = op("elemwise_mul", &[&x, &x]);
    assert!(y.autograd_entry().is_none());
    let e = backward(&[y], &[None], None, OPTS).unwrap_err();
    assert!(matches!(e, Error::Autograd(_)), "{e}");
}

#[test]
fn add_accumulates_and_null_skips() {
    let x = var(&[1.0, 2.0], GradReq::Add);
    let w = var(&[3.0, 4.0], GradReq::Null);
    for _ in 0..3 {
        let y = recording(|| op("elemwise_mul", &[&x, &w]));
        backward(&[y], &[None], None, OPTS).unwrap();
    }
    assert_eq!(grad(&x), [9.0, 12.0]);
    assert_eq!(grad(&w), [0.0, 0.0]);
}

#[test]
fn the_graph_is_released_unless_retained() {
    let x = var(&[2.0], GradReq::Write);
    let y = recording(|| op("exp", &[&x]));
    let retain = BackwardOptions { retain_graph: true, ..OPTS };
    backward(std::slice::from_ref(&y), &[None], None, retain).unwrap();
    backward(std::slice::from_ref(&y), &[None], None, OPTS).unwrap();
    assert!((grad(&x)[0] - 2f64.exp()).abs() < 1e-12);
    let e = backward(&[y], &[None], None, OPTS).unwrap_err();
    assert!(e.to_string().contains("retain_graph=True"), "{e}");
}

#[test]
fn second_and_third_order_through_create_graph() {
    let x = var(&[0.5, -2.0], GradReq::Write);
    let create = BackwardOptions { retain_graph: true, create_graph: true, is_train: true };
    let y = recording(|| scalar("_power_scalar", &x, 3.0));
    let g = backward(&[y], &[None], Some(std::slice::from_ref(&x)), create).unwrap().swap_remove(0);
    assert_eq!(vals(&g), [0.75, 12.0]);
    let g2 = backward(&[g], &[None], Some(std::slice::from_ref(&x)), create).unwrap().swap_remove(0);
    assert_eq!(vals(&g2), [3.0, -12.0]);
    backward(&[g2], &[None], None, OPTS).unwrap();
    assert_eq!(grad(&x), [6.0, 6.0]);
}

#[test]
fn writing_into_a_live_graph_is_refused_while_recording() {
    let x = var(&[1.0], GradReq::Write);
    let e = recording(|| {
        invoke(
            "_plus_scalar",
            &Attrs::from_pairs([("scalar", "1")]),
            std::slice::from_ref(&x),
            Some(std::slice::from_ref(&x)),
            None,
        )
    })
    .unwrap_err();
    assert!(matches!(e, Error::Autograd(_)) && e.to_string().contains("Assigning to NDArrays"), "{e}");
    assert_eq!(vals(&x), [1.0]);
}

#[derive(Debug)]
struct Twice;

impl CustomBackward<NDArray> for Twice {
    fn backward(&self, out_grads: &[NDArray], _is_train: bool) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(scalar("_mul_scalar", &out_grads[0], 2.0)), None])
    }
    fn name(&self) -> String {
        "Twice".into()
    }
}

#[test]
fn custom_nodes_run_their_own_backward() {
    let x = var(&[1.0, 5.0], GradReq::Write);
    let c = var(&[7.0, 7.0], GradReq::Write);
    let mut out = [scalar("_mul_scalar", &x, 123.0)]; // any value: the node defines the gradient
    recording(|| record_custom(Arc::new(Twice), &[x.clone(), c.clone()], &mut out));
    let [o] = out;
    let y = recording(|| scalar("_mul_scalar", &o, 3.0));
    backward(&[y], &[None], None, OPTS).unwrap();
    assert_eq!(grad(&x), [6.0, 6.0]);
    assert_eq!(grad(&c), [0.0, 0.0]);
}

#[test]
fn deep_graphs_are_walked_and_dropped_without_recursion() {
    let x = var(&[1.0], GradReq::Write);
    let n = 60_000;
    let y = recording(|| (0..n).fold(x.clone(), |a, _| scalar("_plus_scalar", &a, 1.0)));
    let y2 = y.clone();
    backward(&[y], &[None], None, BackwardOptions { retain_graph: true, ..OPTS }).unwrap();
    assert_eq!(grad(&x), [1.0]);
    // Dropping the last handle releases the whole retained chain.
    drop(y2);
}

/// Writes twice the output gradient into each destination it is given (returning the
/// destination) and returns a fresh array for inputs without one; records the destinations.
#[derive(Debug, Default)]
struct IntoDest {
    seen: parking_lot::Mutex<Vec<Vec<bool>>>,
}

impl CustomBackward<NDArray> for IntoDest {
    fn backward(&self, out_grads: &[NDArray], is_train: bool) -> Result<Vec<Option<NDArray>>> {
        self.backward_into(out_grads, is_train, &[None, None])
    }
    fn backward_into(&self, out_grads: &[NDArray], _: bool, dests: &[Option<NDArray>]) -> Result<Vec<Option<NDArray>>> {
        self.seen.lock().push(dests.iter().map(Option::is_some).collect());
        let g = scalar("_mul_scalar", &out_grads[0], 2.0);
        Ok(dests
            .iter()
            .map(|d| match d {
                Some(d) => {
                    d.copy_from(&g).unwrap();
                    Some(d.clone())
                }
                None => Some(g.clone()),
            })
            .collect())
    }
    fn name(&self) -> String {
        "IntoDest".into()
    }
}

#[test]
fn custom_nodes_write_sole_write_variables_directly() {
    // x (write) feeds only the node: its buffer is the destination. w (write) also feeds an
    // op, a (add) only the node: neither gets one, and their gradients are stored as usual.
    let x = var(&[1.0, 2.0], GradReq::Write);
    let w = var(&[3.0, 4.0], GradReq::Write);
    let node = Arc::new(IntoDest::default());
    let mut out = [scalar("_mul_scalar", &x, 1.0)];
    recording(|| record_custom(node.clone(), &[x.clone(), w.clone()], &mut out));
    let [o] = out;
    let y = recording(|| op("elemwise_add", &[&scalar("_mul_scalar", &o, 3.0), &scalar("_mul_scalar", &w, 5.0)]));
    backward(&[y], &[None], None, OPTS).unwrap();
    assert_eq!(*node.seen.lock(), [vec![true, false]]);
    assert_eq!(grad(&x), [6.0, 6.0]);
    assert_eq!(grad(&w), [11.0, 11.0]);

    let a = var(&[1.0], GradReq::Add);
    let node = Arc::new(IntoDest::default());
    for _ in 0..2 {
        let mut out = [scalar("_mul_scalar", &a, 1.0)];
        recording(|| record_custom(node.clone(), std::slice::from_ref(&a), &mut out));
        let [o] = out;
        backward(&[o], &[None], None, OPTS).unwrap();
    }
    assert_eq!(*node.seen.lock(), [vec![false], vec![false]]);
    assert_eq!(grad(&a), [4.0]);
}

#[test]
fn autograd_grad_and_new_graphs_give_no_destinations() {
    let x = var(&[1.0], GradReq::Write);
    for create_graph in [false, true] {
        let node = Arc::new(IntoDest::default());
        let mut out = [scalar("_mul_scalar", &x, 1.0)];
        recording(|| record_custom(node.clone(), std::slice::from_ref(&x), &mut out));
        let [o] = out;
        let g = backward(
            std::slice::from_ref(&o),
            &[None],
            Some(std::slice::from_ref(&x)),
            BackwardOptions { create_graph, ..OPTS },
        )
        .unwrap();
        assert_eq!(vals(&g[0]), [2.0]);
        assert_eq!(grad(&x), [0.0], "autograd.grad must leave the buffer alone");
        assert_eq!(*node.seen.lock(), [vec![false]]);
        let node = Arc::new(IntoDest::default());
        let mut out = [scalar("_mul_scalar", &x, 1.0)];
        recording(|| record_custom(node.clone(), std::slice::from_ref(&x), &mut out));
        let [o] = out;
        backward(&[o], &[None], None, BackwardOptions { create_graph, ..OPTS }).unwrap();
        assert_eq!(*node.seen.lock(), [vec![!create_graph]]);
        assert_eq!(grad(&x), [2.0]);
        record::grad_of(&x).unwrap().copy_from(&f64_array(&[1], vec![0.0]).unwrap()).unwrap();
    }
}

/// A deferred gradient builder runs only the ops the wanted entries read: an op with
/// mismatched inputs that nobody reads raises nothing, and a fused backward op of which one
/// output is read computes just that one, with the same values as the whole op.
#[test]
fn deferred_gradients_run_only_what_is_read() {
    use crate::eager_grad::EagerGrad;
    use crate::op::GradBuilder;
    let x = f64_array(&[2, 3], vec![1.0, -2.0, 3.0, 0.5, 4.0, -1.0]).unwrap();
    let w = f64_array(&[4, 3], (0..12).map(|i| i as f64 * 0.25 - 1.0).collect()).unwrap();
    let dy = f64_array(&[2, 4], (0..8).map(|i| 1.0 - i as f64 * 0.5).collect()).unwrap();
    let odd = f64_array(&[5], vec![1.0; 5]).unwrap();
    let fc = Attrs::from_pairs([("num_hidden", "4".to_string()), ("no_bias", "True".to_string())]);
    let full = invoke("_backward_FullyConnected", &fc, &[dy.clone(), x.clone(), w.clone()], None, None).unwrap();

    let mut b = EagerGrad::deferred(true);
    let (xe, we, dye, odde) = (b.push(x), b.push(w), b.push(dy), b.push(odd));
    let bad = b.op("elemwise_add", &[xe, odde], Attrs::default()).unwrap();
    let grads = b.op("_backward_FullyConnected", &[dye, xe, we], fc).unwrap();
    b.run_needed(&[grads[1]]).unwrap();
    assert_eq!(vals(b.get(grads[1])), vals(&full[1]), "the weight gradient alone");
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.get(grads[0]).clone()));
    assert!(read.is_err(), "the data gradient was computed though nobody reads it");
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.get(bad[0]).clone())).is_err());
}

/// The gradient of a variable fed by an op whose other input needs none is the same whether
/// or not that other input's gradient is skipped (FullyConnected: `x` plain data, `w` a
/// variable).
#[test]
fn skipping_an_input_gradient_leaves_the_others_alone() {
    let x = f64_array(&[2, 3], vec![1.0, -2.0, 3.0, 0.5, 4.0, -1.0]).unwrap();
    let w = var(&(0..12).map(|i| i as f64 * 0.25 - 1.0).collect::<Vec<_>>(), GradReq::Write);
    let fc = Attrs::from_pairs([("num_hidden", "4".to_string()), ("no_bias", "True".to_string())]);
    let s = recording(|| {
        let shape = Attrs::from_pairs([("shape", "(4, 3)".to_string())]);
        let w2 = invoke("reshape", &shape, std::slice::from_ref(&w), None, None).unwrap().swap_remove(0);
        let y = invoke("FullyConnected", &fc, &[x.clone(), w2], None, None).unwrap().swap_remove(0);
        op("sum", &[&y])
    });
    backward(&[s], &[None], None, OPTS).unwrap();
    // d sum(x w^T) / d w[j, k] = sum over rows of x[:, k].
    let col: Vec<f64> = (0..3).map(|k| vals(&x)[k] + vals(&x)[3 + k]).collect();
    let want: Vec<f64> = (0..12).map(|i| col[i % 3]).collect();
    assert_eq!(grad(&w), want);
}
