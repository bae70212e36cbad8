//! The threaded engines: `ThreadedEnginePerDevice` (the default) and `ThreadedEngine` (one
//! pooled set of workers). Both use the per-variable protocol of [`crate::queue`]; they differ
//! only in how ready ops are mapped to worker lanes ([`crate::pool`]).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::api::Engine;
use crate::error::{BoxError, EngineError};
use crate::op::{Device, DeviceKind, FnProperty, OpFn};
use crate::pool::{Lane, LaneKind, LaneRunner, in_worker, look_briefly, worker_engine};
use crate::queue::{self, Opr, OprBlock, Var, inherited_error, normalize_vars, read_writes};
use crate::running::run_guarded;

/// Default engine CPU workers (`MXNET_CPU_WORKER_NTHREADS`); see the crate docs for why 2.
pub const DEFAULT_CPU_WORKERS: usize = 2;
/// Default CPU priority workers (`MXNET_CPU_PRIORITY_NTHREADS`; MXNet uses 4).
pub const DEFAULT_CPU_PRIORITY_WORKERS: usize = 2;
/// Default compute workers per GPU (`MXNET_GPU_WORKER_NTHREADS`, as in MXNet).
pub const DEFAULT_GPU_WORKERS: usize = 2;
/// Default copy workers per GPU (`MXNET_GPU_COPY_NTHREADS`, as in MXNet).
pub const DEFAULT_GPU_COPY_WORKERS: usize = 2;
/// Default bound on pending ops before `push` blocks (`MXRS_ENGINE_MAX_PENDING`).
pub const DEFAULT_MAX_PENDING: usize = 65_536;

/// How a threaded engine is laid out. Build one with [`ThreadedConfig::per_device`],
/// [`ThreadedConfig::pooled`] or [`ThreadedConfig::from_env`], then adjust fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadedConfig {
    /// `true`: `ThreadedEnginePerDevice` lanes; `false`: `ThreadedEngine`, one pool of
    /// `cpu_workers` threads for every device and kind of op (priorities are ignored).
    pub per_device: bool,
    /// Workers of the FIFO pool shared by all CPU devices (or of the single pool).
    pub cpu_workers: usize,
    /// Workers of the CPU priority lane.
    pub cpu_priority_workers: usize,
    /// Compute workers per GPU, started on the GPU's first op.
    pub gpu_workers: usize,
    /// Copy workers per GPU, started on the GPU's first op.
    pub gpu_copy_workers: usize,
    /// Most ops pending at once before `push` blocks the pushing thread (never a worker);
    /// 0: no bound.
    pub max_pending: usize,
}

impl Default for ThreadedConfig {
    fn default() -> Self {
        ThreadedConfig::per_device()
    }
}

