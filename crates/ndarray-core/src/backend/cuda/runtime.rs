//! The CUDA runtime: finding the driver, one [`Gpu`] per device (context, stream, cuBLAS handle,
//! memory pool, compiled kernels), all made at first use and kept for the process.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, result as drv};
use parking_lot::Mutex;

use super::alloc::Pool;
use super::nvrtc::{self, Source};
use crate::error::{Error, Result};

/// A CUDA call that may panic inside cudarc (a library that fails to load), turned into an
/// error naming `what`.
pub(crate) fn guarded<R>(what: &str, f: impl FnOnce() -> R) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("a CUDA library failed to load");
        Error::Context(format!("{what}: {msg}"))
    })
}

/// The driver's answer to "how many devices": the count, or why there is none.
fn probe() -> &'static std::result::Result<usize, String> {
    static PROBE: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        // SAFETY: is_culib_present only tries to dlopen the driver library by its names.
        let present = catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false);
        if !present {
            return Err("no CUDA driver library (libcuda.so.1) could be loaded".to_string());
        }
        let count = catch_unwind(|| drv::init().and_then(|()| drv::device::get_count()));
        match count {
            Ok(Ok(n)) => Ok(n.max(0) as usize),
            Ok(Err(e)) => Err(format!("the CUDA driver found no usable device ({e})")),
            Err(_) => Err("the CUDA driver library failed to load".to_string()),
        }
    })
}

/// Number of usable CUDA devices (0 without a driver or device).
pub fn num_gpus() -> usize {
    probe().as_ref().copied().unwrap_or(0)
}

/// Why device `id` cannot be used, if it cannot.
pub(crate) fn unavailable(id: u32) -> Option<String> {
    match probe() {
        Err(why) => Some(format!("cannot use gpu({id}): {why}")),
        Ok(n) if id as usize >= *n => Some(format!("cannot use gpu({id}): no such GPU ({n} CUDA device(s) found)")),
        Ok(_) => None,
    }
}

/// A cuBLAS handle (a raw pointer, used under the [`Gpu`]'s lock only).
pub(crate) struct Blas(pub(crate) cudarc::cublas::sys::cublasHandle_t);
// SAFETY: a cuBLAS handle may be used from any thread as long as calls do not overlap; every
// use goes through the Mutex in `Gpu`.
unsafe impl Send for Blas {}

/// One device: its context, the stream every op of the device runs on (in engine order), the
/// cuBLAS handle, the caching allocator and the kernels loaded so far.
pub(crate) struct Gpu {
    pub(crate) id: u32,
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: Mutex<Option<Blas>>,
    pub(crate) pool: Mutex<Pool>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, CudaFunction>>,
    /// Compute capability (major, minor).
    pub(crate) arch: (i32, i32),
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gpu({})", self.id)
    }
}

static GPUS: OnceLock<Mutex<HashMap<u32, Arc<Gpu>>>> = OnceLock::new();

/// The devices opened so far.
pub(crate) fn opened() -> Vec<Arc<Gpu>> {
    GPUS.get().map(|m| m.lock().values().cloned().collect()).unwrap_or_default()
}

/// The device `id`, made at first use.
pub(crate) fn gpu(id: u32) -> Result<Arc<Gpu>> {
    if let Some(why) = unavailable(id) {
        return Err(Error::Context(why));
    }
    let map = GPUS.get_or_init(Default::default);
    if let Some(g) = map.lock().get(&id) {
        return Ok(g.clone());
    }
    let g = Arc::new(guarded(&format!("gpu({id})"), || open(id))??);
    Ok(map.lock().entry(id).or_insert(g).clone())
}

fn open(id: u32) -> Result<Gpu> {
    let err = |what: &str, e: &dyn std::fmt::Display| Error::Context(format!("gpu({id}): {what}: {e}"));
    let ctx = CudaContext::new(id as usize).map_err(|e| err("cannot create a CUDA context", &e))?;
    // SAFETY: every op of this device runs on one stream in the engine's order, and memory is
    // only reused through the pool on that stream, so cudarc's per-buffer events are not needed.
    unsafe { ctx.disable_event_tracking() };
    let stream = ctx.new_stream().map_err(|e| err("cannot create a stream", &e))?;
    let arch = ctx.compute_capability().map_err(|e| err("cannot read the compute capability", &e))?;
    let blas = make_blas(&stream);
    Ok(Gpu {
        id,
        ctx,
        stream,
        blas: Mutex::new(blas),
        pool: Mutex::new(Pool::default()),
        modules: Mutex::new(HashMap::new()),
        functions: Mutex::new(HashMap::new()),
        arch,
    })
}

/// A cuBLAS handle on `stream`, or None when libcublas is missing (matrix products then run
/// on the host).
fn make_blas(stream: &CudaStream) -> Option<Blas> {
    use cudarc::cublas::{result, sys};
    // SAFETY: only tries to dlopen libcublas by its names.
    let present = catch_unwind(|| unsafe { sys::is_culib_present() }).unwrap_or(false);
    if !present {
        return None;
    }
    let handle = catch_unwind(result::create_handle).ok()?.ok()?;
    // SAFETY: the handle was just created and the stream lives as long as the Gpu.
    unsafe { result::set_stream(handle, stream.cu_stream() as _) }.ok()?;
    Some(Blas(handle))
}

impl Gpu {
    /// Make this device's context current on the calling thread (engine workers change).
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(|e| Error::Context(format!("gpu({}): {e}", self.id)))
    }

    /// The kernel `name` of `src`, compiling and loading the file at first use. None when NVRTC
    /// is not available (the caller then runs the op on the host).
    pub(crate) fn function(&self, src: &Source, name: &str) -> Result<Option<CudaFunction>> {
        if let Some(f) = self.functions.lock().get(name) {
            return Ok(Some(f.clone()));
        }
        let module = {
            let mut modules = self.modules.lock();
            match modules.get(src.name) {
                Some(m) => m.clone(),
                None => {
                    let Some(ptx) = nvrtc::compile(src, self.arch)? else { return Ok(None) };
                    self.bind()?;
                    let m = self.ctx.load_module(ptx).map_err(|e| {
                        Error::Context(format!("gpu({}): cannot load the kernels of {}: {e}", self.id, src.name))
                    })?;
                    modules.insert(src.name, m.clone());
                    m
                }
            }
        };
        let f = module
            .load_function(name)
            .map_err(|e| Error::msg(format!("internal: kernel {name} missing from {}: {e}", src.name)))?;
        self.functions.lock().insert(name.to_string(), f.clone());
        Ok(Some(f))
    }

    /// Wait for everything queued on the device's stream; reports a failed kernel.
    pub(crate) fn sync(&self) -> Result<()> {
        self.bind()?;
        self.stream.synchronize().map_err(|e| Error::Context(format!("gpu({}): a kernel failed: {e}", self.id)))
    }
}
