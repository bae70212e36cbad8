//! The tape's nodes: what an array's autograd slot points at. Generic over the array type so
//! that the array layer (`ndarray.rs`) can hold an [`Entry`] without importing the tape code
//! above it; the tape uses `Node<NDArray>`.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::op::{Attrs, Operator};

/// How backward stores a variable's gradient (MXNet's `grad_req`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradReq {
    /// No gradient is computed for the variable.
    Null,
    /// Each backward overwrites the gradient buffer.
    Write,
    /// Each backward adds to the gradient buffer.
    Add,
}

impl GradReq {
    /// Parse MXNet's names `null`, `write`, `add` (and `inplace`, which MXNet treats as write).
    pub fn from_name(name: &str) -> Result<GradReq> {
        match name {
            "null" => Ok(GradReq::Null),
            "write" | "inplace" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            other => {
                Err(Error::param("attach_grad", format!("grad_req must be 'write', 'add' or 'null', got '{other}'")))
            }
        }
    }
    /// MXNet's name.
    pub fn name(self) -> &'static str {
        match self {
            GradReq::Null => "null",
            GradReq::Write => "write",
            GradReq::Add => "add",
        }
    }
}

/// The gradient of a node recorded from outside the op registry (an `autograd.Function`, a
/// hybridized block): given one gradient per visible output, return one per input (`None`
/// where an input gets none).
pub trait CustomBackward<V>: Send + Sync {
    /// Compute the input gradients; `is_train` is backward's training mode.
    fn backward(&self, out_grads: &[V], is_train: bool) -> Result<Vec<Option<V>>>;
    /// [`backward`](Self::backward) with a destination per input: `Some(buffer)` for an input
    /// that is a variable with `grad_req` write whose whole gradient comes from this node. A
    /// node may write that input's gradient straight into the buffer and return the buffer
    /// itself (the tape then stores nothing for it); returning any other array works as in
    /// `backward`. The default ignores the destinations.
    fn backward_into(&self, out_grads: &[V], is_train: bool, dests: &[Option<V>]) -> Result<Vec<Option<V>>> {
        let _ = dests;
        self.backward(out_grads, is_train)
    }
    /// A name for messages.
    fn name(&self) -> String;
}

/// A recorded op's arrays or edges: held in the node itself up to two, as most ops have, so
/// that recording a tiny op allocates the node only.
pub type Saved<T> = smallvec::SmallVec<[T; 2]>;

/// A recorded registry op: everything its gradient function reads (nothing, with empty
/// vectors, when none of its inputs was in a graph: no gradient can flow through it).
pub struct OpRecord<V> {
    /// The op instance that ran.
    pub op: Arc<dyn Operator>,
    /// Its attributes (the gradient functions read them).
    pub attrs: Attrs,
    /// The inputs, without their autograd entries.
    pub inputs: Saved<V>,
    /// The inputs' autograd entries (`None` for inputs outside any graph): the graph's edges.
    pub edges: Saved<Option<Entry<V>>>,
    /// Every output, hidden ones too, without their autograd entries (which point here).
    pub outputs: Saved<V>,
    /// The training mode the op ran in.
    pub is_train: bool,
}

/// A recorded custom node.
pub struct CustomRecord<V> {
    /// The backward callback.
    pub backward: Arc<dyn CustomBackward<V>>,
    /// The inputs, without their autograd entries.
    pub inputs: Saved<V>,
    /// The inputs' autograd entries: the graph's edges.
    pub edges: Saved<Option<Entry<V>>>,
    /// The outputs, without their autograd entries.
    pub outputs: Saved<V>,
}

/// What a node holds.
pub enum NodeState<V> {
    /// A variable (`attach_grad`, `mark_variables`): its gradient buffer and request.
    Variable {
        /// The buffer backward writes into (`x.grad`).
        grad: V,
        /// How it is written.
        req: GradReq,
        /// Set when backward writes the buffer; cleared by the optimizer step (gluon's
        /// `Trainer` warns about gradients not updated since the last step).
        fresh: bool,
    },
    /// A recorded registry op.
    Op(OpRecord<V>),
    /// A recorded custom node.
    Custom(CustomRecord<V>),
    /// A recorded node whose saved arrays were released by a backward without `retain_graph`.
    Freed,
}

/// One node of the tape.
pub struct Node<V> {
    /// The node's content; locked only while recording or walking the graph.
    pub state: Mutex<NodeState<V>>,
}

impl<V> Node<V> {
    /// A node holding `state`.
    pub fn new(state: NodeState<V>) -> Arc<Node<V>> {
        Arc::new(Node { state: Mutex::new(state) })
    }
}

impl<V> std::fmt::Debug for OpRecord<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpRecord({}, {} inputs, {} outputs)", self.op.name(), self.inputs.len(), self.outputs.len())
    }
}

impl<V> std::fmt::Debug for CustomRecord<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomRecord({}, {} inputs)", self.backward.name(), self.inputs.len())
    }
}

impl<V> std::fmt::Debug for NodeState<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeState::Variable { req, .. } => write!(f, "Variable({})", req.name()),
            NodeState::Op(r) => r.fmt(f),
            NodeState::Custom(r) => r.fmt(f),
            NodeState::Freed => f.write_str("Freed"),
        }
    }
}

impl<V> std::fmt::Debug for Node<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({:?})", &*self.state.lock())
    }
}

impl<V> NodeState<V> {
    /// Take the nodes this one's edges point at (leaving no edges).
    fn take_edges(&mut self) -> Vec<Arc<Node<V>>> {
        let edges = match self {
            NodeState::Op(r) => std::mem::take(&mut r.edges),
            NodeState::Custom(r) => std::mem::take(&mut r.edges),
            NodeState::Variable { .. } | NodeState::Freed => Saved::new(),
        };
        edges.into_iter().flatten().map(|e| e.node).collect()
    }
}

impl<V> Drop for Node<V> {
    /// Release a chain of nodes iteratively: the graph of a long loop would otherwise drop
    /// node by node recursively, one stack frame group per op, and overflow the stack.
    fn drop(&mut self) {
        let mut stack = self.state.get_mut().take_edges();
        while let Some(n) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(n) {
                stack.extend(node.state.get_mut().take_edges());
            }
        }
    }
}

/// An array's autograd slot: output `index` of `node`.
pub struct Entry<V> {
    /// The node that produced the array (or the variable node).
    pub node: Arc<Node<V>>,
    /// Which of the node's outputs.
    pub index: usize,
}

impl<V> Clone for Entry<V> {
    fn clone(&self) -> Self {
        Entry { node: self.node.clone(), index: self.index }
    }
}

impl<V> std::fmt::Debug for Entry<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({:p}, {})", Arc::as_ptr(&self.node), self.index)
    }
}

impl<V> Entry<V> {
    /// A key identifying the entry (node address, output index).
    pub fn key(&self) -> (usize, usize) {
        (Arc::as_ptr(&self.node) as usize, self.index)
    }
    /// MXNet's `AGInfo::IsNone`: false for variables and recorded nodes still holding their
    /// saved arrays, true once backward released them.
    pub fn is_live(&self) -> bool {
        !matches!(*self.node.state.lock(), NodeState::Freed)
    }
    /// True when the node is a variable.
    pub fn is_variable(&self) -> bool {
        matches!(*self.node.state.lock(), NodeState::Variable { .. })
    }
}