impl ThreadedConfig {
    /// `ThreadedEnginePerDevice` with the built-in defaults.
    pub fn per_device() -> Self {
        ThreadedConfig {
            per_device: true,
            cpu_workers: DEFAULT_CPU_WORKERS,
            cpu_priority_workers: DEFAULT_CPU_PRIORITY_WORKERS,
            gpu_workers: DEFAULT_GPU_WORKERS,
            gpu_copy_workers: DEFAULT_GPU_COPY_WORKERS,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }

    /// `ThreadedEngine` (one pool) with the built-in defaults.
    pub fn pooled() -> Self {
        ThreadedConfig { per_device: false, ..ThreadedConfig::per_device() }
    }

    /// The defaults overridden by `MXNET_CPU_WORKER_NTHREADS`, `MXNET_CPU_PRIORITY_NTHREADS`,
    /// `MXNET_GPU_WORKER_NTHREADS`, `MXNET_GPU_COPY_NTHREADS` and `MXRS_ENGINE_MAX_PENDING`.
    pub fn from_env(per_device: bool) -> Self {
        Self::from_lookup(per_device, |k| std::env::var(k).ok())
    }

    /// Like [`ThreadedConfig::from_env`], reading variables through `lookup`. Unparsable
    /// values are ignored; worker counts are at least 1.
    pub fn from_lookup(per_device: bool, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get =
            |key: &str, default: usize| lookup(key).and_then(|s| s.trim().parse::<usize>().ok()).unwrap_or(default);
        let base = if per_device { Self::per_device() } else { Self::pooled() };
        ThreadedConfig {
            per_device,
            cpu_workers: get("MXNET_CPU_WORKER_NTHREADS", base.cpu_workers).max(1),
            cpu_priority_workers: get("MXNET_CPU_PRIORITY_NTHREADS", base.cpu_priority_workers).max(1),
            gpu_workers: get("MXNET_GPU_WORKER_NTHREADS", base.gpu_workers).max(1),
            gpu_copy_workers: get("MXNET_GPU_COPY_NTHREADS", base.gpu_copy_workers).max(1),
            max_pending: get("MXRS_ENGINE_MAX_PENDING", base.max_pending),
        }
    }
}

/// Build the threaded engine named `name` from the environment (`"ThreadedEngine"`: pooled;
/// anything else: per device).
pub(crate) fn create(name: &str) -> Box<dyn Engine> {
    Box::new(ThreadedEngine::new(ThreadedConfig::from_env(name != "ThreadedEngine")))
}

/// Most errors kept for `wait_for_all` (further ones are still kept on their variables).
const MAX_RECORDED_ERRORS: usize = 256;

/// Counters guarded by one mutex: pending ops, the errors not yet seen since the last
/// `wait_for_all` (in the order they were raised).
#[derive(Default)]
struct State {
    pending: usize,
    errors: Vec<EngineError>,
    shutdown: bool,
}

struct GpuLanes {
    normal: Arc<Lane>,
    copy: Arc<Lane>,
}

/// The part of a threaded engine that its worker threads share.
pub(crate) struct Shared {
    config: ThreadedConfig,
    state: Mutex<State>,
    /// Signalled when `pending` reaches 0.
    all_done: Condvar,
    /// Signalled when `pending` drops below `max_pending`.
    space: Condvar,
    next_seq: AtomicU64,
    /// CPU FIFO pool (or the single pool of `ThreadedEngine`), started on first use.
    cpu: OnceLock<Arc<Lane>>,
    cpu_priority: OnceLock<Arc<Lane>>,
    gpus: RwLock<HashMap<u32, GpuLanes>>,
}

impl Shared {
    /// A process-unique identity (the address of the shared block).
    pub(crate) fn id(&self) -> usize {
        self as *const Shared as usize
    }

    /// Count a new pending op, first blocking while `max_pending` ops are pending, unless
    /// `throttle` is false or the caller is a worker thread (blocking a worker could deadlock).
    fn admit(&self, throttle: bool) {
        let mut st = self.state.lock();
        if throttle && self.config.max_pending > 0 && !in_worker() {
            while st.pending >= self.config.max_pending {
                self.space.wait(&mut st);
            }
        }
        st.pending += 1;
    }

    /// Record an op's error for `wait_for_all` (once per original error).
    fn record_error(&self, e: &EngineError) {
        let mut st = self.state.lock();
        if st.errors.len() < MAX_RECORDED_ERRORS && !st.errors.iter().any(|x| x.same_as(e)) {
            st.errors.push(e.clone());
        }
    }

    /// Count an op as finished.
    fn finish(&self) {
        let close = {
            let mut st = self.state.lock();
            st.pending -= 1;
            if self.config.max_pending > 0 && st.pending < self.config.max_pending {
                self.space.notify_one();
            }
            if st.pending == 0 {
                self.all_done.notify_all();
            }
            st.pending == 0 && st.shutdown
        };
        if close {
            self.close_lanes();
        }
    }

