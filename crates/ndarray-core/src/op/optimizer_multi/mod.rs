//! The optimizer-family ops beyond the plain fused updates of `op/optimizer.rs`, with MXNet
//! 1.9.1's names, inputs and parameters: FTML and the two LAMB phases (`ftml_update`,
//! `lamb_update_phase1/2`, `mp_lamb_update_phase1/2`), the aggregated SGD updates
//! (`multi_sgd_update`, `multi_mp_sgd_mom_update`, the `preloaded_multi_*` variants with rates
//! in arrays), the helpers of LARS and mixed-precision training (`multi_sum_sq`, `multi_lars`,
//! `all_finite`, `multi_all_finite`, `reset_arrays`, `amp_cast`, `amp_multicast`) and the
//! contrib AdamW and group AdaGrad updates (`_contrib_adamw_update`...).
//!
//! As in `op/optimizer.rs`, an update returns the new weight(s) as its output(s) and lists the
//! state inputs it rewrites (momentum, mean, variance, float32 master weights) in
//! [`crate::op::Operator::mutate_inputs`], whose new values `forward` returns after the
//! outputs. Parameters MXNet declares as `float` are rounded to float32 first.

mod adamw;
mod misc;
mod multi_sgd;
mod single;

use num_traits::Float;

use super::registry::Registry;
use super::{Attrs, TensorIn};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// Register every op of this family.
pub(super) fn register(r: &mut Registry) {
    single::register(r);
    multi_sgd::register(r);
    misc::register(r);
    adamw::register(r);
}

/// The elements of an input converted to `T` (a copy).
fn load<T: StorageElement>(t: &TensorIn<'_>) -> Vec<T> {
    match T::into_vec(t.data.cast(t.offset, t.len(), T::DTYPE)) {
        Ok(v) => v,
        Err(_) => unreachable!("cast to {} gives {}", T::DTYPE, T::DTYPE),
    }
}

/// A compute-type vector stored as `dtype` (float16 weights are rounded from float32).
fn store<T: StorageElement>(v: Vec<T>, dtype: DType) -> CpuStorage {
    if T::DTYPE == dtype {
        return T::wrap(v);
    }
    let s = T::wrap(v);
    s.cast(0, s.len(), dtype)
}

/// A float parameter rounded to float32, as MXNet's `float` fields hold it.
fn f32_param(a: &Attrs, op: &str, key: &str, default: Option<f64>) -> Result<f64> {
    let v = match default {
        Some(d) => a.float_or(op, key, d)?,
        None => a.float(op, key)?,
    };
    Ok(v as f32 as f64)
}

/// A tuple of floats (`lrs=(0.1, 0.2)`), each rounded to float32; a single number is a 1-tuple.
fn float_tuple(a: &Attrs, op: &str, key: &str) -> Result<Vec<f64>> {
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
fn num_weights(a: &Attrs, op: &str, key: &str, default: i64) -> Result<usize> {
    let n = a.int_or(op, key, default)?;
    if n < 1 || n > super::attrs::MAX_ARITY as i64 {
        return Err(Error::param(op, format!("invalid value {n} for parameter {key}: expected a count from 1")));
    }
    Ok(n as usize)
}

/// Every shape in `shapes[idx]` must equal `shapes[idx[0]]`.
fn same_shapes(op: &str, shapes: &[Shape], idx: &[usize], what: &str) -> Result<()> {
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
fn expect_count(op: &str, got: usize, want: usize, how: &str) -> Result<()> {
    if got != want {
        return Err(Error::param(op, format!("expects {want} input(s) ({how}), got {got}")));
    }
    Ok(())
}

/// `dtype` must be a floating-point type.
fn float_dtype(op: &str, dtype: DType, what: &str) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::dtype(op, dtype, format!("{what} must be a float array, got {dtype}")));
    }
    Ok(())
}

/// `dtype` must be float32.
fn f32_dtype(op: &str, dtype: DType, what: &str) -> Result<()> {
    if dtype != DType::F32 {
        return Err(Error::dtype(op, dtype, format!("{what} must be float32, got {dtype}")));
    }
    Ok(())
}

/// MXNet's `clip::Map(x, bound)`.
#[inline(always)]
fn clip<T: Float>(x: T, bound: T) -> T {
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
fn scaled<T: Float>(g: T, rescale: T, bound: T) -> T {
    let g = rescale * g;
    if bound >= <T as num_traits::Zero>::zero() { clip(g, bound) } else { g }
}

/// Compute type of a (non mixed precision) update on `dtype` weights: float64 stays float64,
/// the rest computes in float32 (as MXNet's half kernels compute in float).
fn compute_is_f64(dtype: DType) -> bool {
    dtype == DType::F64
}

/// Names `prefix_0, prefix_1, ...` repeated over groups (`weight_0, grad_0, weight_1, ...`).
fn group_names(groups: usize, per: &[&str]) -> Vec<String> {
    (0..groups).flat_map(|i| per.iter().map(move |p| format!("{p}_{i}"))).collect()
}
