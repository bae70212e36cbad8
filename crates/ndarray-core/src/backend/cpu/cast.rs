//! dtype conversion (`astype`, `Cast`): [`CpuStorage::cast`] and the slice kernel under it. The
//! method is defined here, beside its kernel, so that `storage.rs` stays below the kernels.

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use super::{PAR_CHUNK, Parallelism};
use crate::dispatch;
use crate::dtype::{Bool8, DType, Element};
use crate::storage::{CpuStorage, StorageElement};

impl CpuStorage {
    /// Convert elements `[start, start+len)` to `dtype` (a cast, as `astype`), on this thread.
    pub fn cast(&self, start: usize, len: usize, dtype: DType) -> CpuStorage {
        self.cast_par(Parallelism::SERIAL, start, len, dtype)
    }

    /// [`CpuStorage::cast`] split over the threads of `par` when large.
    pub fn cast_par(&self, par: Parallelism, start: usize, len: usize, dtype: DType) -> CpuStorage {
        dispatch!(storage self => v: S, { cast_slice_par(par, &v[start..start + len], dtype) })
    }
}

/// Convert a slice to a new storage of `dtype`, as C casts do (floats to ints truncate).
pub fn cast_slice<S: Element>(src: &[S], dtype: DType) -> CpuStorage {
    cast_slice_par(Parallelism::SERIAL, src, dtype)
}

/// [`cast_slice`] split over the threads of `par` when large. Outputs larger than the caches
/// are written with streaming stores ([`super::stream`]) where the conversion is a copy.
pub fn cast_slice_par<S: Element>(par: Parallelism, src: &[S], dtype: DType) -> CpuStorage {
    dispatch!(dtype dtype => T, {
        // Pooled (already faulted-in) memory: the conversions are bandwidth-bound.
        let mut out: Vec<T> = crate::pool::alloc(src.len());
        let stream = std::mem::size_of_val(out.as_slice()) >= super::stream::stream_min_bytes();
        if par.split_cheap(src.len()) {
            out.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(ci, o)| {
                let s = ci * PAR_CHUNK;
                convert(&src[s..s + o.len()], o, stream);
            });
        } else {
            convert(src, &mut out, stream);
        }
        T::wrap(out)
    })
}

/// `dst[i] = src[i]` converted as C casts do; `stream`: a same-dtype copy uses streaming stores.
fn convert<S: Element, T: Element>(src: &[S], dst: &mut [T], stream: bool) {
    if S::DTYPE == T::DTYPE {
        let (d, s): (&mut [u8], &[u8]) = (bytemuck::cast_slice_mut(dst), bytemuck::cast_slice(src));
        return super::stream::copy_bytes_with(d, s, stream);
    }
    match (S::DTYPE, T::DTYPE) {
        // half's slice conversions use the F16C instructions where the CPU has them.
        (DType::F32, DType::F16) => {
            let (d, s) = (bytemuck::cast_slice_mut::<T, f16>(dst), bytemuck::cast_slice::<S, f32>(src));
            if !(stream && super::stream::f32_to_f16_streamed(d, s)) {
                d.convert_from_f32_slice(s)
            }
        }
        (DType::F16, DType::F32) => {
            bytemuck::cast_slice::<S, f16>(src).convert_to_f32_slice(bytemuck::cast_slice_mut::<T, f32>(dst))
        }
        (_, DType::Bool) => {
            for (d, x) in bytemuck::cast_slice_mut::<T, Bool8>(dst).iter_mut().zip(src) {
                *d = Bool8((x.to_f64() != 0.0) as u8);
            }
        }
        _ => {
            for (d, x) in dst.iter_mut().zip(src) {
                *d = T::from_f64(x.to_f64());
            }
        }
    }
}
