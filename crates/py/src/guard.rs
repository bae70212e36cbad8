//! The one door from Python into the core crates (polars' `enter_polars`).
//!
//! Every binding entry point runs its body through [`enter`] (the GIL stays held: for calls
//! that never block, where releasing it would cost more than the call) or [`enter_detached`]
//! (the GIL is released: waits, file and network IO, decoding, whole passes of an executor).
//! Both turn the core's errors into the exception classes of `mxrs.base` (through
//! `crate::error`) and a Rust panic into an `MXNetError` naming the entry point, so that no
//! input reaches Python as a `PanicException` or takes the interpreter down with it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mxrs_ndarray_core::Error;
use pyo3::prelude::*;

use crate::error::{MXNetError, PyMxError};

/// An error a binding body may return: a core error, one already wrapped for Python, or a
/// Python exception (from a callback or a conversion).
pub(crate) trait IntoPyErr {
    /// The Python exception.
    fn into_py_err(self) -> PyErr;
}

impl IntoPyErr for Error {
    fn into_py_err(self) -> PyErr {
        PyMxError(self).into()
    }
}

impl IntoPyErr for PyMxError {
    fn into_py_err(self) -> PyErr {
        self.into()
    }
}

impl IntoPyErr for PyErr {
    fn into_py_err(self) -> PyErr {
        self
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run `f`, converting its error, and a panic into an `MXNetError` naming `what`.
fn catch<T, E: IntoPyErr>(what: &str, f: impl FnOnce() -> Result<T, E>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(IntoPyErr::into_py_err),
        Err(payload) => Err(MXNetError::new_err(format!("internal error in {what}: {}", panic_message(&*payload)))),
    }
}

/// Run the body of the entry point `what` with the GIL held.
pub(crate) fn enter<T, E: IntoPyErr>(what: &str, f: impl FnOnce() -> Result<T, E>) -> PyResult<T> {
    catch(what, f)
}

/// [`enter`] for a body that cannot fail (it may still panic).
pub(crate) fn enter_ok<T>(what: &str, f: impl FnOnce() -> T) -> PyResult<T> {
    catch(what, || Ok::<T, PyErr>(f()))
}

/// Run the body of the entry point `what` with the GIL released, for work that may block.
pub(crate) fn enter_detached<T, E>(py: Python<'_>, what: &str, f: impl FnOnce() -> Result<T, E> + Send) -> PyResult<T>
where
    T: Send,
    E: IntoPyErr + Send,
{
    py.detach(|| catch(what, f))
}

/// A deliberate panic inside the guard, for the tests that prove a panic in any entry point
/// reaches Python as an `MXNetError` and leaves the interpreter and the engine working
/// (`detached` picks [`enter_detached`] over [`enter`]). Not part of the public API.
#[pyfunction]
pub(crate) fn _guard_selftest(py: Python<'_>, detached: bool) -> PyResult<()> {
    let boom = || -> Result<(), Error> { panic!("guard self-test: a deliberate panic") };
    if detached { enter_detached(py, "_guard_selftest", boom) } else { enter("_guard_selftest", boom) }
}
