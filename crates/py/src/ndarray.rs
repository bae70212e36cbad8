//! `NDArrayHandle`: the native half of `mxrs.ndarray.NDArray`.

use mxrs_ndarray_core::autograd::record::{check_writable, is_recording, record_view};
use mxrs_ndarray_core::io::arrays;
use mxrs_ndarray_core::{Attrs, Context, CpuStorage, DType, DevType, NDArray};
use std::collections::BTreeMap;

use pyo3::buffer::PyBuffer;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyInt, PySlice, PyTuple};

use crate::error::{PyMxError, PyMxResult};
use crate::guard::{enter, enter_detached, enter_ok};

/// A handle to an array (shares memory with its views).
#[pyclass(frozen, module = "mxrs._native", name = "NDArrayHandle")]
#[derive(Debug)]
pub struct PyNDArray(pub NDArray);

pub(crate) fn ctx_of(dev_type: i32, dev_id: u32) -> PyMxResult<Context> {
    Ok(Context { dev_type: DevType::from_code(dev_type)?, dev_id })
}

pub(crate) fn dtype_of(name: &str) -> PyMxResult<DType> {
    Ok(DType::from_name(name).map_err(mxrs_ndarray_core::Error::from)?)
}

#[pymethods]
impl PyNDArray {
    /// The shape as a tuple.
    #[getter]
    fn shape(&self) -> PyResult<Vec<usize>> {
        enter_ok("NDArray.shape", || self.0.shape().to_vec())
    }
    /// NumPy's name of the dtype.
    #[getter]
    fn dtype(&self) -> PyResult<&'static str> {
        enter_ok("NDArray.dtype", || self.0.dtype().name())
    }
    /// `(dev_type code, dev_id)`.
    #[getter]
    fn ctx(&self) -> PyResult<(i32, u32)> {
        enter_ok("NDArray.context", || {
            let c = self.0.ctx();
            (c.dev_type as i32, c.dev_id)
        })
    }
    /// Number of elements.
    #[getter]
    fn size(&self) -> PyResult<usize> {
        enter_ok("NDArray.size", || self.0.size())
    }
    /// Element offset in the chunk.
    #[getter]
    fn offset(&self) -> PyResult<usize> {
        enter_ok("NDArray.offset", || self.0.offset())
    }
    /// Wait for pending writes (releasing the GIL while it blocks).
    fn wait_to_read(&self, py: Python<'_>) -> PyResult<()> {
        wait_readable(py, &self.0)
    }
    /// Wait, then copy the elements into a new bytearray (the only copy of `asnumpy`).
    fn to_bytearray<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyByteArray>> {
        wait_readable(py, &self.0)?;
        enter("asnumpy", || {
            self.0.read_cpu(|s, off, n| {
                let es = s.dtype().size();
                PyByteArray::new(py, &s.as_bytes()[off * es..(off + n) * es])
            })
        })
    }
    /// View of rows `[begin, end)`.
    fn slice0(&self, begin: usize, end: usize) -> PyResult<PyNDArray> {
        enter("NDArray.__getitem__", || slice0(&self.0, begin, end).map(PyNDArray))
    }
    /// View `self[i]`.
    fn at(&self, i: usize) -> PyResult<PyNDArray> {
        enter("NDArray.__getitem__", || {
            let v = self.0.at(i)?;
            if !is_recording() {
                return Ok(PyNDArray(v));
            }
            // Recorded as MXNet records `_at`: a slice of one row, then a reshape dropping it.
            let row = slice0(&self.0, i, i + 1)?;
            reshape(&row, v.shape()).map(PyNDArray)
        })
    }
    /// `self[key]` for a tuple of Python ints and slices, as MXNet runs it: one `slice` op,
    /// then a view without the axes an int picked. None (nothing run) where the key holds
    /// anything else (Ellipsis, None, arrays, NumPy integers, an index out of range, more
    /// indices than axes): Python's path then takes it, and raises its errors.
    fn basic_index(&self, key: &Bound<'_, PyTuple>) -> PyResult<Option<PyNDArray>> {
        enter("NDArray.__getitem__", || basic_index(&self.0, key))
    }
    /// The `slice` op's attributes (`begin`, `end`, `step`) for `key`, a tuple of Python ints
    /// and slices (`x[:, 1] = v` assigns through them); None as for
    /// [`basic_index`](PyNDArray::basic_index).
    fn basic_attrs(&self, key: &Bound<'_, PyTuple>) -> PyResult<Option<BTreeMap<String, String>>> {
        enter("NDArray.__setitem__", || Ok::<_, PyErr>(basic_plan(self.0.shape(), key)?.map(|(attrs, _)| attrs)))
    }
    /// View with another shape.
    fn reshape_view(&self, shape: Vec<i64>) -> PyResult<PyNDArray> {
        enter("reshape", || {
            let shape = mxrs_ndarray_core::shape::from_dims("reshape", &shape)?;
            reshape(&self.0, &shape).map(PyNDArray)
        })
    }
    /// `x.reshape(spec)` for a tuple of Python ints (MXNet's codes 0, -1, -2, -3, -4 included):
    /// the view, recorded as `Reshape` while autograd records. None (nothing done) where `spec`
    /// holds anything else: Python's path then takes it, and raises its errors.
    fn reshape_codes(&self, spec: &Bound<'_, PyTuple>) -> PyResult<Option<PyNDArray>> {
        enter("reshape", || {
            let mut codes = smallvec::SmallVec::<[i64; 6]>::new();
            for d in spec.iter() {
                let Some(d) = d.cast_exact::<PyInt>().ok().and_then(|d| d.extract::<i64>().ok()) else {
                    return Ok(None);
                };
                codes.push(d);
            }
            let shape =
                mxrs_ndarray_core::shape::reshape_codes("reshape", self.0.shape(), &codes, false).map_err(PyMxError)?;
            Ok::<_, PyErr>(Some(PyNDArray(reshape(&self.0, &shape).map_err(PyMxError)?)))
        })
    }
    /// True when both handles share memory.
    fn same_chunk(&self, other: &PyNDArray) -> PyResult<bool> {
        enter_ok("NDArray.same_chunk", || self.0.same_chunk(&other.0))
    }
    /// Push a copy of `src` into this array.
    fn copy_from(&self, src: &PyNDArray) -> PyResult<()> {
        enter("copyto", || {
            if is_recording() {
                check_writable("copyto", Some(std::slice::from_ref(&self.0)))?;
            }
            self.0.copy_from(&src.0)
        })
    }
    /// Push a write of host bytes (C order, this array's dtype) into this array.
    fn write_buffer(&self, py: Python<'_>, buf: PyBuffer<u8>) -> PyResult<()> {
        enter("NDArray.__setitem__", || {
            if is_recording() {
                check_writable("NDArray.__setitem__", Some(std::slice::from_ref(&self.0))).map_err(PyMxError)?;
            }
            let data = storage_from_buffer(py, &buf, self.0.dtype())?;
            self.0.write_from_cpu(data).map_err(|e| PyErr::from(PyMxError(e)))
        })
    }
    /// The raw record for pickling.
    fn save_raw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let a = self.0.clone();
        let bytes = enter_detached(py, "pickling an NDArray", move || arrays::save_raw(&a))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// Rows `[begin, end)` of `a` as a view, recorded as `slice_axis` while recording.
