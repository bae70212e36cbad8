//! Helpers shared by the engine tests.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, mpsc};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::{BoxError, Device, Engine, FnProperty, OpFn, ThreadedConfig, ThreadedEngine, Var};

/// Run `f` on its own thread and fail if it has not finished after `secs` seconds (the stuck
/// thread is leaked; the test fails instead of hanging). Panics inside `f` are re-raised.
pub(crate) fn with_timeout<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    quiet_intentional_panics();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn test body");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => {
            let _ = handle.join();
            v
        }
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => panic!("test body did not finish within {secs} s: deadlock?"),
    }
}

/// Keep the output readable: the panics tests cause on purpose print nothing.
pub(crate) fn quiet_intentional_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains("intentional") && !msg.contains("would wait for itself") {
                default(info);
            }
        }));
    });
}

/// A CPU-only per-device engine with `workers` CPU workers.
pub(crate) fn cpu_engine(workers: usize) -> ThreadedEngine {
    ThreadedEngine::new(ThreadedConfig { cpu_workers: workers, ..ThreadedConfig::per_device() })
}

/// Push a CPU op with normal priority.
pub(crate) fn push_cpu(
    eng: &dyn Engine,
    reads: &[&Var],
    writes: &[&Var],
    f: impl FnOnce() -> Result<(), BoxError> + Send + 'static,
) {
    let op: OpFn = Box::new(f);
    let (reads, writes): (Vec<Var>, Vec<Var>) =
        (reads.iter().map(|&v| v.clone()).collect(), writes.iter().map(|&v| v.clone()).collect());
    eng.push(op, &reads, &writes, Device::cpu(0), FnProperty::Normal, 0, "test_op");
}

/// A rendezvous of `n` parties that gives up after a timeout (so a missing party fails a test
/// instead of hanging it).
#[derive(Debug)]
pub(crate) struct TimedBarrier {
    n: usize,
    arrived: Mutex<usize>,
    cv: Condvar,
}

impl TimedBarrier {
    pub(crate) fn new(n: usize) -> Self {
        TimedBarrier { n, arrived: Mutex::new(0), cv: Condvar::new() }
    }

    /// Arrive and wait for the others; false on timeout.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut arrived = self.arrived.lock();
        *arrived += 1;
        self.cv.notify_all();
        let deadline = std::time::Instant::now() + timeout;
        while *arrived < self.n {
            if self.cv.wait_until(&mut arrived, deadline).timed_out() {
                return *arrived >= self.n;
            }
        }
        true
    }
}

/// A gate that ops block on until the test opens it.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub(crate) fn open(&self) {
        *self.open.lock() = true;
        self.cv.notify_all();
    }
    /// Wait until open; false after `timeout`.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut open = self.open.lock();
        let deadline = std::time::Instant::now() + timeout;
        while !*open {
            if self.cv.wait_until(&mut open, deadline).timed_out() {
                return *open;
            }
        }
        true
    }
}

/// Counts live instances; capture one in a closure to see when the closure is freed.
#[derive(Debug)]
pub(crate) struct Live<'a> {
    live: &'a AtomicUsize,
    peak: &'a AtomicUsize,
}

impl<'a> Live<'a> {
    pub(crate) fn new(live: &'a AtomicUsize, peak: &'a AtomicUsize) -> Self {
        let now = live.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        Live { live, peak }
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        let _ = self.peak;
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The index at the end of an error message like "fail 12" (the failing op's index).
pub(crate) fn error_index(e: &crate::EngineError) -> usize {
    let msg = e.to_string();
    let digits: String = msg.chars().rev().take_while(char::is_ascii_digit).collect();
    digits.chars().rev().collect::<String>().parse().unwrap_or_else(|_| panic!("no index in {msg:?}"))
}