    /// Push a normalised op: count it, register it on its variables, dispatch it if ready.
    #[allow(clippy::too_many_arguments)]
    fn push(
        this: &Arc<Self>,
        func: OpFn,
        reads: Vec<Var>,
        writes: Vec<Var>,
        read_writes: Vec<Var>,
        device: Device,
        prop: FnProperty,
        priority: i32,
        name: &'static str,
        throttle: bool,
    ) {
        this.admit(throttle);
        let seq = this.next_seq.fetch_add(1, Ordering::Relaxed);
        let op = OprBlock::with_read_writes(func, reads, writes, read_writes, device, prop, priority, name, seq);
        if queue::append(&op) {
            if op.prop == FnProperty::Light {
                // Ready and small: running it here is cheaper than waking a worker.
                Shared::run_op(this, op, None);
                return;
            }
            let mut work = VecDeque::new();
            work.push_back(op);
            Shared::drive(this, &mut work);
        }
    }

    /// Run a light op here and now when all its variables are free, as `push` would run it
    /// once appended and granted, but without an op block, the queues or the pending count
    /// (it has finished when this returns): a tiny op pushed from Python costs a third less.
    /// Gives the op back, untouched, when a variable is busy.
    fn try_run_now<F: FnOnce() -> Result<(), BoxError>>(
        this: &Arc<Self>,
        func: F,
        reads: &[Var],
        writes: &[Var],
        device: Device,
        name: &'static str,
    ) -> Result<(), F> {
        let Some(claim) = queue::claim(reads, writes) else { return Err(func) };
        let error = match claim.inherited_error(reads) {
            Some(e) => {
                drop(func);
                Some(e)
            }
            None => {
                let fresh = run_guarded(func, name, device, FnProperty::Light).err();
                if let Some(e) = &fresh {
                    this.record_error(e);
                }
                fresh
            }
        };
        let mut work = VecDeque::new();
        claim.release(error.as_ref(), &mut work);
        Shared::drive(this, &mut work);
        Ok(())
    }

    /// Dispatch ready ops: to their lane, or, for `Wait` ops (and lanes that could start no
    /// thread), run them here; ops those make ready are handled in the same loop (no
    /// recursion).
    fn drive(this: &Arc<Self>, work: &mut VecDeque<Opr>) {
        while let Some(op) = work.pop_front() {
            if op.prop != FnProperty::Wait
                && let Some(lane) = this.lane_for(&op)
            {
                lane.push(op);
                continue;
            }
            this.execute(op, work);
        }
    }

    /// Run a dispatched op on the current thread, then dispatch what it makes runnable. On a
    /// worker (`home`: its lane), an op made ready for the worker's own lane runs next on the
    /// same thread when nothing older waits in that lane: a dependent chain then runs on one
    /// worker without a queue round trip, and without waking a second worker for each link
    /// (about 8 µs per wake-up on a 2-core VM).
    pub(crate) fn run_op(this: &Arc<Self>, op: Opr, home: Option<&Arc<Lane>>) {
        let mut work = VecDeque::new();
        let mut next = Some(op);
        while let Some(op) = next.take() {
            this.execute(op, &mut work);
            if let Some(home) = home
                && home.is_fifo_and_empty()
                && let Some(i) = work
                    .iter()
                    .position(|o| o.prop != FnProperty::Wait && this.lane_for(o).is_some_and(|l| Arc::ptr_eq(&l, home)))
            {
                next = work.remove(i);
            }
            Shared::drive(this, &mut work);
        }
    }

    /// Run (or skip) `op`, release its variables and count it finished. Newly ready ops go to
    /// `work`. Never unwinds.
    fn execute(&self, op: Opr, work: &mut VecDeque<Opr>) {
        let func = op.take_func();
        let inherited = if op.prop == FnProperty::Wait {
            None
        } else {
            inherited_error(&op.reads).or_else(|| inherited_error(&op.read_writes))
        };
        let error = match inherited {
            Some(e) => {
                drop(func);
                Some(e)
            }
            None => {
                let fresh = func.and_then(|f| run_guarded(f, op.name, op.device, op.prop).err());
                // Only new failures are recorded for wait_for_all (an inherited error was
                // recorded where it arose). Record before releasing, so that a waiter woken
                // by the release finds it recorded.
                if let Some(e) = &fresh {
                    self.record_error(e);
                }
                fresh
            }
        };
        queue::release(&op, error.as_ref(), work);
        drop(op); // frees the variable handles before the op counts as finished
        self.finish();
    }

