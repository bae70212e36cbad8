//! Errors carried by engine variables.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// The boxed error an op returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error raised by an op, kept on the variables the op was to write and delivered at the
/// next synchronisation point. Cloning is cheap; clones share the original error.
#[derive(Clone)]
pub struct EngineError {
    op: Arc<str>,
    source: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl EngineError {
    /// Wrap the error returned by the op named `op`.
    pub fn new(op: &str, source: BoxError) -> Self {
        EngineError { op: op.into(), source: Arc::from(source) }
    }

    /// An error from a panic payload caught while running `op`.
    pub fn from_panic(op: &str, payload: Box<dyn Any + Send>) -> Self {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic payload".to_string()
        };
        Self::new(op, format!("internal error (panic) in operator {op}: {msg}").into())
    }

    /// The name of the op that failed.
    pub fn op(&self) -> &str {
        &self.op
    }

    /// The original error, for downcasting to the caller's error type.
    pub fn source_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// True when both handles refer to the same original error.
    pub fn same_as(&self, other: &EngineError) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineError").field("op", &self.op).field("error", &self.source.to_string()).finish()
    }
}

impl std::error::Error for EngineError {}
