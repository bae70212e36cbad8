//! Registers every quantization op family (apart from the families' shared wrapper in
//! `mod.rs`, so that imports run one way: this file -> the families -> `mod.rs`).

use super::super::super::registry::Registry;
use super::{arith, calib, convert, layers, matmul};

/// Register every quantization op.
pub(in crate::op) fn register(r: &mut Registry) {
    convert::register(r);
    matmul::register(r);
    layers::register(r);
    arith::register(r);
    calib::register(r);
}
