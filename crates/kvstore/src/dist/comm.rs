//! The process's MPI endpoint: one comm thread owns MPI (so `MPI_THREAD_SERIALIZED` suffices),
//! sends queued messages with `MPI_Isend`, receives with `MPI_Iprobe`/`MPI_Recv`, hands requests
//! to this process's server shard (if it hosts one) and replies to the worker waiting for them.
//! Callers never block inside MPI: they wait on a condition variable, with a deadline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mxrs_ndarray_core::{Error, Result};
use parking_lot::{Condvar, Mutex};

use super::layout::Layout;
use super::mpi::{Handle, Mpi};
use super::server::{Hooks, Shard, hooks};
use super::wire::{Msg, Op, TAG_REPLY, TAG_REQUEST};

/// Replies that arrived, by request id.
#[derive(Default)]
struct Mailbox {
    replies: HashMap<u64, Msg>,
    /// Requests nobody waits for (pushes): only their failures are kept, in `errors`.
    unawaited: HashSet<u64>,
    errors: Vec<String>,
    /// Set when the comm thread died: every wait fails with it.
    broken: Option<String>,
}

/// The process's endpoint.
pub(crate) struct Comm {
    pub(crate) mpi: &'static Mpi,
    pub(crate) layout: Layout,
    outbox: Mutex<VecDeque<(usize, i32, Vec<u8>)>>,
    mailbox: Mutex<Mailbox>,
    arrived: Condvar,
    next_id: AtomicU64,
    /// Callers waiting for replies: the comm thread does not sleep while there are any.
    waiting: AtomicUsize,
    stop: AtomicBool,
    /// Set by the comm thread when its shard has seen every worker finish.
    shard_done: AtomicBool,
    pub(crate) hooks: Arc<Hooks>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Whether `finalize` already ran.
    finished: AtomicBool,
    /// Whether MPI was initialised here (else its owner, such as mpi4py, finalises it).
    owns_mpi: bool,
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Comm({:?})", self.layout)
    }
}

/// Asked by waiting callers every 100 ms; a message ends the wait (the host language's
/// Ctrl-C).
pub type InterruptCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

static INTERRUPT: parking_lot::RwLock<Option<InterruptCheck>> = parking_lot::RwLock::new(None);

/// Install (or remove) the interrupt check of waiting callers.
pub(crate) fn set_interrupt_check(check: Option<InterruptCheck>) {
    *INTERRUPT.write() = check;
}

static COMM: OnceLock<std::result::Result<Arc<Comm>, Error>> = OnceLock::new();

/// The process's endpoint, started (MPI initialised, comm thread running) on first use.
pub(crate) fn get() -> Result<Arc<Comm>> {
    COMM.get_or_init(start).clone()
}

/// The endpoint if it was started.
pub(crate) fn started() -> Option<Arc<Comm>> {
    COMM.get().and_then(|r| r.as_ref().ok().cloned())
}

fn start() -> Result<Arc<Comm>> {
    let mpi = Mpi::get()?;
    let (tx, rx) = std::sync::mpsc::channel();
    // MPI is initialised on the comm thread, which then makes every MPI call.
    let thread = std::thread::Builder::new()
        .name("mxrs-kvstore-comm".into())
        .spawn(move || {
            let r = mpi.init().and_then(|(rank, size, owns)| Ok((Layout::from_env(rank, size)?, owns)));
            let ok = r.is_ok();
            let comm = r.map(|(layout, owns_mpi)| {
                let hooks = hooks().clone();
                Arc::new(Comm {
                    mpi,
                    outbox: Mutex::new(VecDeque::new()),
                    mailbox: Mutex::new(Mailbox::default()),
                    arrived: Condvar::new(),
                    next_id: AtomicU64::new(1),
                    waiting: AtomicUsize::new(0),
                    stop: AtomicBool::new(false),
                    shard_done: AtomicBool::new(false),
                    hooks,
                    thread: Mutex::new(None),
                    finished: AtomicBool::new(false),
                    owns_mpi,
                    layout,
                })
            });
            let _ = tx.send(comm.clone());
            if let (true, Ok(c)) = (ok, comm) {
                c.run();
            }
        })
        .map_err(|e| Error::msg(format!("kvstore: cannot start the communication thread: {e}")))?;
    let comm = rx.recv().map_err(|_| Error::msg("kvstore: the communication thread ended during MPI_Init"))??;
    *comm.thread.lock() = Some(thread);
    Ok(comm)
}

/// A message being sent: the request and the buffer MPI reads from.
struct InFlight {
    req: Handle,
    _buf: Vec<u8>,
}

impl Comm {
    /// A fresh request id.
    pub(crate) fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queue `msg` for `dest` as a request; when `awaited` is false, only a failure reply is
    /// kept (reported by [`Comm::take_errors`]).
    pub(crate) fn request(&self, dest: usize, msg: &Msg, awaited: bool) {
        self.request_with(dest, msg, &msg.body, awaited);
    }

    /// [`Comm::request`] with `body` as the payload.
    pub(crate) fn request_with(&self, dest: usize, msg: &Msg, body: &[u8], awaited: bool) {
        if !awaited {
            self.mailbox.lock().unawaited.insert(msg.id);
        }
        self.outbox.lock().push_back((dest, TAG_REQUEST, msg.encode_with(body)));
    }

