//! DLPack import (`from_dlpack`, and `from_numpy(zero_copy=True)` through NumPy's
//! `__dlpack__`): zero-copy where mxrs can use the producer's memory as it is, as MXNet's
//! `from_dlpack` shares it.
//!
//! The capsule is consumed (renamed `"used_dltensor"` / `"used_dltensor_versioned"`, as the
//! protocol says) and the new array's storage wraps the producer's memory; the producer's
//! deleter runs when the last mxrs array using that memory is freed (on the thread that frees it
//! when that thread holds the GIL, else on a release thread, so that an engine worker never
//! waits for the GIL). The memory is copied instead, and the tensor released at once, when it
//! is not C-contiguous, when its address (with `byte_offset`) is not aligned for its dtype, when
//! a DLPack 1.0 producer marks it read-only, when it is empty, or when the array is asked for
//! on a device other than the host.

use std::ffi::CStr;
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

use mxrs_ndarray_core::{CpuStorage, DType, NDArray};
use pyo3::ffi;
use pyo3::prelude::*;

use super::abi::{
    CAPSULE, CAPSULE_V1, DL_CPU, DlManagedTensor, DlManagedTensorVersioned, DlTensor, FLAG_READ_ONLY, USED_CAPSULE,
    USED_CAPSULE_V1, from_dl_dtype,
};
use crate::error::{MXNetTypeError, MXNetValueError, NotSupported, PyMxError};
use crate::guard::enter;
use crate::ndarray::PyNDArray;

/// `kDLCUDAHost`: page-locked host memory, as readable as `kDLCPU`'s.
const DL_CUDA_HOST: i32 = 3;

/// A producer's managed tensor of either DLPack version.
#[derive(Clone, Copy)]
enum Managed {
    /// DLPack 0.8 (`"dltensor"`).
    V0(*mut DlManagedTensor),
    /// DLPack 1.x (`"dltensor_versioned"`).
    V1(*mut DlManagedTensorVersioned),
}

// SAFETY: the tensor is a heap object lent to the capsule's consumer until it runs the deleter;
// DLPack lets that happen on any thread (producers that need the GIL take it in the deleter).
unsafe impl Send for Managed {}
// SAFETY: as above; `Managed` is only a pointer, used once to run the deleter.
unsafe impl Sync for Managed {}

impl Managed {
    /// The `DLTensor`.
    ///
    /// SAFETY (for the caller): the tensor was not released yet.
    unsafe fn tensor<'a>(self) -> &'a DlTensor {
        // SAFETY: the caller's promise.
        unsafe {
            match self {
                Managed::V0(m) => &(*m).dl_tensor,
                Managed::V1(m) => &(*m).dl_tensor,
            }
        }
    }

    /// True when a DLPack 1.0 producer marks the memory read-only.
    ///
    /// SAFETY (for the caller): the tensor was not released yet.
    unsafe fn read_only(self) -> bool {
        // SAFETY: the caller's promise.
        matches!(self, Managed::V1(m) if unsafe { (*m).flags } & FLAG_READ_ONLY != 0)
    }

    /// Run the producer's deleter.
    ///
    /// SAFETY (for the caller): called once, after which neither the tensor nor its memory is
    /// used.
    unsafe fn release(self) {
        // SAFETY: the caller's promise; a null deleter means there is nothing to free.
        unsafe {
            match self {
                Managed::V0(m) => {
                    if let Some(d) = (*m).deleter {
                        d(m)
                    }
                }
                Managed::V1(m) => {
                    if let Some(d) = (*m).deleter {
                        d(m)
                    }
                }
            }
        }
    }
}

/// The owner of imported memory inside an array's storage: dropping it (with the last array
/// using the memory) releases the producer's tensor.
struct Lent(Managed);

impl Drop for Lent {
    fn drop(&mut self) {
        if gil_held() {
            // SAFETY: the storage that owned this memory is gone; nothing uses it any more.
            unsafe { self.0.release() }
        } else {
            release_later(self.0);
        }
    }
}

/// True when this thread holds the GIL.
#[cfg(not(windows))]
fn gil_held() -> bool {
    // CPython exports it from every version (pyo3's abi3 bindings leave it out: it is not in
    // the limited API's list, though stable since 3.4); an extension resolves it at load time.
    unsafe extern "C" {
        fn PyGILState_Check() -> std::ffi::c_int;
    }
    // SAFETY: `PyGILState_Check` may be called from any thread at any time.
    unsafe { PyGILState_Check() == 1 }
}

/// True when this thread holds the GIL: not known on Windows, where an abi3 extension links
/// only the limited API (`python3.dll`); releases then all go through the release thread.
#[cfg(windows)]
fn gil_held() -> bool {
    false
}

