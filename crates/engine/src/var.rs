//! Engine variables: the unit of dependency tracking.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::EngineError;

static NEXT_VAR_ID: AtomicU64 = AtomicU64::new(1);

/// A versioned variable. Ops declare the variables they read and write; the engine orders ops
/// by them. Cloning gives another handle to the same variable. A variable is deleted when its
/// last handle is dropped, which happens only after every pending op holding it has finished,
/// because pending ops hold handles.
#[derive(Clone)]
pub struct Var(pub(crate) Arc<VarInner>);

pub(crate) struct VarInner {
    pub(crate) id: u64,
    pub(crate) version: AtomicU64,
    /// The error of the last failed op that wrote this variable; cleared by a successful write.
    pub(crate) error: Mutex<Option<EngineError>>,
    /// Scheduling state used by the threaded engines.
    pub(crate) sched: Mutex<crate::queue::VarQueue>,
}

impl Var {
    /// A new variable with version 0 and no pending ops.
    pub fn new() -> Var {
        Var(Arc::new(VarInner {
            id: NEXT_VAR_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            error: Mutex::new(None),
            sched: Mutex::new(Default::default()),
        }))
    }

    /// A process-unique id, for debugging and for detecting duplicates.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// How many writes have completed on this variable.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// The error a failed write left on this variable, if any.
    pub fn error(&self) -> Option<EngineError> {
        self.0.error.lock().clone()
    }

    /// True if both handles name the same variable.
    pub fn same(&self, other: &Var) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Record the outcome of a write: set or clear the error and bump the version.
    pub(crate) fn finish_write(&self, error: Option<&EngineError>) {
        *self.0.error.lock() = error.cloned();
        self.0.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Default for Var {
    fn default() -> Self {
        Var::new()
    }
}

impl fmt::Debug for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var#{}(v{})", self.id(), self.version())
    }
}
