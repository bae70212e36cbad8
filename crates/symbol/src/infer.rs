//! Shape and dtype inference over a graph: each op fills what it can deduce from what is
//! known (forwards, and backwards for weights and labels) until nothing changes.

use std::collections::HashMap;
use std::sync::Arc;

use mxrs_ndarray_core::dtype::DType;
use mxrs_ndarray_core::op::attrs::parse_tuple;
use mxrs_ndarray_core::shape::Shape;
use mxrs_ndarray_core::{Error, Result};

use crate::graph::{Node, Symbol};

/// A graph flattened into node indices, with one slot per node output (`entry`).
#[derive(Debug)]
pub struct IndexedGraph {
    /// Nodes, inputs before users.
    pub nodes: Vec<Arc<Node>>,
    /// For each node, its inputs as `(node index, output index)`.
    pub inputs: Vec<Vec<(usize, usize)>>,
    /// Prefix sums of output counts: entry id of `(node, i)` is `row_ptr[node] + i`.
    pub row_ptr: Vec<usize>,
    /// The symbol's outputs as `(node, output)`.
    pub heads: Vec<(usize, usize)>,
    /// Indices of argument variables, in `list_arguments` order.
    pub args: Vec<usize>,
    /// Indices of aux-state variables, in `list_auxiliary_states` order.
    pub aux: Vec<usize>,
}

impl IndexedGraph {
    /// Flatten a symbol.
    pub fn new(sym: &Symbol) -> IndexedGraph {
        let nodes = sym.topo_nodes();
        let index: HashMap<usize, usize> =
            nodes.iter().enumerate().map(|(i, n)| (Arc::as_ptr(n) as usize, i)).collect();
        let inputs = nodes.iter().map(|n| n.inputs.iter().map(|e| (index[&e.key()], e.index)).collect()).collect();
        let mut row_ptr = vec![0];
        for n in &nodes {
            row_ptr.push(row_ptr.last().unwrap() + n.num_outputs());
        }
        let heads = sym.outputs.iter().map(|e| (index[&e.key()], e.index)).collect();
        let (a, x) = sym.variables();
        let args = a.iter().map(|n| index[&(Arc::as_ptr(n) as usize)]).collect();
        let aux = x.iter().map(|n| index[&(Arc::as_ptr(n) as usize)]).collect();
        IndexedGraph { nodes, inputs, row_ptr, heads, args, aux }
    }
    /// Entry id of output `i` of node `n`.
    pub fn entry(&self, n: usize, i: usize) -> usize {
        self.row_ptr[n] + i
    }
    /// Number of entries.
    pub fn num_entries(&self) -> usize {
        *self.row_ptr.last().unwrap()
    }
    /// Names of all variables (arguments then aux) mapped to node indices.
    fn variable_index(&self) -> HashMap<&str, Vec<usize>> {
        let mut m: HashMap<&str, Vec<usize>> = HashMap::new();
        for &i in self.args.iter().chain(&self.aux) {
            m.entry(self.nodes[i].name.as_str()).or_default().push(i);
        }
        m
    }
}

fn unknown_name_error(g: &IndexedGraph, name: &str) -> Error {
    let cands: Vec<&str> = g.args.iter().chain(&g.aux).map(|&i| g.nodes[i].name.as_str()).collect();
    Error::param("infer", format!("argument name {name} not found. Candidate arguments: [{}]", cands.join(", ")))
}

/// Per-entry shapes after inference from `known` (variable name -> shape) and the
/// variables' `__shape__` attributes. Unknown shapes stay `None`.
pub fn infer_shapes(g: &IndexedGraph, known: &[(String, Shape)]) -> Result<Vec<Option<Shape>>> {
    let mut shapes: Vec<Option<Shape>> = vec![None; g.num_entries()];
    for (i, n) in g.nodes.iter().enumerate() {
        if n.is_variable()
            && let Some(s) = n.attrs.raw("__shape__")
            && let Some(Some(t)) = parse_tuple(s)
            && t.iter().all(|&d| d > 0)
        {
            shapes[g.entry(i, 0)] = Some(t.iter().map(|&d| d as usize).collect());
        }
    }
    let vars = g.variable_index();
    for (name, s) in known {
        let ids = vars.get(name.as_str()).ok_or_else(|| unknown_name_error(g, name))?;
        for &i in ids {
            shapes[g.entry(i, 0)] = Some(s.clone());
        }
    }
    let hints = partial_hints(g);
    loop {
        run_to_fixpoint(g, &mut shapes, |node, ins, outs| node.operator().infer_shape_partial(ins, outs), shape_error)?;
        if !complete_partial(g, &mut shapes, &hints) {
            return Ok(shapes);
        }
    }
}

