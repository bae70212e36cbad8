//! Helpers shared by the ops of `optimizer_multi`: loading inputs in a compute type, parsing
//! MXNet's float parameters and tuples, and the shape, count and dtype checks.

use num_traits::Float;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{Attrs, TensorIn};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// The elements of an input converted to `T` (a copy).
pub(super) fn load<T: StorageElement>(t: &TensorIn<'_>) -> Vec<T> {
    match T::into_vec(t.data.cast(t.offset, t.len(), T::DTYPE)) {
        Ok(v) => v,
        Err(_) => unreachable!("cast to {} gives {}", T::DTYPE, T::DTYPE),
    }
}

/// The elements of an input as `T`: borrowed when its dtype is `T`, else a converted copy.
pub(super) fn borrow_or_load<'a, T: StorageElement>(t: &TensorIn<'a>) -> std::borrow::Cow<'a, [T]> {
    if t.dtype() == T::DTYPE { std::borrow::Cow::Borrowed(t.typed::<T>()) } else { std::borrow::Cow::Owned(load(t)) }
}

/// A compute-type vector stored as `dtype` (float16 weights are rounded from float32).
pub(super) fn store<T: StorageElement>(v: Vec<T>, dtype: DType) -> CpuStorage {
    if T::DTYPE == dtype {
        return T::wrap(v);
    }
    let s = T::wrap(v);
    s.cast(0, s.len(), dtype)
}

/// A float parameter rounded to float32, as MXNet's `float` fields hold it.
pub(super) fn f32_param(a: &Attrs, op: &str, key: &str, default: Option<f64>) -> Result<f64> {
    let v = match default {
        Some(d) => a.float_or(op, key, d)?,
        None => a.float(op, key)?,
    };
    Ok(v as f32 as f64)
}

/// A tuple of floats (`lrs=(0.1, 0.2)`), each rounded to float32; a single number is a 1-tuple.
pub(super) fn float_tuple(a: &Attrs, op: &str, key: &str) -> Result<Vec<f64>> {
    let raw = a.raw(key).ok_or_else(|| Error::param(op, format!("required parameter '{key}' is missing")))?;
    let body = raw.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
    body.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f64>().map(|v| v as f32 as f64).map_err(|_| {
                Error::param(op, format!("invalid value '{raw}' for parameter {key}: expected a tuple of numbers"))
            })
        })
        .collect()
}

/// The number of weights (`num_weights`, default 1), checked to be a sensible count.
pub(super) fn num_weights(a: &Attrs, op: &str, key: &str, default: i64) -> Result<usize> {
    let n = a.int_or(op, key, default)?;
    if n < 1 || n > crate::op::attrs::MAX_ARITY as i64 {
        return Err(Error::param(op, format!("invalid value {n} for parameter {key}: expected a count from 1")));
    }
    Ok(n as usize)
}

/// Every shape in `shapes[idx]` must equal `shapes[idx[0]]`.
pub(super) fn same_shapes(op: &str, shapes: &[Shape], idx: &[usize], what: &str) -> Result<()> {
    let first = &shapes[idx[0]];
    for &i in &idx[1..] {
        if &shapes[i] != first {
            return Err(Error::shape(
                op,
                format!(
                    "{what}: input {i} has shape {} but input {} has {}",
                    fmt_shape(&shapes[i]),
                    idx[0],
                    fmt_shape(first)
                ),
            ));
        }
    }
    Ok(())
}

/// The input count must be `want`.
pub(super) fn expect_count(op: &str, got: usize, want: usize, how: &str) -> Result<()> {
    if got != want {
        return Err(Error::param(op, format!("expects {want} input(s) ({how}), got {got}")));
    }
    Ok(())
}

/// `dtype` must be a floating-point type.
pub(super) fn float_dtype(op: &str, dtype: DType, what: &str) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::dtype(op, dtype, format!("{what} must be a float array, got {dtype}")));
    }
    Ok(())
}

/// `dtype` must be float32.
pub(super) fn f32_dtype(op: &str, dtype: DType, what: &str) -> Result<()> {
    if dtype != DType::F32 {
        return Err(Error::dtype(op, dtype, format!("{what} must be float32, got {dtype}")));
    }
    Ok(())
}

/// MXNet's `clip::Map(x, bound)`.
#[inline(always)]
pub(super) fn clip<T: Float>(x: T, bound: T) -> T {
    if x > bound {
        bound
    } else if x < -bound {
        -bound
    } else {
        x
    }
}

/// `clip(rescale * g)` when `clip >= 0`.
#[inline(always)]
pub(super) fn scaled<T: Float>(g: T, rescale: T, bound: T) -> T {
    let g = rescale * g;
    if bound >= <T as num_traits::Zero>::zero() { clip(g, bound) } else { g }
}

/// Compute type of a (non mixed precision) update on `dtype` weights: float64 stays float64,
/// the rest computes in float32 (as MXNet's half kernels compute in float).
pub(super) fn compute_is_f64(dtype: DType) -> bool {
    dtype == DType::F64
}

/// Names `prefix_0, prefix_1, ...` repeated over groups (`weight_0, grad_0, weight_1, ...`).
pub(super) fn group_names(groups: usize, per: &[&str]) -> Vec<String> {
    (0..groups).flat_map(|i| per.iter().map(move |p| format!("{p}_{i}"))).collect()
}
