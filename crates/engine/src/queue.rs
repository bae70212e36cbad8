//! Engine variables and the per-variable dependency protocol of the threaded engines (MXNet's
//! `ThreadedVar`). A [`Var`], its [`VarQueue`] and the [`OprBlock`]s waiting in that queue refer
//! to one another, so they live together here.
//!
//! Every [`Var`] carries a [`VarQueue`]: a count of running reads, a flag for a running write,
//! and a FIFO of ops waiting for the variable. Every pushed op is an [`OprBlock`] whose wait
//! counter starts at `reads + writes + 1`; each grant on one of its variables takes one off, and
//! the push itself takes the extra one off once the op is registered everywhere. Whoever takes
//! the counter to zero owns the dispatch of the op. See `README.md` for the invariants.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use crate::error::EngineError;
use crate::op::{Device, FnProperty, OpFn};

static NEXT_VAR_ID: AtomicU64 = AtomicU64::new(1);

/// Variable ids are handed to each thread in blocks of this many, so that making one (every
/// op's new output) takes no shared atomic operation. Ids order lock taking and tell
/// variables apart; nothing needs them in creation order.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's next id and the end of its block.
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A process-unique variable id.
fn next_id() -> u64 {
    IDS.try_with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_VAR_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
    // A thread being torn down takes one id at a time.
    .unwrap_or_else(|_| NEXT_VAR_ID.fetch_add(1, Ordering::Relaxed))
}

/// A versioned variable. Ops declare the variables they read and write; the engine orders ops
/// by them. Cloning gives another handle to the same variable. A variable is deleted when its
/// last handle is dropped, which happens only after every pending op holding it has finished,
/// because pending ops hold handles.
#[derive(Clone)]
pub struct Var(pub(crate) Arc<VarInner>);

pub(crate) struct VarInner {
    pub(crate) id: u64,
    pub(crate) version: AtomicU64,
    /// The error of the last failed op that wrote this variable; cleared by a successful write.
    pub(crate) error: Mutex<Option<EngineError>>,
    /// Whether `error` holds one: set and cleared with it, under its lock, so that the common
    /// case (no error) is read without taking the lock.
    pub(crate) failed: AtomicBool,
    /// Scheduling state used by the threaded engines.
    pub(crate) sched: Mutex<VarQueue>,
}

impl Var {
    /// A new variable with version 0 and no pending ops.
    pub fn new() -> Var {
        Var(Arc::new(VarInner {
            id: next_id(),
            version: AtomicU64::new(0),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            sched: Mutex::new(Default::default()),
        }))
    }

    /// A process-unique id, for debugging and for detecting duplicates.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// How many writes have completed on this variable.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// The error a failed write left on this variable, if any.
    pub fn error(&self) -> Option<EngineError> {
        if !self.failed() {
            return None;
        }
        self.0.error.lock().clone()
    }

    /// Whether the last write of this variable failed (its error is set). Ordered after that
    /// write as [`Var::version`] is: a caller that saw the write finish sees its outcome.
    pub(crate) fn failed(&self) -> bool {
        self.0.failed.load(Ordering::Acquire)
    }

    /// True if both handles name the same variable.
    pub fn same(&self, other: &Var) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Record the outcome of a write: set or clear the error and bump the version.
    pub(crate) fn finish_write(&self, error: Option<&EngineError>) {
        let mut slot = self.0.error.lock();
        *slot = error.cloned();
        self.0.failed.store(error.is_some(), Ordering::Release);
        drop(slot);
        self.0.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Default for Var {
    fn default() -> Self {
        Var::new()
    }
}

impl fmt::Debug for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var#{}(v{})", self.id(), self.version())
    }
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

/// The first error found on `reads` (inherited errors make the op skip).
pub(crate) fn inherited_error(reads: &[Var]) -> Option<EngineError> {
    reads.iter().find_map(|v| v.error())
}

/// A pushed op with its dependencies and its wait counter.
pub(crate) struct OprBlock {
    /// Grants still missing before the op may run (plus one while the push is in progress).
    wait: AtomicUsize,
    /// The closure; taken exactly once, by whoever runs or skips the op.
    func: Mutex<Option<OpFn>>,
    /// Variables read (normalised: no duplicates, none also written).
    pub(crate) reads: Vec<Var>,
    /// Variables written (normalised: no duplicates).
    pub(crate) writes: Vec<Var>,
    /// Written variables the caller also listed as read (in-place ops such as `x += 1`): an
    /// error on them makes the op skip, as an error on a read does.
    pub(crate) read_writes: Vec<Var>,
    pub(crate) device: Device,
    pub(crate) prop: FnProperty,
    pub(crate) priority: i32,
    pub(crate) name: &'static str,
    /// Push sequence number: FIFO tie-break inside priority lanes.
    pub(crate) seq: u64,
}

/// A shared handle to a pushed op.
pub(crate) type Opr = Arc<OprBlock>;

impl OprBlock {
    /// A new op block; `reads` and `writes` must already be normalised.
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        func: OpFn,
        reads: Vec<Var>,
        writes: Vec<Var>,
        device: Device,
        prop: FnProperty,
        priority: i32,
        name: &'static str,
        seq: u64,
    ) -> Opr {
        Self::with_read_writes(func, reads, writes, Vec::new(), device, prop, priority, name, seq)
    }

