//! Bindings of the storage layer (`mxrs_ndarray_core::io::storage`): whole files by path or
//! URI (`s3://`, `hdfs://`, `webhdfs://`, `file://`), for the Python code that saves and loads
//! Symbol JSON, optimizer states and `.idx` files. Transfers run with the GIL released.

use mxrs_ndarray_core::io::storage;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyMxError;
use crate::guard::enter_detached;

/// The bytes of the file at `uri`.
#[pyfunction]
fn read_file<'py>(py: Python<'py>, uri: &str) -> PyResult<Bound<'py, PyBytes>> {
    let data = enter_detached(py, "read_file", || storage::read(uri).map_err(PyMxError))?;
    Ok(PyBytes::new(py, &data))
}

/// Replace the file at `uri` with `data`, atomically (the old file or the whole new one).
#[pyfunction]
fn write_file(py: Python<'_>, uri: &str, data: &[u8]) -> PyResult<()> {
    enter_detached(py, "write_file", || storage::write_atomic(uri, &|w| w.write_all(data)).map_err(PyMxError))
}

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_file, m)?)?;
    m.add_function(wrap_pyfunction!(write_file, m)?)?;
    Ok(())
}
