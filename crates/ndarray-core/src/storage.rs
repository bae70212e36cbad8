//! Storage: the memory behind arrays, one variant per device kind.
//!
//! `Storage` is a closed enum (candle's pattern): host memory is a typed vector per dtype, and
//! device memory has its own variant, so no API assumes host memory. Kernels match on the
//! variant once at the op boundary.

use half::{bf16, f16};

use crate::backend::DeviceStorage;
use crate::dtype::{Bool8, DType, Element};
use crate::error::{Error, Result};
pub use crate::hostbuf::HostBuf;

/// Host memory: a typed buffer per dtype, owned or lent by another library (see [`HostBuf`]).
#[derive(Clone, Debug)]
pub enum CpuStorage {
    /// float32
    F32(HostBuf<f32>),
    /// float64
    F64(HostBuf<f64>),
    /// float16
    F16(HostBuf<f16>),
    /// uint8
    U8(HostBuf<u8>),
    /// int8
    I8(HostBuf<i8>),
    /// int32
    I32(HostBuf<i32>),
    /// int64
    I64(HostBuf<i64>),
    /// bool
    Bool(HostBuf<Bool8>),
    /// bfloat16
    BF16(HostBuf<bf16>),
}

/// Dtype dispatch: run `$body` once per element type, with the Rust type (and the typed data)
/// bound. One macro with three modes:
///
/// - `dispatch!(storage s => v: T, { .. })`: `s` is a `CpuStorage` or a reference to one; `v`
///   binds the typed [`HostBuf`] inside (by reference when `s` is one) and `T` its element type.
/// - `dispatch!(dtype d => T, { .. })`: `T` binds the element type of the [`DType`] `d`.
/// - `dispatch!(float op, d => T, { .. })`: as `dtype` for the floating-point dtypes; any other
///   dtype returns a dtype error naming the op `op` from the enclosing function.
///
/// ```
/// use mxrs_ndarray_core::dtype::Element;
/// use mxrs_ndarray_core::{DType, dispatch, storage::CpuStorage};
///
/// let s = CpuStorage::I32(vec![1, 2, 3].into());
/// let total = dispatch!(storage &s => v: T, { v.iter().map(|x| x.to_f64()).sum::<f64>() });
/// assert_eq!(total, 6.0);
/// let bytes = dispatch!(dtype DType::F16 => T, { std::mem::size_of::<T>() });
/// assert_eq!(bytes, 2);
/// ```
#[macro_export]
macro_rules! dispatch {
    (storage $s:expr => $v:ident : $t:ident, $body:block) => {
        match $s {
            $crate::storage::CpuStorage::F32($v) => {
                #[allow(unused)]
                type $t = f32;
                $body
            }
            $crate::storage::CpuStorage::F64($v) => {
                #[allow(unused)]
                type $t = f64;
                $body
            }
            $crate::storage::CpuStorage::F16($v) => {
                #[allow(unused)]
                type $t = half::f16;
                $body
            }
            $crate::storage::CpuStorage::U8($v) => {
                #[allow(unused)]
                type $t = u8;
                $body
            }
            $crate::storage::CpuStorage::I8($v) => {
                #[allow(unused)]
                type $t = i8;
                $body
            }
            $crate::storage::CpuStorage::I32($v) => {
                #[allow(unused)]
                type $t = i32;
                $body
            }
            $crate::storage::CpuStorage::I64($v) => {
                #[allow(unused)]
                type $t = i64;
                $body
            }
            $crate::storage::CpuStorage::Bool($v) => {
                #[allow(unused)]
                type $t = $crate::dtype::Bool8;
                $body
            }
            $crate::storage::CpuStorage::BF16($v) => {
                #[allow(unused)]
                type $t = half::bf16;
                $body
            }
        }
    };
    (dtype $d:expr => $t:ident, $body:block) => {
        match $d {
            $crate::dtype::DType::F32 => {
                #[allow(unused)]
                type $t = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                #[allow(unused)]
                type $t = f64;
                $body
            }
            $crate::dtype::DType::F16 => {
                #[allow(unused)]
                type $t = half::f16;
                $body
            }
            $crate::dtype::DType::U8 => {
                #[allow(unused)]
                type $t = u8;
                $body
            }
            $crate::dtype::DType::I8 => {
                #[allow(unused)]
                type $t = i8;
                $body
            }
            $crate::dtype::DType::I32 => {
                #[allow(unused)]
                type $t = i32;
                $body
            }
            $crate::dtype::DType::I64 => {
                #[allow(unused)]
                type $t = i64;
                $body
            }
            $crate::dtype::DType::Bool => {
                #[allow(unused)]
                type $t = $crate::dtype::Bool8;
                $body
            }
            $crate::dtype::DType::BF16 => {
                #[allow(unused)]
                type $t = half::bf16;
                $body
            }
        }
    };
    (float $op:expr, $d:expr => $t:ident, $body:block) => {
        match $d {
            $crate::dtype::DType::F32 => {
                #[allow(unused)]
                type $t = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                #[allow(unused)]
                type $t = f64;
                $body
            }
            $crate::dtype::DType::F16 => {
                #[allow(unused)]
                type $t = half::f16;
                $body
            }
            $crate::dtype::DType::BF16 => {
                #[allow(unused)]
                type $t = half::bf16;
                $body
            }
            d => {
                return Err($crate::error::Error::dtype(
                    $op,
                    d,
                    format!("{} needs a floating-point input, got {d}", $op),
                ))
            }
        }
    };
}

