//! The ops running right now: every engine runs an op's closure through [`run_guarded`], which
//! catches its panics and keeps the process-wide counts behind [`running_ops`] and
//! [`mark_parallel`].

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{BoxError, EngineError};
use crate::op::{Device, FnProperty};
use crate::profiler::profiled;

static RUNNING_OPS: AtomicUsize = AtomicUsize::new(0);

/// How many op closures other than [`FnProperty::Light`] ones are running right now, in all
/// engines of the process. Callers that launch ops use it to give each op its thread budget
/// (mxrs-ndarray-core's `invoke` does, through [`others_running`]): when several ops already
/// run side by side, each is better off on one thread.
/// Light ops (microseconds of work) are not counted: a convolution that started beside one
/// ran its whole product on one thread, at twice its time.
#[inline]
pub fn running_ops() -> usize {
    RUNNING_OPS.load(Ordering::Relaxed)
}

/// Whether ops other than the calling thread's own (light ones aside, see [`running_ops`])
/// are running right now.
#[inline]
pub fn others_running() -> bool {
    let own = OP_STATE.with(|s| s.get() & COUNTED != 0);
    running_ops() > usize::from(own)
}

static PARALLEL_OPS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// 0: this thread runs no op; 1: it runs one; 2: that op has split work over a pool; with
    /// [`COUNTED`] set when the op counts in [`running_ops`].
    static OP_STATE: Cell<u8> = const { Cell::new(0) };
}

/// The bit of [`OP_STATE`] set while the thread's op counts in [`running_ops`].
const COUNTED: u8 = 4;

/// Tell the engine that the op running on this thread splits its work over a thread pool
/// (an op calls it when it goes parallel, through the hook its caller hands its kernels; it is
/// a no-op outside ops and after the first call). While such an op runs, idle workers and
/// waiters sleep at once instead of looking for work for a while, so that they leave every core
/// to the pool's threads.
#[inline]
pub fn mark_parallel() {
    OP_STATE.with(|s| {
        if s.get() & !COUNTED == 1 {
            s.set(s.get() + 1);
            PARALLEL_OPS.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// True while some running op has split its work over a thread pool ([`mark_parallel`]).
#[inline]
pub(crate) fn parallel_running() -> bool {
    parallel_ops_now() > 0
}

/// How many running ops have split their work over a thread pool.
#[inline]
pub(crate) fn parallel_ops_now() -> usize {
    PARALLEL_OPS.load(Ordering::Relaxed)
}

/// Run `op` (of property `prop`) with panics caught, turning both failure modes into an
/// [`EngineError`]; the profiler records it when on.
pub(crate) fn run_guarded(
    op: impl FnOnce() -> Result<(), BoxError>,
    name: &'static str,
    device: Device,
    prop: FnProperty,
) -> Result<(), EngineError> {
    struct Running(u8);
    impl Drop for Running {
        fn drop(&mut self) {
            let was = OP_STATE.with(|s| s.replace(self.0));
            if was & COUNTED != 0 {
                RUNNING_OPS.fetch_sub(1, Ordering::Relaxed);
            }
            if was & !COUNTED == 2 {
                PARALLEL_OPS.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    let counted = prop != FnProperty::Light;
    if counted {
        RUNNING_OPS.fetch_add(1, Ordering::Relaxed);
    }
    // An op run inline inside another op (a Light op pushed from a worker) restores the outer
    // op's state when it ends.
    let _running = Running(OP_STATE.with(|s| s.replace(if counted { 1 | COUNTED } else { 1 })));
    match profiled(name, device, || std::panic::catch_unwind(std::panic::AssertUnwindSafe(op))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(EngineError::new(name, e)),
        Err(payload) => Err(EngineError::from_panic(name, payload)),
    }
}