/// Declared shapes with unknown (0) dimensions, by entry: a variable's `__shape__` or the
/// `shape` of an op without inputs (`_zeros`, `_random_uniform`, ...), as an RNN cell's
/// `begin_state` of shape `(0, num_hidden)` declares. MXNet 1.x keeps such shapes partial
/// and lets the consumers fill them; ops here infer whole shapes, so [`complete_partial`]
/// fills the unknown dimensions once plain inference stalls.
fn partial_hints(g: &IndexedGraph) -> Vec<(usize, usize, Shape)> {
    let mut hints = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let raw = if n.is_variable() {
            n.attrs.raw("__shape__")
        } else if n.inputs.is_empty() {
            n.attrs.raw("shape")
        } else {
            None
        };
        if let Some(Some(t)) = raw.and_then(parse_tuple)
            && t.contains(&0)
            && t.iter().all(|&d| d >= 0)
        {
            hints.push((i, g.entry(i, 0), t.iter().map(|&d| d as usize).collect()));
        }
    }
    hints
}

/// Most candidate completions tried for one partial shape.
const MAX_COMPLETIONS: usize = 256;

/// Fill one still-unknown partial shape: try each completion of its 0 dimensions by
/// dimensions its consumers already know, and keep the one completion a consumer accepts (its
/// inference succeeds, agreeing with what it already knew, and leaves every output known).
/// A consumer that also accepts a value nobody knows, or several values, does not determine
/// the shape. Returns whether a shape was filled.
fn complete_partial(g: &IndexedGraph, shapes: &mut [Option<Shape>], hints: &[(usize, usize, Shape)]) -> bool {
    for (node, entry, partial) in hints {
        if shapes[*entry].is_some() {
            continue;
        }
        for c in (0..g.nodes.len()).filter(|&c| g.inputs[c].contains(&(*node, 0))) {
            if let Some(found) = complete_with(g, shapes, c, *entry, partial) {
                shapes[*entry] = Some(found);
                return true;
            }
        }
    }
    false
}

/// The one completion of `partial` (the shape of `entry`) that consumer `c` accepts.
fn complete_with(g: &IndexedGraph, shapes: &[Option<Shape>], c: usize, entry: usize, partial: &Shape) -> Option<Shape> {
    let base = g.entry(c, 0);
    let n_out = g.nodes[c].num_outputs();
    let outs: Vec<Option<Shape>> = shapes[base..base + n_out].to_vec();
    let ins: Vec<Option<Shape>> = g.inputs[c].iter().map(|&(n, k)| shapes[g.entry(n, k)].clone()).collect();
    let mut values: Vec<usize> = ins.iter().chain(&outs).flatten().flatten().copied().filter(|&d| d > 0).collect();
    values.sort_unstable();
    values.dedup();
    // A value no known shape has: a consumer that accepts it does not determine the dimension.
    let probe = values.last()? + 1;
    values.push(probe);
    let unknown: Vec<usize> = (0..partial.len()).filter(|&k| partial[k] == 0).collect();
    let total = values.len().checked_pow(unknown.len() as u32).filter(|&t| t <= MAX_COMPLETIONS)?;
    let mut accepted: Option<Shape> = None;
    for mut code in 0..total {
        let mut cand = partial.clone();
        for &k in &unknown {
            cand[k] = values[code % values.len()];
            code /= values.len();
        }
        let mut ins_t = ins.clone();
        for (slot, &(n, k)) in ins_t.iter_mut().zip(&g.inputs[c]) {
            if g.entry(n, k) == entry {
                *slot = Some(cand.clone());
            }
        }
        let mut outs_t = outs.clone();
        let ok = g.nodes[c].operator().infer_shape_partial(&mut ins_t, &mut outs_t).is_ok()
            && outs_t.iter().all(Option::is_some);
        if ok {
            if accepted.is_some() || unknown.iter().any(|&k| cand[k] == probe) {
                return None; // several completions pass: the consumer does not determine it
            }
            accepted = Some(cand);
        }
    }
    accepted
}

