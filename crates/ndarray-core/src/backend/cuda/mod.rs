//! The CUDA backend through cudarc, loaded at run time: building needs no CUDA toolkit, and a
//! process without a driver or device sees `num_gpus() == 0` and clear errors for `gpu(i)`.
//!
//! - [`runtime`]: the driver probe and one `Gpu` per device (context, stream, cuBLAS, pool,
//!   kernels). Every op of a device runs on its one stream in the engine's order; host reads
//!   (`asnumpy`, `wait_to_read`) synchronise it.
//! - [`alloc`]: the caching allocator. [`storage`]: [`DeviceStorage`] and the copies.
//! - [`nvrtc`]: the CUDA C sources in `kernels/`, compiled by NVRTC at first use and cached
//!   on disk. [`ops`]: the primitives the ops call; [`conv`]: convolution and pooling;
//!   [`layout`]: data movement (strided copies, gathers, one_hot, where); [`activation`]:
//!   Activation and LeakyReLU; [`rtc`]: kernels the user compiles at run time (`mx.rtc`).

mod activation;
mod alloc;
mod conv;
mod layout;
mod nvrtc;
mod ops;
mod rtc;
mod runtime;
mod storage;

pub use activation::{ActKind, activation, activation_backward};
pub use conv::{conv_backward, conv_forward, pool_backward, pool_forward};
pub use layout::{assign_window, concat, copy, gather, one_hot, pick, pick_backward, take, take_backward, where_cond};
pub use ops::{
    DevIn, DeviceDist, OptParams, OptRule, ReduceOp, binary, cast, fill, matmul, optimizer_step, random, reduce,
    scalar, softmax, unary,
};
pub use rtc::{RtcArg, RtcLaunch, rtc_launch};
pub use runtime::num_gpus;
pub use storage::DeviceStorage;

use crate::error::Result;

/// Why `gpu(id)` cannot be used (no driver, no such device), or None when it can.
pub fn unavailable(id: u32) -> Option<String> {
    runtime::unavailable(id)
}

/// (free, total) bytes of device `id`.
pub fn memory_info(id: u32) -> Result<(usize, usize)> {
    runtime::gpu(id)?.memory_info()
}

/// Give the cached blocks of device `id` back to the driver.
pub fn empty_cache(id: u32) -> Result<()> {
    runtime::gpu(id)?.empty_cache()
}

/// Wait for the queued work of device `id`, reporting a failed kernel.
pub fn synchronize(id: u32) -> Result<()> {
    runtime::gpu(id)?.sync()
}

/// Wait for the queued work of every device in use.
pub fn synchronize_all() -> Result<()> {
    runtime::opened().iter().try_for_each(|g| g.sync())
}

/// Bytes of device `id` held by mxrs arrays and by its cache: (in use, cached).
pub fn pool_bytes(id: u32) -> Result<(usize, usize)> {
    let g = runtime::gpu(id)?;
    let p = g.pool.lock();
    Ok((p.in_use, p.cached))
}

/// Whether NVRTC can compile the kernel files (for `make cuda-check`-style tests): the name
/// and full text of every file.
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    nvrtc::ALL.iter().map(|s| (s.name, nvrtc::full_text(s))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn without_a_device_gpu_memory_is_a_clear_error() {
        // On a machine with a GPU this checks an ordinal past the last device instead.
        let id = num_gpus() as u32;
        let why = unavailable(id).expect("no device with this ordinal");
        assert!(why.contains(&format!("gpu({id})")), "{why}");
        let e = DeviceStorage::zeros(id, DType::F32, 4).unwrap_err().to_string();
        assert!(e.contains(&format!("gpu({id})")), "{e}");
        assert!(memory_info(id).is_err());
        assert!(empty_cache(id).is_err());
    }

    #[test]
    fn every_kernel_module_has_its_text() {
        let all = kernel_sources();
        assert!(all.len() >= 9);
        for (name, text) in all {
            assert!(text.contains("__global__"), "{name}");
            assert!(!text.contains("#include"), "{name}: kernels are compiled without headers");
        }
    }
}
