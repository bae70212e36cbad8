//! Bindings of the runtime facilities: the engine's op profiler (`mxrs.profiler`), what this
//! build has compiled in (`mxrs.runtime.Features`) and the size of the kernels' thread pool.

use mxrs_engine::profiler;
use pyo3::prelude::*;

use crate::guard::enter_ok;

/// One recorded op: (name, device type code, device id, thread id, thread name, start µs,
/// duration µs, bytes written).
type Event = (&'static str, i32, u32, u64, String, f64, f64, u64);

/// Turn the engine's op recording on or off.
#[pyfunction]
fn profiler_set_recording(on: bool) -> PyResult<()> {
    enter_ok("profiler.set_state", || profiler::set_recording(on))
}

/// The ops recorded since the last call (the buffers are emptied), oldest first.
#[pyfunction]
fn profiler_take_events() -> PyResult<Vec<Event>> {
    enter_ok("profiler.dump", || {
        profiler::take_events()
            .into_iter()
            .map(|e| {
                let dev = match e.device.kind {
                    mxrs_engine::DeviceKind::Cpu => 1,
                    mxrs_engine::DeviceKind::Gpu => 2,
                };
                (e.name, dev, e.device.id, e.thread.0, e.thread.1.to_string(), e.start_us, e.dur_us, e.bytes)
            })
            .collect()
    })
}

/// The Cargo features this extension was built with that change what it can do.
#[pyfunction]
fn build_features() -> PyResult<Vec<&'static str>> {
    enter_ok("runtime.Features", || {
        let mut f = Vec::new();
        if cfg!(feature = "cuda") {
            f.push("cuda");
        }
        f
    })
}

/// Threads of the kernels' pool (rayon's global pool; built now if it was not yet).
#[pyfunction]
fn kernel_threads() -> PyResult<usize> {
    enter_ok("kernel_threads", rayon::current_num_threads)
}

/// Bytes of free host buffers the buffer pool keeps for reuse.
#[pyfunction]
fn pooled_bytes() -> PyResult<usize> {
    enter_ok("pooled_bytes", mxrs_ndarray_core::pool::pooled_bytes)
}

/// The pool's free buffers: `(dtype name, elements, count)` per size, largest first.
#[pyfunction]
fn pooled_sizes() -> PyResult<Vec<(String, usize, usize)>> {
    enter_ok("pooled_sizes", || {
        mxrs_ndarray_core::pool::pooled_sizes().into_iter().map(|(d, n, c)| (d.name().to_string(), n, c)).collect()
    })
}

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(profiler_set_recording, m)?)?;
    m.add_function(wrap_pyfunction!(profiler_take_events, m)?)?;
    m.add_function(wrap_pyfunction!(build_features, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_threads, m)?)?;
    m.add_function(wrap_pyfunction!(pooled_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(pooled_sizes, m)?)?;
    Ok(())
}
