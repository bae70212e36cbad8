//! `KVStoreHandle`: the native half of `mxrs.kvstore.KVStore`.

use std::sync::Arc;

use mxrs_kvstore::{KVStore, Key};
use mxrs_ndarray_core::{Error, NDArray};
use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::error::{MXNetError, PyMxError};
use crate::guard::{enter, enter_detached, enter_ok};
use crate::kvstore_dist::or_interrupt;
use crate::ndarray::PyNDArray;

/// A key as Python passes it.
#[derive(FromPyObject)]
pub(crate) enum KeyArg {
    Int(i64),
    Str(String),
}

impl From<KeyArg> for Key {
    fn from(k: KeyArg) -> Key {
        match k {
            KeyArg::Int(i) => Key::Int(i),
            KeyArg::Str(s) => Key::Str(s),
        }
    }
}

fn keys_of(keys: Vec<KeyArg>) -> Vec<Key> {
    keys.into_iter().map(Key::from).collect()
}

fn lists_of(v: &[Vec<PyRef<'_, PyNDArray>>]) -> Vec<Vec<NDArray>> {
    v.iter().map(|l| l.iter().map(|h| h.0.clone()).collect()).collect()
}

/// A key-value store (`local`, `device`, or distributed: `dist_sync`, `dist_async`...).
#[pyclass(frozen, module = "mxrs._native", name = "KVStoreHandle")]
pub struct PyKVStore {
    store: Box<dyn KVStore>,
    /// The exception raised by the Python updater during the current push, re-raised as the
    /// cause of the push's `MXNetError`.
    updater_error: Arc<Mutex<Option<PyErr>>>,
}

impl std::fmt::Debug for PyKVStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KVStoreHandle({:?})", self.store)
    }
}

impl PyKVStore {
    /// Turn a store error into a Python exception, chaining the updater's own exception.
    fn raise(&self, py: Python<'_>, e: Error) -> PyErr {
        let cause = self.updater_error.lock().take();
        match cause {
            Some(c) => {
                let err = MXNetError::new_err(e.to_string());
                err.set_cause(py, Some(c));
                err
            }
            None => PyMxError(e).into(),
        }
    }
}

