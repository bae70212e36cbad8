//! PyO3 bindings of mxrs: the private extension module `mxrs._native`. Only this crate depends
//! on pyo3; everything here is a thin conversion layer over the core crates.

mod autograd;
mod custom;
mod dlpack;
mod dunder;
mod error;
mod guard;
mod io;
mod kvstore;
mod kvstore_dist;
mod ndarray;
mod ndarray_base;
mod opcache;
mod opfunc;
mod rtc;
mod runtime;
mod storage;
mod symbol;

use std::collections::BTreeMap;

use mxrs_ndarray_core::io::arrays;
use mxrs_ndarray_core::{CpuStorage, DType, NDArray, registry};
use pyo3::buffer::{Element, PyBuffer, PyUntypedBuffer};
use pyo3::prelude::*;

use crate::error::{MXNetError, PyMxError};
use crate::guard::{enter, enter_detached, enter_ok};
use crate::ndarray::{PyNDArray, ctx_of, dtype_of, storage_from_buffer};

/// mimalloc: an op allocates a few dozen small blocks (handles, shapes, queue entries), and
/// glibc's malloc/free took a third of the per-op instructions (measured with callgrind).
#[global_allocator]
static GLOBAL: Alloc = Alloc;

/// mimalloc, built without transparent huge pages (huge-page-backed arenas kept about 55 MB
/// more of a ResNet-18 training step resident), asking for huge pages on large blocks only:
/// streaming kernels over tens of MB run 10-15% slower on 4 KiB pages.
struct Alloc;

/// Blocks of at least this many bytes are advised to use huge pages.
const HUGE_FROM: usize = 4 << 20;

/// Advise the whole 2 MiB pages inside a new large block to be backed by huge pages; the
/// size test is all a small block pays (the advice is out of line).
#[inline(always)]
fn advise_huge(p: *mut u8, size: usize) {
    if size >= HUGE_FROM {
        advise_large(p, size);
    }
}

#[cold]
#[inline(never)]
fn advise_large(p: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    if !p.is_null() {
        const PAGE: usize = 2 << 20;
        let start = (p as usize).next_multiple_of(PAGE);
        let end = (p as usize + size) & !(PAGE - 1);
        if end > start {
            // SAFETY: [start, end) lies inside the block just allocated, which nothing else
            // uses yet; MADV_HUGEPAGE changes only how the kernel backs those pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, size);
}

// SAFETY: every call is forwarded to mimalloc with the same layout; `advise_huge` only advises
// the kernel about pages of a block mimalloc just returned.
unsafe impl std::alloc::GlobalAlloc for Alloc {
    #[inline]
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract is mimalloc's.
        let p = unsafe { mimalloc::MiMalloc.alloc(l) };
        advise_huge(p, l.size());
        p
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { mimalloc::MiMalloc.alloc_zeroed(l) };
        advise_huge(p, l.size());
        p
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: `p` came from mimalloc with layout `l`.
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        // SAFETY: `p` came from mimalloc with layout `l`.
        let q = unsafe { mimalloc::MiMalloc.realloc(p, l, n) };
        advise_huge(q, n);
        q
    }
}

fn handles(v: &[PyRef<'_, PyNDArray>]) -> Vec<NDArray> {
    v.iter().map(|h| h.0.clone()).collect()
}

fn wrap(v: Vec<NDArray>) -> Vec<PyNDArray> {
    v.into_iter().map(PyNDArray).collect()
}

/// Run a registered op. `attrs` values are MXNet attribute strings.
#[pyfunction]
#[pyo3(signature = (name, inputs, attrs, out=None, ctx=None))]
fn invoke(
    name: &str,
    inputs: Vec<PyRef<'_, PyNDArray>>,
    attrs: BTreeMap<String, String>,
    out: Option<Vec<PyRef<'_, PyNDArray>>>,
    ctx: Option<(i32, u32)>,
) -> PyResult<Vec<PyNDArray>> {
    enter(name, || {
        let ctx = ctx.map(|(t, i)| ctx_of(t, i)).transpose()?;
        let outs = out.as_deref().map(handles);
        Ok::<_, PyMxError>(wrap(opcache::run_op(name, attrs, &handles(&inputs), outs.as_deref(), ctx)?))
    })
}

/// The common call of the generated op functions (`mx.nd.relu(x)`, `mx.nd.dot(a, b, out=c)`)
/// in one native step: the attributes of `attrs` that are not `null` (MXNet's `_Null`: not
/// given) made into attribute strings, the `_handle`s of the NDArray inputs (`None` inputs
/// skipped), the op run into `out` or new arrays, and the results made `cls` instances (or
/// `out` returned). Python did this in three frames and two dictionaries, about 0.6 µs of a
/// 1.9 µs `relu`. The op functions of `mx.nd` now call [`opfunc::OpFunction`] instead, which
/// does the same from the call's own arguments.
///
/// Returns `None`, having run nothing, when the call needs the general path: an attribute
/// value that is not a str, a bool, an int, a float or None (or a `dtype` that is not a str), an
/// input or `out` that is not a `cls`, inputs not in a list or tuple, or no inputs and no `out` (the
/// current context decides).
#[pyfunction]
fn call<'py>(
    py: Python<'py>,
    name: &str,
    inputs: &Bound<'py, PyAny>,
    attrs: &Bound<'py, pyo3::types::PyDict>,
    out: &Bound<'py, PyAny>,
    null: &Bound<'py, PyAny>,
    cls: &Bound<'py, pyo3::types::PyType>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    enter(name, || {
        let inputs: Vec<Bound<'py, PyAny>> = if let Ok(l) = inputs.cast::<pyo3::types::PyList>() {
            l.iter().collect()
        } else if let Ok(t) = inputs.cast::<pyo3::types::PyTuple>() {
            t.iter().collect()
        } else {
            return Ok(None);
        };
        let mut kw: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in attrs.iter() {
            if v.is(null) {
                continue;
            }
            let k: String = k.extract()?;
            let Some(text) = opfunc::attr_text(&k, &v)? else { return Ok(None) };
            kw.insert(k, text);
        }
        let mut ins = Vec::with_capacity(inputs.len());
        for x in &inputs {
            if x.is_none() {
                continue;
            }
            let Some(h) = opfunc::handle_of(x, cls)? else { return Ok(None) };
            ins.push(h);
        }
        opfunc::run_call(py, name, kw, &ins, out, cls)
    })
}

