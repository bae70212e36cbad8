//! The process's MPI endpoint: one comm thread owns MPI (so `MPI_THREAD_SERIALIZED` suffices),
//! sends queued messages with `MPI_Isend`, receives with `MPI_Iprobe`/`MPI_Recv`, hands requests
//! to this process's server shard (if it hosts one) and replies to the worker waiting for them.
//! Callers never block inside MPI: they wait on a condition variable, with a deadline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mxrs_ndarray_core::{CpuStorage, Error, Result};
use parking_lot::{Condvar, Mutex};

use super::layout::Layout;
use super::mpi::{Elem, Handle, Mpi, ReduceOp};
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

/// An allreduce among all ranks (every rank a worker): first a check that every rank pushes
/// the same keys, shapes and dtypes (the maximum of `check` and of its negation equals this
/// rank's on every rank only when all agree), then the sum of each group, in place. The reply
/// to `id` is `Data` (the sums are then taken with [`Comm::take_sums`]), or `Fail` when the
/// ranks disagree.
pub(crate) struct Allreduce {
    pub(crate) id: u64,
    pub(crate) check: i64,
    pub(crate) groups: Vec<(Elem, CpuStorage)>,
}

/// The allreduce the comm thread is driving: its requests and buffers.
struct Active {
    job: Allreduce,
    /// Phase 1: the check's send and receive buffers (boxed: MPI holds their address while
    /// `Active` moves); phase 2 (`None`): the groups' sums.
    check: Option<Box<[i64; 4]>>,
    reqs: Vec<Handle>,
}

