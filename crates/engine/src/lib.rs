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
//! `x = sum(y); x.asnumpy()` in a loop on 10^5 float32 went from 32-42 µs to 18-21 µs. The
//! helper threads that share a split matrix product with its caller (`mxrs-team-N`, in
//! `mxrs-ndarray-core`) look for the next split for the same time ([`spin_time`]).
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

mod api;
mod error;
mod naive;
mod op;
mod pool;
pub mod profiler;
mod queue;
mod running;
mod threaded;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use api::Engine;
pub use error::{BoxError, EngineError};
pub use naive::NaiveEngine;
pub use op::{Device, DeviceKind, FnProperty, OpFn};
pub use pool::{
    LaneKind, WorkerInfo, WorkerInitHook, current_worker, set_worker_init_hook, spin_time, with_worker_state,
};
pub use queue::{Var, read_now, write_now};
pub use running::{mark_parallel, others_running, running_ops};
pub use threaded::{
    DEFAULT_CPU_PRIORITY_WORKERS, DEFAULT_CPU_WORKERS, DEFAULT_GPU_COPY_WORKERS, DEFAULT_GPU_WORKERS,
    DEFAULT_MAX_PENDING, ThreadedConfig, ThreadedEngine,
};

static ENGINE: OnceLock<Box<dyn Engine>> = OnceLock::new();

/// The engine names [`create_engine`] accepts; the empty name also does and picks the default,
/// `ThreadedEnginePerDevice`.
pub const ENGINE_NAMES: [&str; 3] = ["NaiveEngine", "ThreadedEngine", "ThreadedEnginePerDevice"];

/// Check an engine name as [`create_engine`] does, without building an engine: the error is the
/// message `create_engine` would return.
pub fn check_engine_name(name: &str) -> Result<(), String> {
    if name.is_empty() || ENGINE_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "Cannot find Engine {name}: MXNET_ENGINE_TYPE must be NaiveEngine, ThreadedEngine or ThreadedEnginePerDevice"
        ))
    }
}

/// The engine name `MXNET_ENGINE_TYPE` asks for, trimmed ("" when unset or empty).
fn env_engine_name() -> String {
    std::env::var("MXNET_ENGINE_TYPE").unwrap_or_default().trim().to_string()
}

/// Check `MXNET_ENGINE_TYPE` as [`engine_from_env`] reads it ([`check_engine_name`]), without
/// building an engine. A front end calls it to raise a proper error where [`engine()`] would
/// only warn and fall back to the default.
pub fn check_engine_env() -> Result<(), String> {
    check_engine_name(&env_engine_name())
}

/// Build the engine named by `MXNET_ENGINE_TYPE` (unset or empty: the default,
/// `ThreadedEnginePerDevice`).
pub fn engine_from_env() -> Result<Box<dyn Engine>, String> {
    create_engine(&env_engine_name())
}

/// Build an engine by name: `NaiveEngine`, `ThreadedEngine` or `ThreadedEnginePerDevice`
/// (also the default for an empty name).
pub fn create_engine(name: &str) -> Result<Box<dyn Engine>, String> {
    check_engine_name(name)?;
    Ok(match name {
        "NaiveEngine" => Box::new(NaiveEngine::new()),
        _ => threaded::create(name),
    })
}

/// The process-wide engine, created on first use from `MXNET_ENGINE_TYPE`. An unknown name
/// falls back to the default engine with a warning on stderr (the Python layer checks the
/// variable first with [`check_engine_env`] and raises a proper error).
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
