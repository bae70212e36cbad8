//! Registration of the index-map ops (apart from `mod.rs`, which the op files import, so that
//! imports run one way).

use super::{add, maps, sequence};
use crate::op::registry::Registry;

/// Register every index-map op.
pub(in crate::op) fn register(r: &mut Registry) {
    for s in maps::specs().into_iter().chain(sequence::specs()) {
        add(r, s);
    }
}