    /// [`OprBlock::new`] with the written variables that were also read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn with_read_writes(
        func: OpFn,
        reads: Vec<Var>,
        writes: Vec<Var>,
        read_writes: Vec<Var>,
        device: Device,
        prop: FnProperty,
        priority: i32,
        name: &'static str,
        seq: u64,
    ) -> Opr {
        Arc::new(OprBlock {
            wait: AtomicUsize::new(reads.len() + writes.len() + 1),
            func: Mutex::new(Some(func)),
            reads,
            writes,
            read_writes,
            device,
            prop,
            priority,
            name,
            seq,
        })
    }

    /// Take the closure out (`None` if it was already taken).
    pub(crate) fn take_func(&self) -> Option<OpFn> {
        self.func.lock().take()
    }

    /// Remove `n` from the wait counter; true when that made it reach zero.
    fn release_waits(&self, n: usize) -> bool {
        let before = self.wait.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "wait counter underflow in op {}", self.name);
        before == n
    }
}

impl fmt::Debug for OprBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OprBlock")
            .field("name", &self.name)
            .field("seq", &self.seq)
            .field("wait", &self.wait.load(Ordering::Relaxed))
            .finish()
    }
}

/// How an op uses a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Per-variable scheduling state (lives in `Var`'s `sched` mutex).
///
/// Invariants (checked by `check` in tests):
/// * never a running write together with running reads;
/// * a read waits in `waiting` only behind a write: if the front entry is a read, a write is
///   running;
/// * if the front entry is a write and no write is running, reads are running (it waits for
///   them).
#[derive(Debug, Default)]
pub(crate) struct VarQueue {
    running_reads: usize,
    write_running: bool,
    waiting: VecDeque<(Opr, Access)>,
}

impl VarQueue {
    /// Whether an access arriving now would be granted at once: a read when no write runs or
    /// waits, a write when nothing runs or waits.
    fn free_for(&self, access: Access) -> bool {
        !self.write_running
            && self.waiting.is_empty()
            && match access {
                Access::Read => true,
                Access::Write => self.running_reads == 0,
            }
    }

    /// Grant `access` (the variable must be [`VarQueue::free_for`] it).
    fn grant(&mut self, access: Access) {
        match access {
            Access::Read => self.running_reads += 1,
            Access::Write => self.write_running = true,
        }
    }

    /// Register `op`'s `access`; true if granted at once.
    fn append(&mut self, op: &Opr, access: Access) -> bool {
        if self.free_for(access) {
            self.grant(access);
            true
        } else {
            self.waiting.push_back((op.clone(), access));
            false
        }
    }

    /// Grant the write at the front, if there is one (no reads may be running).
    fn grant_front_write(&mut self, granted: &mut Vec<Opr>) {
        if let Some((_, Access::Write)) = self.waiting.front()
            && let Some((op, _)) = self.waiting.pop_front()
        {
            self.write_running = true;
            granted.push(op);
        }
    }

    /// A running read finished; grant the next write once the last read is done.
    fn finish_read(&mut self, granted: &mut Vec<Opr>) {
        debug_assert!(self.running_reads > 0 && !self.write_running);
        self.running_reads -= 1;
        if self.running_reads == 0 {
            self.grant_front_write(granted);
        }
    }

    /// The running write finished: grant the consecutive reads after it, or else the next
    /// write.
    fn finish_write(&mut self, granted: &mut Vec<Opr>) {
        debug_assert!(self.write_running && self.running_reads == 0);
        self.write_running = false;
        while matches!(self.waiting.front(), Some((_, Access::Read))) {
            if let Some((op, _)) = self.waiting.pop_front() {
                self.running_reads += 1;
                granted.push(op);
            }
        }
        if self.running_reads == 0 {
            self.grant_front_write(granted);
        }
    }

    /// True when no write runs or waits (a waiting read always waits behind a write).
    pub(crate) fn writes_done(&self) -> bool {
        !self.write_running && self.waiting.is_empty()
    }

