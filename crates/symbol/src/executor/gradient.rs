//! The gradient graph: backward steps built from each op's registered gradient, and the wiring
//! of argument gradients into the caller's arrays according to their `grad_req`.
//!
//! Walking the op nodes in reverse topological order, each node that some requested gradient
//! depends on gets the sum of the gradients flowing into its visible outputs (zeros where none
//! flows), and its [`GradFn`](mxrs_ndarray_core::op::GradFn) adds the steps that compute its
//! inputs' gradients from those. The steps are ordinary registered ops over new value ids,
//! appended to the graph's value table (shape and dtype of each inferred as it is added).
//!
//! Then each argument with a gradient array and a request other than `null` gets a *target*
//! value standing for that array: with `write`, the step producing the summed gradient writes
//! straight into it (or a `_copy` fills it when the gradient is a value no backward step
//! produces); with `add`, an `elemwise_add(target, gradient) -> target` step accumulates. Last,
//! steps whose results reach no target are pruned.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mxrs_ndarray_core::dtype::DType;
use mxrs_ndarray_core::op::{Attrs, GradBuilder, NodeEntry, Operator};
use mxrs_ndarray_core::shape::{Shape, fmt_shape};
use mxrs_ndarray_core::{Error, Result};

use super::schedule::prune_unread;
use super::types::{GradReq, Step, make_op};
use crate::graph::op_params;
use crate::infer::IndexedGraph;

/// Appends backward steps and their values while the gradient functions run.
pub(crate) struct Builder<'a> {
    steps: &'a mut Vec<Step>,
    shapes: &'a mut Vec<Shape>,
    dtypes: &'a mut Vec<DType>,
}

impl<'a> Builder<'a> {
    /// A builder appending to `steps` and to the value table `shapes`/`dtypes`.
    pub(crate) fn new(steps: &'a mut Vec<Step>, shapes: &'a mut Vec<Shape>, dtypes: &'a mut Vec<DType>) -> Self {
        Builder { steps, shapes, dtypes }
    }
    fn new_value(&mut self, s: Shape, d: DType) -> usize {
        self.shapes.push(s);
        self.dtypes.push(d);
        self.shapes.len() - 1
    }
    fn add(&mut self, op: Arc<dyn Operator>, inputs: Vec<usize>) -> Result<Vec<usize>> {
        let in_shapes: Vec<Shape> = inputs.iter().map(|&v| self.shapes[v].clone()).collect();
        let in_dtypes: Vec<DType> = inputs.iter().map(|&v| self.dtypes[v]).collect();
        let shapes = op.infer_shape(&in_shapes)?;
        let dtypes = op.infer_dtype(&in_dtypes)?;
        let outputs: Vec<usize> = shapes.into_iter().zip(dtypes).map(|(s, d)| self.new_value(s, d)).collect();
        self.steps.push(Step { op, inputs, outputs: outputs.clone() });
        Ok(outputs)
    }
}

impl GradBuilder for Builder<'_> {
    fn op(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<Vec<NodeEntry>> {
        let op = make_op(name, &attrs)?;
        Ok(self.add(op, inputs.iter().map(|e| e.0).collect())?.into_iter().map(NodeEntry).collect())
    }
}

/// An argument's gradient array as the gradient stage sees it.
#[derive(Clone, Debug)]
pub(crate) struct GradArray {
    /// How the gradient is stored.
    pub req: GradReq,
    /// The array's shape (equal to the argument's).
    pub shape: Shape,
    /// The array's dtype.
    pub dtype: DType,
}

/// The backward graph of a bound symbol.
#[derive(Debug, Default)]
pub(crate) struct Backward {
    /// The backward schedule (after pruning).
    pub steps: Vec<Step>,
    /// One value per head: the head gradients `backward` reads. Empty when no requested
    /// gradient depends on a head, and then `steps` is empty too.
    pub head_grads: Vec<usize>,
    /// `(argument index, target value)` for each argument whose gradient array is written.
    pub arg_grads: Vec<(usize, usize)>,
}

