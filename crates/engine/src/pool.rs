//! Worker lanes: queues of ready ops and the named threads that drain them, plus the per-worker
//! state slot that a device backend (CUDA streams, for instance) hooks into.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::op::Device;
use crate::queue::Opr;
use crate::running::parallel_running;

/// Stack size of worker threads: ops may run deep code (custom Python ops, for instance).
const WORKER_STACK: usize = 8 << 20;

/// How long an idle worker keeps looking for work before it sleeps, and a waiter for a
/// variable before it sleeps (`MXRS_ENGINE_SPIN_US`, default 30; 0 turns both off). A caller
/// that waits for each op (`x.asnumpy()` in a loop) pushes its next op a few microseconds after
/// the last one finished, and a short op finishes within microseconds: a thread still looking
/// takes the news at once, where a sleeping one takes about 8 µs to wake on a 2-core VM. Both
/// yield their core while they look.
pub fn spin_time() -> std::time::Duration {
    static SPIN: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        let us = std::env::var("MXRS_ENGINE_SPIN_US").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(30);
        std::time::Duration::from_micros(us)
    })
}

/// Look for `found()` for up to [`spin_time`], yielding the core between looks; false when the
/// time is up, or at once while an op has split its work over a thread pool (which needs every
/// core). The caller then sleeps.
pub(crate) fn look_briefly(mut found: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + spin_time();
    while !parallel_running() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
        if found() {
            return true;
        }
    }
    false
}

/// Which lane a worker thread serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LaneKind {
    /// The FIFO pool shared by all CPU devices (`ThreadedEnginePerDevice`).
    CpuNormal,
    /// The CPU priority lane (`FnProperty::CpuPrioritized`, higher priority first).
    CpuPriority,
    /// The FIFO compute workers of one GPU.
    GpuNormal,
    /// The copy workers of one GPU (`CopyToDevice`/`CopyFromDevice`, higher priority first).
    GpuCopy,
    /// The one FIFO pool of `ThreadedEngine`, shared by every device and kind of op.
    Pooled,
}

/// Describes the worker thread an op runs on; see [`current_worker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkerInfo {
    /// The lane the worker serves.
    pub lane: LaneKind,
    /// The lane's device (`cpu(0)` for the lanes shared by all CPU devices).
    pub device: Device,
    /// Index of the worker within its lane, from 0.
    pub index: usize,
}

/// Creates the per-worker state of a newly started worker thread (for a CUDA backend: bind the
/// device and create the worker's stream). It runs on the worker thread itself, before the
/// worker takes its first op; `None` leaves the slot empty. A panic in the hook is caught and
/// also leaves the slot empty.
pub type WorkerInitHook = Arc<dyn Fn(&WorkerInfo) -> Option<Box<dyn Any>> + Send + Sync>;

static INIT_HOOK: RwLock<Option<WorkerInitHook>> = RwLock::new(None);

/// Install (or, with `None`, remove) the hook that creates each new worker's state slot. It
/// applies to workers started afterwards; lanes start lazily on their first op, so a backend
/// that installs its hook before it pushes its first op for a device sees every worker of that
/// device's lanes.
pub fn set_worker_init_hook(hook: Option<WorkerInitHook>) {
    *INIT_HOOK.write() = hook;
}

thread_local! {
    static WORKER_INFO: Cell<Option<WorkerInfo>> = const { Cell::new(None) };
    /// Identity of the engine whose worker this thread is (0: not a worker).
    static WORKER_ENGINE: Cell<usize> = const { Cell::new(0) };
    static WORKER_STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// The worker the calling thread is, when called from inside an op running on a threaded
/// engine's worker; `None` elsewhere (user threads, `NaiveEngine`, inline `Wait` ops).
pub fn current_worker() -> Option<WorkerInfo> {
    WORKER_INFO.with(Cell::get)
}

/// Run `f` with the calling worker's state slot (what the [`WorkerInitHook`] returned), or with
/// `None` outside workers or when the slot is empty. Not re-entrant: calling it again from
/// inside `f` panics (inside an op, that panic becomes the op's error).
pub fn with_worker_state<R>(f: impl FnOnce(Option<&mut dyn Any>) -> R) -> R {
    WORKER_STATE.with(|slot| {
        let mut slot = slot.borrow_mut();
        f(slot.as_deref_mut())
    })
}

/// True on a worker thread of any threaded engine (pushes made there are never throttled).
pub(crate) fn in_worker() -> bool {
    WORKER_ENGINE.with(Cell::get) != 0
}

/// The identity of the engine whose worker the calling thread is (0 if none).
pub(crate) fn worker_engine() -> usize {
    WORKER_ENGINE.with(Cell::get)
}

/// What a lane's workers run their ops through: the engine that owns the lane (the `Shared`
/// part of a threaded engine). The lanes know nothing else of the engine.
pub(crate) trait LaneRunner: Send + Sync + 'static {
    /// A process-unique identity of the engine (what [`worker_engine`] returns on its workers).
    fn engine_id(&self) -> usize;

    /// Run `op` on the calling worker of `lane`, then dispatch what it made ready. Never unwinds
    /// (ops run under `catch_unwind`).
    fn run_on_worker(this: &Arc<Self>, op: Opr, lane: &Arc<Lane>);
}

/// A ready op in a priority lane: higher priority first, then push order.
struct ByPriority(Opr);

