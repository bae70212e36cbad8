//! The process's MPI endpoint: one comm thread sends queued messages with `MPI_Isend`,
//! receives with `MPI_Iprobe`/`MPI_Recv`, hands requests to this process's server shard (if it
//! hosts one) and replies to the worker waiting for them; callers wait on a condition
//! variable, with a deadline.
//!
//! Allreduces run on the calling thread instead ([`Comm::allreduce`]): a hand-off to the comm
//! thread and back costs two thread wake-ups, several times a small allreduce's time. Every
//! MPI call, on either thread, holds the endpoint's MPI lock, so `MPI_THREAD_SERIALIZED`
//! suffices; a caller blocks inside MPI only for a sum that every rank has agreed to take part
//! in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mxrs_ndarray_core::{CpuStorage, Error, Result};
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::layout::Layout;
use super::mpi::{Elem, Handle, Mpi, ReduceOp};
use super::server::{Hooks, Shard, hooks};
use super::wire::{Msg, Op, TAG_REPLY, TAG_REQUEST};

/// How often a waiting caller asks whether to give up (deadline, interrupt, a peer's state).
const CHECK_EVERY: Duration = Duration::from_millis(100);

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

/// Sums of fewer bytes are blocking `MPI_Allreduce`s (the tuned algorithms of small messages);
/// larger ones non-blocking, measured faster from 16 MB on (`benches/dist.py`).
const BLOCKING_SUM_BYTES: usize = 4 << 20;

/// An allreduce whose caller gave up waiting for the other ranks (a timeout, an interrupt):
/// the comm thread finishes it, so that ranks arriving late still complete theirs.
struct Orphan {
    /// The agreement's buffers (MPI holds their address) and request.
    check: Box<[i64; 4]>,
    req: Option<Handle>,
    groups: Vec<(Elem, CpuStorage)>,
    /// The sums' requests, once the ranks agreed.
    sums: Vec<Handle>,
}

/// The turn of a caller whose allreduce every rank agreed to ([`Comm::agree`]): no other
/// allreduce of this process starts until it is dropped.
pub(crate) struct Turn<'a> {
    comm: &'a Comm,
    _turn: MutexGuard<'a, ()>,
}