/// Fast path of the Python operators: a one-output op on one or two arrays, with an optional
/// `scalar` attribute, written to `out` when given (the in-place operators: `a += 1` passes
/// `a`). Returns the output's handle (for `out`, the one that records the call under autograd).
#[pyfunction]
#[pyo3(signature = (name, a, b=None, scalar=None, out=None))]
fn invoke_fast(
    name: &str,
    a: &PyNDArray,
    b: Option<&PyNDArray>,
    scalar: Option<f64>,
    out: Option<&PyNDArray>,
) -> PyResult<PyNDArray> {
    enter(name, || dunder::fast_invoke(name, &a.0, b.map(|b| &b.0), scalar, out.map(|o| &o.0)))
}

/// A new array from a C-contiguous byte buffer.
#[pyfunction]
fn from_buffer(
    py: Python<'_>,
    buf: PyBuffer<u8>,
    shape: Vec<i64>,
    dtype: &str,
    ctx: (i32, u32),
) -> PyResult<PyNDArray> {
    enter("array", || {
        let shape = mxrs_ndarray_core::shape::from_dims("array", &shape).map_err(PyMxError)?;
        let dtype = dtype_of(dtype)?;
        let ctx = ctx_of(ctx.0, ctx.1)?;
        let s = storage_from_buffer(py, &buf, dtype)?;
        Ok::<_, PyErr>(PyNDArray(NDArray::from_cpu(s, &shape, ctx).map_err(PyMxError)?))
    })
}

