//! The operator registry: every op of `mx.nd` (and later `mx.sym`) is defined once here, with
//! its name, inputs, parameters, shape and dtype inference, compute function and a slot for its
//! gradient.
//!
//! Compute functions are synchronous and engine-free: they map input storages to output
//! storages. Only [`crate::invoke`] pushes them onto the engine.

pub mod attrs;
mod dot;
mod elemwise;
mod indexing;
mod init;
mod matrix;
mod nn;
pub mod random;
mod reduce;
mod registry;
mod sort;

use std::fmt;
use std::sync::Arc;

pub use attrs::Attrs;
pub use registry::{Registry, registry};

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::storage::{CpuStorage, StorageElement};

/// A read-only contiguous input: `shape.iter().product()` elements of `data` from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct TensorIn<'a> {
    /// The storage of the input's chunk.
    pub data: &'a CpuStorage,
    /// First element of the input inside `data`.
    pub offset: usize,
    /// The input's shape.
    pub shape: &'a [usize],
}

impl<'a> TensorIn<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
    /// The elements as a typed slice (the dtype must match `T`).
    pub fn typed<T: StorageElement>(&self) -> &'a [T] {
        let all = T::slice(self.data).expect("TensorIn::typed: dtype checked by the op");
        &all[self.offset..self.offset + self.len()]
    }
    /// A contiguous copy of the elements.
    pub fn to_storage(&self) -> CpuStorage {
        self.data.slice_copy(self.offset, self.len())
    }
    /// The elements as a storage, borrowed when the input is the whole chunk.
    pub fn storage(&self) -> std::borrow::Cow<'a, CpuStorage> {
        if self.offset == 0 && self.len() == self.data.len() {
            std::borrow::Cow::Borrowed(self.data)
        } else {
            std::borrow::Cow::Owned(self.to_storage())
        }
    }
}

/// What an op's compute function may use besides its inputs.
pub struct OpCtx<'a> {
    /// The context the op runs on.
    pub ctx: Context,
    /// The random generator of `ctx`, for ops that declare [`Operator::uses_rng`].
    pub rng: Option<&'a mut random::Rng>,
}

impl fmt::Debug for OpCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpCtx").field("ctx", &self.ctx).finish()
    }
}

/// An op instance with parsed parameters.
pub trait Operator: Send + Sync + fmt::Debug {
    /// Number of outputs.
    fn num_outputs(&self) -> usize {
        1
    }
    /// Output shapes from input shapes.
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>>;
    /// Output dtypes from input dtypes. Default: all inputs share one dtype, which every output
    /// has.
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        same_dtype(self.name(), inputs).map(|d| vec![d; self.num_outputs()])
    }
    /// Compute the outputs.
    fn forward(
        &self,
        ctx: &mut OpCtx<'_>,
        inputs: &[TensorIn<'_>],
        out_shapes: &[Shape],
        out_dtypes: &[DType],
    ) -> Result<Vec<CpuStorage>>;
    /// True when the op draws random numbers (it then also writes its context's generator).
    fn uses_rng(&self) -> bool {
        false
    }
    /// The registered name, for messages.
    fn name(&self) -> &str;
}

/// All inputs must share one dtype; returns it (float32 for no inputs).
pub fn same_dtype(op: &str, inputs: &[DType]) -> Result<DType> {
    let Some(&first) = inputs.first() else { return Ok(DType::F32) };
    if let Some(&other) = inputs.iter().find(|&&d| d != first) {
        return Err(Error::dtype(op, other, format!("all inputs must have the same dtype, got {first} and {other}")));
    }
    Ok(first)
}

/// Shape inference of one-input ops whose output has the input's shape.
pub fn same_shape_unary(op: &str, inputs: &[Shape]) -> Result<Vec<Shape>> {
    expect_inputs(op, inputs.len(), 1)?;
    Ok(vec![inputs[0].clone()])
}

/// Check the number of inputs.
pub fn expect_inputs(op: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::param(op, format!("expects {want} input(s), got {got}")));
    }
    Ok(())
}

/// Identifies one output of a graph node while building a gradient (filled in by the graph
/// crate's builder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeEntry(pub usize);

/// Builds gradient graphs from registered ops. Implemented by the Symbol/autograd layer.
pub trait GradBuilder {
    /// Add a node applying the registered op `name` to `inputs`; returns its outputs.
    fn op(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<Vec<NodeEntry>>;
}

/// A gradient function: given the forward node's attributes, inputs, outputs and the gradients
/// of its outputs, return one gradient per input (`None` where the input gets none).
pub type GradFn = fn(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    inputs: &[NodeEntry],
    outputs: &[NodeEntry],
    out_grads: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>>;

/// How an op parses its attributes into an [`Operator`].
pub type CreateFn = Arc<dyn Fn(&Attrs) -> Result<Box<dyn Operator>> + Send + Sync>;

/// One parameter of an op, for generated Python wrappers and docs.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Parameter name.
    pub name: &'static str,
    /// Default as MXNet prints it; `None` for a required parameter.
    pub default: Option<&'static str>,
}

/// A registered op.
#[derive(Clone)]
pub struct OpDef {
    /// Canonical name (MXNet's).
    pub name: &'static str,
    /// Names of the array inputs; a single `"*data"` means any number (`num_args`).
    pub inputs: &'static [&'static str],
    /// Parameters in MXNet's order.
    pub params: &'static [ParamSpec],
    /// One-line description.
    pub doc: &'static str,
    /// Parse attributes.
    pub create: CreateFn,
    /// The gradient, defined beside the op (filled in by the Symbol issue).
    pub gradient: Option<GradFn>,
}

impl fmt::Debug for OpDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpDef").field("name", &self.name).field("inputs", &self.inputs).finish()
    }
}

/// Shorthand for building [`ParamSpec`] lists.
#[macro_export]
macro_rules! params {
    ($($name:literal = $def:expr),* $(,)?) => {
        &[$($crate::op::ParamSpec { name: $name, default: $def }),*]
    };
}
