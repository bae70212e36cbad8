//! Symbols for the tests of the executor's stages.

use mxrs_ndarray_core::Attrs;

use crate::graph::Symbol;

/// A variable.
pub(crate) fn var(name: &str) -> Symbol {
    Symbol::variable(name, Attrs::default())
}

/// Op `name` (default attributes) applied to `args`, as node `node`.
pub(crate) fn op(name: &str, node: &str, args: &[Symbol]) -> Symbol {
    Symbol::create(name, node, Attrs::default(), args, &[]).unwrap()
}