/// A new float32 array from a NumPy array (any object exporting a C-contiguous buffer) of
/// float32, float64, int32, int64 or uint8 elements, converted as NumPy's `astype` converts
/// them: the common `mx.nd.array(x)` without Python's conversions and views. None (nothing
/// made) for any other source or `dtype`, which Python's path then takes.
#[pyfunction]
fn from_numpy(py: Python<'_>, obj: &Bound<'_, PyAny>, dtype: &str, ctx: (i32, u32)) -> PyResult<Option<PyNDArray>> {
    enter("array", || {
        let Ok(buf) = PyUntypedBuffer::get(obj) else { return Ok(None) };
        if dtype != "float32" || !buf.is_c_contiguous() || !native_order(buf.format()) {
            return Ok(None);
        }
        let ctx = ctx_of(ctx.0, ctx.1)?;
        let mut s = CpuStorage::try_zeros("array", DType::F32, buf.item_count()).map_err(PyMxError)?;
        let CpuStorage::F32(dst) = &mut s else { return Ok(None) };
        let done = match buf.as_typed::<f32>() {
            Ok(src) => src.copy_to_slice(py, dst).is_ok(),
            Err(_) => {
                convert::<f64>(py, &buf, dst, |x| x as f32)
                    || convert::<i64>(py, &buf, dst, |x| x as f32)
                    || convert::<i32>(py, &buf, dst, |x| x as f32)
                    || convert::<u8>(py, &buf, dst, f32::from)
            }
        };
        if !done {
            return Ok(None);
        }
        let shape = buf.shape().to_vec();
        drop(buf);
        Ok::<_, PyErr>(Some(PyNDArray(NDArray::from_cpu(s, &shape, ctx).map_err(PyMxError)?)))
    })
}

/// Whether a buffer format's elements are in this machine's byte order (PyO3's element
/// checks ignore the order prefix: NumPy's `>f4` would read as little-endian floats).
fn native_order(format: &std::ffi::CStr) -> bool {
    match format.to_bytes().first() {
        Some(b'>' | b'!') => cfg!(target_endian = "big"),
        Some(b'<') => cfg!(target_endian = "little"),
        _ => true,
    }
}

/// `dst[i] = f(src[i])` when `buf` holds C-contiguous elements of type `T` (false otherwise).
fn convert<T: Element + Copy>(py: Python<'_>, buf: &PyUntypedBuffer, dst: &mut [f32], f: impl Fn(T) -> f32) -> bool {
    let Some(src) = buf.as_typed::<T>().ok().and_then(|b| b.as_slice(py)) else { return false };
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f(s.get());
    }
    src.len() == dst.len()
}

/// A new array of zeros: a `ShapeError` for a negative dimension or a size that overflows, an
/// `MXNetMemoryError` naming the bytes when the system refuses them.
#[pyfunction]
fn zeros(shape: Vec<i64>, dtype: &str, ctx: (i32, u32)) -> PyResult<PyNDArray> {
    enter("zeros", || {
        let shape = mxrs_ndarray_core::shape::from_dims("zeros", &shape)?;
        Ok::<_, PyMxError>(PyNDArray(NDArray::zeros(&shape, dtype_of(dtype)?, ctx_of(ctx.0, ctx.1)?)?))
    })
}

/// Wait for all pushed work; raise the first error since the last call, once.
#[pyfunction]
fn waitall(py: Python<'_>) -> PyResult<()> {
    enter_detached(py, "waitall", mxrs_ndarray_core::waitall)
}

/// Reseed the generators (all contexts, or one).
#[pyfunction]
#[pyo3(signature = (seed, ctx=None))]
fn random_seed(seed: u64, ctx: Option<(i32, u32)>) -> PyResult<()> {
    enter("random_seed", || {
        let ctx = ctx.map(|(t, i)| ctx_of(t, i)).transpose()?;
        mxrs_ndarray_core::random_seed(seed, ctx);
        Ok::<_, PyMxError>(())
    })
}

/// `mx.nd.save`.
#[pyfunction]
fn save(py: Python<'_>, path: String, arrays: Vec<PyRef<'_, PyNDArray>>, names: Vec<String>) -> PyResult<()> {
    let arrs = handles(&arrays);
    enter_detached(py, "save", move || arrays::save(&path, &arrs, &names))
}

/// `mx.nd.load`: (arrays, names).
#[pyfunction]
fn load(py: Python<'_>, path: String) -> PyResult<(Vec<PyNDArray>, Vec<String>)> {
    let (a, n) = enter_detached(py, "load", move || arrays::load(&path))?;
    Ok((wrap(a), n))
}

/// `mx.nd.load_frombuffer`.
#[pyfunction]
fn load_frombuffer(py: Python<'_>, data: &[u8]) -> PyResult<(Vec<PyNDArray>, Vec<String>)> {
    let (a, n) = enter_detached(py, "load_frombuffer", || arrays::load_from_bytes(data, "<buffer>"))?;
    Ok((wrap(a), n))
}