fn shape_error(node: &Node, e: Error) -> Error {
    let msg = match e {
        Error::Shape { op, msg } => format!("{op}: {msg}"),
        Error::Param { op, msg } => format!("{op}: {msg}"),
        other => other.to_string(),
    };
    Error::shape(format!("Error in operator {}", node.name), msg)
}

/// Per-entry dtypes after inference from `known` and the variables' `__dtype__` attributes.
pub fn infer_dtypes(g: &IndexedGraph, known: &[(String, DType)]) -> Result<Vec<Option<DType>>> {
    let mut types: Vec<Option<DType>> = vec![None; g.num_entries()];
    for (i, n) in g.nodes.iter().enumerate() {
        if n.is_variable()
            && let Some(s) = n.attrs.raw("__dtype__")
            && let Ok(flag) = s.trim().parse::<i32>()
            && flag >= 0
        {
            types[g.entry(i, 0)] = Some(DType::from_flag(flag)?);
        }
    }
    let vars = g.variable_index();
    for (name, d) in known {
        let ids = vars.get(name.as_str()).ok_or_else(|| unknown_name_error(g, name))?;
        for &i in ids {
            types[g.entry(i, 0)] = Some(*d);
        }
    }
    run_to_fixpoint(
        g,
        &mut types,
        |node, ins, outs| node.operator().infer_dtype_partial(ins, outs),
        |n, e| Error::param(format!("Error in operator {}", n.name), e.to_string()),
    )?;
    Ok(types)
}

/// Sweep the op nodes forwards and backwards, letting each fill its slots, until a full
/// sweep changes nothing.
fn run_to_fixpoint<T: Clone + PartialEq>(
    g: &IndexedGraph,
    slots: &mut [Option<T>],
    mut step: impl FnMut(&Node, &mut [Option<T>], &mut [Option<T>]) -> Result<()>,
    wrap: impl Fn(&Node, Error) -> Error,
) -> Result<()> {
    let ops: Vec<usize> = (0..g.nodes.len()).filter(|&i| !g.nodes[i].is_variable()).collect();
    for pass in 0..(2 * ops.len() + 2) {
        let mut changed = false;
        let order: Box<dyn Iterator<Item = &usize>> =
            if pass % 2 == 0 { Box::new(ops.iter()) } else { Box::new(ops.iter().rev()) };
        for &i in order {
            let node = &g.nodes[i];
            let mut ins: Vec<Option<T>> = g.inputs[i].iter().map(|&(n, k)| slots[g.entry(n, k)].clone()).collect();
            let base = g.entry(i, 0);
            let n_out = node.num_outputs();
            let mut outs: Vec<Option<T>> = slots[base..base + n_out].to_vec();
            step(node, &mut ins, &mut outs).map_err(|e| wrap(node, e))?;
            for (j, &(n, k)) in g.inputs[i].iter().enumerate() {
                let id = g.entry(n, k);
                if ins[j].is_some() && slots[id] != ins[j] {
                    if slots[id].is_some() {
                        return Err(wrap(node, Error::msg(format!("input {j} changed during inference"))));
                    }
                    slots[id] = ins[j].clone();
                    changed = true;
                }
            }
            for (j, o) in outs.into_iter().enumerate() {
                if o.is_some() && slots[base + j] != o {
                    slots[base + j] = o;
                    changed = true;
                }
            }
        }
        if !changed && pass > 0 {
            break;
        }
    }
    Ok(())
}

/// Shapes of the arguments, outputs and aux states, in listing order.
pub type ShapeLists = (Vec<Option<Shape>>, Vec<Option<Shape>>, Vec<Option<Shape>>);