    /// Assert the invariants (tests only).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        assert!(!(self.write_running && self.running_reads > 0), "{self:?}");
        match self.waiting.front() {
            Some((_, Access::Read)) => assert!(self.write_running, "read waits for nothing"),
            Some((_, Access::Write)) if !self.write_running => {
                assert!(self.running_reads > 0, "write waits for nothing")
            }
            _ => {}
        }
    }

    /// True when nothing runs or waits on the variable.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.running_reads == 0 && !self.write_running && self.waiting.is_empty()
    }
}

/// Register `op` on all its variables. Returns true when the op is ready to run now (the caller
/// then owns its dispatch).
///
/// All the variables' locks are taken in id order and held together while the op is appended
/// (two-phase locking). Hence any two ops that share variables are queued in the same relative
/// order on every shared variable, even when pushed from different threads at once, so the
/// waits-for relation stays acyclic and no push can deadlock the engine.
pub(crate) fn append(op: &Opr) -> bool {
    let mut vars: Vec<(&Var, Access)> = Vec::with_capacity(op.reads.len() + op.writes.len());
    vars.extend(op.reads.iter().map(|v| (v, Access::Read)));
    vars.extend(op.writes.iter().map(|v| (v, Access::Write)));
    vars.sort_unstable_by_key(|(v, _)| v.id());
    let mut guards: Vec<MutexGuard<'_, VarQueue>> = vars.iter().map(|(v, _)| v.0.sched.lock()).collect();
    let mut granted = 0;
    for ((_, access), queue) in vars.iter().zip(guards.iter_mut()) {
        granted += usize::from(queue.append(op, *access));
    }
    drop(guards);
    op.release_waits(granted + 1)
}

/// Give up `op`'s read of `var`; ops made ready go to the back of `ready`.
pub(crate) fn release_read(var: &Var, ready: &mut VecDeque<Opr>) {
    let mut granted = Vec::new();
    var.0.sched.lock().finish_read(&mut granted);
    collect_ready(granted, ready);
}

/// Finish `op`'s write of `var`: record the outcome (error or none, version + 1) before anyone
/// else may see the variable, then grant what follows; ops made ready go to `ready`.
pub(crate) fn release_write(var: &Var, error: Option<&EngineError>, ready: &mut VecDeque<Opr>) {
    let mut granted = Vec::new();
    {
        let mut queue = var.0.sched.lock();
        var.finish_write(error);
        queue.finish_write(&mut granted);
    }
    collect_ready(granted, ready);
}

/// Release every variable of a finished op, reads first, then writes.
pub(crate) fn release(op: &OprBlock, error: Option<&EngineError>, ready: &mut VecDeque<Opr>) {
    for v in &op.reads {
        release_read(v, ready);
    }
    for v in &op.writes {
        release_write(v, error, ready);
    }
}

