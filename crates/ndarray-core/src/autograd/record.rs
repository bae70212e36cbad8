//! Recording: the thread's recording flag, read by the imperative call ([`crate::invoke()`])
//! on every op (one thread-local read when not recording), and the functions that add nodes
//! to the tape and give arrays their autograd slots.

use std::cell::Cell;
use std::sync::Arc;

use super::node::{CustomBackward, CustomRecord, Entry, GradReq, Node, NodeState, OpRecord, Saved};
use crate::error::{Error, Result};
use crate::ndarray::NDArray;
use crate::op::{Attrs, Operator, registry};

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static TRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Whether imperative calls on this thread run in training mode (`autograd.is_training()`):
/// Dropout drops and BatchNorm uses batch statistics.
#[inline]
pub fn is_training() -> bool {
    TRAINING.with(|t| t.get())
}

/// Set this thread's training mode; returns the previous one.
pub fn set_training(train: bool) -> bool {
    TRAINING.with(|t| t.replace(train))
}

/// Whether imperative calls on this thread are recorded (`autograd.is_recording()`).
#[inline]
pub fn is_recording() -> bool {
    RECORDING.with(|r| r.get())
}

/// Set this thread's recording flag; returns the previous one.
pub fn set_recording(on: bool) -> bool {
    RECORDING.with(|r| r.replace(on))
}

/// MXNet's message for writing, while recording, into an array the graph uses.
const ASSIGN_IN_GRAPH: &str = "Assigning to NDArrays that are already in a computational graph will cause undefined \
    behavior when evaluating gradients. Please call backward first to clear the graph or do this outside of a record \
    section. Also note that you cannot use inplace operations like +=, *=, relu(x, out=x), y[idx]=x, etc inside a \
    record section.";

/// MXNet's message for an op, while recording, writing over one of its own inputs.
const INPLACE: &str = "Inplace operations (+=, -=, x[:]=, etc) are not supported when recording with autograd.";

/// Refuse, while recording, an op writing over one of its inputs, as MXNet does.
pub fn check_not_inplace(op: &str, inputs: &[NDArray], out: Option<&[NDArray]>) -> Result<()> {
    for o in out.unwrap_or_default() {
        if inputs.iter().any(|a| a.same_chunk(o)) {
            return Err(Error::Autograd(format!("{op}: {INPLACE}")));
        }
    }
    Ok(())
}

/// Refuse, while recording, to write into arrays that belong to a live graph (a variable or a
/// recorded output whose node still holds its saved arrays), as MXNet does.
pub fn check_writable(op: &str, out: Option<&[NDArray]>) -> Result<()> {
    for o in out.unwrap_or_default() {
        if o.ag.as_ref().is_some_and(Entry::is_live) {
            return Err(Error::Autograd(format!("{op}: {ASSIGN_IN_GRAPH}")));
        }
    }
    Ok(())
}

/// Add a node for a registry op that produced `outputs` (every output, hidden ones too) from
/// `inputs`, and point the outputs' autograd slots at it. A node none of whose inputs is in a
/// graph saves nothing (no gradient can flow through it; `attrs` is not even called): its
/// outputs are only heads that backward accepts, as in MXNet.
pub fn record_op(
    op: Arc<dyn Operator>,
    attrs: impl FnOnce() -> Attrs,
    inputs: &[NDArray],
    outputs: &mut [NDArray],
    is_train: bool,
) {
    let rec = if inputs.iter().all(|a| a.ag.is_none()) {
        OpRecord {
            op,
            attrs: Attrs::default(),
            inputs: Saved::new(),
            edges: Saved::new(),
            outputs: Saved::new(),
            is_train,
        }
    } else {
        OpRecord {
            op,
            attrs: attrs(),
            inputs: inputs.iter().map(NDArray::detach).collect(),
            edges: inputs.iter().map(|a| a.ag.clone()).collect(),
            outputs: outputs.iter().map(NDArray::detach).collect(),
            is_train,
        }
    };
    attach_outputs(Node::new(NodeState::Op(rec)), outputs);
}

/// Add a node whose gradient is `backward` (an `autograd.Function`, a hybridized block) and
/// point the outputs' autograd slots at it.
pub fn record_custom(backward: Arc<dyn CustomBackward<NDArray>>, inputs: &[NDArray], outputs: &mut [NDArray]) {
    let rec = CustomRecord {
        backward,
        inputs: inputs.iter().map(NDArray::detach).collect(),
        edges: inputs.iter().map(|a| a.ag.clone()).collect(),
        outputs: outputs.iter().map(NDArray::detach).collect(),
    };
    attach_outputs(Node::new(NodeState::Custom(rec)), outputs);
}

fn attach_outputs(node: Arc<Node<NDArray>>, outputs: &mut [NDArray]) {
    for (index, o) in outputs.iter_mut().enumerate() {
        o.ag = Some(Entry { node: node.clone(), index });
    }
}

/// `array` as a variable whose gradient backward stores in `grad` by `req`
/// (`attach_grad`, `mark_variables`). Returns the new handle; the graph built before keeps
/// using the old one.
pub fn mark_variable(array: &NDArray, grad: &NDArray, req: GradReq) -> Result<NDArray> {
    if grad.shape() != array.shape() {
        return Err(Error::shape(
            "mark_variables",
            format!("gradient buffer has shape {:?} but the variable has {:?}", grad.shape(), array.shape()),
        ));
    }
    let node = Node::new(NodeState::Variable { grad: grad.detach(), req, fresh: false });
    Ok(array.with_entry(Some(Entry { node, index: 0 })))
}

/// The gradient buffer of a variable (`x.grad`); `None` for other arrays.
pub fn grad_of(array: &NDArray) -> Option<NDArray> {
    let e = array.ag.as_ref()?;
    match &*e.node.state.lock() {
        NodeState::Variable { grad, .. } => Some(grad.clone()),
        _ => None,
    }
}

/// The request of a variable; `None` for other arrays.
pub fn grad_req_of(array: &NDArray) -> Option<GradReq> {
    let e = array.ag.as_ref()?;
    match &*e.node.state.lock() {
        NodeState::Variable { req, .. } => Some(*req),
        _ => None,
    }
}

/// While recording, record that `view` (sharing `input`'s memory: a basic slice or a reshape)
/// is registry op `name` with `attrs` applied to `input`, as MXNet's `SliceWithRecord` and
/// `ReshapeWithRecord`; otherwise return `view` as it is.
pub fn record_view(name: &str, attrs: Attrs, input: &NDArray, view: NDArray) -> Result<NDArray> {
    if !is_recording() {
        return Ok(view);
    }
    let op: Arc<dyn Operator> = Arc::from((registry().get(name)?.create)(&attrs)?);
    let mut outs = [view];
    record_op(op, || attrs, std::slice::from_ref(input), &mut outs, is_training());
    let [v] = outs;
    Ok(v)
}

/// Whether backward wrote the variable's gradient since the flag was last cleared
/// (`NDArray._fresh_grad`); false for other arrays.
pub fn fresh_grad(array: &NDArray) -> bool {
    array.ag.as_ref().is_some_and(|e| matches!(&*e.node.state.lock(), NodeState::Variable { fresh: true, .. }))
}

/// Set the variable's fresh-gradient flag (no effect on other arrays).
pub fn set_fresh_grad(array: &NDArray, on: bool) {
    if let Some(e) = &array.ag
        && let NodeState::Variable { fresh, .. } = &mut *e.node.state.lock()
    {
        *fresh = on;
    }
}
