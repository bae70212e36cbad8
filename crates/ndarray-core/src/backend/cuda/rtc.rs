//! Kernels compiled by the user at run time (`mx.rtc.CudaModule`): PTX text loaded once per
//! device and launched on the device's stream, in the engine's order like every other op.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use cudarc::driver::{CudaFunction, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use parking_lot::Mutex;

use super::ops::launch_err;
use super::runtime::gpu;
pub use crate::backend::device_types::{RtcArg, RtcLaunch};
use crate::error::{Error, Result};

/// Loaded kernels by (device, hash of the PTX, kernel name).
type Cache = Mutex<HashMap<(u32, u64, String), CudaFunction>>;
static FUNCTIONS: OnceLock<Cache> = OnceLock::new();

fn ptx_hash(ptx: &str) -> u64 {
    let mut h = DefaultHasher::new();
    ptx.hash(&mut h);
    h.finish()
}

/// The kernel `name` of `ptx` on device `dev`, loading the module at first use.
fn function(dev: u32, ptx: &str, name: &str) -> Result<CudaFunction> {
    let key = (dev, ptx_hash(ptx), name.to_string());
    let cache = FUNCTIONS.get_or_init(Default::default);
    if let Some(f) = cache.lock().get(&key) {
        return Ok(f.clone());
    }
    let g = gpu(dev)?;
    g.bind()?;
    let module = g
        .ctx
        .load_module(Ptx::from_src(ptx))
        .map_err(|e| Error::Context(format!("gpu({dev}): cannot load the run-time compiled module: {e}")))?;
    let f = module
        .load_function(name)
        .map_err(|e| Error::msg(format!("rtc: kernel {name:?} is not in the compiled module: {e}")))?;
    cache.lock().insert(key, f.clone());
    Ok(f)
}

/// Launch kernel `name` of `ptx` on device `dev`'s stream with `args` (in the order of the
/// kernel's C signature).
pub fn rtc_launch(dev: u32, ptx: &str, name: &str, args: &[RtcArg], cfg: RtcLaunch) -> Result<()> {
    let f = function(dev, ptx, name)?;
    let g = gpu(dev)?;
    g.bind()?;
    let mut b = g.stream.launch_builder(&f);
    for a in args {
        match a {
            RtcArg::Ptr(p) => b.arg(p),
            RtcArg::I8(v) => b.arg(v),
            RtcArg::U8(v) => b.arg(v),
            RtcArg::I32(v) => b.arg(v),
            RtcArg::I64(v) => b.arg(v),
            RtcArg::F32(v) => b.arg(v),
            RtcArg::F64(v) => b.arg(v),
            RtcArg::F16(v) => b.arg(v),
        };
    }
    let launch = LaunchConfig {
        grid_dim: (cfg.grid[0], cfg.grid[1], cfg.grid[2]),
        block_dim: (cfg.block[0], cfg.block[1], cfg.block[2]),
        shared_mem_bytes: cfg.shared_mem,
    };
    // SAFETY: the Python layer checked the arguments against the kernel's declared signature
    // (count, pointer or scalar, dtype); each pointer is the first element of a live device
    // array of that dtype, kept alive by the engine op until the launch is queued. What the
    // kernel indexes is the user's kernel's business, as in MXNet; a fault is reported by the
    // stream at the next sync point.
    unsafe { b.launch(launch) }.map_err(|e| launch_err(&g, name, e))?;
    Ok(())
}
