//! The forward schedule and the pruning pass shared with the backward schedule.
//!
//! A schedule is a list of [`Step`]s over *value ids*: the entries of the
//! [`IndexedGraph`] (one per node output) first, then the values the backward graph adds. The
//! forward schedule is the graph's op nodes in topological order, so every input of a step is
//! a variable or an output of an earlier step.

use std::collections::HashSet;
use std::sync::Arc;

use super::types::Step;
use crate::infer::IndexedGraph;

/// One step per op node, in the graph's (topological) node order; value ids are entry ids.
pub(crate) fn forward(g: &IndexedGraph) -> Vec<Step> {
    let mut fwd = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if n.is_variable() {
            continue;
        }
        let inputs = g.inputs[i].iter().map(|&(s, k)| g.entry(s, k)).collect();
        let outputs = (0..n.num_outputs()).map(|k| g.entry(i, k)).collect();
        fwd.push(Step { op: n.operator().clone(), inputs, outputs });
    }
    fwd
}

/// Drop the steps none of whose outputs is read (by a later step) or is a root, and let a step
/// with some unread outputs compute only the others when its op can
/// ([`Operator::keep_outputs`]: a fused backward op then skips, say, the data gradient of a
/// network's first layer). Steps that mutate their inputs are always kept whole.
pub(crate) fn prune_unread(steps: &mut Vec<Step>, is_root: impl Fn(usize) -> bool) {
    let mut read = HashSet::new();
    let mut kept = Vec::with_capacity(steps.len());
    for mut st in steps.drain(..).rev() {
        let flags: Vec<bool> = st.outputs.iter().map(|&v| read.contains(&v) || is_root(v)).collect();
        let mutates = !st.op.mutate_inputs().is_empty();
        if !mutates && !flags.iter().any(|&f| f) {
            continue;
        }
        if !mutates
            && flags.iter().any(|&f| !f)
            && let Some(op) = st.op.keep_outputs(&flags)
        {
            st.op = Arc::from(op);
            st.outputs = st.outputs.iter().zip(&flags).filter(|(_, f)| **f).map(|(&v, _)| v).collect();
        }
        read.extend(st.inputs.iter().copied());
        kept.push(st);
    }
    kept.reverse();
    *steps = kept;
}

#[cfg(test)]
mod tests {
    use mxrs_ndarray_core::Attrs;

    use super::*;
    use crate::executor::testing::{op, var};
    use crate::executor::types::make_op;

    fn step(name: &str, inputs: Vec<usize>, outputs: Vec<usize>) -> Step {
        Step { op: make_op(name, &Attrs::default()).unwrap(), inputs, outputs }
    }

    #[test]
    fn forward_runs_each_op_once_after_its_inputs() {
        // d = (a * b) + exp(a * b), with `a * b` read twice.
        let ab = op("elemwise_mul", "m", &[var("a"), var("b")]);
        let e = op("exp", "e", std::slice::from_ref(&ab));
        let d = op("elemwise_add", "d", &[ab, e]);
        let g = IndexedGraph::new(&d);
        let fwd = forward(&g);
        let names: Vec<&str> = fwd.iter().map(|s| s.op.name()).collect();
        assert_eq!(names, ["elemwise_mul", "exp", "elemwise_add"]);
        let mut defined: HashSet<usize> = g.args.iter().map(|&n| g.entry(n, 0)).collect();
        for st in &fwd {
            assert!(st.inputs.iter().all(|v| defined.contains(v)), "{st:?} reads a value not yet written");
            for &v in &st.outputs {
                assert!(defined.insert(v), "{v} written twice");
            }
        }
        assert_eq!(defined.len(), g.num_entries());
        let (n, k) = g.heads[0];
        assert_eq!(fwd.last().unwrap().outputs, [g.entry(n, k)]);
    }

    #[test]
    fn pruning_keeps_what_reaches_a_root() {
        // 0 -> 1 -> 2 (root); 0 -> 3 -> 4 (nobody reads 4).
        let mut steps =
            vec![step("exp", vec![0], vec![1]), step("exp", vec![1], vec![2]), step("exp", vec![0], vec![3])];
        steps.push(step("exp", vec![3], vec![4]));
        prune_unread(&mut steps, |v| v == 2);
        let kept: Vec<(Vec<usize>, Vec<usize>)> = steps.iter().map(|s| (s.inputs.clone(), s.outputs.clone())).collect();
        assert_eq!(kept, [(vec![0], vec![1]), (vec![1], vec![2])]);
    }

    #[test]
    fn pruning_drops_unread_outputs_of_a_fused_op() {
        // `_backward_FullyConnected(dy, x, w) -> (dx, dw, db)` with only dw and db read.
        let attrs = Attrs::from_pairs([("num_hidden", "2")]);
        let bwd = make_op("_backward_FullyConnected", &attrs).unwrap();
        assert_eq!(bwd.num_outputs(), 3);
        let mut steps = vec![Step { op: bwd, inputs: vec![0, 1, 2], outputs: vec![3, 4, 5] }];
        prune_unread(&mut steps, |v| v == 4 || v == 5);
        assert_eq!(steps[0].outputs, [4, 5]);
        assert_eq!(steps[0].op.num_outputs(), 2);
        prune_unread(&mut steps, |_| false);
        assert!(steps.is_empty());
    }

    #[test]
    fn pruning_keeps_steps_that_mutate_their_inputs() {
        // BatchNorm updates its moving averages (inputs 3 and 4) even when no output is read.
        let bn = make_op("BatchNorm", &Attrs::default()).unwrap();
        assert!(!bn.mutate_inputs().is_empty());
        let n = bn.num_outputs();
        let mut steps = vec![Step { op: bn, inputs: vec![0, 1, 2, 3, 4], outputs: (5..5 + n).collect() }];
        prune_unread(&mut steps, |_| false);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].outputs.len(), n);
    }
}
