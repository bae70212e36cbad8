//! The DLPack ABI (`dlpack.h`, v0.8 and v1.0): the C structures, capsule names and flags, and
//! the mapping between DLPack types and mxrs dtypes.

use std::ffi::{CStr, c_void};

use mxrs_ndarray_core::DType;

pub(super) const CAPSULE: &CStr = c"dltensor";
pub(super) const USED_CAPSULE: &CStr = c"used_dltensor";
pub(super) const CAPSULE_V1: &CStr = c"dltensor_versioned";
pub(super) const USED_CAPSULE_V1: &CStr = c"used_dltensor_versioned";
/// `DLPACK_FLAG_BITMASK_READ_ONLY`.
pub(super) const FLAG_READ_ONLY: u64 = 1;
/// `kDLCPU`.
pub(super) const DL_CPU: i32 = 1;

/// `DLDevice`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct DlDevice {
    pub(super) device_type: i32,
    pub(super) device_id: i32,
}

/// `DLDataType`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct DlDataType {
    pub(super) code: u8,
    pub(super) bits: u8,
    pub(super) lanes: u16,
}

/// `DLTensor`.
#[repr(C)]
pub(super) struct DlTensor {
    pub(super) data: *mut c_void,
    pub(super) device: DlDevice,
    pub(super) ndim: i32,
    pub(super) dtype: DlDataType,
    pub(super) shape: *mut i64,
    pub(super) strides: *mut i64,
    pub(super) byte_offset: u64,
}

/// `DLManagedTensor`.
#[repr(C)]
pub(super) struct DlManagedTensor {
    pub(super) dl_tensor: DlTensor,
    pub(super) manager_ctx: *mut c_void,
    pub(super) deleter: Option<unsafe extern "C" fn(*mut DlManagedTensor)>,
}

/// `DLPackVersion`.
#[repr(C)]
pub(super) struct DlPackVersion {
    pub(super) major: u32,
    pub(super) minor: u32,
}

/// `DLManagedTensorVersioned` (DLPack 1.0).
#[repr(C)]
pub(super) struct DlManagedTensorVersioned {
    pub(super) version: DlPackVersion,
    pub(super) manager_ctx: *mut c_void,
    pub(super) deleter: Option<unsafe extern "C" fn(*mut DlManagedTensorVersioned)>,
    pub(super) flags: u64,
    pub(super) dl_tensor: DlTensor,
}

/// The DLPack type of a dtype: (type code, bits).
pub(super) fn dl_dtype(d: DType) -> DlDataType {
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
pub(super) fn from_dl_dtype(t: DlDataType) -> Option<DType> {
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
