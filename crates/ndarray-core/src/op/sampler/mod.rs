//! MXNet 1.x's spatial-transformer family: `GridGenerator` (an affine transform or a warp
//! flow to a normalised sampling grid), `BilinearSampler` (bilinear sampling of 4-D data at
//! a grid, zero outside) and `SpatialTransformer` (the two composed), with the gradient ops
//! `_backward_GridGenerator` and `_backward_BilinearSampler`.

mod bilinear;
mod grid;

use super::registry::Registry;
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::op::TensorIn;
use crate::storage::{CpuStorage, StorageElement};

/// The input's elements as `f64`.
pub(super) fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|a| a.to_f64()).collect() })
}

/// A storage of `dtype` holding `v` (rounded to the dtype).
pub(super) fn storage_of(dtype: DType, v: Vec<f64>) -> CpuStorage {
    dispatch!(dtype dtype => T, { T::wrap(v.into_iter().map(T::from_f64).collect()) })
}

/// Register every op of the family.
pub(super) fn register(r: &mut Registry) {
    grid::register(r);
    bilinear::register(r);
}

#[cfg(test)]
mod tests;