/// One array of `load_sparse`: dense, or (stored values, (stype, logical shape, aux arrays)).
type PyLoaded = (PyNDArray, Option<(i32, Vec<usize>, Vec<PyNDArray>)>);

fn wrap_loaded(v: Vec<arrays::LoadedArray>) -> Vec<PyLoaded> {
    v.into_iter().map(|(a, p)| (PyNDArray(a), p.map(|(st, shape, aux)| (st, shape, wrap(aux))))).collect()
}

/// `mx.nd.load` keeping sparse arrays sparse: ([(values, None | (stype, shape, aux))], names).
#[pyfunction]
fn load_sparse(py: Python<'_>, path: String) -> PyResult<(Vec<PyLoaded>, Vec<String>)> {
    let (a, n) = enter_detached(py, "load", move || arrays::load_sparse(&path))?;
    Ok((wrap_loaded(a), n))
}

/// `mx.nd.load_frombuffer` keeping sparse arrays sparse.
#[pyfunction]
fn load_frombuffer_sparse(py: Python<'_>, data: &[u8]) -> PyResult<(Vec<PyLoaded>, Vec<String>)> {
    let (a, n) = enter_detached(py, "load_frombuffer", || arrays::load_sparse_from_bytes(data, "<buffer>"))?;
    Ok((wrap_loaded(a), n))
}

/// Parse a pickled array record.
#[pyfunction]
fn load_raw(py: Python<'_>, data: &[u8]) -> PyResult<PyNDArray> {
    enter_detached(py, "unpickling an NDArray", || arrays::load_raw(data).map(PyNDArray))
}

/// Every registered op: (name, input names, [(param, default or None)], doc).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn list_ops() -> PyResult<Vec<(String, Vec<String>, Vec<(String, Option<String>)>, String)>> {
    enter("list_ops", || {
        let r = registry();
        r.names()
            .into_iter()
            .map(|n| {
                let d = r.get(n)?;
                Ok((
                    n.to_string(),
                    d.inputs.iter().map(|s| s.to_string()).collect(),
                    d.params.iter().map(|p| (p.name.to_string(), p.default.map(|s| s.to_string()))).collect(),
                    d.doc.to_string(),
                ))
            })
            .collect::<mxrs_ndarray_core::Result<Vec<_>>>()
    })
}

/// (alias, canonical name) pairs.
#[pyfunction]
fn list_aliases() -> PyResult<Vec<(String, String)>> {
    enter_ok("list_aliases", || registry().aliases().into_iter().map(|(a, c)| (a.to_string(), c.to_string())).collect())
}

/// MXNet's reshape codes applied to `shape` (for `NDArray.reshape`).
#[pyfunction]
fn infer_reshape(shape: Vec<usize>, spec: Vec<i64>, reverse: bool) -> PyResult<Vec<usize>> {
    enter("reshape", || mxrs_ndarray_core::shape::reshape_codes("reshape", &shape, &spec, reverse))
}

/// Use the CBLAS library at `path` for large float32 products (the Python layer passes the
/// OpenBLAS of the `scipy-openblas32` package, `mxrs/_blas.py`); returns its `sgemm` symbol.
#[pyfunction]
fn load_blas(path: std::path::PathBuf) -> PyResult<String> {
    enter("load_blas", || {
        // SAFETY: the caller names `path` as a CBLAS library, as it would for `ctypes.CDLL`.
        let blas = unsafe { mxrs_ndarray_core::backend::cpu::blas::load(path) };
        blas.map(|b| b.symbol().to_string()).map_err(|e| MXNetError::new_err(e.to_string()))
    })
}

/// Name the CBLAS library to open at the first large float32 product (nothing opens now);
/// false when one was named before.
#[pyfunction]
fn prefer_blas(path: std::path::PathBuf) -> PyResult<bool> {
    enter_ok("prefer_blas", || mxrs_ndarray_core::backend::cpu::blas::prefer(path))
}

/// The file of the BLAS library that large float32 products use (chosen now if no library
/// was loaded), or None on the pure-Rust `gemm` path.
#[pyfunction]
fn blas_library() -> PyResult<Option<std::path::PathBuf>> {
    enter_ok("blas_library", || mxrs_ndarray_core::backend::cpu::blas::get().map(|b| b.path().to_path_buf()))
}