    /// The lane `op` runs on, starting it if needed; `None` if that lane has no worker.
    fn lane_for(self: &Arc<Self>, op: &OprBlock) -> Option<Arc<Lane>> {
        let c = &self.config;
        let lane = if !c.per_device {
            self.cpu.get_or_init(|| Lane::start(self, LaneKind::Pooled, Device::cpu(0), c.cpu_workers, false)).clone()
        } else {
            match (op.device.kind, op.prop) {
                (_, FnProperty::CpuPrioritized) => self
                    .cpu_priority
                    .get_or_init(|| {
                        let n = c.cpu_priority_workers;
                        Lane::start(self, LaneKind::CpuPriority, Device::cpu(0), n, true)
                    })
                    .clone(),
                (DeviceKind::Cpu, _) => self
                    .cpu
                    .get_or_init(|| Lane::start(self, LaneKind::CpuNormal, Device::cpu(0), c.cpu_workers, false))
                    .clone(),
                (DeviceKind::Gpu, prop) => {
                    let copy = matches!(prop, FnProperty::CopyToDevice | FnProperty::CopyFromDevice);
                    self.gpu_lane(op.device.id, copy)
                }
            }
        };
        (lane.workers() > 0).then_some(lane)
    }

    /// GPU `id`'s compute or copy lane, both started on the GPU's first op.
    fn gpu_lane(self: &Arc<Self>, id: u32, copy: bool) -> Arc<Lane> {
        let pick = |g: &GpuLanes| if copy { g.copy.clone() } else { g.normal.clone() };
        if let Some(g) = self.gpus.read().get(&id) {
            return pick(g);
        }
        let mut gpus = self.gpus.write();
        let g = gpus.entry(id).or_insert_with(|| {
            let (dev, c) = (Device::gpu(id), &self.config);
            GpuLanes {
                normal: Lane::start(self, LaneKind::GpuNormal, dev, c.gpu_workers, false),
                copy: Lane::start(self, LaneKind::GpuCopy, dev, c.gpu_copy_workers, true),
            }
        });
        pick(g)
    }

    /// Let every worker exit once its lane is drained.
    fn close_lanes(&self) {
        for lane in [self.cpu.get(), self.cpu_priority.get()].into_iter().flatten() {
            lane.close();
        }
        for g in self.gpus.read().values() {
            g.normal.close();
            g.copy.close();
        }
    }
}

impl LaneRunner for Shared {
    fn engine_id(&self) -> usize {
        self.id()
    }

    fn run_on_worker(this: &Arc<Self>, op: Opr, lane: &Arc<Lane>) {
        Shared::run_op(this, op, Some(lane));
    }
}

/// A one-shot slot that `wait_for_var`'s internal op fills.
#[derive(Default)]
struct OneShot {
    value: Mutex<Option<Option<EngineError>>>,
    ready: Condvar,
}

impl OneShot {
    fn set(&self, v: Option<EngineError>) {
        *self.value.lock() = Some(v);
        self.ready.notify_all();
    }
    fn wait(&self) -> Option<EngineError> {
        let mut value = self.value.lock();
        loop {
            if let Some(v) = value.take() {
                return v;
            }
            self.ready.wait(&mut value);
        }
    }
}

/// A multi-threaded dependency engine: `ThreadedEnginePerDevice` or `ThreadedEngine`, as its
/// [`ThreadedConfig`] says. Worker threads start lazily, lane by lane. Dropping the engine never
/// blocks: ops already pushed still run, and the workers exit once the last one has finished.
pub struct ThreadedEngine {
    shared: Arc<Shared>,
}

impl ThreadedEngine {
    /// A new engine laid out as `config` says.
    pub fn new(config: ThreadedConfig) -> Self {
        ThreadedEngine {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State::default()),
                all_done: Condvar::new(),
                space: Condvar::new(),
                next_seq: AtomicU64::new(0),
                cpu: OnceLock::new(),
                cpu_priority: OnceLock::new(),
                gpus: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The layout the engine was built with.
    pub fn config(&self) -> &ThreadedConfig {
        &self.shared.config
    }

    /// How many pushed ops have not finished yet.
    pub fn pending(&self) -> usize {
        self.shared.state.lock().pending
    }

    #[cfg(test)]
    pub(crate) fn shared_weak(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.shared)
    }
}

impl fmt::Debug for ThreadedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadedEngine")
            .field("name", &self.name())
            .field("config", &self.shared.config)
            .field("pending", &self.pending())
            .finish()
    }
}

