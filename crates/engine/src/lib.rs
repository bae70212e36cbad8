//! # mxrs-engine
//!
//! MXNet's dependency engine, knowing nothing of tensors. Callers create [`Var`]s, one per
//! buffer, and [`Engine::push`] closures together with the variables each reads and writes. An
//! op runs once every earlier write to what it reads, and every earlier read or write of what it
//! writes, has finished; ops with no conflict may run concurrently.
//!
//! Errors: an op that fails (returns `Err` or panics) leaves its error on every variable it
//! writes. A later op that reads such a variable is skipped and passes the error on to its own
//! outputs; a successful write clears it. [`Engine::wait_for_var`] reports the error on the
//! variable each time it is read, [`Engine::wait_for_all`] reports the errors raised since the
//! last `wait_for_all` once. A panic never leaves the engine.
//!
//! ## Engines (`MXNET_ENGINE_TYPE`)
//!
//! * `ThreadedEnginePerDevice` (the default, also for an unset or empty variable): all CPU
//!   devices share one FIFO pool of workers; [`FnProperty::CpuPrioritized`] ops go to a CPU
//!   priority lane (higher `priority` first, push order among equals); each GPU gets, on its
//!   first op, its own FIFO compute workers and a copy lane (`CopyToDevice`/`CopyFromDevice`,
//!   by priority).
//! * `ThreadedEngine`: one FIFO pool for every device and kind of op; priorities are ignored.
//! * `NaiveEngine`: every op runs on the pushing thread before `push` returns.
//!
//! `Wait` ops (and the internal op of `wait_for_var`) never occupy a worker: they run on
//! whichever thread makes them ready, so they must be cheap and must not block.
//! Worker threads are named (`mxrs-cpu-worker-N`, `mxrs-cpu-priority-N`, `mxrs-gpuD-worker-N`,
//! `mxrs-gpuD-copy-N`, `mxrs-worker-N`) and start lazily, lane by lane. A device backend gets
//! one state slot per worker thread ([`set_worker_init_hook`], [`with_worker_state`],
//! [`current_worker`]): that is where a CUDA backend will keep each worker's stream.
//!
//! ## Worker counts and oversubscription
//!
//! | variable | default | MXNet's |
//! |---|---|---|
//! | `MXNET_CPU_WORKER_NTHREADS` (also the size of `ThreadedEngine`'s pool) | 2 | 1 |
//! | `MXNET_CPU_PRIORITY_NTHREADS` | 2 | 4 |
//! | `MXNET_GPU_WORKER_NTHREADS` | 2 | 2 |
//! | `MXNET_GPU_COPY_NTHREADS` | 2 | 2 |
//! | `MXRS_ENGINE_MAX_PENDING` (0: unbounded) | 65,536 | none |
//! | `MXRS_ENGINE_SPIN_US` (0: sleep at once) | 30 | none |
//!
//! An idle worker, and a thread waiting for a variable, looks for news for
//! `MXRS_ENGINE_SPIN_US` microseconds (yielding its core) before it sleeps: waking a sleeping
//! thread costs about 8 µs on a 2-core VM, more than many ops take. Neither looks while an op
//! has split its work over a thread pool ([`mark_parallel`]), so that pool gets every core.
//! `x = sum(y); x.asnumpy()` in a loop on 10^5 float32 went from 32-42 µs to 18-21 µs.
//!
//! Kernels parallelise *inside* an op on rayon's global pool, which is sized to the cores
//! (`RAYON_NUM_THREADS`). The engine's workers are for overlapping independent ops, not for
//! data parallelism, so the policy is: few engine workers, all kernel parallelism in rayon.
//! An engine worker that enters a rayon parallel section only waits while rayon's threads
//! work, so engine workers never multiply the kernel threads: at most `cores` threads compute
//! in parallel sections, plus at most one per engine worker running a small serial op. Two CPU
//! workers (rather than MXNet's one) let a small op or a copy proceed while a large one is
//! running, and let two ops that depend on each other's progress (a producer and a consumer)
//! both run; more would only add threads waiting on the same rayon pool. On a 2-core machine
//! that is at most 2 kernel threads + 2 workers, and the workers are mostly blocked.
//!
//! A worker that finishes an op and thereby makes an op of its own FIFO lane ready runs that op
//! next itself when nothing older waits in the lane, so a dependent chain stays on one worker
//! (and in its core's caches) instead of waking the other worker for every link.
//!
//! ## Back-pressure, shutdown
//!
//! `push` blocks while `max_pending` ops are pending, except on a worker thread (an op pushing
//! more ops must never wait for itself). Dropping a [`ThreadedEngine`] never blocks: pushed ops
//! still run and the workers exit after the last one. The process-wide [`engine()`] is never
//! dropped and nothing waits for it at exit. See `README.md` for the protocol and its
//! invariants.
//!
//! ```
//! use mxrs_engine::{Device, Engine, FnProperty, Var, engine};
//! use std::sync::{Arc, atomic::{AtomicI64, Ordering}};
//!
//! let eng = engine();
//! let v = Var::new();
//! let cell = Arc::new(AtomicI64::new(1));
//! let c = cell.clone();
//! eng.push(Box::new(move || { c.fetch_add(41, Ordering::SeqCst); Ok(()) }),
//!          &[], &[v.clone()], Device::cpu(0), FnProperty::Normal, 0, "add");
//! eng.wait_for_var(&v).unwrap();
//! assert_eq!(cell.load(Ordering::SeqCst), 42);
//! ```

