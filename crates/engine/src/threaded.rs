//! Threaded engines (placeholder: runs synchronously until the threaded scheduler lands).

use crate::{Engine, NaiveEngine};

/// Per-variable scheduling state of the threaded engines.
#[derive(Debug, Default)]
pub(crate) struct VarQueue {}

/// Create the threaded engine named `name`.
pub(crate) fn create(_name: &str) -> Box<dyn Engine> {
    Box::new(NaiveEngine::new())
}
