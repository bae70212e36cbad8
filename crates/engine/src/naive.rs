//! The synchronous engine: each op runs on the pushing thread before `push` returns.

use parking_lot::Mutex;

use crate::api::Engine;
use crate::error::EngineError;
use crate::op::{Device, FnProperty, OpFn};
use crate::queue::{Var, inherited_error, normalize_vars, read_writes};
use crate::running::run_guarded;

/// Runs every op at once on the calling thread (`MXNET_ENGINE_TYPE=NaiveEngine`). Useful for
/// debugging: an op's error is also kept on its outputs exactly as the threaded engines do.
#[derive(Debug, Default)]
pub struct NaiveEngine {
    pending_errors: Mutex<Vec<EngineError>>,
}

impl NaiveEngine {
    /// A new naive engine.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Engine for NaiveEngine {
    fn push(
        &self,
        op: OpFn,
        reads: &[Var],
        writes: &[Var],
        device: Device,
        prop: FnProperty,
        _priority: i32,
        name: &'static str,
    ) {
        let rw = read_writes(reads, writes);
        let (reads, writes) = normalize_vars(reads, writes);
        let inherited =
            if prop == FnProperty::Wait { None } else { inherited_error(&reads).or_else(|| inherited_error(&rw)) };
        let (err, fresh) = match inherited {
            Some(e) => (Some(e), false),
            None => (run_guarded(op, name, device, prop).err(), true),
        };
        for w in &writes {
            w.finish_write(err.as_ref());
        }
        // Only new failures are recorded for wait_for_all (an inherited one was recorded where
        // it arose).
        if let Some(e) = err.filter(|_| fresh) {
            let mut pending = self.pending_errors.lock();
            if !pending.iter().any(|p| p.same_as(&e)) {
                pending.push(e);
            }
        }
    }

    fn wait_for_var(&self, var: &Var) -> Result<(), EngineError> {
        match var.error() {
            Some(e) => {
                // The error has now been seen: a later wait_for_all does not report it again.
                self.pending_errors.lock().retain(|p| !p.same_as(&e));
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn poll_var(&self, var: &Var) -> Option<Result<(), EngineError>> {
        // Every op has run by the time `push` returns.
        Some(self.wait_for_var(var))
    }

    fn wait_for_all(&self) -> Result<(), EngineError> {
        let mut pending = self.pending_errors.lock();
        let first = pending.first().cloned();
        pending.clear();
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn name(&self) -> &'static str {
        "NaiveEngine"
    }
}
