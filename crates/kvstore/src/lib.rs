//! # mxrs-kvstore
//!
//! MXNet's key-value store: arrays are stored under int or string keys; `push` sends values
//! (one per device, summed) into the store, `pull` copies the stored value out to arrays on any
//! contexts, and an optional *updater* decides how a pushed value changes the stored one (an
//! optimizer step), replacing the default assignment.
//!
//! [`KVStore`] is the interface; [`LocalStore`] implements MXNet's single-process `local` and
//! `device` stores. A distributed store is another implementation of the same trait.
//!
//! Push and pull are engine ops (NDArray ops and copies), so they are ordered against compute on
//! the same arrays without the caller waiting. The updater runs on the pushing thread, after the
//! merge is queued, as in MXNet's local store; the NDArray ops it issues are asynchronous too.
//!
//! ```
//! use mxrs_kvstore::{Key, KVStore, create};
//! use mxrs_ndarray_core::{Context, CpuStorage, NDArray};
//!
//! let kv = create("local").unwrap();
//! let ones = |c: u32| NDArray::from_cpu(CpuStorage::F32(vec![1.0; 6]), &[2, 3], Context::cpu(c)).unwrap();
//! kv.init(&[Key::Int(3)], &[ones(0)]).unwrap();
//! kv.push(&[Key::Int(3)], &[vec![ones(0), ones(1), ones(2), ones(3)]], 0).unwrap();
//! let out = NDArray::zeros(&[2, 3], mxrs_ndarray_core::DType::F32, Context::cpu(1)).unwrap();
//! kv.pull(&[Key::Int(3)], &[vec![out.clone()]], 0).unwrap();
//! assert_eq!(out.to_cpu_storage().unwrap().get_f64(0), 4.0);
//! ```

pub mod dist;
mod local;

use std::fmt;
use std::sync::Arc;

pub use local::LocalStore;
use mxrs_ndarray_core::{Error, NDArray, Result};

/// A key: MXNet accepts ints and strings (one store uses only one kind).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            Key::Str(s) => write!(f, "'{s}'"),
        }
    }
}

impl From<i64> for Key {
    fn from(k: i64) -> Key {
        Key::Int(k)
    }
}

impl From<&str> for Key {
    fn from(k: &str) -> Key {
        Key::Str(k.to_string())
    }
}

/// The updater: `updater(key, merged, stored)` must update `stored` in place (through NDArray
/// ops, which are asynchronous). An error aborts the push and is returned by it.
pub type Updater = Arc<dyn Fn(&Key, &NDArray, &NDArray) -> Result<()> + Send + Sync>;

/// MXNet's KVStore interface.
pub trait KVStore: Send + Sync + fmt::Debug {
    /// The store's type name, as given to [`create`] (lower-cased).
    fn type_name(&self) -> &str;
    /// This worker's rank (0 for local stores).
    fn rank(&self) -> usize {
        0
    }
    /// Number of workers (1 for local stores).
    fn num_workers(&self) -> usize {
        1
    }
    /// Initialise each key with a copy of its value. Fails, changing nothing, if any key exists.
    fn init(&self, keys: &[Key], values: &[NDArray]) -> Result<()>;
    /// Push a list of values per key: they are summed, then either stored (no updater) or given
    /// to the updater with the stored value. Fails, changing nothing, if a key is not
    /// initialised or a value's shape or dtype differs from the stored one.
    fn push(&self, keys: &[Key], values: &[Vec<NDArray>], priority: i32) -> Result<()>;
    /// Copy each key's stored value into every array of its output list (any contexts).
    fn pull(&self, keys: &[Key], outs: &[Vec<NDArray>], priority: i32) -> Result<()>;
    /// Push, then pull into `outs`.
    fn pushpull(&self, keys: &[Key], values: &[Vec<NDArray>], outs: &[Vec<NDArray>], priority: i32) -> Result<()> {
        self.push(keys, values, priority)?;
        self.pull(keys, outs, priority)
    }
    /// Install (or remove, with `None`) the updater.
    fn set_updater(&self, updater: Option<Updater>);
    /// True when an updater is installed.
    fn has_updater(&self) -> bool;
    /// Wait until every worker reaches the barrier (a no-op for local stores).
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    /// True for a store whose updates happen in this process (`save_optimizer_states` works).
    fn is_local(&self) -> bool {
        true
    }
    /// Send a command to every server (MXNet's `_send_command_to_servers`; distributed stores
    /// only).
    fn send_command_to_servers(&self, cmd: i32, _body: &[u8]) -> Result<()> {
        Err(Error::NotSupported(format!("kvstore type '{}' has no servers to send command {cmd} to", self.type_name())))
    }
}

/// Create a store by MXNet's type name: names containing `dist` are distributed stores over
/// MPI ([`dist`]; `_async` in the name makes it asynchronous), `nccl` is not available; any
/// other name is a local store, reducing on the devices when it contains `device`.
pub fn create(name: &str) -> Result<Box<dyn KVStore>> {
    let name = name.to_lowercase();
    if name.contains("dist") {
        return Ok(Box::new(dist::create(&name)?));
    }
    if name.contains("nccl") {
        return Err(Error::NotSupported(format!("kvstore type '{name}': compile with NCCL support to use nccl")));
    }
    Ok(Box::new(LocalStore::new(&name)))
}

/// Check that keys and value lists pair up.
pub(crate) fn check_lengths(what: &str, keys: usize, values: usize) -> Result<()> {
    if keys != values {
        return Err(Error::param(
            format!("kvstore.{what}"),
            format!("got {keys} key(s) but {values} value list(s); pass one value (or list of values) per key"),
        ));
    }
    Ok(())
}
