//! Shape and layout ops: reshape, flatten, transpose, swapaxes, expand_dims, squeeze, concat,
//! stack, split, tile, repeat, slice, slice_axis, broadcast_to / broadcast_axis / broadcast_like.
//! Most are one strided gather (see `backend::cpu::gather`).
//!
//! `ops.rs` holds the ops, `gradients.rs` their gradients (it builds on `ops.rs`).

mod gradients;
mod ops;

pub(crate) use ops::{gather_view, resolve_range};

use crate::op::registry::Registry;

/// Register the shape and layout ops, then their gradients.
pub(super) fn register(r: &mut Registry) {
    ops::register(r);
    gradients::register(r);
}