impl Drop for ThreadedEngine {
    fn drop(&mut self) {
        let close = {
            let mut st = self.shared.state.lock();
            st.shutdown = true;
            st.pending == 0
        };
        if close {
            self.shared.close_lanes();
        }
    }
}

impl Engine for ThreadedEngine {
    fn push(
        &self,
        op: OpFn,
        reads: &[Var],
        writes: &[Var],
        device: Device,
        prop: FnProperty,
        priority: i32,
        name: &'static str,
    ) {
        let op = if prop == FnProperty::Light {
            match Shared::try_run_now(&self.shared, op, reads, writes, device, name) {
                Ok(()) => return,
                Err(op) => op,
            }
        } else {
            op
        };
        let rw = read_writes(reads, writes);
        let (reads, writes) = normalize_vars(reads, writes);
        Shared::push(&self.shared, op, reads, writes, rw, device, prop, priority, name, true);
    }

    fn run_now(
        &self,
        op: &mut dyn FnMut() -> Result<(), BoxError>,
        reads: &[Var],
        writes: &[Var],
        device: Device,
        name: &'static str,
    ) -> bool {
        Shared::try_run_now(&self.shared, op, reads, writes, device, name).is_ok()
    }

    fn wait_for_var(&self, var: &Var) -> Result<(), EngineError> {
        if let Some(r) = self.poll_var(var) {
            return r;
        }
        // A short op finishes sooner than this thread could be woken from sleep (about 8 µs on
        // a 2-core VM): look again for a little while, yielding the core, before sleeping;
        // not while an op has its work split over the kernel pool, which needs every core.
        let mut polled = None;
        look_briefly(|| {
            polled = self.poll_var(var);
            polled.is_some()
        });
        if let Some(r) = polled {
            return r;
        }
        let signal = Arc::new(OneShot::default());
        let (s, v) = (signal.clone(), var.clone());
        let op: OpFn = Box::new(move || {
            s.set(v.error());
            Ok(())
        });
        let reads = vec![var.clone()];
        let (cpu, wait) = (Device::cpu(0), FnProperty::Wait);
        Shared::push(&self.shared, op, reads, Vec::new(), Vec::new(), cpu, wait, 0, "WaitForVar", false);
        match signal.wait() {
            Some(e) => {
                // The error has now been seen: a later wait_for_all does not report it again.
                self.shared.state.lock().errors.retain(|x| !x.same_as(&e));
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn poll_var(&self, var: &Var) -> Option<Result<(), EngineError>> {
        // Writes are appended to the variable's queue by `push` itself, so an empty queue with
        // no running write means every write pushed before this call has finished.
        if !var.0.sched.lock().writes_done() {
            return None;
        }
        Some(match var.error() {
            Some(e) => {
                // The error has now been seen: a later wait_for_all does not report it again.
                self.shared.state.lock().errors.retain(|x| !x.same_as(&e));
                Err(e)
            }
            None => Ok(()),
        })
    }

    fn wait_for_all(&self) -> Result<(), EngineError> {
        assert!(
            worker_engine() != self.shared.id(),
            "wait_for_all called from inside an op of the same engine: it would wait for itself"
        );
        let mut st = self.shared.state.lock();
        while st.pending > 0 {
            self.shared.all_done.wait(&mut st);
        }
        let first = st.errors.first().cloned();
        st.errors.clear();
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn name(&self) -> &'static str {
        if self.shared.config.per_device { "ThreadedEnginePerDevice" } else { "ThreadedEngine" }
    }
}
