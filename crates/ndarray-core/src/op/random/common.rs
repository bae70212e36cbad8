//! Helpers shared by the sampling and density ops: parameter values as f64, outputs of a
//! given dtype, and the `dtype` attribute of the samplers.

use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::{Attrs, TensorIn};
use crate::storage::{CpuStorage, StorageElement};

/// An input's elements as f64.
pub(crate) fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

/// A storage of dtype `dt` holding `v`.
pub(crate) fn wrap_as(dt: DType, v: Vec<f64>) -> CpuStorage {
    dispatch!(dtype dt => T, { T::wrap(v.into_iter().map(T::from_f64).collect()) })
}

/// The `dtype` attribute of a sampler: `None` when absent or `'None'`.
pub(crate) fn sample_dtype(op: &str, a: &Attrs) -> Result<Option<DType>> {
    match a.raw("dtype").map(|s| s.trim().trim_matches(['\'', '"'])) {
        None | Some("None") | Some("") => Ok(None),
        Some(_) => a.opt_dtype(op, "dtype"),
    }
}

/// The output dtype of a real-valued sampler: `dtype`, float32 by default, a float type.
pub(crate) fn real_dtype(op: &str, a: &Attrs) -> Result<DType> {
    let dtype = sample_dtype(op, a)?.unwrap_or(DType::F32);
    if !matches!(dtype, DType::F16 | DType::F32 | DType::F64) {
        return Err(Error::dtype(op, dtype, "output type must be float16, float32 or float64"));
    }
    Ok(dtype)
}
