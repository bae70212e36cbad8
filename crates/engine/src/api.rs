//! The [`Engine`] trait: what every engine offers its callers.

use crate::error::{BoxError, EngineError};
use crate::op::{Device, FnProperty, OpFn};
use crate::queue::Var;

/// The dependency engine interface. Implementations: [`NaiveEngine`](crate::NaiveEngine) and the
/// threaded engines.
pub trait Engine: Send + Sync + std::fmt::Debug {
    /// Schedule `op`, which reads `reads` and writes `writes`. A variable may not appear twice
    /// or in both lists (duplicates are removed, and a variable in both counts as written).
    /// `priority` orders ready ops in priority lanes (higher first). Returns at once on
    /// asynchronous engines.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        op: OpFn,
        reads: &[Var],
        writes: &[Var],
        device: Device,
        prop: FnProperty,
        priority: i32,
        name: &'static str,
    );

    /// Run a [`FnProperty::Light`] op on the calling thread now, on borrowed data, when every
    /// variable it uses is free; `false` (the op not run) when one is busy or the engine does
    /// not run ops this way, and the caller then [`push`](Engine::push)es it. The op is ordered
    /// against concurrent pushes as a pushed one granted at once, skips on an error left on a
    /// variable it reads, and leaves its own error on the variables it writes, as a pushed op.
    /// Saves the boxed closure, and the copies it would own, for ops of a few microseconds.
    fn run_now(
        &self,
        op: &mut dyn FnMut() -> Result<(), BoxError>,
        reads: &[Var],
        writes: &[Var],
        device: Device,
        name: &'static str,
    ) -> bool {
        let _ = (op, reads, writes, device, name);
        false
    }

    /// Block until every op pushed so far that writes `var` has finished; then return the error
    /// left on `var`, if any (it stays on the variable).
    fn wait_for_var(&self, var: &Var) -> Result<(), EngineError>;

    /// [`Engine::wait_for_var`] without blocking: `Some` with its result when no write to `var`
    /// is running or queued (then the wait would return at once), `None` when it would block.
    /// Lets a caller skip releasing a lock such as Python's GIL for a wait that is already over.
    fn poll_var(&self, var: &Var) -> Option<Result<(), EngineError>>;

    /// Block until every op pushed so far has finished; then return the first error raised since
    /// the previous `wait_for_all`, once. An error already reported by `wait_for_var` counts as
    /// seen and is not reported again here (it stays on its variables).
    fn wait_for_all(&self) -> Result<(), EngineError>;

    /// The engine's name as `MXNET_ENGINE_TYPE` spells it.
    fn name(&self) -> &'static str;
}
