//! Registers every contrib op family (apart from the families' shared kernel wrapper in
//! `mod.rs`, so that imports run one way: this file -> the families -> `mod.rs`).

use super::super::registry::Registry;
use super::{
    attention, backward, bbox, deformable, detection, extra, fft, group_adagrad, hawkes, misc, quant, resize, roi,
    sketch, wrapped,
};

/// Register every contrib op.
pub(in crate::op) fn register(r: &mut Registry) {
    resize::register(r);
    bbox::register(r);
    roi::register(r);
    attention::register(r);
    misc::register(r);
    extra::register(r);
    detection::register::register(r);
    quant::register::register(r);
    deformable::register(r);
    fft::register(r);
    sketch::register(r);
    hawkes::register(r);
    backward::register(r);
    wrapped::register(r);
    group_adagrad::register(r);
}
