//! Bindings of the storage layer (`mxrs_ndarray_core::io::storage`): whole files by path or
//! URI (`s3://`, `hdfs://`, `webhdfs://`, `file://`), for the Python code that saves and loads
//! Symbol JSON, optimizer states and `.idx` files. Transfers run with the GIL released.

use mxrs_ndarray_core::io::storage;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyMxResult;

/// The bytes of the file at `uri`.
#[pyfunction]
fn read_file<'py>(py: Python<'py>, uri: &str) -> PyMxResult<Bound<'py, PyBytes>> {
    let data = py.detach(|| storage::read(uri))?;
    Ok(PyBytes::new(py, &data))
}

/// Replace the file at `uri` with `data`, atomically (the old file or the whole new one).
#[pyfunction]
fn write_file(py: Python<'_>, uri: &str, data: &[u8]) -> PyMxResult<()> {
    Ok(py.detach(|| storage::write_atomic(uri, &|w| w.write_all(data)))?)
}

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_file, m)?)?;
    m.add_function(wrap_pyfunction!(write_file, m)?)?;
    Ok(())
}