/// Conversion between typed vectors and `CpuStorage`.
pub trait StorageElement: Element {
    /// Wrap a vector.
    fn wrap(v: Vec<Self>) -> CpuStorage;
    /// Wrap a host buffer (owned or foreign).
    fn wrap_buf(v: HostBuf<Self>) -> CpuStorage;
    /// Borrow the vector if the dtype matches.
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    /// Borrow the vector mutably if the dtype matches.
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
    /// Take the vector out if the dtype matches (a copy of foreign memory).
    fn into_vec(s: CpuStorage) -> Result<Vec<Self>, CpuStorage>;
}

macro_rules! storage_element {
    ($t:ty, $var:ident) => {
        impl StorageElement for $t {
            fn wrap(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$var(v.into())
            }
            fn wrap_buf(v: HostBuf<Self>) -> CpuStorage {
                CpuStorage::$var(v)
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$var(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$var(v) => Some(v),
                    _ => None,
                }
            }
            fn into_vec(s: CpuStorage) -> Result<Vec<Self>, CpuStorage> {
                match s {
                    CpuStorage::$var(v) => Ok(v.into_vec()),
                    other => Err(other),
                }
            }
        }
    };
}
storage_element!(f32, F32);
storage_element!(f64, F64);
storage_element!(f16, F16);
storage_element!(u8, U8);
storage_element!(i8, I8);
storage_element!(i32, I32);
storage_element!(i64, I64);
storage_element!(Bool8, Bool);
storage_element!(bf16, BF16);

/// The error of a refused allocation of `n` elements of `T` for `op`.
fn out_of_memory<T: Element>(op: &str, n: usize) -> Error {
    let bytes = n as u128 * std::mem::size_of::<T>() as u128;
    Error::out_of_memory(op, bytes, format!("{n} {} elements", T::DTYPE))
}

/// `n` zeroed elements, or an out-of-memory error naming `op` and the bytes asked for. Fresh
/// large blocks come zeroed from the system, so untouched pages cost nothing.
pub fn try_zeroed_vec<T: Element>(op: &str, n: usize) -> Result<Vec<T>> {
    fits_in_memory(op, n.saturating_mul(std::mem::size_of::<T>()), || format!("{n} {} elements", T::DTYPE))?;
    bytemuck::try_zeroed_vec(n).map_err(|()| out_of_memory::<T>(op, n))
}

/// `n` copies of `value`, or an out-of-memory error naming `op` and the bytes asked for.
pub fn try_filled_vec<T: Element>(op: &str, n: usize, value: T) -> Result<Vec<T>> {
    fits_in_memory(op, n.saturating_mul(std::mem::size_of::<T>()), || format!("{n} {} elements", T::DTYPE))?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| out_of_memory::<T>(op, n))?;
    v.resize(n, value);
    Ok(v)
}

/// Check that the system would give `op` a block of `bytes` bytes now, by asking for one and
/// returning it at once; an out-of-memory error naming `what` otherwise. Ops whose kernels
/// allocate their outputs by themselves are checked this way before they are pushed, so an
/// impossible request fails at the call instead of aborting the process in a worker.
pub fn probe_alloc(op: &str, bytes: usize, what: impl Fn() -> String) -> Result<()> {
    fits_in_memory(op, bytes, &what)?;
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(bytes).map_err(|_| Error::out_of_memory(op, bytes as u128, what()))
}

