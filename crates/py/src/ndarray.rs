//! `NDArrayHandle`: the native half of `mxrs.ndarray.NDArray`.

use mxrs_ndarray_core::io::arrays;
use mxrs_ndarray_core::{Context, CpuStorage, DType, DevType, NDArray};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::error::{PyMxError, PyMxResult};

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
    fn shape(&self) -> Vec<usize> {
        self.0.shape().to_vec()
    }
    /// NumPy's name of the dtype.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.0.dtype().name()
    }
    /// `(dev_type code, dev_id)`.
    #[getter]
    fn ctx(&self) -> (i32, u32) {
        let c = self.0.ctx();
        (c.dev_type as i32, c.dev_id)
    }
    /// Number of elements.
    #[getter]
    fn size(&self) -> usize {
        self.0.size()
    }
    /// Element offset in the chunk.
    #[getter]
    fn offset(&self) -> usize {
        self.0.offset()
    }
    /// Wait for pending writes (releasing the GIL while it blocks).
    fn wait_to_read(&self, py: Python<'_>) -> PyMxResult<()> {
        Ok(wait_readable(py, &self.0)?)
    }
    /// Wait, then copy the elements into a new bytearray (the only copy of `asnumpy`).
    fn to_bytearray<'py>(&self, py: Python<'py>) -> PyMxResult<Bound<'py, PyByteArray>> {
        wait_readable(py, &self.0)?;
        let r = self.0.read_cpu(|s, off, n| {
            let es = s.dtype().size();
            PyByteArray::new(py, &s.as_bytes()[off * es..(off + n) * es])
        })?;
        Ok(r)
    }
    /// View of rows `[begin, end)`.
    fn slice0(&self, begin: usize, end: usize) -> PyMxResult<PyNDArray> {
        Ok(PyNDArray(self.0.slice_axis0(begin, end)?))
    }
    /// View `self[i]`.
    fn at(&self, i: usize) -> PyMxResult<PyNDArray> {
        Ok(PyNDArray(self.0.at(i)?))
    }
    /// View with another shape.
    fn reshape_view(&self, shape: Vec<usize>) -> PyMxResult<PyNDArray> {
        Ok(PyNDArray(self.0.reshape_view(&shape)?))
    }
    /// True when both handles share memory.
    fn same_chunk(&self, other: &PyNDArray) -> bool {
        self.0.same_chunk(&other.0)
    }
    /// Push a copy of `src` into this array.
    fn copy_from(&self, src: &PyNDArray) -> PyMxResult<()> {
        Ok(self.0.copy_from(&src.0)?)
    }
    /// Push a write of host bytes (C order, this array's dtype) into this array.
    fn write_buffer(&self, py: Python<'_>, buf: PyBuffer<u8>) -> PyResult<()> {
        let data = storage_from_buffer(py, &buf, self.0.dtype())?;
        self.0.write_from_cpu(data).map_err(|e| PyMxError(e).into())
    }
    /// The raw record for pickling.
    fn save_raw<'py>(&self, py: Python<'py>) -> PyMxResult<Bound<'py, PyBytes>> {
        let a = self.0.clone();
        let bytes = py.detach(move || arrays::save_raw(&a))?;
        Ok(PyBytes::new(py, &bytes))
    }
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
    let mut s = CpuStorage::zeros(dtype, nbytes / dtype.size());
    buf.copy_to_slice(py, s.as_bytes_mut())?;
    Ok(s)
}

/// `a.wait_to_read()`, releasing the GIL only when it must block: releasing it costs more
/// than the tiny op a caller usually has just run.
fn wait_readable(py: Python<'_>, a: &NDArray) -> mxrs_ndarray_core::Result<()> {
    if let Some(r) = a.try_wait_to_read() {
        return r;
    }
    py.detach(|| a.wait_to_read())
}