/// Number of usable GPUs.
#[pyfunction]
fn num_gpus() -> PyResult<usize> {
    enter_ok("num_gpus", mxrs_ndarray_core::backend::num_gpus)
}

/// (free, total) bytes of GPU `dev_id`, as the driver reports them.
#[pyfunction]
fn gpu_memory_info(dev_id: u32) -> PyResult<(usize, usize)> {
    enter("gpu_memory_info", || mxrs_ndarray_core::backend::device::memory_info(dev_id))
}

/// Give the memory cached by mxrs on GPU `dev_id` back to the driver.
#[pyfunction]
fn gpu_empty_cache(dev_id: u32) -> PyResult<()> {
    enter("gpu_empty_cache", || mxrs_ndarray_core::backend::device::empty_cache(dev_id))
}

/// The ops that ran on a GPU through host memory (no device kernel) since the last reset,
/// with their counts.
#[pyfunction]
#[pyo3(signature = (reset=false))]
fn gpu_host_fallbacks(reset: bool) -> PyResult<BTreeMap<String, u64>> {
    enter_ok("gpu_host_fallbacks", || mxrs_ndarray_core::invoke::host_fallbacks(reset).into_iter().collect())
}

/// The engine in use.
#[pyfunction]
fn engine_name() -> PyResult<&'static str> {
    enter_ok("engine_name", || mxrs_engine::engine().name())
}

/// Check `MXNET_ENGINE_TYPE` as the engine will read it: `MXNetError` for a name no engine has
/// (the engine itself would only warn and use the default).
#[pyfunction]
fn check_engine_env() -> PyResult<()> {
    enter("check_engine_env", || mxrs_engine::check_engine_env().map_err(MXNetError::new_err))
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNDArray>()?;
    m.add("NDArrayBase", dunder::ndarray_base(m.py())?)?;
    m.add_class::<symbol::PySymbol>()?;
    m.add_class::<symbol::PyExecutor>()?;
    m.add_class::<kvstore::PyKVStore>()?;
    kvstore_dist::register(m)?;
    m.add_function(wrap_pyfunction!(invoke, m)?)?;
    m.add_function(wrap_pyfunction!(call, m)?)?;
    m.add_class::<opfunc::OpFunction>()?;
    m.add_function(wrap_pyfunction!(invoke_fast, m)?)?;
    m.add_function(wrap_pyfunction!(dunder::install_arith, m)?)?;
    m.add_function(wrap_pyfunction!(dunder::install_wait, m)?)?;
    m.add_function(wrap_pyfunction!(ndarray_base::install_dtypes, m)?)?;
    m.add_function(wrap_pyfunction!(from_buffer, m)?)?;
    m.add_function(wrap_pyfunction!(from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(zeros, m)?)?;
    m.add_function(wrap_pyfunction!(waitall, m)?)?;
    m.add_function(wrap_pyfunction!(random_seed, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(load_frombuffer, m)?)?;
    m.add_function(wrap_pyfunction!(load_sparse, m)?)?;
    m.add_function(wrap_pyfunction!(load_frombuffer_sparse, m)?)?;
    m.add_function(wrap_pyfunction!(load_raw, m)?)?;
    m.add_function(wrap_pyfunction!(list_ops, m)?)?;
    m.add_function(wrap_pyfunction!(list_aliases, m)?)?;
    m.add_function(wrap_pyfunction!(num_gpus, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_memory_info, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_empty_cache, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_host_fallbacks, m)?)?;
    m.add_function(wrap_pyfunction!(infer_reshape, m)?)?;
    m.add_function(wrap_pyfunction!(load_blas, m)?)?;
    m.add_function(wrap_pyfunction!(prefer_blas, m)?)?;
    m.add_function(wrap_pyfunction!(blas_library, m)?)?;
    m.add_function(wrap_pyfunction!(engine_name, m)?)?;
    m.add_function(wrap_pyfunction!(check_engine_env, m)?)?;
    m.add_function(wrap_pyfunction!(guard::_guard_selftest, m)?)?;
    autograd::register(m)?;
    custom::register(m)?;
    dlpack::register(m)?;
    io::register(m)?;
    rtc::register(m)?;
    runtime::register(m)?;
    storage::register(m)?;
    Ok(())
}
