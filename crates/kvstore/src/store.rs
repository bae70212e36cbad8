//! The store interface: keys, the updater type, the [`KVStore`] trait and helpers shared by the
//! implementations.

use std::fmt;
use std::sync::Arc;

use mxrs_ndarray_core::{Attrs, Error, NDArray, Result, invoke};

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

/// Queue `out = values[0] + values[1] + ...` (one fused engine op; `out` may be on another host
/// context than the values).
pub(crate) fn sum_into(values: &[NDArray], out: &NDArray) -> Result<()> {
    if values.len() == 1 {
        return out.copy_from(&values[0]);
    }
    let attrs = Attrs::from_pairs([("num_args", values.len().to_string())]);
    invoke("add_n", &attrs, values, Some(std::slice::from_ref(out)), None)?;
    Ok(())
}