mod error;
mod naive;
mod pool;
mod queue;
pub(crate) mod threaded;
mod var;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use error::{BoxError, EngineError};
pub use naive::NaiveEngine;
pub use pool::{LaneKind, WorkerInfo, WorkerInitHook, current_worker, set_worker_init_hook, with_worker_state};
pub use threaded::{
    DEFAULT_CPU_PRIORITY_WORKERS, DEFAULT_CPU_WORKERS, DEFAULT_GPU_COPY_WORKERS, DEFAULT_GPU_WORKERS,
    DEFAULT_MAX_PENDING, ThreadedConfig, ThreadedEngine,
};
pub use var::Var;

/// The closure an op runs.
pub type OpFn = Box<dyn FnOnce() -> Result<(), BoxError> + Send + 'static>;

/// The kind of device an op runs on; engines keep separate worker lanes per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Host CPU.
    Cpu,
    /// A CUDA GPU.
    Gpu,
}

/// The device an op is scheduled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// Kind of device.
    pub kind: DeviceKind,
    /// Device ordinal.
    pub id: u32,
}

impl Device {
    /// The CPU device `id`.
    pub fn cpu(id: u32) -> Device {
        Device { kind: DeviceKind::Cpu, id }
    }
    /// The GPU device `id`.
    pub fn gpu(id: u32) -> Device {
        Device { kind: DeviceKind::Gpu, id }
    }
}

/// What kind of work an op is, which picks the worker lane (MXNet's `FnProperty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FnProperty {
    /// Ordinary compute.
    Normal,
    /// A copy from host to device.
    CopyToDevice,
    /// A copy from device to host.
    CopyFromDevice,
    /// CPU work that should jump the queue (KVStore communication, for example).
    CpuPrioritized,
    /// An op that only waits or signals; cheap and never skipped.
    Wait,
    /// A small CPU op (microseconds of work). When it is ready at push time it runs at once on
    /// the pushing thread, which saves a hand-off to a worker; otherwise it is queued like
    /// `Normal`. Ordering and error handling are unchanged.
    Light,
}

/// The dependency engine interface. Implementations: [`NaiveEngine`] and the threaded engines.
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

/// Remove duplicates and variables also in `writes` from `reads`; dedupe `writes`.
pub(crate) fn normalize_vars(reads: &[Var], writes: &[Var]) -> (Vec<Var>, Vec<Var>) {
    let mut w: Vec<Var> = Vec::with_capacity(writes.len());
    for v in writes {
        if !w.iter().any(|x| x.same(v)) {
            w.push(v.clone());
        }
    }
    let mut r: Vec<Var> = Vec::with_capacity(reads.len());
    for v in reads {
        if !w.iter().any(|x| x.same(v)) && !r.iter().any(|x| x.same(v)) {
            r.push(v.clone());
        }
    }
    (r, w)
}