/// Build the backward graph of `g`. `reqs` has one request per argument and `arrays` one
/// optional gradient array per argument; new values are appended to `shapes` and `dtypes`
/// (which hold one entry per graph entry on the way in).
pub(crate) fn build(
    g: &IndexedGraph,
    reqs: &[GradReq],
    arrays: &[Option<GradArray>],
    shapes: &mut Vec<Shape>,
    dtypes: &mut Vec<DType>,
) -> Result<Backward> {
    let needs = needs_gradient(g, reqs);
    let mut steps = Vec::new();
    let mut b = Builder::new(&mut steps, shapes, dtypes);
    let mut contrib: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut head_grads = Vec::new();
    if g.heads.iter().any(|&(n, _)| needs[n]) {
        for &(n, k) in &g.heads {
            let e = g.entry(n, k);
            let v = b.new_value(b.shapes[e].clone(), b.dtypes[e]);
            head_grads.push(v);
            contrib.entry(e).or_default().push(v);
        }
        for i in (0..g.nodes.len()).rev() {
            if !g.nodes[i].is_variable() && needs[i] {
                node_gradient(g, i, &needs, &mut b, &mut contrib)?;
            }
        }
    }
    let arg_grads = wire_arg_grads(g, arrays, &head_grads, &mut b, contrib)?;
    let targets: HashSet<usize> = arg_grads.iter().map(|&(_, v)| v).collect();
    prune_unread(&mut steps, |v| targets.contains(&v));
    Ok(Backward { steps, head_grads, arg_grads })
}

/// For each node, whether a requested gradient depends on it: an argument whose request is not
/// `Null`, or an op with such a node among its inputs.
pub(crate) fn needs_gradient(g: &IndexedGraph, reqs: &[GradReq]) -> Vec<bool> {
    let reqs: HashMap<usize, GradReq> = g.args.iter().copied().zip(reqs.iter().copied()).collect();
    let mut needs = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        needs[i] = if n.is_variable() {
            reqs.get(&i).is_some_and(|r| *r != GradReq::Null)
        } else {
            g.inputs[i].iter().any(|&(s, _)| needs[s])
        };
    }
    needs
}

/// Add the steps of op node `i`'s gradient: sum what flows into each visible output, call the
/// op's gradient function, and record what it gives each input that needs one in `contrib`.
fn node_gradient(
    g: &IndexedGraph,
    i: usize,
    needs: &[bool],
    b: &mut Builder<'_>,
    contrib: &mut HashMap<usize, Vec<usize>>,
) -> Result<()> {
    let node = &g.nodes[i];
    let visible = node.num_visible_outputs();
    if (0..visible).all(|k| !contrib.contains_key(&g.entry(i, k))) {
        return Ok(());
    }
    let def = node.op.as_ref().expect("op node");
    let grad_fn = def.gradient.ok_or_else(|| {
        Error::NotSupported(format!(
            "operator {} ({}) has no gradient; use BlockGrad or grad_req='null' for what feeds it",
            def.name, node.name
        ))
    })?;
    let mut ogs = Vec::with_capacity(visible);
    for k in 0..visible {
        let e = g.entry(i, k);
        let v = match contrib.remove(&e) {
            Some(vs) => sum_values(b, vs)?,
            None => b.add(make_op("zeros_like", &Attrs::default())?, vec![e])?[0],
        };
        ogs.push(NodeEntry(v));
    }
    let ins: Vec<NodeEntry> = g.inputs[i].iter().map(|&(s, k)| NodeEntry(g.entry(s, k))).collect();
    let outs: Vec<NodeEntry> = (0..node.num_outputs()).map(|k| NodeEntry(g.entry(i, k))).collect();
    let mut attrs = op_params(&node.attrs);
    for (k, v) in node.operator().gradient_attrs() {
        attrs.set(&k, v);
    }
    let grads = grad_fn(b, &attrs, &ins, &outs, &ogs)
        .map_err(|e| Error::msg(format!("building the gradient of {} ({}): {e}", def.name, node.name)))?;
    if grads.len() != ins.len() {
        return Err(Error::msg(format!(
            "internal: the gradient of {} returned {} values for {} inputs",
            def.name,
            grads.len(),
            ins.len()
        )));
    }
    for (j, gv) in grads.into_iter().enumerate() {
        let (s, _) = g.inputs[i][j];
        if let Some(v) = gv
            && needs[s]
        {
            let (gv_shape, in_shape) = (&b.shapes[v.0], &b.shapes[ins[j].0]);
            if gv_shape != in_shape {
                return Err(Error::msg(format!(
                    "internal: the gradient of {} ({}) for input {j} has shape {}, the input {}",
                    def.name,
                    node.name,
                    fmt_shape(gv_shape),
                    fmt_shape(in_shape)
                )));
            }
            contrib.entry(ins[j].0).or_default().push(v.0);
        }
    }
    Ok(())
}

