//! DLPack export (`to_dlpack_for_read` / `to_dlpack_for_write` / `__dlpack__`): a capsule over
//! the array's own host buffer (see the module `dlpack`'s notes).

use std::ffi::{CStr, c_void};

use mxrs_ndarray_core::NDArray;
use pyo3::ffi;
use pyo3::prelude::*;

use super::abi::{
    CAPSULE, CAPSULE_V1, DL_CPU, DlDevice, DlManagedTensor, DlManagedTensorVersioned, DlPackVersion, DlTensor,
    FLAG_READ_ONLY, dl_dtype,
};
use crate::guard::{enter, enter_detached};
use crate::ndarray::PyNDArray;

/// What an exported tensor owns: a handle to the array (keeping its chunk alive) and the
/// shape and strides the `DLTensor` points into.
struct Exported {
    _array: NDArray,
    shape: Vec<i64>,
    strides: Vec<i64>,
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
    enter_detached(py, op, || if for_write { arr.wait_to_write() } else { arr.wait_to_read() })?;
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
