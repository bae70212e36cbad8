//! The process-level functions of distributed stores: the role, the server loop, the server's
//! command handler (Python unpickles the optimizer) and the end of the MPI job.

use std::sync::Arc;

use parking_lot::Mutex;

use mxrs_kvstore::dist::{self, Controller};
use mxrs_kvstore::{Key, Updater};
use mxrs_ndarray_core::{Error, NDArray};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyMxError;
use crate::guard::{enter_detached, enter_ok};
use crate::ndarray::PyNDArray;

/// The exception (KeyboardInterrupt...) that interrupted the last wait of a distributed store.
static INTERRUPTED: Mutex<Option<PyErr>> = Mutex::new(None);

/// Let Python's signal handlers run while a distributed store waits (Ctrl-C ends the wait).
fn install_interrupt_check() {
    dist::set_interrupt_check(Some(Arc::new(|| {
        Python::attach(|py| {
            let e = py.check_signals().err()?;
            let msg = format!("interrupted ({})", e);
            *INTERRUPTED.lock() = Some(e);
            Some(msg)
        })
    })));
}

/// `err`, or the exception that interrupted the wait which failed with it.
pub(crate) fn or_interrupt(err: PyErr) -> PyErr {
    INTERRUPTED.lock().take().unwrap_or(err)
}

/// `func(key, input_handle, stored_handle)` as an updater run by the server shard.
fn updater_of(func: Py<PyAny>) -> Updater {
    Arc::new(move |k: &Key, input: &NDArray, stored: &NDArray| {
        Python::attach(|py| {
            let key = match k {
                Key::Int(i) => i.into_pyobject(py).map(|b| b.into_any()),
                Key::Str(s) => s.into_pyobject(py).map(|b| b.into_any()),
            }
            .map_err(|e| Error::msg(e.to_string()))?;
            func.call1(py, (key, PyNDArray(input.clone()), PyNDArray(stored.clone())))
                .map(|_| ())
                .map_err(|e| Error::msg(format!("{e}")))
        })
    })
}

/// Install `controller(cmd, body)` as this process's server command handler; it returns the
/// updater to install (a callable taking (key, input handle, stored handle)) or None.
#[pyfunction]
#[pyo3(signature = (controller=None))]
pub(crate) fn dist_set_controller(controller: Option<Py<PyAny>>) -> PyResult<()> {
    enter_ok("kvstore.dist_set_controller", || {
        let c: Option<Controller> = controller.map(|f| {
            Arc::new(move |cmd: i32, body: &[u8]| {
                Python::attach(|py| {
                    let r = f.call1(py, (cmd, PyBytes::new(py, body))).map_err(|e| Error::msg(format!("{e}")))?;
                    if r.is_none(py) { Ok(None) } else { Ok(Some(updater_of(r))) }
                })
            }) as Controller
        });
        dist::set_controller(c)
    })
}

/// (is_worker, rank, num_workers, num_servers) of this process; starts MPI.
#[pyfunction]
pub(crate) fn dist_role(py: Python<'_>) -> PyResult<(bool, usize, usize, usize)> {
    enter_detached(py, "kvstore.dist_role", || dist::role().map_err(PyMxError))
}

/// Serve as a dedicated server until every worker finished, then end MPI.
#[pyfunction]
pub(crate) fn dist_run_server(py: Python<'_>) -> PyResult<()> {
    enter_detached(py, "kvstore.dist_run_server", || dist::run_server().map_err(PyMxError))
}

/// End this worker's part of the MPI job (with `connect`, start MPI first if needed).
#[pyfunction]
#[pyo3(signature = (connect=false))]
pub(crate) fn dist_shutdown(py: Python<'_>, connect: bool) -> PyResult<()> {
    enter_detached(py, "kvstore.dist_shutdown", || dist::shutdown(connect).map_err(PyMxError)).map_err(or_interrupt)
}

/// The MPI library a distributed store would use (loads it; raises NotSupported without MPI).
#[pyfunction]
pub(crate) fn dist_mpi_library() -> PyResult<String> {
    crate::guard::enter("kvstore.dist_mpi_library", || dist::mpi_library().map_err(PyMxError))
}

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_interrupt_check();
    m.add_function(wrap_pyfunction!(dist_set_controller, m)?)?;
    m.add_function(wrap_pyfunction!(dist_role, m)?)?;
    m.add_function(wrap_pyfunction!(dist_run_server, m)?)?;
    m.add_function(wrap_pyfunction!(dist_shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(dist_mpi_library, m)?)?;
    Ok(())
}
