//! [`DeviceStorage`]: elements of one dtype in a block of device memory, and the copies between
//! host and device memory.

use std::sync::Arc;

use cudarc::driver::result as drv;

use super::runtime::{Gpu, gpu};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::CpuStorage;

/// Device memory holding `len` elements of `dtype`; the block returns to its device's pool
/// when dropped.
pub struct DeviceStorage {
    pub(crate) ptr: u64,
    size: usize,
    len: usize,
    dtype: DType,
    pub(crate) gpu: Arc<Gpu>,
}

impl std::fmt::Debug for DeviceStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceStorage({} x {} on gpu({}))", self.len, self.dtype, self.gpu.id)
    }
}

impl crate::backend::device_types::DeviceBuffer for DeviceStorage {
    fn dtype(&self) -> DType {
        self.dtype
    }
}

impl Drop for DeviceStorage {
    fn drop(&mut self) {
        self.gpu.give(self.ptr, self.size);
    }
}

fn driver_err(g: &Gpu, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Context(format!("gpu({}): {what}: {e}", g.id))
}

impl DeviceStorage {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The device ordinal.
    pub fn device_id(&self) -> u32 {
        self.gpu.id
    }
    /// The device address of element `i` (for kernels launched by the user, `mx.rtc`).
    pub fn address(&self, i: usize) -> u64 {
        self.at(i)
    }

    /// Address of element `i`.
    pub(crate) fn at(&self, i: usize) -> u64 {
        self.ptr + (i * self.dtype.size()) as u64
    }

    /// Uninitialised memory for `len` elements on `g` (every caller writes all of it).
    pub(crate) fn uninit(g: &Arc<Gpu>, dtype: DType, len: usize) -> Result<DeviceStorage> {
        let bytes = len
            .checked_mul(dtype.size())
            .ok_or_else(|| Error::shape("alloc", format!("{len} elements of {dtype} overflow the address space")))?;
        let (ptr, size) = g.alloc(bytes, &|| format!("{len} elements of {dtype}"))?;
        Ok(DeviceStorage { ptr, size, len, dtype, gpu: g.clone() })
    }

    /// `len` zeros of `dtype` on device `dev`.
    pub fn zeros(dev: u32, dtype: DType, len: usize) -> Result<DeviceStorage> {
        let g = gpu(dev)?;
        let s = Self::uninit(&g, dtype, len)?;
        g.bind()?;
        // SAFETY: the block holds at least len * size bytes; the memset is queued on the
        // device's stream, before any use of the block.
        unsafe { drv::memset_d8_async(s.ptr, 0, len * dtype.size(), g.stream.cu_stream()) }
            .map_err(|e| driver_err(&g, "memset", e))?;
        Ok(s)
    }

    /// A copy of host elements `[offset, offset + len)` of `src` on device `dev`.
    pub fn upload(dev: u32, src: &CpuStorage, offset: usize, len: usize) -> Result<DeviceStorage> {
        let g = gpu(dev)?;
        let mut s = Self::uninit(&g, src.dtype(), len)?;
        s.write_host(0, src, offset, len)?;
        Ok(s)
    }

    /// Copy host elements `[offset, offset + len)` of `src` (same dtype) into this storage
    /// from element `at` on.
    pub fn write_host(&mut self, at: usize, src: &CpuStorage, offset: usize, len: usize) -> Result<()> {
        if src.dtype() != self.dtype || at + len > self.len || offset + len > src.len() {
            return Err(Error::msg(format!(
                "internal: copy of {len} {} elements into {} device storage of {} at {at}",
                src.dtype(),
                self.dtype,
                self.len
            )));
        }
        if len == 0 {
            return Ok(());
        }
        let es = self.dtype.size();
        let bytes = &src.as_bytes()[offset * es..(offset + len) * es];
        let g = &self.gpu;
        g.bind()?;
        // SAFETY: the destination range lies inside this block; from pageable memory the call
        // returns once the source has been staged, so `src` may go away after it.
        unsafe { drv::memcpy_htod_async(self.at(at), bytes, g.stream.cu_stream()) }
            .map_err(|e| driver_err(g, "copy to the device", e))
    }

    /// Elements `[offset, offset + len)` copied to host memory (waits for the queued work).
    pub fn download(&self, offset: usize, len: usize) -> Result<CpuStorage> {
        if offset + len > self.len {
            return Err(Error::msg(format!(
                "internal: download of [{offset}, {}) from {} elements",
                offset + len,
                self.len
            )));
        }
        let mut out = CpuStorage::try_zeros("asnumpy", self.dtype, len)?;
        if len == 0 {
            return Ok(out);
        }
        let g = &self.gpu;
        g.bind()?;
        // SAFETY: the source range lies inside this block and `out` holds exactly its bytes;
        // the stream is synchronised before `out` is read.
        unsafe { drv::memcpy_dtoh_async(out.as_bytes_mut(), self.at(offset), g.stream.cu_stream()) }
            .map_err(|e| driver_err(g, "copy from the device", e))?;
        g.sync()?;
        Ok(out)
    }

    /// Copy `len` elements of `src` (same dtype) from `src_off` into this storage at `at`;
    /// devices may differ (the copy then goes through host memory).
    pub fn copy_device(&mut self, at: usize, src: &DeviceStorage, src_off: usize, len: usize) -> Result<()> {
        if src.dtype != self.dtype || at + len > self.len || src_off + len > src.len {
            return Err(Error::msg("internal: device copy out of range or between dtypes"));
        }
        if len == 0 {
            return Ok(());
        }
        if src.gpu.id != self.gpu.id {
            let host = src.download(src_off, len)?;
            return self.write_host(at, &host, 0, len);
        }
        let g = &self.gpu;
        g.bind()?;
        // SAFETY: both ranges lie inside their blocks, on one device and one stream.
        unsafe { drv::memcpy_dtod_async(self.at(at), src.at(src_off), len * self.dtype.size(), g.stream.cu_stream()) }
            .map_err(|e| driver_err(g, "device copy", e))
    }
}
