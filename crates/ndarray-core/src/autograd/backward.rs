//! Backward over the tape: a reverse topological walk from the heads that runs each recorded
//! node's registry gradient at once (through [`EagerGrad`]) or calls its custom backward,
//! accumulating gradients per node output, and finally stores the variables' gradients by
//! their `grad_req` (or returns those of the requested variables, for `autograd.grad`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::node::{Entry, GradReq, Node, NodeState, Saved};
use super::record;
use crate::eager_grad::EagerGrad;
use crate::error::{Error, Result};
use crate::invoke::{invoke, invoke_op};
use crate::ndarray::NDArray;
use crate::op::{Attrs, NodeEntry, Operator, registry};

/// MXNet's message for a head outside any recorded graph.
const NOT_IN_GRAPH: &str = "Cannot differentiate node because it is not in a computational graph. You need to set \
    is_recording to true or use autograd.record() to save computational graphs for backward. If you want to \
    differentiate the same graph twice, you need to pass retain_graph=True to backward.";

/// How a backward pass runs.
#[derive(Clone, Copy, Debug)]
pub struct BackwardOptions {
    /// Keep the saved arrays of the graph for another backward.
    pub retain_graph: bool,
    /// Record the gradient computation itself (for higher-order gradients).
    pub create_graph: bool,
    /// The training mode the gradient ops run in.
    pub is_train: bool,
}

type TapeNode = Node<NDArray>;
type Key = (usize, usize);
/// A node's inputs' entries (`None` for inputs outside the graph).
type Children = Saved<Option<Entry<NDArray>>>;

/// One node of the walk: the node and its inputs' entries (`None` for inputs outside the graph).
struct Visit {
    node: Arc<TapeNode>,
    children: Children,
    needed: bool,
}

/// Sets the thread's recording and training modes for the pass and restores them after.
struct ModeGuard {
    recording: bool,
    training: bool,
}

impl ModeGuard {
    fn new(recording: bool, training: bool) -> ModeGuard {
        ModeGuard { recording: record::set_recording(recording), training: record::set_training(training) }
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        record::set_recording(self.recording);
        record::set_training(self.training);
    }
}

fn node_key(n: &Arc<TapeNode>) -> usize {
    Arc::as_ptr(n) as usize
}

/// The entries of a node's inputs; an error for a node whose graph was released.
fn children_of(node: &TapeNode) -> Result<Children> {
    Ok(match &*node.state.lock() {
        NodeState::Variable { .. } => Saved::new(),
        NodeState::Op(r) => r.edges.clone(),
        NodeState::Custom(r) => r.edges.clone(),
        NodeState::Freed => return Err(Error::Autograd(NOT_IN_GRAPH.to_string())),
    })
}

/// The nodes reachable from `heads`, inputs before their consumers (iterative: graphs of
/// recurrent loops are deep). `is_target` marks nodes whose gradient is wanted; a node is
/// needed when it or one of its inputs' nodes is.
fn topo_order(heads: &[&Entry<NDArray>], is_target: &dyn Fn(&Arc<TapeNode>) -> bool) -> Result<Vec<Visit>> {
    let mut order: Vec<Visit> = Vec::new();
    let mut pos: HashMap<usize, usize> = HashMap::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<(Arc<TapeNode>, Children, usize)> = Vec::new();
    for h in heads {
        if seen.insert(node_key(&h.node)) {
            stack.push((h.node.clone(), children_of(&h.node)?, 0));
        }
        while let Some((_, children, next)) = stack.last_mut() {
            if let Some(c) = children.get(*next) {
                *next += 1;
                if let Some(c) = c
                    && seen.insert(node_key(&c.node))
                {
                    let node = c.node.clone();
                    let ch = children_of(&node)?;
                    stack.push((node, ch, 0));
                }
                continue;
            }
            let (node, children, _) = stack.pop().expect("the stack is not empty");
            let needed = is_target(&node)
                || children.iter().flatten().any(|c| pos.get(&node_key(&c.node)).is_some_and(|&p| order[p].needed));
            pos.insert(node_key(&node), order.len());
            order.push(Visit { node, children, needed });
        }
    }
    Ok(order)
}

/// Run the registered op `name` outside any graph.
fn plain(name: &str, inputs: &[NDArray], out: Option<&[NDArray]>) -> Result<NDArray> {
    let op: Arc<dyn Operator> = Arc::from((registry().get(name)?.create)(&Attrs::default())?);
    Ok(invoke_op(op, inputs, out, None)?.swap_remove(0))
}

