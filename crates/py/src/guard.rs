//! The panic guard that every binding running core code synchronously goes through.

/// Run the synchronous part of an op call with panics turned into `MXNetError`, so that a bug
/// in shape inference never reaches Python as a `PanicException`.
pub(crate) fn guarded<T>(op: &str, f: impl FnOnce() -> mxrs_ndarray_core::Result<T>) -> mxrs_ndarray_core::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(mxrs_ndarray_core::Error::msg(format!("internal error in operator {op}: {msg}")))
    })
}