/// An out-of-memory error when `bytes` exceed the memory and swap of the machine (or of the
/// process's cgroup, when smaller). An allocator may grant address space far beyond them (the
/// extension's mimalloc maps large blocks without reserving memory), and touching such a block
/// would only bring the kernel's OOM killer: a request larger than all memory is refused here,
/// as Linux's default overcommit heuristic refuses it to `malloc`.
pub fn fits_in_memory(op: &str, bytes: usize, what: impl FnOnce() -> String) -> Result<()> {
    match memory_limit() {
        Some(limit) if bytes as u64 > limit => Err(Error::out_of_memory(
            op,
            bytes as u128,
            format!("{}: more than the memory and swap of this machine", what()),
        )),
        _ => Ok(()),
    }
}

/// Bytes of memory and swap the process may use at most, read once; None where unknown.
pub fn memory_limit() -> Option<u64> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let machine = meminfo_kib("MemTotal").map(|m| (m + meminfo_kib("SwapTotal").unwrap_or(0)) * 1024);
        let cgroup = cgroup_bytes("memory.max").map(|m| m.saturating_add(cgroup_bytes("memory.swap.max").unwrap_or(0)));
        match (machine, cgroup) {
            (Some(m), Some(c)) => Some(m.min(c)),
            (m, c) => m.or(c),
        }
    })
}

/// A field of `/proc/meminfo`, in KiB.
fn meminfo_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A numeric limit of the process's cgroup (v2); None for "max" or outside a cgroup.
fn cgroup_bytes(file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{file}")).ok()?.trim().parse().ok()
}

impl CpuStorage {
    /// `n` zeros of `dtype`, for sizes of arrays that exist (allocation failure aborts); sizes
    /// from user input go through [`CpuStorage::try_zeros`].
    pub fn zeros(dtype: DType, n: usize) -> CpuStorage {
        dispatch!(dtype dtype => T, { T::wrap(vec![<T as Element>::zero(); n]) })
    }

    /// `n` copies of `value` (converted from f64) of `dtype`, for sizes of arrays that exist;
    /// sizes from user input go through [`CpuStorage::try_full`].
    pub fn full(dtype: DType, n: usize, value: f64) -> CpuStorage {
        dispatch!(dtype dtype => T, { T::wrap(vec![<T as Element>::from_f64(value); n]) })
    }

    /// `n` zeros of `dtype`, or an out-of-memory error naming `op` and the bytes asked for.
    pub fn try_zeros(op: &str, dtype: DType, n: usize) -> Result<CpuStorage> {
        Ok(dispatch!(dtype dtype => T, { T::wrap(try_zeroed_vec::<T>(op, n)?) }))
    }

    /// `n` copies of `value` (converted from f64) of `dtype`, or an out-of-memory error naming
    /// `op` and the bytes asked for.
    pub fn try_full(op: &str, dtype: DType, n: usize, value: f64) -> Result<CpuStorage> {
        Ok(dispatch!(dtype dtype => T, {
            let v = <T as Element>::from_f64(value);
            let data = if v == <T as Element>::zero() && value.to_bits() == 0 {
                try_zeroed_vec::<T>(op, n)?
            } else {
                try_filled_vec::<T>(op, n, v)?
            };
            T::wrap(data)
        }))
    }

