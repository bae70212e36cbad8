//! Registers every detection op (apart from their shared wrapper in `mod.rs`, so that imports
//! run one way: this file -> the op files -> `mod.rs`).

use super::super::super::registry::Registry;
use super::{detect, prior, proposal, rroi, target};

/// Register every detection op.
pub(in crate::op) fn register(r: &mut Registry) {
    prior::register(r);
    target::register(r);
    detect::register(r);
    proposal::register(r);
    rroi::register(r);
}