impl ByPriority {
    fn key(&self) -> (i32, std::cmp::Reverse<u64>) {
        (self.0.priority, std::cmp::Reverse(self.0.seq))
    }
}

impl PartialEq for ByPriority {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for ByPriority {}
impl PartialOrd for ByPriority {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByPriority {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[derive(Default)]
struct LaneQueue {
    fifo: VecDeque<Opr>,
    heap: BinaryHeap<ByPriority>,
    closed: bool,
}

/// A queue of ready ops (FIFO or by priority) served by a fixed set of worker threads.
pub(crate) struct Lane {
    kind: LaneKind,
    device: Device,
    ordered: bool,
    queue: Mutex<LaneQueue>,
    /// Ops in `queue`, readable without the lock (for idle workers that look before sleeping).
    queued: AtomicUsize,
    available: Condvar,
    workers: AtomicUsize,
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane")
            .field("kind", &self.kind)
            .field("device", &self.device)
            .field("workers", &self.workers())
            .finish()
    }
}

impl Lane {
    /// Create a lane and start `nthreads` workers for it, which run ops through `runner`.
    /// `ordered` lanes pop by priority, the others in FIFO order. If no thread could be spawned
    /// the lane has no workers, and the engine runs its ops on the dispatching thread instead.
    pub(crate) fn start<R: LaneRunner>(
        runner: &Arc<R>,
        kind: LaneKind,
        device: Device,
        nthreads: usize,
        ordered: bool,
    ) -> Arc<Lane> {
        let lane = Arc::new(Lane {
            kind,
            device,
            ordered,
            queue: Mutex::new(LaneQueue::default()),
            queued: AtomicUsize::new(0),
            available: Condvar::new(),
            workers: AtomicUsize::new(0),
        });
        for index in 0..nthreads {
            let info = WorkerInfo { lane: kind, device, index };
            let (runner, lane2) = (runner.clone(), lane.clone());
            let spawned = std::thread::Builder::new()
                .name(thread_name(&info))
                .stack_size(WORKER_STACK)
                .spawn(move || worker_main(runner, lane2, info));
            match spawned {
                Ok(_) => {
                    lane.workers.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => eprintln!("mxrs-engine: cannot start worker {}: {e}", thread_name(&info)),
            }
        }
        lane
    }

    /// How many worker threads were started for the lane.
    pub(crate) fn workers(&self) -> usize {
        self.workers.load(Ordering::Relaxed)
    }

    /// Queue a ready op and wake one worker.
    pub(crate) fn push(&self, op: Opr) {
        let mut q = self.queue.lock();
        if self.ordered {
            q.heap.push(ByPriority(op));
        } else {
            q.fifo.push_back(op);
        }
        self.queued.fetch_add(1, Ordering::Release);
        drop(q);
        self.available.notify_one();
    }

    /// Block until an op is available; `None` once the lane is closed and drained. An idle
    /// worker looks for [`spin_time`] before it sleeps.
    fn pop(&self) -> Option<Opr> {
        let mut q = self.queue.lock();
        let mut spun = false;
        loop {
            let next = if self.ordered { q.heap.pop().map(|p| p.0) } else { q.fifo.pop_front() };
            if next.is_some() {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                return next;
            }
            if q.closed {
                return None;
            }
            if !spun {
                spun = true;
                drop(q);
                look_briefly(|| self.queued.load(Ordering::Acquire) > 0);
                q = self.queue.lock();
                continue;
            }
            spun = false;
            self.available.wait(&mut q);
        }
    }

    /// True for a FIFO lane with no op waiting (a worker may then run a newly ready op of the
    /// lane itself without breaking the order).
    pub(crate) fn is_fifo_and_empty(&self) -> bool {
        !self.ordered && self.queued.load(Ordering::Acquire) == 0
    }

    /// Let the workers exit once the queue is empty.
    pub(crate) fn close(&self) {
        self.queue.lock().closed = true;
        self.available.notify_all();
    }
}

fn thread_name(info: &WorkerInfo) -> String {
    let (i, d) = (info.index, info.device.id);
    match info.lane {
        LaneKind::CpuNormal => format!("mxrs-cpu-worker-{i}"),
        LaneKind::CpuPriority => format!("mxrs-cpu-priority-{i}"),
        LaneKind::GpuNormal => format!("mxrs-gpu{d}-worker-{i}"),
        LaneKind::GpuCopy => format!("mxrs-gpu{d}-copy-{i}"),
        LaneKind::Pooled => format!("mxrs-worker-{i}"),
    }
}

/// The body of a worker thread: set up the thread-locals and the state slot, then run ops until
/// the lane closes.
fn worker_main<R: LaneRunner>(runner: Arc<R>, lane: Arc<Lane>, info: WorkerInfo) {
    WORKER_INFO.with(|c| c.set(Some(info)));
    WORKER_ENGINE.with(|c| c.set(runner.engine_id()));
    let hook = INIT_HOOK.read().clone();
    if let Some(hook) = hook {
        let state = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&info)));
        WORKER_STATE.with(|s| *s.borrow_mut() = state.ok().flatten());
    }
    while let Some(op) = lane.pop() {
        R::run_on_worker(&runner, op, &lane);
    }
    WORKER_STATE.with(|s| s.borrow_mut().take());
}
