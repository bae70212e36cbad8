//! Conversions shared by the sampler ops: inputs read as `f64`, results rounded to the dtype.

use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::op::TensorIn;
use crate::storage::{CpuStorage, StorageElement};

/// The input's elements as `f64`.
pub(in crate::op) fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|a| a.to_f64()).collect() })
}

/// A storage of `dtype` holding `v` (rounded to the dtype).
pub(in crate::op) fn storage_of(dtype: DType, v: Vec<f64>) -> CpuStorage {
    dispatch!(dtype dtype => T, { T::wrap(v.into_iter().map(T::from_f64).collect()) })
}