/// Release `m` on the release thread (started on first use): a thread without the GIL (an
/// engine worker, a detached wait) must not wait for it in a producer's deleter.
fn release_later(m: Managed) {
    static QUEUE: OnceLock<Option<Sender<Managed>>> = OnceLock::new();
    let tx = QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Managed>();
        let worker = move || {
            for m in rx {
                // SAFETY: each tensor is sent once, by the drop of its only owner.
                unsafe { m.release() }
            }
        };
        std::thread::Builder::new().name("mxrs-dlpack-release".into()).spawn(worker).ok().map(|_| tx)
    });
    match tx {
        Some(tx) if tx.send(m).is_ok() => {}
        // No release thread: release here (the deleter takes the GIL if it needs it).
        // SAFETY: as in `Lent::drop`.
        _ => unsafe { m.release() },
    }
}

/// The shape of a DLPack tensor as mxrs reads it.
struct Layout {
    dtype: DType,
    dims: Vec<usize>,
    /// Element strides; `None` when compact (C order).
    strides: Option<Vec<i64>>,
    /// Number of elements.
    n: usize,
    /// The first element: `data + byte_offset`.
    first: *mut u8,
}

impl Layout {
    /// True when mxrs can use the memory in place: compact, aligned and not empty.
    fn shareable(&self) -> bool {
        self.strides.is_none() && self.n > 0 && (self.first as usize).is_multiple_of(self.dtype.size())
    }
}

/// True when `strides` describe C order for `shape` (dimensions of 1 take any stride).
fn c_contiguous(shape: &[i64], strides: &[i64]) -> bool {
    let mut expect = 1i64;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d != 1 && s != expect {
            return false;
        }
        expect = expect.saturating_mul(d);
    }
    true
}

/// Read and check the layout of a DLPack tensor.
///
/// SAFETY (for the caller): `t` is a live `DLTensor` whose shape (and strides, when not null)
/// have `ndim` entries, as a DLPack producer guarantees until its deleter runs.
unsafe fn layout(t: &DlTensor) -> PyResult<Layout> {
    if t.device.device_type != DL_CPU && t.device.device_type != DL_CUDA_HOST {
        return Err(NotSupported::new_err(format!(
            "from_dlpack: only CPU tensors can be imported (device type {})",
            t.device.device_type
        )));
    }
    let dtype = from_dl_dtype(t.dtype).ok_or_else(|| {
        MXNetTypeError::new_err(format!(
            "from_dlpack: DLPack type code {} of {} bits is not supported",
            t.dtype.code, t.dtype.bits
        ))
    })?;
    let ndim = usize::try_from(t.ndim).map_err(|_| MXNetValueError::new_err("from_dlpack: negative ndim"))?;
    // SAFETY: the producer gives `ndim` shape entries (and strides, when not null).
    let shape: &[i64] = if ndim == 0 { &[] } else { unsafe { std::slice::from_raw_parts(t.shape, ndim) } };
    if shape.iter().any(|&d| d < 0) {
        return Err(MXNetValueError::new_err(format!("from_dlpack: negative dimension in shape {shape:?}")));
    }
    let strides = if t.strides.is_null() || ndim == 0 {
        None
    } else {
        // SAFETY: a non-null `strides` has `ndim` entries, as `shape` has.
        let s = unsafe { std::slice::from_raw_parts(t.strides, ndim) };
        (!c_contiguous(shape, s)).then(|| s.to_vec())
    };
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|n| n.checked_mul(dtype.size()).is_some_and(|b| b <= isize::MAX as usize))
        .ok_or_else(|| MXNetValueError::new_err(format!("from_dlpack: shape {shape:?} has too many elements")))?;
    let first = t.data.cast::<u8>().wrapping_add(t.byte_offset as usize);
    Ok(Layout { dtype, dims, strides, n, first })
}

