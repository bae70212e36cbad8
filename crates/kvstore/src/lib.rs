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
//! let ones = |c: u32| NDArray::from_cpu(CpuStorage::F32(vec![1.0; 6].into()), &[2, 3], Context::cpu(c)).unwrap();
//! kv.init(&[Key::Int(3)], &[ones(0)]).unwrap();
//! kv.push(&[Key::Int(3)], &[vec![ones(0), ones(1), ones(2), ones(3)]], 0).unwrap();
//! let out = NDArray::zeros(&[2, 3], mxrs_ndarray_core::DType::F32, Context::cpu(1)).unwrap();
//! kv.pull(&[Key::Int(3)], &[vec![out.clone()]], 0).unwrap();
//! assert_eq!(out.to_cpu_storage().unwrap().get_f64(0), 4.0);
//! ```

pub mod dist;
mod local;
mod store;

pub use local::LocalStore;
use mxrs_ndarray_core::{Error, Result};
pub use store::{KVStore, Key, Updater};

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
