//! DLPack (v0.8 `DLManagedTensor` in a `"dltensor"` capsule, v1.0 `DLManagedTensorVersioned`
//! in a `"dltensor_versioned"` one): arrays shared with NumPy, PyTorch and every other DLPack
//! library without a copy, both ways, as MXNet's `to_dlpack_for_read` / `to_dlpack_for_write`
//! / `from_dlpack` and the `__dlpack__` protocol do.
//!
//! Export waits for the engine first (for a read: the pending writes; for a write: the pending
//! reads and writes too), then hands out the address of the array's host buffer together with
//! a handle to its chunk, so the memory lives as long as the capsule or the consumer's tensor
//! (the DLPack deleter drops the handle). The chunk is pinned from then on
//! (`NDArray::share_host_ptr`): later mxrs writes go into that same buffer, so each side sees
//! the other's writes (`export`). Import (`import`) wraps the producer's memory in the new
//! array's storage and releases the producer's tensor when the last array using it is freed; it
//! copies only what mxrs cannot share (see there). `abi` has the C structures of `dlpack.h`.

use pyo3::prelude::*;

mod abi;
mod export;
mod import;

/// Add the functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(export::to_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(import::from_dlpack, m)?)?;
    Ok(())
}