/// Copy the elements of a tensor into new host storage, in C order.
///
/// SAFETY (for the caller): `l` describes a live tensor's readable memory.
unsafe fn copy_tensor(l: &Layout) -> PyResult<CpuStorage> {
    let mut s = CpuStorage::try_zeros("from_dlpack", l.dtype, l.n).map_err(PyMxError)?;
    if l.n == 0 {
        return Ok(s);
    }
    let es = l.dtype.size();
    let dst = s.as_bytes_mut();
    match &l.strides {
        // SAFETY: a compact tensor has `n * es` readable bytes from `first`; `dst` was just
        // allocated with as many, and the two cannot overlap.
        None => unsafe { std::ptr::copy_nonoverlapping(l.first, dst.as_mut_ptr(), dst.len()) },
        Some(strides) => {
            // An odometer over the indices in C order; `off` is the source element offset.
            let mut idx = vec![0usize; l.dims.len()];
            let mut off = 0isize;
            for out in dst.chunks_exact_mut(es) {
                let src = l.first.wrapping_offset(off.wrapping_mul(es as isize));
                // SAFETY: every index within `dims` addresses an element of the producer's
                // tensor, whose memory is readable; `out` is `es` bytes of fresh storage.
                unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), es) };
                for d in (0..idx.len()).rev() {
                    idx[d] += 1;
                    off = off.wrapping_add(strides[d] as isize);
                    if idx[d] < l.dims[d] {
                        break;
                    }
                    off = off.wrapping_sub((strides[d] as isize).wrapping_mul(l.dims[d] as isize));
                    idx[d] = 0;
                }
            }
        }
    }
    Ok(s)
}

/// The managed tensor inside a DLPack capsule of either kind and the name the capsule takes
/// once consumed; an error for anything else.
///
/// SAFETY (for the caller): `ptr` is a live object and the GIL is held.
unsafe fn open_capsule(ptr: *mut ffi::PyObject) -> PyResult<(Managed, &'static CStr)> {
    // SAFETY: the caller's promise; a capsule of a DLPack name holds that kind of tensor.
    unsafe {
        if ffi::PyCapsule_IsValid(ptr, CAPSULE.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(ptr, CAPSULE.as_ptr()).cast::<DlManagedTensor>();
            return Ok((Managed::V0(m), USED_CAPSULE));
        }
        if ffi::PyCapsule_IsValid(ptr, CAPSULE_V1.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(ptr, CAPSULE_V1.as_ptr()).cast::<DlManagedTensorVersioned>();
            if (*m).version.major > 1 {
                return Err(NotSupported::new_err(format!(
                    "from_dlpack: DLPack version {}.{} is newer than this build knows (1.x)",
                    (*m).version.major,
                    (*m).version.minor
                )));
            }
            return Ok((Managed::V1(m), USED_CAPSULE_V1));
        }
        ffi::PyErr_Clear();
        let used = [USED_CAPSULE, USED_CAPSULE_V1].iter().any(|n| ffi::PyCapsule_IsValid(ptr, n.as_ptr()) == 1);
        ffi::PyErr_Clear();
        Err(if used {
            MXNetValueError::new_err("from_dlpack: a DLPack capsule can be consumed only once")
        } else {
            MXNetTypeError::new_err("from_dlpack: expected a DLPack capsule (\"dltensor\" or \"dltensor_versioned\")")
        })
    }
}

/// An array over the memory of a DLPack capsule, which is consumed (see the module's notes):
/// shared without a copy where possible, as MXNet's `from_dlpack`.
#[pyfunction]
pub(crate) fn from_dlpack(capsule: &Bound<'_, PyAny>, ctx: (i32, u32)) -> PyResult<PyNDArray> {
    let ptr = capsule.as_ptr();
    enter("from_dlpack", || {
        let ctx = crate::ndarray::ctx_of(ctx.0, ctx.1)?;
        // SAFETY: `ptr` is borrowed for this call and the GIL is held.
        let (managed, used_name) = unsafe { open_capsule(ptr) }?;
        // SAFETY: the capsule's tensor stays alive until its deleter runs (below, or when the
        // storage made here is dropped).
        let l = unsafe { layout(managed.tensor()) }?;
        // SAFETY: as above.
        let share = ctx.is_host() && l.shareable() && !unsafe { managed.read_only() };
        // SAFETY: as above.
        let copied = if share { None } else { Some(unsafe { copy_tensor(&l) }?) };
        // SAFETY: consuming the capsule: renamed, its destructor leaves the tensor alone, whose
        // release is now ours.
        if unsafe { ffi::PyCapsule_SetName(ptr, used_name.as_ptr()) } != 0 {
            return Err(PyErr::fetch(capsule.py()));
        }
        let data = match copied {
            Some(s) => {
                // SAFETY: the copy is made; the tensor is released once, here.
                unsafe { managed.release() };
                s
            }
            // SAFETY: `l.first` is aligned (`shareable`) and addresses the `n` compact elements
            // of the producer's tensor, writable (not marked read-only) and alive until its
            // deleter runs, which only dropping the `Lent` owner does.
            None => unsafe { CpuStorage::from_foreign(l.dtype, l.first, l.n, Box::new(Lent(managed))) },
        };
        Ok(PyNDArray(NDArray::from_cpu(data, &l.dims, ctx).map_err(PyMxError)?))
    })
}