/// The process's endpoint.
pub(crate) struct Comm {
    pub(crate) mpi: &'static Mpi,
    pub(crate) layout: Layout,
    outbox: Mutex<VecDeque<(usize, i32, Vec<u8>)>>,
    /// Allreduces to run, in order (the same order on every rank).
    collectives: Mutex<VecDeque<Allreduce>>,
    /// Allreduces started by this process.
    started: AtomicU64,
    /// The sums of finished allreduces, by id.
    sums: Mutex<HashMap<u64, Vec<CpuStorage>>>,
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
    /// The comm thread, unparked when work is queued (its idle naps are parks).
    comm_thread: OnceLock<std::thread::Thread>,
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
                    collectives: Mutex::new(VecDeque::new()),
                    started: AtomicU64::new(0),
                    sums: Mutex::new(HashMap::new()),
                    mailbox: Mutex::new(Mailbox::default()),
                    arrived: Condvar::new(),
                    next_id: AtomicU64::new(1),
                    waiting: AtomicUsize::new(0),
                    stop: AtomicBool::new(false),
                    shard_done: AtomicBool::new(false),
                    hooks,
                    thread: Mutex::new(None),
                    comm_thread: OnceLock::new(),
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
        self.wake();
    }

    /// End the comm thread's idle nap.
    fn wake(&self) {
        if let Some(t) = self.comm_thread.get() {
            t.unpark();
        }
    }

    /// Queue an allreduce; its reply arrives for `job.id` (see [`Allreduce`]). Returns how
    /// many this process started, this one included.
    pub(crate) fn allreduce(&self, job: Allreduce) -> u64 {
        self.collectives.lock().push_back(job);
        self.wake();
        self.started.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The sums of the finished allreduce `id` (after its `Data` reply).
    pub(crate) fn take_sums(&self, id: u64) -> Option<Vec<CpuStorage>> {
        self.sums.lock().remove(&id)
    }

    /// How many allreduces this process started (sent with barriers and the final message, so
    /// a peer waiting in a later one knows it waits in vain).
    pub(crate) fn allreduces(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }

    /// Failures of unawaited requests since the last call.
    pub(crate) fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut self.mailbox.lock().errors)
    }

    /// Wait for the replies to `ids` until `deadline`; `what` describes the wait for errors.
    pub(crate) fn wait(&self, ids: &[u64], timeout: Duration, what: &dyn Fn() -> String) -> Result<Vec<Msg>> {
        self.wait_or(ids, timeout, what, &|| None)
    }

    /// [`Comm::wait`], also ending (with its message) when `give_up` returns one (asked every
    /// 100 ms).
    pub(crate) fn wait_or(
        &self,
        ids: &[u64],
        timeout: Duration,
        what: &dyn Fn() -> String,
        give_up: &dyn Fn() -> Option<String>,
    ) -> Result<Vec<Msg>> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let r = self.wait_inner(ids, timeout, what, give_up);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        r
    }

    fn wait_inner(
        &self,
        ids: &[u64],
        timeout: Duration,
        what: &dyn Fn() -> String,
        give_up: &dyn Fn() -> Option<String>,
    ) -> Result<Vec<Msg>> {
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
                let interrupted = check.and_then(|c| parking_lot::MutexGuard::unlocked(&mut mb, || c()));
                if let Some(why) = interrupted {
                    for i in ids {
                        mb.replies.remove(i);
                    }
                    return Err(Error::msg(format!("{}: {why}", what())));
                }
                if let Some(why) = parking_lot::MutexGuard::unlocked(&mut mb, give_up) {
                    return Err(Error::msg(why));
                }
                continue;
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
        self.wake();
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
        let _ = self.comm_thread.set(std::thread::current());
        let mut shard = self.layout.shard_here().map(|s| Shard::new(s, self.layout, self.hooks.clone()));
        let mut inflight: Vec<InFlight> = Vec::new();
        let mut active: Option<Active> = None;
        let mut idle = 0u32;
        let result = loop {
            match self.step(&mut shard, &mut inflight).and_then(|b| Ok(self.drive(&mut active)? || b)) {
                Ok(true) => idle = 0,
                Ok(false) => {
                    if self.stop.load(Ordering::Acquire) && inflight.is_empty() {
                        break Ok(());
                    }
                    idle = idle.saturating_add(1);
                    // Sends in flight need MPI calls to progress (large messages go in
                    // fragments), and a waiting caller wants its reply at once: no sleeping.
                    let urgent = !inflight.is_empty() || active.is_some() || self.waiting.load(Ordering::Acquire) > 0;
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

    /// Start the next allreduce, or advance the running one; true when anything happened.
    fn drive(&self, active: &mut Option<Active>) -> Result<bool> {
        let Some(a) = active.as_mut() else {
            let Some(job) = self.collectives.lock().pop_front() else {
                return Ok(false);
            };
            let mut buf = Box::new([job.check, -job.check, 0, 0]);
            let (s, r) = bytes_of_mut(&mut buf).split_at_mut(16);
            let req = self.mpi.iallreduce(Some(s), r, Elem::I64, ReduceOp::Max)?;
            *active = Some(Active { job, check: Some(buf), reqs: vec![req] });
            return Ok(true);
        };
        let mut i = 0;
        while i < a.reqs.len() {
            if self.mpi.test(&mut a.reqs[i])? {
                a.reqs.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if !a.reqs.is_empty() {
            return Ok(false);
        }
        if let Some(buf) = a.check.take() {
            if buf[..2] != buf[2..] {
                let m = Msg::fail(a.job.id, "the workers disagree");
                *active = None;
                self.deliver(m);
                return Ok(true);
            }
            // The sums, in place: every group at once (MPI matches them in order on every rank).
            for (elem, buf) in a.job.groups.iter_mut() {
                a.reqs.push(self.mpi.iallreduce(None, buf.as_bytes_mut(), *elem, ReduceOp::Sum)?);
            }
            return Ok(true);
        }
        let Some(a) = active.take() else { return Ok(false) };
        let id = a.job.id;
        self.sums.lock().insert(id, a.job.groups.into_iter().map(|(_, b)| b).collect());
        self.deliver(Msg::bare(Op::Data, id));
        Ok(true)
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

fn bytes_of_mut(v: &mut [i64; 4]) -> &mut [u8] {
    // SAFETY: four i64 are 32 initialised bytes, u8 has no alignment requirement, and every
    // byte pattern is a valid i64.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), 32) }
}

/// Spin briefly, yield, then nap longer and longer (up to 250 µs) while nothing happens.
fn backoff(idle: u32) {
    if idle < 64 {
        std::hint::spin_loop();
    } else if idle < 256 {
        std::thread::yield_now();
    } else {
        let us = (u64::from(idle - 255) * 5).min(250);
        // Queuing work unparks the thread; an incoming message waits for the nap to end.
        std::thread::park_timeout(Duration::from_micros(us));
    }
}