/// The variables of an op granted at once by [`claim`], each once, in id order: the op runs
/// without an [`OprBlock`] or a place in any queue, and [`Claim::release`] ends it.
pub(crate) struct Claim<'a> {
    /// Each variable with the access granted, and whether the op reads it (a read, or a
    /// write the caller also listed as read).
    vars: SmallVec<[(&'a Var, Access, bool); 6]>,
}

/// Run `f` at once, with every variable in `reads` held still: when no write runs or waits on
/// any of them and none carries the error of a failed write; `None`, without running `f`,
/// otherwise. The variables' queues stay locked while `f` runs (taken in id order, as
/// [`claim`] takes them), so an op pushed meanwhile by another thread waits until `f` returns,
/// as it would behind a granted read, but blocked in `push` on the locks rather than queued.
/// `f` should therefore be short (a long one, such as an MPI sum, stalls only the threads that
/// push or wait on these variables meanwhile), and must not push ops, wait on the engine or
/// take these locks again.
///
/// This is the imperative call's short way for a tiny op on ready inputs: no claim to release,
/// no op to dispatch afterwards, since nothing could queue behind it.
pub fn read_now<R>(reads: &[&Var], f: impl FnOnce() -> R) -> Option<R> {
    // One or two variables (every unary and binary op) without the general case's lists.
    let (first, second) = match reads {
        [a] => (*a, None),
        [a, b] if a.same(b) => (*a, None),
        [a, b] if a.id() < b.id() => (*a, Some(*b)),
        [a, b] => (*b, Some(*a)),
        _ => return hold_now(reads, None, || Some(f())),
    };
    let still = |v: &Var, q: &VarQueue| q.free_for(Access::Read) && !v.failed();
    let q1 = first.0.sched.lock();
    let q2 = second.map(|v| v.0.sched.lock());
    if !still(first, &q1) || second.zip(q2.as_deref()).is_some_and(|(v, q)| !still(v, q)) {
        return None;
    }
    let r = f();
    drop((q2, q1));
    Some(r)
}

/// [`read_now`] for an op that also writes `write` (which may be among `reads`): that variable
/// must also have no read running. `f` returns `None` when it wrote nothing (the caller then
/// runs the op the general way); otherwise the write counts as a successful one.
pub fn write_now<R>(reads: &[&Var], write: &Var, f: impl FnOnce() -> Option<R>) -> Option<R> {
    hold_now(reads, Some(write), f)
}

fn hold_now<R>(reads: &[&Var], write: Option<&Var>, f: impl FnOnce() -> Option<R>) -> Option<R> {
    let mut vars: SmallVec<[(&Var, Access); 4]> = SmallVec::new();
    vars.extend(write.map(|w| (w, Access::Write)));
    for v in reads {
        if !vars.iter().any(|(x, _)| x.same(v)) {
            vars.push((v, Access::Read));
        }
    }
    vars.sort_unstable_by_key(|(v, _)| v.id());
    let guards: SmallVec<[MutexGuard<'_, VarQueue>; 4]> = vars.iter().map(|(v, _)| v.0.sched.lock()).collect();
    // An op skips on an error of a variable it reads (written ones are read here too).
    let read = |v: &Var| reads.iter().any(|r| r.same(v));
    if !vars.iter().zip(&guards).all(|((_, a), q)| q.free_for(*a)) || vars.iter().any(|(v, _)| read(v) && v.failed()) {
        return None;
    }
    let r = f()?;
    if let Some(w) = write {
        w.finish_write(None);
    }
    drop(guards);
    Some(r)
}

/// Grant an op all its variables now, when every one is free for it (as [`append`] would
/// grant them at once); `None`, with nothing changed, when any would have to wait. `reads`
/// and `writes` as given to `push` (duplicates allowed, a variable in both is written).
///
/// Locks are taken as [`append`] takes them (all together, in id order), so a claim is
/// ordered against concurrent pushes exactly like an appended op granted at once.
pub(crate) fn claim<'a>(reads: &'a [Var], writes: &'a [Var]) -> Option<Claim<'a>> {
    let mut vars: SmallVec<[(&'a Var, Access, bool); 6]> = SmallVec::new();
    for w in writes {
        if !vars.iter().any(|(v, _, _)| v.same(w)) {
            vars.push((w, Access::Write, reads.iter().any(|r| r.same(w))));
        }
    }
    for r in reads {
        if !vars.iter().any(|(v, _, _)| v.same(r)) {
            vars.push((r, Access::Read, true));
        }
    }
    vars.sort_unstable_by_key(|(v, _, _)| v.id());
    let mut guards: SmallVec<[MutexGuard<'_, VarQueue>; 6]> = vars.iter().map(|(v, _, _)| v.0.sched.lock()).collect();
    if !vars.iter().zip(&guards).all(|((_, access, _), q)| q.free_for(*access)) {
        return None;
    }
    for ((_, access, _), q) in vars.iter().zip(guards.iter_mut()) {
        q.grant(*access);
    }
    drop(guards);
    Some(Claim { vars })
}

impl Claim<'_> {
    /// The error on a variable the op reads, which makes it skip: on the variables it only
    /// reads first, then on those it also writes (as [`inherited_error`] over an op's reads,
    /// then its read-writes).
    pub(crate) fn inherited_error(&self, reads: &[Var]) -> Option<EngineError> {
        let only_read = |v: &Var| self.vars.iter().any(|(x, a, _)| x.same(v) && *a == Access::Read);
        let read_write = |v: &Var| self.vars.iter().any(|(x, a, r)| x.same(v) && *a == Access::Write && *r);
        reads.iter().filter(|v| only_read(v)).chain(reads.iter().filter(|v| read_write(v))).find_map(|v| v.error())
    }

    /// Release every variable, reads first, then writes (as [`release`]); ops made ready go
    /// to `ready`.
    pub(crate) fn release(self, error: Option<&EngineError>, ready: &mut VecDeque<Opr>) {
        for (v, _, _) in self.vars.iter().filter(|(_, a, _)| *a == Access::Read) {
            release_read(v, ready);
        }
        for (v, _, _) in self.vars.iter().filter(|(_, a, _)| *a == Access::Write) {
            release_write(v, error, ready);
        }
    }
}

fn collect_ready(granted: Vec<Opr>, ready: &mut VecDeque<Opr>) {
    for op in granted {
        if op.release_waits(1) {
            ready.push_back(op);
        }
    }
}