fn slice0(a: &NDArray, begin: usize, end: usize) -> mxrs_ndarray_core::Result<NDArray> {
    let v = a.slice_axis0(begin, end)?;
    if !is_recording() {
        return Ok(v);
    }
    let attrs = Attrs::from_pairs([("axis", "0".to_string()), ("begin", begin.to_string()), ("end", end.to_string())]);
    record_view("slice_axis", attrs, a, v)
}

/// The `slice` op's attributes for `key`, a tuple of Python ints and slices over an array of
/// `shape` (as Python's `_attr` writes them: "(0, None, 1)"), and the axes a slice kept; None
/// where the key holds anything else (see [`PyNDArray::basic_index`]).
type Plan = (BTreeMap<String, String>, smallvec::SmallVec<[usize; 6]>);

fn basic_plan(shape: &[usize], key: &Bound<'_, PyTuple>) -> PyResult<Option<Plan>> {
    if key.len() > shape.len() {
        return Ok(None);
    }
    let (mut begin, mut end, mut step) = (String::from("("), String::from("("), String::from("("));
    let mut kept = smallvec::SmallVec::new();
    let bound = |v: &Bound<'_, PyAny>, text: &mut String| -> bool {
        if v.is_none() {
            text.push_str("None, ");
        } else if v.is_exact_instance_of::<PyInt>()
            && let Ok(i) = v.extract::<i64>()
        {
            text.push_str(&format!("{i}, "));
        } else {
            return false;
        }
        true
    };
    let py = key.py();
    for (ax, k) in key.iter().enumerate() {
        let dim = shape[ax];
        if let Ok(sl) = k.cast_exact::<PySlice>() {
            if !(bound(&sl.getattr(intern!(py, "start"))?, &mut begin)
                && bound(&sl.getattr(intern!(py, "stop"))?, &mut end)
                && bound(&sl.getattr(intern!(py, "step"))?, &mut step))
            {
                return Ok(None);
            }
            kept.push(ax);
        } else if k.is_exact_instance_of::<PyInt>() {
            let Ok(i) = k.extract::<i64>() else { return Ok(None) };
            let i = if i < 0 { i.saturating_add(dim as i64) } else { i };
            if i < 0 || i >= dim as i64 {
                return Ok(None);
            }
            begin.push_str(&format!("{i}, "));
            end.push_str(&format!("{}, ", i + 1));
            step.push_str("1, ");
        } else {
            return Ok(None);
        }
    }
    let close = |mut t: String| {
        // "(a, b, " -> "(a, b)", and "(a, " -> "(a,)" as Python writes a 1-tuple.
        t.truncate(t.len() - 2);
        t.push_str(if key.len() == 1 { ",)" } else { ")" });
        t
    };
    let attrs = [("begin", begin), ("end", end), ("step", step)].map(|(k, v)| (k.to_string(), close(v))).into();
    Ok(Some((attrs, kept)))
}

