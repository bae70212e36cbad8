//! DLPack (v0.8 `DLManagedTensor` in a `"dltensor"` capsule): arrays shared with NumPy,
//! PyTorch and every other DLPack library without a copy on export, as MXNet's
//! `to_dlpack_for_read` / `to_dlpack_for_write` and the `__dlpack__` protocol do.
//!
//! Export waits for the engine first (for a read: the pending writes; for a write: the pending
//! reads and writes too), then hands out the address of the array's host buffer together with
//! a handle to its chunk, so the memory lives as long as the capsule or the consumer's tensor
//! (the DLPack deleter drops the handle). The chunk is pinned from then on
//! (`NDArray::share_host_ptr`): later mxrs writes go into that same buffer, so each side sees
//! the other's writes. Import copies the consumer-side memory into a new array (mxrs's host
//! storage is an owned buffer) and releases the producer's tensor at once.

use std::ffi::{CStr, c_void};

use mxrs_engine::{FnProperty, engine};
use mxrs_ndarray_core::{CpuStorage, DType, NDArray};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::error::{MXNetTypeError, MXNetValueError, NotSupported, PyMxError};
use crate::guard::{enter, enter_detached};
use crate::ndarray::PyNDArray;

const CAPSULE: &CStr = c"dltensor";
const USED_CAPSULE: &CStr = c"used_dltensor";
const CAPSULE_V1: &CStr = c"dltensor_versioned";
const USED_CAPSULE_V1: &CStr = c"used_dltensor_versioned";
/// `DLPACK_FLAG_BITMASK_READ_ONLY`.
const FLAG_READ_ONLY: u64 = 1;
/// `kDLCPU`.
const DL_CPU: i32 = 1;

/// `DLDevice`.
#[repr(C)]
#[derive(Clone, Copy)]
struct DlDevice {
    device_type: i32,
    device_id: i32,
}

/// `DLDataType`.
#[repr(C)]
#[derive(Clone, Copy)]
struct DlDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

/// `DLTensor`.
#[repr(C)]
struct DlTensor {
    data: *mut c_void,
    device: DlDevice,
    ndim: i32,
    dtype: DlDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

/// `DLManagedTensor`.
#[repr(C)]
struct DlManagedTensor {
    dl_tensor: DlTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DlManagedTensor)>,
}

/// `DLPackVersion`.
#[repr(C)]
struct DlPackVersion {
    major: u32,
    minor: u32,
}

/// `DLManagedTensorVersioned` (DLPack 1.0).
#[repr(C)]
struct DlManagedTensorVersioned {
    version: DlPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DlManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DlTensor,
}

/// What an exported tensor owns: a handle to the array (keeping its chunk alive) and the
/// shape and strides the `DLTensor` points into.
struct Exported {
    _array: NDArray,
    shape: Vec<i64>,
    strides: Vec<i64>,
}

/// The DLPack type of a dtype: (type code, bits).
fn dl_dtype(d: DType) -> DlDataType {
    let (code, bits) = match d {
        DType::F32 => (2, 32),
        DType::F64 => (2, 64),
        DType::F16 => (2, 16),
        DType::BF16 => (4, 16),
        DType::U8 => (1, 8),
        DType::I8 => (0, 8),
        DType::I32 => (0, 32),
        DType::I64 => (0, 64),
        DType::Bool => (6, 8),
    };
    DlDataType { code, bits, lanes: 1 }
}

/// The dtype of a DLPack type, if mxrs has it.
fn from_dl_dtype(t: DlDataType) -> Option<DType> {
    if t.lanes != 1 {
        return None;
    }
    Some(match (t.code, t.bits) {
        (2, 32) => DType::F32,
        (2, 64) => DType::F64,
        (2, 16) => DType::F16,
        (4, 16) => DType::BF16,
        (1, 8) => DType::U8,
        (0, 8) => DType::I8,
        (0, 32) => DType::I32,
        (0, 64) => DType::I64,
        (6, 8) | (1, 1) => DType::Bool,
        _ => return None,
    })
}

/// The deleter of tensors mxrs exports: frees the tensor and drops its array handle.
unsafe extern "C" fn delete_exported(t: *mut DlManagedTensor) {
    if t.is_null() {
        return;
    }
    // SAFETY: `t` was made by `Box::into_raw` in `export` with `manager_ctx` from
    // `Box::into_raw(Box<Exported>)`; DLPack calls the deleter exactly once.
    let t = unsafe { Box::from_raw(t) };
    // SAFETY: as above; nothing else frees `manager_ctx`.
    drop(unsafe { Box::from_raw(t.manager_ctx.cast::<Exported>()) });
}

