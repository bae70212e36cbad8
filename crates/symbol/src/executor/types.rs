//! The types the stages of `bind` share: an argument's gradient request and the step a schedule
//! is made of, with the registry lookup that makes a step's op.

use std::sync::Arc;

use mxrs_ndarray_core::op::{Attrs, Operator};
use mxrs_ndarray_core::{Error, Result, registry};

/// How an argument's gradient is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradReq {
    /// No gradient.
    Null,
    /// Overwrite the gradient array.
    Write,
    /// Add to the gradient array.
    Add,
}

impl GradReq {
    /// Parse `'null' | 'write' | 'add'` (`'inplace'` counts as write).
    pub fn parse(s: &str) -> Result<GradReq> {
        match s {
            "null" => Ok(GradReq::Null),
            "write" | "inplace" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            other => Err(Error::param("bind", format!("grad_req must be 'null', 'write' or 'add', got '{other}'"))),
        }
    }
}

/// One op application of a schedule, over value ids.
pub(crate) struct Step {
    /// The op instance.
    pub op: Arc<dyn Operator>,
    /// Values read.
    pub inputs: Vec<usize>,
    /// Values written (the op's outputs, in order).
    pub outputs: Vec<usize>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?}) -> {:?}", self.op.name(), self.inputs, self.outputs)
    }
}

/// An instance of the registered op `name`.
pub(crate) fn make_op(name: &str, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
    let def = registry().get(name)?;
    Ok(Arc::from((def.create)(attrs)?))
}