    /// Failures of unawaited requests since the last call.
    pub(crate) fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut self.mailbox.lock().errors)
    }

    /// Wait for the replies to `ids` until `deadline`; `what` describes the wait for errors.
    pub(crate) fn wait(&self, ids: &[u64], timeout: Duration, what: &dyn Fn() -> String) -> Result<Vec<Msg>> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let r = self.wait_inner(ids, timeout, what);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        r
    }

    fn wait_inner(&self, ids: &[u64], timeout: Duration, what: &dyn Fn() -> String) -> Result<Vec<Msg>> {
        let deadline = Instant::now() + timeout;
        let mut mb = self.mailbox.lock();
        loop {
            if let Some(b) = &mb.broken {
                return Err(Error::msg(format!("{}: {b}", what())));
            }
            if ids.iter().all(|i| mb.replies.contains_key(i)) {
                return Ok(ids.iter().filter_map(|i| mb.replies.remove(i)).collect());
            }
            let slice = (Instant::now() + Duration::from_millis(100)).min(deadline);
            if self.arrived.wait_until(&mut mb, slice).timed_out() && Instant::now() < deadline {
                let check = INTERRUPT.read().clone();
                let Some(why) = check.and_then(|c| parking_lot::MutexGuard::unlocked(&mut mb, || c())) else {
                    continue;
                };
                for i in ids {
                    mb.replies.remove(i);
                }
                return Err(Error::msg(format!("{}: {why}", what())));
            }
            if Instant::now() >= deadline {
                for i in ids {
                    mb.replies.remove(i);
                }
                return Err(Error::msg(format!(
                    "{}: no reply within {} s (a process may have died or stopped calling the kvstore; \
                     MXNET_KVSTORE_TIMEOUT sets the limit)",
                    what(),
                    timeout.as_secs_f64()
                )));
            }
        }
    }

    /// Whether this process's shard has seen every worker finish.
    pub(crate) fn shard_done(&self) -> bool {
        self.shard_done.load(Ordering::Acquire)
    }

    /// Stop the comm thread, then `MPI_Finalize` (or `MPI_Abort` when `clean` is false).
    pub(crate) fn finalize(&self, clean: bool) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        // Let queued sends (final acks) leave before stopping.
        let until = Instant::now() + Duration::from_secs(5);
        while !self.outbox.lock().is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !clean {
            self.mpi.abort(1);
        }
        // MPI_Finalize must run on the thread that initialised MPI: the comm thread, as it ends.
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    fn deliver(&self, msg: Msg) {
        let mut mb = self.mailbox.lock();
        if mb.unawaited.remove(&msg.id) {
            if msg.op == Op::Fail {
                mb.errors.push(msg.text());
            }
        } else {
            mb.replies.insert(msg.id, msg);
        }
        drop(mb);
        self.arrived.notify_all();
    }

    /// The comm thread's loop.
    fn run(self: Arc<Self>) {
        let mut shard = self.layout.shard_here().map(|s| Shard::new(s, self.layout, self.hooks.clone()));
        let mut inflight: Vec<InFlight> = Vec::new();
        let mut idle = 0u32;
        let result = loop {
            match self.step(&mut shard, &mut inflight) {
                Ok(true) => idle = 0,
                Ok(false) => {
                    if self.stop.load(Ordering::Acquire) && inflight.is_empty() {
                        break Ok(());
                    }
                    idle = idle.saturating_add(1);
                    // Sends in flight need MPI calls to progress (large messages go in
                    // fragments), and a waiting caller wants its reply at once: no sleeping.
                    let urgent = !inflight.is_empty() || self.waiting.load(Ordering::Acquire) > 0;
                    backoff(if urgent { idle.min(255) } else { idle });
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) if self.owns_mpi => {
                let _ = self.mpi.finalize();
            }
            Ok(()) => {}
            Err(e) => {
                self.mailbox.lock().broken = Some(format!("the kvstore's MPI communication failed: {e}"));
                self.arrived.notify_all();
            }
        }
    }

    /// One round of sends, receives and completions; true when anything happened.
    fn step(&self, shard: &mut Option<Shard>, inflight: &mut Vec<InFlight>) -> Result<bool> {
        let mut busy = false;
        while let Some((dest, tag, buf)) = self.outbox.lock().pop_front() {
            let req = self.mpi.isend(&buf, dest, tag)?;
            inflight.push(InFlight { req, _buf: buf });
            busy = true;
        }
        if let Some((src, tag, buf)) = self.mpi.try_recv()? {
            busy = true;
            let msg = Msg::decode(buf)?;
            if tag == TAG_REPLY {
                self.deliver(msg);
            } else if let Some(s) = shard.as_mut() {
                for (dest, reply) in s.handle(src, msg) {
                    self.outbox.lock().push_back((dest, TAG_REPLY, reply.encode()));
                }
                if s.done() {
                    self.shard_done.store(true, Ordering::Release);
                }
            } else {
                let m = Msg::fail(msg.id, &format!("rank {} hosts no kvstore server", self.layout.rank));
                self.outbox.lock().push_back((src, TAG_REPLY, m.encode()));
            }
        }
        let mut i = 0;
        while i < inflight.len() {
            if self.mpi.test(&mut inflight[i].req)? {
                inflight.swap_remove(i);
                busy = true;
            } else {
                i += 1;
            }
        }
        Ok(busy)
    }
}

/// Spin briefly, yield, then sleep longer and longer (up to 250 µs) while nothing happens.
fn backoff(idle: u32) {
    if idle < 64 {
        std::hint::spin_loop();
    } else if idle < 256 {
        std::thread::yield_now();
    } else {
        let us = (u64::from(idle - 255) * 5).min(250);
        std::thread::sleep(Duration::from_micros(us));
    }
}
