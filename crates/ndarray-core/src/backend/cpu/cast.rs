//! dtype conversion (`astype`, `Cast`): [`CpuStorage::cast`] and the slice kernel under it. The
//! method is defined here, beside its kernel, so that `storage.rs` stays below the kernels.

use half::f16;

use crate::dispatch;
use crate::dtype::{Bool8, DType, Element};
use crate::storage::{CpuStorage, StorageElement};

impl CpuStorage {
    /// Convert elements `[start, start+len)` to `dtype` (a cast, as `astype`).
    pub fn cast(&self, start: usize, len: usize, dtype: DType) -> CpuStorage {
        dispatch!(storage self => v: S, { cast_slice(&v[start..start + len], dtype) })
    }
}

/// Convert a slice to a new storage of `dtype`, as C casts do (floats to ints truncate).
pub fn cast_slice<S: Element>(src: &[S], dtype: DType) -> CpuStorage {
    if S::DTYPE == dtype {
        // Pooled (already faulted-in) memory when large: copies are bandwidth-bound.
        return dispatch!(dtype dtype => T, {
            let s = bytemuck::cast_slice::<S, T>(src);
            let mut v: Vec<T> = crate::pool::alloc(s.len());
            super::stream::copy_bytes(bytemuck::cast_slice_mut(&mut v), bytemuck::cast_slice(s));
            T::wrap(v)
        });
    }
    match (S::DTYPE, dtype) {
        (DType::F32, DType::F16) => {
            let s: &[f32] = bytemuck::cast_slice(src);
            CpuStorage::F16(s.iter().map(|&x| f16::from_f32(x)).collect())
        }
        (DType::F16, DType::F32) => {
            let s: &[f16] = bytemuck::cast_slice(src);
            CpuStorage::F32(s.iter().map(|x| x.to_f32()).collect())
        }
        (_, DType::Bool) => CpuStorage::Bool(src.iter().map(|x| Bool8((x.to_f64() != 0.0) as u8)).collect()),
        _ => dispatch!(dtype dtype => T, { T::wrap(src.iter().map(|x| T::from_f64(x.to_f64())).collect()) }),
    }
}
