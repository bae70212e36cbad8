//! DLPack (v0.8 `DLManagedTensor` in a `"dltensor"` capsule, v1.0 `DLManagedTensorVersioned`
//! in a `"dltensor_versioned"` one): arrays shared with NumPy, PyTorch and every other DLPack
//! library without a copy, both ways, as MXNet's `to_dlpack_for_read` / `to_dlpack_for_write`
//! / `from_dlpack` and the `__dlpack__` protocol do.
//!
//! Export waits for the engine first (for a read: the pending writes; for a write: the pending
//! reads and writes too), then hands out the address of the array's host buffer together with
//! a handle to its chunk, so the memory lives as long as the capsule or the consumer's tensor
//! (the DLPack deleter drops the handle). The chunk is pinned from then on
//! (`NDArray::share_host_ptr`): later mxrs writes go into that same buffer, so each side sees
//! the other's writes. Import ([`import`]) wraps the producer's memory in the new array's
//! storage and releases the producer's tensor when the last array using it is freed; it copies
//! only what mxrs cannot share (see there).

use std::ffi::{CStr, c_void};

use mxrs_engine::{FnProperty, engine};
use mxrs_ndarray_core::{DType, NDArray};
use pyo3::ffi;
use pyo3::prelude::*;

mod import;

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

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(to_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(import::from_dlpack, m)?)?;
    Ok(())
}
