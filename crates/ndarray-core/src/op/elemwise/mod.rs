//! Elementwise ops: unary math, binary (same-shape and broadcast), ops with a scalar, clip,
//! cast and copy (`ops.rs`), and their gradients (`gradients.rs`, which builds on `ops.rs`).

mod gradients;
mod ops;

use crate::op::registry::Registry;

/// Register the elementwise ops, then their gradients.
pub(super) fn register(r: &mut Registry) {
    ops::register(r);
    gradients::register(r);
}