/// `infer_shape_partial` of a symbol.
pub fn infer_shape_lists(sym: &Symbol, known: &[(String, Shape)]) -> Result<ShapeLists> {
    let g = IndexedGraph::new(sym);
    let s = infer_shapes(&g, known)?;
    Ok((
        g.args.iter().map(|&i| s[g.entry(i, 0)].clone()).collect(),
        g.heads.iter().map(|&(n, k)| s[g.entry(n, k)].clone()).collect(),
        g.aux.iter().map(|&i| s[g.entry(i, 0)].clone()).collect(),
    ))
}

/// Dtypes of the arguments, outputs and aux states, in listing order.
pub type TypeLists = (Vec<Option<DType>>, Vec<Option<DType>>, Vec<Option<DType>>);

/// `infer_type` of a symbol (partial: unknown dtypes are `None`).
pub fn infer_type_lists(sym: &Symbol, known: &[(String, DType)]) -> Result<TypeLists> {
    let g = IndexedGraph::new(sym);
    let t = infer_dtypes(&g, known)?;
    Ok((
        g.args.iter().map(|&i| t[g.entry(i, 0)]).collect(),
        g.heads.iter().map(|&(n, k)| t[g.entry(n, k)]).collect(),
        g.aux.iter().map(|&i| t[g.entry(i, 0)]).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use mxrs_ndarray_core::Attrs;

    use super::infer_shape_lists;
    use crate::graph::Symbol;

    fn var(name: &str) -> Symbol {
        Symbol::variable(name, Attrs::default())
    }

    fn zeros(name: &str, shape: &str) -> Symbol {
        Symbol::create("_zeros", name, Attrs::from_pairs([("shape", shape)]), &[], &[]).unwrap()
    }

    fn fc(name: &str, data: Symbol) -> Symbol {
        let (w, b) = (var(&format!("{name}_weight")), var(&format!("{name}_bias")));
        Symbol::create("FullyConnected", name, Attrs::from_pairs([("num_hidden", "3")]), &[data, w, b], &[]).unwrap()
    }

    fn add(a: Symbol, b: Symbol) -> Symbol {
        Symbol::create("elemwise_add", "sum", Attrs::default(), &[a, b], &[]).unwrap()
    }

    fn arg_shape(sym: &Symbol, shapes: &[Option<Vec<usize>>], name: &str) -> Option<Vec<usize>> {
        let k = sym.list_arguments().iter().position(|n| n == name).unwrap();
        shapes[k].clone()
    }

    #[test]
    fn a_consumer_completes_the_zero_dims_of_a_creation_op() {
        // An RNN step: the zero state's batch comes from the other addend of the gates.
        let sum = add(fc("i2h", var("x")), fc("h2h", zeros("state", "(0, 4)")));
        let (args, outs, _) = infer_shape_lists(&sum, &[("x".into(), vec![5, 2])]).unwrap();
        assert_eq!(arg_shape(&sum, &args, "h2h_weight"), Some(vec![3, 4]));
        assert_eq!(outs, vec![Some(vec![5, 3])]);
        // Directly from an elementwise partner.
        let direct = add(var("x"), zeros("z", "(0, 0)"));
        let (_, outs, _) = infer_shape_lists(&direct, &[("x".into(), vec![2, 7])]).unwrap();
        assert_eq!(outs, vec![Some(vec![2, 7])]);
    }

    #[test]
    fn undetermined_zero_dims_stay_unknown_and_conflicts_are_errors() {
        let alone = fc("h2h", zeros("state", "(0, 4)"));
        let (args, outs, _) = infer_shape_lists(&alone, &[]).unwrap();
        assert_eq!(arg_shape(&alone, &args, "h2h_weight"), None);
        assert_eq!(outs, vec![None]);
        let clash = add(var("x"), zeros("z", "(0, 4)"));
        let err = infer_shape_lists(&clash, &[("x".into(), vec![2, 7])]).unwrap_err().to_string();
        assert!(err.contains("declared shape (0,4)"), "{err}");
    }
}
