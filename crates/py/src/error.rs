//! The one place where Rust errors become Python exceptions (classes defined in `mxrs.base`).

use mxrs_ndarray_core::Error;
use pyo3::PyErr;

pyo3::import_exception!(mxrs.base, MXNetError);
pyo3::import_exception!(mxrs.base, ShapeError);
pyo3::import_exception!(mxrs.base, DTypeError);
pyo3::import_exception!(mxrs.base, ContextError);
pyo3::import_exception!(mxrs.base, NotSupported);
pyo3::import_exception!(mxrs.base, MXNetIndexError);
pyo3::import_exception!(mxrs.base, MXNetValueError);
pyo3::import_exception!(mxrs.base, MXNetIOError);
pyo3::import_exception!(mxrs.base, MXNetTypeError);
pyo3::import_exception!(mxrs.base, MXNetMemoryError);
pyo3::import_exception!(mxrs.base, AutogradError);

/// Wrapper so that `?` converts core errors into Python exceptions.
#[derive(Debug)]
pub struct PyMxError(pub Error);

impl From<Error> for PyMxError {
    fn from(e: Error) -> Self {
        PyMxError(e)
    }
}

impl From<PyMxError> for PyErr {
    fn from(e: PyMxError) -> PyErr {
        let msg = e.0.to_string();
        match e.0 {
            Error::Shape { .. } => ShapeError::new_err(msg),
            Error::DType { .. } => DTypeError::new_err(msg),
            Error::Param { .. } => MXNetValueError::new_err(msg),
            Error::Type { .. } => MXNetTypeError::new_err(msg),
            Error::OutOfMemory { .. } => MXNetMemoryError::new_err(msg),
            Error::Index(_) => MXNetIndexError::new_err(msg),
            Error::Context(_) => ContextError::new_err(msg),
            Error::NotSupported(_) => NotSupported::new_err(msg),
            Error::Io { .. } => MXNetIOError::new_err(msg),
            Error::UnknownOp(_) => MXNetValueError::new_err(msg),
            Error::Autograd(_) => AutogradError::new_err(msg),
            Error::Format { .. } | Error::Engine(_) | Error::Msg(_) => MXNetError::new_err(msg),
        }
    }
}

/// Result of binding functions.
pub type PyMxResult<T> = Result<T, PyMxError>;
