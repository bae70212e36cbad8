//! The op profiler: while recording is on, every op the engine runs leaves an [`OpEvent`] (its
//! name, device, worker thread, start, duration and the bytes it wrote, as the op reports them
//! with [`note_bytes`]). Front ends turn the events into a Chrome trace and an aggregate table
//! (`mxrs.profiler`).
//!
//! Cost: when recording is off, an op pays one relaxed atomic load ([`is_recording`]). When on,
//! two clock reads and a push onto its thread's own buffer (an uncontended lock), so workers
//! never wait for each other to record.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::op::Device;

static RECORDING: AtomicBool = AtomicBool::new(false);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

/// One op run, as the profiler saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpEvent {
    /// The op's name, as pushed.
    pub name: &'static str,
    /// The device it was scheduled for.
    pub device: Device,
    /// The thread that ran it: a number unique in the process, and its name
    /// (`mxrs-cpu-worker-0`..., or the pushing thread's for ops run inline).
    pub thread: ThreadId,
    /// Start, in microseconds since the profiler's epoch (its first use in the process).
    pub start_us: f64,
    /// Duration in microseconds.
    pub dur_us: f64,
    /// Bytes the op wrote (0 when the op did not say).
    pub bytes: u64,
}

type Buffer = Arc<Mutex<Vec<OpEvent>>>;

/// A thread's number and name, as events carry them.
pub type ThreadId = (u64, Arc<str>);

/// Every thread's buffer, for [`take_events`].
fn buffers() -> &'static Mutex<Vec<Buffer>> {
    static B: OnceLock<Mutex<Vec<Buffer>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

thread_local! {
    /// This thread's number and name, and its buffer (registered on first use).
    static LOCAL: RefCell<Option<(ThreadId, Buffer)>> = const { RefCell::new(None) };
    /// Bytes the running op reported.
    static BYTES: Cell<u64> = const { Cell::new(0) };
    /// The name the running op reported.
    static NAME: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Turn recording on or off (`mx.profiler.set_state`, `pause`, `resume`).
pub fn set_recording(on: bool) {
    if on {
        epoch();
    }
    RECORDING.store(on, Ordering::Relaxed);
}

/// Whether ops are being recorded: the one check on the op path.
#[inline]
pub fn is_recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Called by a running op: it wrote `bytes` bytes (added up over the calls of one op).
#[inline]
pub fn note_bytes(bytes: u64) {
    if is_recording() {
        BYTES.with(|b| b.set(b.get() + bytes));
    }
}

/// Called by a running op while recording: its name as the user knows it (`dot`,
/// `_plus_scalar`), for ops pushed under a generic name; and the bytes it wrote.
pub fn note_op(name: &str, bytes: u64) {
    if is_recording() {
        let name = intern(name);
        NAME.with(|n| n.set(Some(name)));
        BYTES.with(|b| b.set(b.get() + bytes));
    }
}

/// `name` as a `&'static str`, leaked once per distinct name (op names are a small set).
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<std::collections::HashSet<&'static str>>> = OnceLock::new();
    let mut set = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&n) = set.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(n);
    n
}

/// Every event recorded since the last call, oldest first, leaving the buffers empty.
pub fn take_events() -> Vec<OpEvent> {
    let bufs = buffers().lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut all: Vec<OpEvent> =
        bufs.iter().flat_map(|b| std::mem::take(&mut *b.lock().unwrap_or_else(|e| e.into_inner()))).collect();
    all.sort_by(|a, b| a.start_us.total_cmp(&b.start_us));
    all
}

/// Run `f` (an op of `name` on `device`), recording it when recording is on.
#[inline]
pub(crate) fn profiled<R>(name: &'static str, device: Device, f: impl FnOnce() -> R) -> R {
    if !is_recording() {
        return f();
    }
    let outer = (BYTES.with(|b| b.replace(0)), NAME.with(|n| n.replace(None)));
    let start = Instant::now();
    let r = f();
    let end = Instant::now();
    let bytes = BYTES.with(|b| b.replace(outer.0));
    let noted = NAME.with(|n| n.replace(outer.1));
    record(noted.unwrap_or(name), device, start, end, bytes);
    r
}

#[cold]
fn record(name: &'static str, device: Device, start: Instant, end: Instant, bytes: u64) {
    let e = epoch();
    let us = |t: Instant| t.saturating_duration_since(e).as_secs_f64() * 1e6;
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let (thread, buf) = l.get_or_insert_with(|| {
            let id = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            let name: Arc<str> = std::thread::current().name().unwrap_or("thread").into();
            let buf = Buffer::default();
            buffers().lock().unwrap_or_else(|e| e.into_inner()).push(buf.clone());
            ((id, name), buf)
        });
        let ev =
            OpEvent { name, device, thread: thread.clone(), start_us: us(start), dur_us: us(end) - us(start), bytes };
        buf.lock().unwrap_or_else(|e| e.into_inner()).push(ev);
    });
}