/// The deleter of versioned tensors mxrs exports.
unsafe extern "C" fn delete_exported_v1(t: *mut DlManagedTensorVersioned) {
    if t.is_null() {
        return;
    }
    // SAFETY: as in `delete_exported`, for the tensors `to_dlpack` makes with `versioned`.
    let t = unsafe { Box::from_raw(t) };
    // SAFETY: as above.
    drop(unsafe { Box::from_raw(t.manager_ctx.cast::<Exported>()) });
}

/// The destructor of the capsule: frees a tensor no consumer took (a consumer renames the
/// capsule and calls the deleter itself).
unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python with a live capsule object and the GIL held; the pointer of a
    // capsule of either name is the tensor `to_dlpack` made.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, CAPSULE.as_ptr()) == 1 {
            delete_exported(ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr()).cast());
        } else if ffi::PyCapsule_IsValid(capsule, CAPSULE_V1.as_ptr()) == 1 {
            delete_exported_v1(ffi::PyCapsule_GetPointer(capsule, CAPSULE_V1.as_ptr()).cast());
        }
        ffi::PyErr_Clear();
    }
}

/// Block until the engine has finished every op pushed so far that reads or writes `a`'s
/// memory (for a consumer that will write it): a no-op write ordered after them.
fn wait_reads_and_writes(a: &NDArray) -> mxrs_ndarray_core::Result<()> {
    a.wait_to_read()?;
    let eng = engine();
    eng.push(
        Box::new(|| Ok(())),
        &[],
        std::slice::from_ref(a.var()),
        a.ctx().engine_device(),
        FnProperty::Wait,
        0,
        "to_dlpack_for_write",
    );
    a.wait_to_read()
}

/// The tensor for `a` (the engine waited for already) and its owner, for a `DlManagedTensor`
/// or a `DlManagedTensorVersioned`.
fn export(a: &NDArray, op: &str) -> mxrs_ndarray_core::Result<(DlTensor, *mut c_void)> {
    if !a.ctx().is_host() {
        return Err(mxrs_ndarray_core::Error::NotSupported(format!(
            "{op}: only arrays in host memory can be shared (this array is on {})",
            a.ctx()
        )));
    }
    let data = a.share_host_ptr(op)?;
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    let mut strides = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1].max(1);
    }
    let mut ctx = Box::new(Exported { _array: a.clone(), shape, strides });
    let tensor = DlTensor {
        data: data.cast(),
        device: DlDevice { device_type: DL_CPU, device_id: 0 },
        ndim: ctx.shape.len() as i32,
        dtype: dl_dtype(a.dtype()),
        shape: ctx.shape.as_mut_ptr(),
        strides: ctx.strides.as_mut_ptr(),
        byte_offset: 0,
    };
    Ok((tensor, Box::into_raw(ctx).cast()))
}

/// A heap tensor of the kind asked for, and its capsule name.
fn managed(tensor: DlTensor, manager_ctx: *mut c_void, versioned: Option<u64>) -> (*mut c_void, &'static CStr) {
    match versioned {
        None => {
            let m = DlManagedTensor { dl_tensor: tensor, manager_ctx, deleter: Some(delete_exported) };
            (Box::into_raw(Box::new(m)).cast(), CAPSULE)
        }
        Some(flags) => {
            let m = DlManagedTensorVersioned {
                version: DlPackVersion { major: 1, minor: 0 },
                manager_ctx,
                deleter: Some(delete_exported_v1),
                flags,
                dl_tensor: tensor,
            };
            (Box::into_raw(Box::new(m)).cast(), CAPSULE_V1)
        }
    }
}

/// A capsule sharing `a`'s memory: `for_write` waits for pending reads and writes, otherwise
/// only for pending writes. `versioned`: a DLPack 1.0 `"dltensor_versioned"` capsule (marked
/// read-only unless `for_write`), else a DLPack 0.8 `"dltensor"` one.
#[pyfunction]
pub(crate) fn to_dlpack(py: Python<'_>, a: &PyNDArray, for_write: bool, versioned: bool) -> PyResult<Py<PyAny>> {
    let arr = a.0.clone();
    let op = if for_write { "to_dlpack_for_write" } else { "to_dlpack_for_read" };
    enter_detached(py, op, || if for_write { wait_reads_and_writes(&arr) } else { arr.wait_to_read() })?;
    let (tensor, owner) = enter(op, || export(&arr, op))?;
    let flags = versioned.then_some(if for_write { 0 } else { FLAG_READ_ONLY });
    let (ptr, name) = managed(tensor, owner, flags);
    // SAFETY: `ptr` is a valid heap tensor of the kind `name` says; the name is a static C
    // string; on failure the tensor is freed here, on success the capsule (or its consumer)
    // owns it.
    unsafe {
        let cap = ffi::PyCapsule_New(ptr, name.as_ptr(), Some(capsule_destructor));
        if cap.is_null() {
            if versioned { delete_exported_v1(ptr.cast()) } else { delete_exported(ptr.cast()) }
        }
        Ok(Bound::from_owned_ptr_or_err(py, cap)?.unbind())
    }
}