/// The variables listed both as read and as written (in-place ops).
pub(crate) fn read_writes(reads: &[Var], writes: &[Var]) -> Vec<Var> {
    let mut rw: Vec<Var> = Vec::new();
    for v in reads {
        if writes.iter().any(|w| w.same(v)) && !rw.iter().any(|x| x.same(v)) {
            rw.push(v.clone());
        }
    }
    rw
}

static RUNNING_OPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many op closures are running right now, in all engines of the process. Callers that
/// launch ops use it to give each op its thread budget (mxrs-ndarray-core's `invoke` does): when
/// several ops already run side by side, each is better off on one thread (see the crate
/// README's thread policy).
pub fn running_ops() -> usize {
    RUNNING_OPS.load(std::sync::atomic::Ordering::Relaxed)
}

static PARALLEL_OPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// 0: this thread runs no op; 1: it runs one; 2: that op has split work over a pool.
    static OP_STATE: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Tell the engine that the op running on this thread splits its work over a thread pool
/// (an op calls it when it goes parallel, through the hook its caller hands its kernels; it is a no-op outside ops and after the first
/// call). While such an op runs, idle workers and waiters sleep at once instead of looking
/// for work for a while, so that they leave every core to the pool's threads.
pub fn mark_parallel() {
    OP_STATE.with(|s| {
        if s.get() == 1 {
            s.set(2);
            PARALLEL_OPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
}

/// True while some running op has split its work over a thread pool ([`mark_parallel`]).
pub(crate) fn parallel_running() -> bool {
    parallel_ops_now() > 0
}

/// How many running ops have split their work over a thread pool.
pub(crate) fn parallel_ops_now() -> usize {
    PARALLEL_OPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Run `op` with panics caught, turning both failure modes into an [`EngineError`].
pub(crate) fn run_guarded(op: OpFn, name: &str) -> Result<(), EngineError> {
    struct Running(u8);
    impl Drop for Running {
        fn drop(&mut self) {
            RUNNING_OPS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let was = OP_STATE.with(|s| s.replace(self.0));
            if was == 2 {
                PARALLEL_OPS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    RUNNING_OPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // An op run inline inside another op (a Light op pushed from a worker) restores the outer
    // op's state when it ends.
    let _running = Running(OP_STATE.with(|s| s.replace(1)));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(op)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(EngineError::new(name, e)),
        Err(payload) => Err(EngineError::from_panic(name, payload)),
    }
}

/// The first error found on `reads` (inherited errors make the op skip).
pub(crate) fn inherited_error(reads: &[Var]) -> Option<EngineError> {
    reads.iter().find_map(|v| v.error())
}

static ENGINE: OnceLock<Box<dyn Engine>> = OnceLock::new();

/// Build the engine named by `MXNET_ENGINE_TYPE` (unset or empty: the default,
/// `ThreadedEnginePerDevice`).
pub fn engine_from_env() -> Result<Box<dyn Engine>, String> {
    let name = std::env::var("MXNET_ENGINE_TYPE").unwrap_or_default();
    create_engine(name.trim())
}

/// Build an engine by name: `NaiveEngine`, `ThreadedEngine` or `ThreadedEnginePerDevice`
/// (also the default for an empty name).
pub fn create_engine(name: &str) -> Result<Box<dyn Engine>, String> {
    match name {
        "NaiveEngine" => Ok(Box::new(NaiveEngine::new())),
        "" | "ThreadedEnginePerDevice" | "ThreadedEngine" => Ok(threaded::create(name)),
        other => Err(format!(
            "Cannot find Engine {other}: MXNET_ENGINE_TYPE must be NaiveEngine, ThreadedEngine or ThreadedEnginePerDevice"
        )),
    }
}

/// The process-wide engine, created on first use from `MXNET_ENGINE_TYPE`. An unknown name
/// falls back to the default engine with a warning on stderr (the Python layer checks the
/// variable first and raises a proper error).
pub fn engine() -> &'static dyn Engine {
    ENGINE
        .get_or_init(|| {
            engine_from_env().unwrap_or_else(|msg| {
                eprintln!("mxrs: {msg}; using ThreadedEnginePerDevice");
                threaded::create("")
            })
        })
        .as_ref()
}