impl Turn<'_> {
    /// Sum `recv` in place (`send` None), or `send` into `recv`, over every rank; returns when
    /// this rank's sum is complete.
    pub(crate) fn sum(&self, elem: Elem, send: Option<&[u8]>, recv: &mut [u8]) -> Result<()> {
        // SAFETY: both buffers are borrowed until the request completes in the loop below (an
        // MPI error there ends the process's MPI use).
        if let Some(mut req) = unsafe { self.comm.start_sum(elem, send, recv) }? {
            while !self.comm.mpi_call(|m| m.test(&mut req))? {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }
}

/// The process's endpoint.
pub(crate) struct Comm {
    pub(crate) mpi: &'static Mpi,
    pub(crate) layout: Layout,
    outbox: Mutex<VecDeque<(usize, i32, Vec<u8>)>>,
    /// Held around every MPI call (`MPI_THREAD_SERIALIZED`).
    mpi_lock: Mutex<()>,
    /// Held by the caller running an allreduce: collectives start in the same order on every
    /// rank only if one caller at a time runs them.
    turn: Mutex<()>,
    /// Allreduces given up by their callers, finished by the comm thread.
    orphans: Mutex<Vec<Orphan>>,
    /// Allreduces started by this process.
    started: AtomicU64,
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
                    mpi_lock: Mutex::new(()),
                    turn: Mutex::new(()),
                    orphans: Mutex::new(Vec::new()),
                    started: AtomicU64::new(0),
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

    /// An allreduce among all ranks (every rank a worker), run on the calling thread: first
    /// whether every rank passed the same `check` ([`Comm::agree`]; `None` when they do not),
    /// then the sum of each group over every rank, in place, in order.
    pub(crate) fn allreduce(
        &self,
        check: i64,
        groups: Vec<(Elem, CpuStorage)>,
        timeout: Duration,
        what: &dyn Fn() -> String,
        give_up: &dyn Fn(u64) -> Option<String>,
    ) -> Result<Option<Vec<CpuStorage>>> {
        let mut slot = Some(groups);
        let turn = self.agree(check, timeout, what, give_up, &mut || slot.take().unwrap_or_default())?;
        let (Some(turn), Some(mut groups)) = (turn, slot) else {
            return Ok(None);
        };
        for (elem, g) in groups.iter_mut() {
            turn.sum(*elem, None, g.as_bytes_mut())?;
        }
        Ok(Some(groups.into_iter().map(|(_, g)| g).collect()))
    }

    /// The first half of an allreduce among all ranks, run on the calling thread: whether every
    /// rank passed the same `check` (the maximum of `check` and of its negation equal this
    /// rank's on every rank only when all agree). `Some` turn when they agree: the caller then
    /// runs the sums it agreed on with [`Turn::sum`], in the same order on every rank (every
    /// rank now takes part, so the sums have no deadline); `None` when they do not.
    ///
    /// Counts the allreduce as started (see [`Comm::allreduces`]; `give_up` gets the count).
    /// The agreement waits at most `timeout`, asking `give_up` and the interrupt check every
    /// 100 ms; `what` describes the wait for errors. A caller that gives up leaves the
    /// allreduce to the comm thread with the groups `orphan` returns (the values to sum in
    /// place, one per sum the caller would have run, of the same lengths), which finishes it
    /// if the other ranks come. After an error no further allreduce may run (the ranks'
    /// collectives no longer match).
    pub(crate) fn agree(
        &self,
        check: i64,
        timeout: Duration,
        what: &dyn Fn() -> String,
        give_up: &dyn Fn(u64) -> Option<String>,
        orphan: &mut dyn FnMut() -> Vec<(Elem, CpuStorage)>,
    ) -> Result<Option<Turn<'_>>> {
        let turn = self.turn.lock();
        let n = self.started.fetch_add(1, Ordering::AcqRel) + 1;
        // Boxed: MPI holds the address until the request completes (an orphan keeps it).
        let mut buf = Box::new([check, -check, 0, 0]);
        let (s, r) = bytes_of_mut(&mut buf).split_at_mut(16);
        // SAFETY: `buf` lives until the request completes below, or goes to the comm thread
        // with the request.
        let mut req = self.mpi_call(|m| unsafe { m.iallreduce(Some(s), r, Elem::I64, ReduceOp::Max) })?;
        let start = Instant::now();
        let (deadline, mut next) = (start + timeout, start + CHECK_EVERY);
        let mut spins = 0u32;
        while !self.mpi_call(|m| m.test(&mut req))? {
            spins = spins.saturating_add(1);
            backoff_waiting(spins);
            if !spins.is_multiple_of(16) {
                continue;
            }
            let now = Instant::now();
            if now < next {
                continue;
            }
            next = now + CHECK_EVERY;
            let why = if now >= deadline {
                Some(format!(
                    "{}: no reply within {} s (a process may have died or stopped calling the kvstore; \
                     MXNET_KVSTORE_TIMEOUT sets the limit)",
                    what(),
                    timeout.as_secs_f64()
                ))
            } else {
                let check = INTERRUPT.read().clone();
                check.and_then(|c| c()).map(|why| format!("{}: {why}", what())).or_else(|| give_up(n))
            };
            if let Some(why) = why {
                let groups = orphan();
                self.orphans.lock().push(Orphan { check: buf, req: Some(req), groups, sums: Vec::new() });
                self.wake();
                return Err(Error::msg(why));
            }
        }
        Ok((buf[..2] == buf[2..]).then_some(Turn { comm: self, _turn: turn }))
    }

    /// Sum `recv` (or `send` into `recv`) over every rank: with a blocking `MPI_Allreduce`
    /// when small (`None`), else the request of an `MPI_Iallreduce`. (Every rank must choose
    /// alike: blocking and non-blocking collectives do not match each other.)
    ///
    /// # Safety
    /// For a request, both buffers must stay alive, and `recv` untouched, until it completes.
    unsafe fn start_sum(&self, elem: Elem, send: Option<&[u8]>, recv: &mut [u8]) -> Result<Option<Handle>> {
        if recv.len() < BLOCKING_SUM_BYTES {
            return self.mpi_call(|m| m.allreduce(send, recv, elem, ReduceOp::Sum)).map(|()| None);
        }
        // SAFETY: the caller keeps both buffers alive, and `recv` untouched, until the request
        // completes.
        self.mpi_call(|m| unsafe { m.iallreduce(send, recv, elem, ReduceOp::Sum) }).map(Some)
    }

    /// Advance the orphaned allreduces (comm thread); true when any finished a phase.
    fn drive_orphans(&self) -> Result<bool> {
        let mut orphans = self.orphans.lock();
        let mut busy = false;
        let mut i = 0;
        while i < orphans.len() {
            let o = &mut orphans[i];
            if let Some(req) = o.req.as_mut() {
                if !self.mpi_call(|m| m.test(req))? {
                    i += 1;
                    continue;
                }
                busy = true;
                o.req = None;
                if o.check[..2] == o.check[2..] {
                    for (elem, g) in o.groups.iter_mut() {
                        // SAFETY: the orphan owns `g` (heap memory that does not move with the
                        // orphan) until its requests complete.
                        o.sums.extend(unsafe { self.start_sum(*elem, None, g.as_bytes_mut()) }?);
                    }
                }
            }
            let mut j = 0;
            while j < o.sums.len() {
                if self.mpi_call(|m| m.test(&mut o.sums[j]))? {
                    o.sums.swap_remove(j);
                    busy = true;
                } else {
                    j += 1;
                }
            }
            if o.req.is_none() && o.sums.is_empty() {
                orphans.swap_remove(i);
            } else {
                i += 1;
            }
        }
        Ok(busy)
    }

    /// Run `f` on MPI holding the MPI lock.
    fn mpi_call<R>(&self, f: impl FnOnce(&Mpi) -> R) -> R {
        let _g = self.mpi_lock.lock();
        f(self.mpi)
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
        let mut idle = 0u32;
        let result = loop {
            match self.step(&mut shard, &mut inflight).and_then(|b| Ok(self.drive_orphans()? || b)) {
                Ok(true) => idle = 0,
                Ok(false) => {
                    if self.stop.load(Ordering::Acquire) && inflight.is_empty() {
                        break Ok(());
                    }
                    idle = idle.saturating_add(1);
                    // Sends in flight need MPI calls to progress (large messages go in
                    // fragments), and a waiting caller wants its reply at once: no sleeping.
                    let urgent = !inflight.is_empty()
                        || self.waiting.load(Ordering::Acquire) > 0
                        || !self.orphans.lock().is_empty();
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
            let req = self.mpi_call(|m| m.isend(&buf, dest, tag))?;
            inflight.push(InFlight { req, _buf: buf });
            busy = true;
        }
        if let Some((src, tag, buf)) = self.mpi_call(Mpi::try_recv)? {
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
            if self.mpi_call(|m| m.test(&mut inflight[i].req))? {
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

/// A caller waiting for an allreduce's agreement: spin (the peers are usually there within
/// microseconds), then yield the core (another rank may need it), then nap 20 µs.
fn backoff_waiting(spins: u32) {
    if spins < 256 {
        std::hint::spin_loop();
    } else if spins < 4096 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(20));
    }
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