/// The element count and C-contiguity of a DLPack tensor's layout.
fn c_contiguous(shape: &[i64], strides: Option<&[i64]>) -> bool {
    let Some(strides) = strides else { return true };
    let mut expect = 1i64;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d != 1 && s != expect {
            return false;
        }
        expect = expect.saturating_mul(d);
    }
    true
}

/// Copy the memory of a DLPack tensor into host storage: (storage, shape).
///
/// SAFETY (for the caller): `t` points to a live `DLTensor` whose fields describe readable
/// memory, as a DLPack producer guarantees until its deleter runs.
unsafe fn copy_tensor(t: &DlTensor) -> PyResult<(CpuStorage, Vec<usize>)> {
    if t.device.device_type != DL_CPU && t.device.device_type != 3 {
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
    let strides = if t.strides.is_null() || ndim == 0 {
        None
    } else {
        // SAFETY: a non-null `strides` has `ndim` entries, as `shape` has.
        Some(unsafe { std::slice::from_raw_parts(t.strides, ndim) })
    };
    if shape.iter().any(|&d| d < 0) {
        return Err(MXNetValueError::new_err(format!("from_dlpack: negative dimension in shape {shape:?}")));
    }
    if !c_contiguous(shape, strides) {
        return Err(NotSupported::new_err(format!(
            "from_dlpack: only C-contiguous tensors can be imported (shape {shape:?}, strides {:?})",
            strides.unwrap_or(&[])
        )));
    }
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| MXNetValueError::new_err(format!("from_dlpack: shape {shape:?} has too many elements")))?;
    let mut s = CpuStorage::try_zeros("from_dlpack", dtype, n).map_err(PyMxError)?;
    let bytes = n * dtype.size();
    if bytes > 0 {
        // SAFETY: the producer's tensor covers `n` elements of `dtype` from data + byte_offset.
        let src = unsafe { t.data.cast::<u8>().add(t.byte_offset as usize) };
        // SAFETY: `src` has `bytes` readable bytes (above); `s` was just allocated with as many,
        // and the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src, s.as_bytes_mut().as_mut_ptr(), bytes) };
    }
    Ok((s, dims))
}

/// What [`open_capsule`] finds: the tensor, the call that releases it, and the capsule's name
/// once consumed.
type Opened = (*const DlTensor, Box<dyn FnOnce()>, &'static CStr);

/// The tensor inside a DLPack capsule of either kind, with the deleter to run on it and the
/// names the capsule has and takes when consumed; an error for anything else.
///
/// SAFETY (for the caller): `ptr` is a live object and the GIL is held.
unsafe fn open_capsule(ptr: *mut ffi::PyObject) -> PyResult<Opened> {
    // SAFETY: the caller's promise; a capsule of a DLPack name holds that kind of tensor.
    unsafe {
        if ffi::PyCapsule_IsValid(ptr, CAPSULE.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(ptr, CAPSULE.as_ptr()).cast::<DlManagedTensor>();
            let del = (*m).deleter;
            return Ok((&raw const (*m).dl_tensor, Box::new(move || del.into_iter().for_each(|d| d(m))), USED_CAPSULE));
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
            let del = (*m).deleter;
            let f = Box::new(move || del.into_iter().for_each(|d| d(m)));
            return Ok((&raw const (*m).dl_tensor, f, USED_CAPSULE_V1));
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

/// A new array with the contents of a DLPack capsule, which is consumed (renamed
/// `"used_dltensor"`, its deleter run), as MXNet's `from_dlpack`.
#[pyfunction]
pub(crate) fn from_dlpack(capsule: &Bound<'_, PyAny>, ctx: (i32, u32)) -> PyResult<PyNDArray> {
    let ptr = capsule.as_ptr();
    enter("from_dlpack", || {
        // SAFETY: `ptr` is borrowed for this call and the GIL is held.
        let (tensor, delete, used_name) = unsafe { open_capsule(ptr) }?;
        // SAFETY: the capsule's tensor stays alive until its deleter runs, below.
        let (data, shape) = unsafe { copy_tensor(&*tensor) }?;
        // SAFETY: consuming the capsule: rename it so its destructor leaves the tensor alone,
        // then run the producer's deleter once.
        unsafe {
            if ffi::PyCapsule_SetName(ptr, used_name.as_ptr()) != 0 {
                return Err(PyErr::fetch(capsule.py()));
            }
        }
        delete();
        let ctx = crate::ndarray::ctx_of(ctx.0, ctx.1)?;
        Ok(PyNDArray(NDArray::from_cpu(data, &shape, ctx).map_err(PyMxError)?))
    })
}

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(to_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(from_dlpack, m)?)?;
    Ok(())
}