#[pymethods]
impl PyKVStore {
    /// Create a store by MXNet's type name.
    #[new]
    fn new(py: Python<'_>, name: &str) -> PyResult<Self> {
        // A distributed store starts MPI (and its communication thread): the GIL is released.
        enter_detached(py, "kvstore.create", || {
            Ok::<_, PyMxError>(PyKVStore {
                store: mxrs_kvstore::create(name)?,
                updater_error: Arc::new(Mutex::new(None)),
            })
        })
    }
    /// The type name.
    #[getter]
    fn type_name(&self) -> PyResult<String> {
        enter_ok("KVStore.type", || self.store.type_name().to_string())
    }
    /// This worker's rank.
    #[getter]
    fn rank(&self) -> PyResult<usize> {
        enter_ok("KVStore.rank", || self.store.rank())
    }
    /// Number of workers.
    #[getter]
    fn num_workers(&self) -> PyResult<usize> {
        enter_ok("KVStore.num_workers", || self.store.num_workers())
    }
    /// True for a store updated in this process.
    #[getter]
    fn is_local(&self) -> PyResult<bool> {
        enter_ok("KVStore.is_local", || self.store.is_local())
    }
    /// Initialise keys with copies of the values.
    fn init(&self, py: Python<'_>, keys: Vec<KeyArg>, values: Vec<PyRef<'_, PyNDArray>>) -> PyResult<()> {
        let vals: Vec<NDArray> = values.iter().map(|h| h.0.clone()).collect();
        let keys = keys_of(keys);
        // A distributed init waits for every worker's: the GIL is released.
        enter_detached(py, "KVStore.init", || self.store.init(&keys, &vals)).map_err(or_interrupt)
    }
    /// Push one list of values per key (summed; then stored or given to the updater).
    #[pyo3(signature = (keys, values, priority=0))]
    fn push(
        &self,
        py: Python<'_>,
        keys: Vec<KeyArg>,
        values: Vec<Vec<PyRef<'_, PyNDArray>>>,
        priority: i32,
    ) -> PyResult<()> {
        let (keys, values) = (keys_of(keys), lists_of(&values));
        if !self.store.is_local() {
            // A distributed push waits for the values and may wait for the comm thread, whose
            // server shard runs Python updaters: the GIL is released.
            return enter_detached(py, "KVStore.push", || self.store.push(&keys, &values, priority))
                .map_err(or_interrupt);
        }
        // The GIL stays held: the updater is Python code run on this thread.
        enter("KVStore.push", || self.store.push(&keys, &values, priority).map_err(|e| self.raise(py, e)))
    }
    /// Copy each key's stored value into its list of outputs.
    #[pyo3(signature = (keys, outs, priority=0))]
    fn pull(
        &self,
        py: Python<'_>,
        keys: Vec<KeyArg>,
        outs: Vec<Vec<PyRef<'_, PyNDArray>>>,
        priority: i32,
    ) -> PyResult<()> {
        let (keys, outs) = (keys_of(keys), lists_of(&outs));
        if !self.store.is_local() {
            return enter_detached(py, "KVStore.pull", || self.store.pull(&keys, &outs, priority))
                .map_err(or_interrupt);
        }
        enter("KVStore.pull", || self.store.pull(&keys, &outs, priority))
    }
    /// Push, then pull.
    #[pyo3(signature = (keys, values, outs, priority=0))]
    fn pushpull(
        &self,
        py: Python<'_>,
        keys: Vec<KeyArg>,
        values: Vec<Vec<PyRef<'_, PyNDArray>>>,
        outs: Vec<Vec<PyRef<'_, PyNDArray>>>,
        priority: i32,
    ) -> PyResult<()> {
        let (keys, values, outs) = (keys_of(keys), lists_of(&values), lists_of(&outs));
        if !self.store.is_local() {
            return enter_detached(py, "KVStore.pushpull", || self.store.pushpull(&keys, &values, &outs, priority))
                .map_err(or_interrupt);
        }
        enter("KVStore.pushpull", || {
            self.store.pushpull(&keys, &values, &outs, priority).map_err(|e| self.raise(py, e))
        })
    }
    /// Send command `cmd` with `body` to every server and wait until each ran it (dist stores).
    fn send_command(&self, py: Python<'_>, cmd: i32, body: Vec<u8>) -> PyResult<()> {
        enter_detached(py, "KVStore._send_command_to_servers", || self.store.send_command_to_servers(cmd, &body))
            .map_err(or_interrupt)
    }
    /// Install `fn(key, input_handle, stored_handle)` as the updater (None removes it).
    #[pyo3(signature = (func=None))]
    fn set_updater(&self, func: Option<Py<PyAny>>) -> PyResult<()> {
        enter_ok("KVStore._set_updater", || self.install_updater(func))
    }
    /// True when an updater is installed.
    fn has_updater(&self) -> PyResult<bool> {
        enter_ok("KVStore.has_updater", || self.store.has_updater())
    }
    /// Wait for all workers.
    fn barrier(&self, py: Python<'_>) -> PyResult<()> {
        enter_detached(py, "KVStore.barrier", || self.store.barrier()).map_err(or_interrupt)
    }
}

impl PyKVStore {
    /// Install `func` (or remove the updater for None); its exception is kept for [`Self::raise`].
    fn install_updater(&self, func: Option<Py<PyAny>>) {
        let Some(func) = func else {
            self.store.set_updater(None);
            return;
        };
        let slot = self.updater_error.clone();
        self.store.set_updater(Some(Arc::new(move |k: &Key, input: &NDArray, stored: &NDArray| {
            Python::attach(|py| {
                let key = match k {
                    Key::Int(i) => i.into_pyobject(py).map(|b| b.into_any()),
                    Key::Str(s) => s.into_pyobject(py).map(|b| b.into_any()),
                }
                .map_err(|e| Error::msg(e.to_string()))?;
                let r = func.call1(py, (key, PyNDArray(input.clone()), PyNDArray(stored.clone())));
                match r {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let msg = format!("the updater raised {}", e);
                        *slot.lock() = Some(e);
                        Err(Error::msg(msg))
                    }
                }
            })
        })));
    }
}