/// See [`PyNDArray::basic_index`].
fn basic_index(a: &NDArray, key: &Bound<'_, PyTuple>) -> PyResult<Option<PyNDArray>> {
    let shape = a.shape();
    let Some((attrs, kept)) = basic_plan(shape, key)? else { return Ok(None) };
    let res = crate::opcache::run_op("slice", attrs, std::slice::from_ref(a), None, None).map_err(PyMxError)?;
    let [res]: [NDArray; 1] =
        res.try_into().map_err(|_| PyMxError(mxrs_ndarray_core::Error::msg("slice: one output")))?;
    if kept.len() == key.len() {
        return Ok(Some(PyNDArray(res)));
    }
    // The axes an int picked are 1 long in the slice's result: drop them (a scalar keeps one).
    let sliced = res.shape();
    let mut dims: smallvec::SmallVec<[usize; 6]> =
        (0..sliced.len()).filter(|&ax| ax >= key.len() || kept.contains(&ax)).map(|ax| sliced[ax]).collect();
    if dims.is_empty() {
        dims.push(1);
    }
    reshape(&res, &dims).map(|v| Some(PyNDArray(v))).map_err(|e| PyMxError(e).into())
}

/// `a` as a view of `shape`, recorded as `Reshape` while recording.
fn reshape(a: &NDArray, shape: &[usize]) -> mxrs_ndarray_core::Result<NDArray> {
    let v = a.reshape_view(shape)?;
    if !is_recording() {
        return Ok(v);
    }
    let spec = format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
    record_view("Reshape", Attrs::from_pairs([("shape", spec)]), a, v)
}

/// Copy a C-contiguous byte buffer into a new storage of `dtype`.
pub(crate) fn storage_from_buffer(py: Python<'_>, buf: &PyBuffer<u8>, dtype: DType) -> PyResult<CpuStorage> {
    let nbytes = buf.item_count();
    if !buf.is_c_contiguous() || !nbytes.is_multiple_of(dtype.size()) {
        return Err(PyMxError(mxrs_ndarray_core::Error::msg(format!(
            "expected a C-contiguous buffer of whole {dtype} elements, got {nbytes} bytes"
        )))
        .into());
    }
    let mut s = CpuStorage::try_zeros("array", dtype, nbytes / dtype.size()).map_err(PyMxError)?;
    buf.copy_to_slice(py, s.as_bytes_mut())?;
    Ok(s)
}

/// `a.wait_to_read()`, releasing the GIL only when it must block: releasing it costs more
/// than the tiny op a caller usually has just run.
pub(crate) fn wait_readable(py: Python<'_>, a: &NDArray) -> PyResult<()> {
    match enter_ok("wait_to_read", || a.try_wait_to_read())? {
        Some(r) => enter("wait_to_read", || r),
        None => {
            // Owned: while the GIL is released, another thread may drop the array `a` borrows
            // from (setting an `NDArray`'s `_handle`).
            let a = a.clone();
            enter_detached(py, "wait_to_read", move || a.wait_to_read())
        }
    }
}