/// Give each argument with a gradient array (and a request other than `Null`) a target value
/// and the steps that fill it from the gradients that reached the argument. Returns the
/// `(argument index, target)` pairs.
fn wire_arg_grads(
    g: &IndexedGraph,
    arrays: &[Option<GradArray>],
    head_grads: &[usize],
    b: &mut Builder<'_>,
    mut contrib: HashMap<usize, Vec<usize>>,
) -> Result<Vec<(usize, usize)>> {
    let mut targets = Vec::new();
    // A value the last step of an earlier argument now writes into that argument's target.
    let mut renamed: HashMap<usize, usize> = HashMap::new();
    for (k, &node) in g.args.iter().enumerate() {
        let Some(arr) = &arrays[k] else { continue };
        if arr.req == GradReq::Null {
            continue;
        }
        let Some(vs) = contrib.remove(&g.entry(node, 0)) else { continue };
        let vs = vs.into_iter().map(|v| *renamed.get(&v).unwrap_or(&v)).collect();
        let v = sum_values(b, vs)?;
        let target = b.new_value(arr.shape.clone(), arr.dtype);
        let produced_by_step =
            v >= g.num_entries() && !head_grads.contains(&v) && !targets.iter().any(|&(_, t)| t == v);
        targets.push((k, target));
        match arr.req {
            GradReq::Write if produced_by_step => {
                // The step producing the gradient writes straight into the gradient array.
                renamed.insert(v, target);
                for st in b.steps.iter_mut() {
                    for o in st.outputs.iter_mut().chain(st.inputs.iter_mut()) {
                        if *o == v {
                            *o = target;
                        }
                    }
                }
            }
            GradReq::Write => {
                let op = make_op("_copy", &Attrs::default())?;
                b.steps.push(Step { op, inputs: vec![v], outputs: vec![target] });
            }
            _ => {
                let op = make_op("elemwise_add", &Attrs::default())?;
                b.steps.push(Step { op, inputs: vec![target, v], outputs: vec![target] });
            }
        }
    }
    Ok(targets)
}

/// The sum of `vs`: the value itself, one `elemwise_add`, or one `add_n`.
fn sum_values(b: &mut Builder<'_>, vs: Vec<usize>) -> Result<usize> {
    match vs.len() {
        0 => Err(Error::msg("internal: empty gradient sum")),
        1 => Ok(vs[0]),
        2 => Ok(b.add(make_op("elemwise_add", &Attrs::default())?, vs)?[0]),
        n => {
            let attrs = Attrs::from_pairs([("num_args", n.to_string())]);
            Ok(b.add(make_op("add_n", &attrs)?, vs)?[0])
        }
    }
}

#[cfg(test)]
mod tests;