    /// Parse little-endian bytes into a storage of `dtype`.
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Result<CpuStorage> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return Err(Error::msg(format!("{} bytes is not a whole number of {dtype} elements", bytes.len())));
        }
        let n = bytes.len() / dtype.size();
        Ok(dispatch!(dtype dtype => T, {
            let mut v = try_zeroed_vec::<T>("load", n)?;
            bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
            T::wrap(v)
        }))
    }

    /// A storage of `len` elements of `dtype` over memory another library lends (a zero-copy
    /// DLPack import): dropping the storage drops `owner`, whose `Drop` gives the memory back.
    ///
    /// # Safety
    /// `ptr` is aligned to `dtype.size()` (every mxrs dtype's alignment) and valid for reads and
    /// writes of `len` elements of `dtype` until `owner` is dropped, and nothing else frees or
    /// moves that memory meanwhile.
    pub unsafe fn from_foreign(dtype: DType, ptr: *mut u8, len: usize, owner: Box<dyn Send + Sync>) -> CpuStorage {
        dispatch!(dtype dtype => T, {
            debug_assert!((ptr as usize).is_multiple_of(std::mem::align_of::<T>()));
            // SAFETY: the caller's promise; every mxrs element type accepts any bit pattern.
            T::wrap_buf(unsafe { HostBuf::from_foreign(ptr.cast::<T>(), len, owner) })
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        dispatch!(storage self => _v: T, { <T as Element>::DTYPE })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        dispatch!(storage self => v: T, { v.len() })
    }

    /// True when the memory belongs to another library (a zero-copy DLPack import).
    pub fn is_foreign(&self) -> bool {
        dispatch!(storage self => v: T, { v.is_foreign() })
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw bytes (host order, which is little-endian on every supported target).
    pub fn as_bytes(&self) -> &[u8] {
        dispatch!(storage self => v: T, { bytemuck::cast_slice::<T, u8>(v) })
    }

    /// The raw bytes, mutable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        dispatch!(storage self => v: T, { bytemuck::cast_slice_mut::<T, u8>(v) })
    }

    /// Copy of elements `[start, start+len)`.
    pub fn slice_copy(&self, start: usize, len: usize) -> CpuStorage {
        dispatch!(storage self => v: T, { T::wrap(v[start..start + len].to_vec()) })
    }

    /// Copy `src` (same dtype) into elements starting at `start`.
    pub fn copy_in(&mut self, start: usize, src: &CpuStorage) -> Result<()> {
        let n = src.len();
        if src.dtype() != self.dtype() || start + n > self.len() {
            return Err(Error::msg(format!(
                "internal: copy of {n} {} elements into {} storage of {} at {start}",
                src.dtype(),
                self.dtype(),
                self.len()
            )));
        }
        let es = self.dtype().size();
        self.as_bytes_mut()[start * es..(start + n) * es].copy_from_slice(src.as_bytes());
        Ok(())
    }

    /// Element `i` as f64.
    pub fn get_f64(&self, i: usize) -> f64 {
        dispatch!(storage self => v: T, { v[i].to_f64() })
    }
}

/// The memory of an array on any device.
#[derive(Debug)]
pub enum Storage {
    /// Host memory.
    Cpu(CpuStorage),
    /// Device memory (CUDA). Only constructible by the CUDA backend.
    Device(DeviceStorage),
}

impl Storage {
    /// The host storage, or an error naming the op for device storage.
    pub fn cpu(&self, op: &str) -> Result<&CpuStorage> {
        match self {
            Storage::Cpu(c) => Ok(c),
            Storage::Device(d) => Err(Error::Context(format!(
                "{op}: the array is in gpu({}) memory, which the host cannot address; copy it with as_in_context(mx.cpu()) first",
                d.device_id()
            ))),
        }
    }

    /// Mutable host storage.
    pub fn cpu_mut(&mut self, op: &str) -> Result<&mut CpuStorage> {
        match self {
            Storage::Cpu(c) => Ok(c),
            Storage::Device(d) => Err(Error::Context(format!(
                "{op}: the array is in gpu({}) memory, which the host cannot address; copy it with as_in_context(mx.cpu()) first",
                d.device_id()
            ))),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(c) => c.len(),
            Storage::Device(d) => d.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallible_allocations_fill_and_fail_cleanly() {
        let z = CpuStorage::try_zeros("t", DType::I32, 5).unwrap();
        assert_eq!((z.len(), z.get_f64(4)), (5, 0.0));
        let f = CpuStorage::try_full("t", DType::F16, 3, 1.5).unwrap();
        assert_eq!(f.get_f64(2), 1.5);
        let m = CpuStorage::try_full("t", DType::F32, 2, -0.0).unwrap();
        assert!(m.get_f64(0).is_sign_negative());
        // More than any address space: refused by the allocator, not an abort.
        let e = CpuStorage::try_zeros("zeros", DType::F32, 1 << 60).unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { bytes, .. } if bytes == 1 << 62), "{e}");
        assert!(e.to_string().contains("4611686018427387904 bytes"), "{e}");
        let e = CpuStorage::try_full("ones", DType::U8, usize::MAX / 2, 1.0).unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
        assert!(probe_alloc("t", 1 << 20, String::new).is_ok());
        // Beyond all memory and swap (but within the address space): refused before asking.
        if let Some(limit) = memory_limit() {
            let e = probe_alloc("ones", (limit + 1) as usize, || "an output".into()).unwrap_err();
            assert!(e.to_string().contains("more than the memory and swap of this machine"), "{e}");
            let e = CpuStorage::try_full("ones", DType::U8, (limit + 1) as usize, 1.0).unwrap_err();
            assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
        }
        let e = probe_alloc("tile", 1 << 62, || "the output (2,..)".into()).unwrap_err();
        assert!(e.to_string().starts_with("tile: out of memory: cannot allocate 4611686018427387904 bytes"), "{e}");
    }
}