/// Add `g` to the gradient accumulated for `key` (recorded when the pass creates a graph).
fn accumulate(grads: &mut HashMap<Key, NDArray>, key: Key, g: NDArray) -> Result<()> {
    let total = match grads.remove(&key) {
        Some(prev) => invoke("elemwise_add", &Attrs::default(), &[prev, g], None, None)?.swap_remove(0),
        None => g,
    };
    grads.insert(key, total);
    Ok(())
}

/// The gradients of a recorded node's visible outputs, zeros where none arrived; `None` when
/// none arrived at all.
fn take_out_grads(
    grads: &mut HashMap<Key, NDArray>,
    node: usize,
    outputs: &[NDArray],
    visible: usize,
) -> Result<Option<Vec<NDArray>>> {
    let got: Vec<Option<NDArray>> = (0..visible).map(|i| grads.remove(&(node, i))).collect();
    if got.iter().all(Option::is_none) {
        return Ok(None);
    }
    got.into_iter()
        .zip(outputs)
        .map(|(g, o)| match g {
            Some(g) => Ok(g),
            None => plain("zeros_like", std::slice::from_ref(o), None),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The input gradients of one recorded node for its output gradients `ogs`, of the inputs
/// flagged in `wanted` (the others come back as None, their gradient ops never run, unless a
/// new graph is built). A custom node gets `dests_of`'s destinations for its inputs (see
/// [`CustomBackward::backward_into`]).
///
/// [`CustomBackward::backward_into`]: super::node::CustomBackward::backward_into
fn node_gradients(
    node: &Arc<TapeNode>,
    ogs_of: impl FnOnce(&[NDArray], usize) -> Result<Option<Vec<NDArray>>>,
    dests_of: impl FnOnce() -> Vec<Option<NDArray>>,
    wanted: &[bool],
    opts: BackwardOptions,
) -> Result<Option<Vec<Option<NDArray>>>> {
    // One value on the stack for the length of this call: its size costs nothing.
    #[allow(clippy::large_enum_variant)]
    enum Work {
        Op(Arc<dyn Operator>, Attrs, Saved<NDArray>, Saved<Option<Entry<NDArray>>>, Saved<NDArray>),
        Custom(Arc<dyn super::node::CustomBackward<NDArray>>, usize, Saved<NDArray>),
    }
    // Clone what the gradient needs, then unlock: a custom backward calls back into Python.
    let work = match &*node.state.lock() {
        NodeState::Op(r) => {
            Work::Op(r.op.clone(), r.attrs.clone(), r.inputs.clone(), r.edges.clone(), r.outputs.clone())
        }
        NodeState::Custom(r) => Work::Custom(r.backward.clone(), r.inputs.len(), r.outputs.clone()),
        NodeState::Variable { .. } => return Ok(None),
        NodeState::Freed => return Err(Error::Autograd(NOT_IN_GRAPH.to_string())),
    };
    match work {
        Work::Op(op, attrs, inputs, edges, outputs) => {
            let Some(ogs) = ogs_of(&outputs, op.num_visible_outputs())? else { return Ok(None) };
            let name = op.name().to_string();
            let grad_fn = registry().get(&name)?.gradient.ok_or_else(|| {
                Error::Autograd(format!(
                    "Operator {name} is non-differentiable because it didn't register FGradient attribute."
                ))
            })?;
            // Without a new graph the gradient ops wait until it is known which inputs need
            // a gradient: those of the others never run.
            let mut b =
                if opts.create_graph { EagerGrad::new(opts.is_train) } else { EagerGrad::deferred(opts.is_train) };
            // A new graph links the gradient ops to the inputs' and outputs' nodes.
            let in_e: Vec<NodeEntry> = inputs
                .iter()
                .zip(edges)
                .map(|(a, e)| b.push(if opts.create_graph { a.with_entry(e) } else { a.clone() }))
                .collect();
            let out_e: Vec<NodeEntry> = outputs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let entry = opts.create_graph.then(|| Entry { node: node.clone(), index: i });
                    b.push(a.with_entry(entry))
                })
                .collect();
            let og_e: Vec<NodeEntry> = ogs.into_iter().map(|a| b.push(a)).collect();
            let gs = grad_fn(&mut b, &attrs, &in_e, &out_e, &og_e)?;
            if gs.len() != inputs.len() {
                return Err(Error::msg(format!(
                    "internal: the gradient of {name} returned {} gradients for {} inputs",
                    gs.len(),
                    inputs.len()
                )));
            }
            let gs: Vec<Option<NodeEntry>> =
                gs.into_iter().zip(wanted).map(|(g, &w)| g.filter(|_| w || opts.create_graph)).collect();
            b.run_needed(&gs.iter().flatten().copied().collect::<Vec<_>>())?;
            Ok(Some(gs.into_iter().map(|g| g.map(|e| b.get(e).clone())).collect()))
        }
        Work::Custom(f, n_in, outputs) => {
            let Some(ogs) = ogs_of(&outputs, outputs.len())? else { return Ok(None) };
            let gs = f.backward_into(&ogs, opts.is_train, &dests_of())?;
            if gs.len() != n_in {
                return Err(Error::Autograd(format!(
                    "{}: backward returned {} gradients for {n_in} inputs",
                    f.name(),
                    gs.len()
                )));
            }
            Ok(Some(gs))
        }
    }
}

/// The key of `grad`'s variable `i`: it must be a variable that requires a gradient.
fn variable_key((i, v): (usize, &NDArray)) -> Result<Key> {
    let e =
        v.ag.as_ref()
            .filter(|e| matches!(&*e.node.state.lock(), NodeState::Variable { req, .. } if *req != GradReq::Null));
    e.map(Entry::key).ok_or_else(|| {
        Error::Autograd(format!(
            "Cannot differentiate with respect to the {}-th variable because it does not require gradient \
             (call attach_grad() on it before recording)",
            i + 1
        ))
    })
}

/// Run backward from `heads` (each with an optional head gradient; ones by default).
/// With `variables`, return their gradients (zeros for one no gradient reaches) and leave
/// gradient buffers alone (`autograd.grad`); without, store the gradient of every variable
/// reached into its buffer by its `grad_req` and return nothing.
pub fn backward(
    heads: &[NDArray],
    head_grads: &[Option<NDArray>],
    variables: Option<&[NDArray]>,
    opts: BackwardOptions,
) -> Result<Vec<NDArray>> {
    if head_grads.len() != heads.len() {
        return Err(Error::param(
            "backward",
            format!("got {} head gradients for {} heads", head_grads.len(), heads.len()),
        ));
    }
    let head_entries: Vec<&Entry<NDArray>> = heads
        .iter()
        .map(|h| h.ag.as_ref().filter(|e| e.is_live()).ok_or_else(|| Error::Autograd(NOT_IN_GRAPH.to_string())))
        .collect::<Result<_>>()?;
    let targets: Option<Vec<Key>> =
        variables.map(|vs| vs.iter().enumerate().map(variable_key).collect()).transpose()?;
    let target_nodes: HashSet<usize> = targets.iter().flatten().map(|k| k.0).collect();
    let is_target = |n: &Arc<TapeNode>| match &targets {
        Some(_) => target_nodes.contains(&node_key(n)),
        None => matches!(&*n.state.lock(), NodeState::Variable { req, .. } if *req != GradReq::Null),
    };
    let order = topo_order(&head_entries, &is_target)?;
    let _mode = ModeGuard::new(opts.create_graph, opts.is_train);
    let mut grads: HashMap<Key, NDArray> = HashMap::new();
    for ((h, e), hg) in heads.iter().zip(&head_entries).zip(head_grads) {
        let g = match hg {
            Some(g) if g.shape() != h.shape() => {
                return Err(Error::shape(
                    "backward",
                    format!("head gradient of shape {:?} for a head of shape {:?}", g.shape(), h.shape()),
                ));
            }
            Some(g) => g.clone(),
            None => plain("ones_like", &[h.detach()], None)?,
        };
        accumulate(&mut grads, e.key(), g)?;
    }
    // Only a plain backward (no requested variables, no new graph) lets custom nodes write
    // variables' buffers themselves.
    let sources = (targets.is_none() && !opts.create_graph).then(|| gradient_sources(&order, &head_entries));
    let result = walk(&order, &mut grads, sources.as_ref(), opts).and_then(|written| match &targets {
        Some(ts) => finish_grad(ts, variables.unwrap_or_default(), &mut grads),
        None => finish_backward(&order, &grads, &written).map(|()| Vec::new()),
    });
    if !opts.retain_graph {
        for v in &order {
            let mut s = v.node.state.lock();
            if matches!(*s, NodeState::Op(_) | NodeState::Custom(_)) {
                *s = NodeState::Freed;
            }
        }
    }
    result
}

/// How many gradients reach each entry in the walk: one per edge from a needed node, one per
/// head.
fn gradient_sources(order: &[Visit], heads: &[&Entry<NDArray>]) -> HashMap<Key, usize> {
    let mut n: HashMap<Key, usize> = HashMap::new();
    for e in heads {
        *n.entry(e.key()).or_default() += 1;
    }
    for v in order.iter().filter(|v| v.needed) {
        for c in v.children.iter().flatten() {
            *n.entry(c.key()).or_default() += 1;
        }
    }
    n
}

/// The gradient buffer of `child` when its gradient may be written there directly: a variable
/// with `grad_req` write that this one edge is the only source of.
fn direct_dest(child: &Option<Entry<NDArray>>, sources: &HashMap<Key, usize>) -> Option<NDArray> {
    let c = child.as_ref()?;
    if sources.get(&c.key()) != Some(&1) {
        return None;
    }
    match &*c.node.state.lock() {
        NodeState::Variable { grad, req: GradReq::Write, .. } => Some(grad.clone()),
        _ => None,
    }
}

/// The reverse walk: each needed node turns its output gradients into its inputs' gradients.
/// With `sources`, custom nodes get the buffers of the variables they alone feed; returns the
/// variables whose buffers a node wrote itself.
fn walk(
    order: &[Visit],
    grads: &mut HashMap<Key, NDArray>,
    sources: Option<&HashMap<Key, usize>>,
    opts: BackwardOptions,
) -> Result<HashSet<Key>> {
    let needed: HashSet<usize> = order.iter().filter(|v| v.needed).map(|v| node_key(&v.node)).collect();
    let mut written = HashSet::new();
    for v in order.iter().rev().filter(|v| v.needed) {
        let nk = node_key(&v.node);
        let ogs_of = |outs: &[NDArray], visible: usize| take_out_grads(grads, nk, outs, visible);
        // Asked for by custom nodes only.
        let mut dests: Vec<Option<NDArray>> = Vec::new();
        let dests_of = || {
            dests = match sources {
                Some(s) => v.children.iter().map(|c| direct_dest(c, s)).collect(),
                None => vec![None; v.children.len()],
            };
            dests.clone()
        };
        let wanted: Vec<bool> =
            v.children.iter().map(|c| c.as_ref().is_some_and(|c| needed.contains(&node_key(&c.node)))).collect();
        let Some(gs) = node_gradients(&v.node, ogs_of, dests_of, &wanted, opts)? else { continue };
        for (i, (child, g)) in v.children.iter().zip(gs).enumerate() {
            if let (Some(c), Some(g)) = (child, g)
                && needed.contains(&node_key(&c.node))
            {
                if dests.get(i).and_then(Option::as_ref).is_some_and(|d| d.same_view(&g)) {
                    written.insert(c.key());
                } else {
                    accumulate(grads, c.key(), g)?;
                }
            }
        }
    }
    Ok(written)
}

/// `autograd.grad`: the requested gradients, zeros where none arrived.
fn finish_grad(targets: &[Key], variables: &[NDArray], grads: &mut HashMap<Key, NDArray>) -> Result<Vec<NDArray>> {
    targets
        .iter()
        .zip(variables)
        .map(|(k, v)| match grads.get(k) {
            Some(g) => Ok(g.clone()),
            None => plain("zeros_like", &[v.detach()], None),
        })
        .collect()
}

/// `backward`: store each reached variable's gradient into its buffer by its request (except
/// the `written` ones, whose buffers a node filled itself).
fn finish_backward(order: &[Visit], grads: &HashMap<Key, NDArray>, written: &HashSet<Key>) -> Result<()> {
    let _plain = ModeGuard::new(false, record::is_training());
    for v in order.iter().filter(|v| v.needed) {
        let (buf, req) = match &mut *v.node.state.lock() {
            NodeState::Variable { grad, req, fresh } => {
                *fresh |= *req != GradReq::Null;
                (grad.clone(), *req)
            }
            _ => continue,
        };
        let key = (node_key(&v.node), 0);
        if written.contains(&key) {
            continue;
        }
        let g = grads.get(&key);
        match (req, g) {
            (GradReq::Null, _) => {}
            (GradReq::Write, Some(g)) => buf.copy_from(g)?,
            (GradReq::Write, None) => {
                plain("zeros_like", std::slice::from_ref(&buf), Some(std::slice::from_ref(&buf)))?;
            }
            (GradReq::Add, Some(g)) => {
                plain("elemwise_add", &[buf.clone(), g.clone()], Some(std::slice::from_ref(&buf)))?;
            }
            (GradReq::Add, None) => {}
        }
    }
    Ok(())
}
