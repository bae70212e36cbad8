//! Helpers shared by the classic ops: reading any input as `f64` values and building an
//! output of a dtype from `f64` values (index and counting ops work in `f64` whatever the
//! element type).

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

/// The product of `dims`.
pub(super) fn prod(dims: &[usize]) -> usize {
    dims.iter().product()
}
