//! A server shard: the keys (or parts of split keys) it owns, their stored values, and MXNet's
//! server semantics.
//!
//! * `dist_sync`: pushes of one key are queued per worker; a round completes when every worker
//!   has a queued push, then the round's values are summed and applied once (the updater, or
//!   assignment). A worker's pull is answered once every round it pushed into has completed, so
//!   every worker's pull after round *t* sees the same value.
//! * `dist_async`: a push is applied as it arrives (an updater is required); pulls are answered
//!   at once.
//! * Init is collective: the key exists once every worker sent its init (rank 0's carries the
//!   value); ranks that disagree on the shape or dtype all get an error naming both.
//! * Faults: a round that can never complete (a worker at a barrier or finished while others
//!   pushed the key: uneven pushes, MXNet's hang #7888) fails the key, and every waiting pull
//!   gets an error naming the key, the rank and the cause; so does an updater that raises.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use mxrs_ndarray_core::shape::fmt_shape;
use mxrs_ndarray_core::{Context, CpuStorage, DType, Error, NDArray, Result};
use parking_lot::{Mutex, RwLock};

use super::layout::Layout;
use super::wire::{FLAG_SYNC, FLAG_VALUE, Msg, Op};
use crate::store::{Key, Updater, sum_into};

/// Runs a server command (`cmd`, body) in the server's language (Python unpickles the
/// optimizer); may return the updater to install.
pub type Controller = Arc<dyn Fn(i32, &[u8]) -> Result<Option<Updater>> + Send + Sync>;

/// What the host language installs on this process's server shard.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) controller: RwLock<Option<Controller>>,
    pub(crate) updater: RwLock<Option<Updater>>,
    /// The body of the last optimizer command, so the same optimizer sent by every worker is
    /// installed once (its states survive).
    last_optimizer: Mutex<Option<Vec<u8>>>,
    /// Where host-language calls run: a dedicated server's main thread (which is inside
    /// `import mxrs`, so Python code on another thread would wait for the import lock), or,
    /// when unset, the calling (comm) thread.
    pub(crate) executor: Mutex<Option<Sender<Job>>>,
    /// Workers that cannot push now (why, allreduces they had started), as this process's
    /// shard saw them: a worker waiting in an allreduce fails at once when a peer blocked
    /// before starting it.
    pub(crate) blocked: Mutex<Vec<Option<(&'static str, u64)>>>,
}

/// Work handed to the executor thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

impl Hooks {
    /// Run `f` on the executor thread if there is one (waiting for it), else here.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let tx = self.executor.lock().clone();
        let Some(tx) = tx else {
            return f();
        };
        let (rtx, rrx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = rtx.send(f());
        });
        match tx.send(job) {
            Ok(()) => match rrx.recv() {
                Ok(v) => v,
                Err(_) => panic!("the kvstore server's executor dropped a job"),
            },
            Err(e) => {
                // The executor is gone (the server is ending): run the job here.
                (e.0)();
                rrx.recv().expect("a job run inline returns its result")
            }
        }
    }

    /// Call the updater on the executor.
    fn update(&self, u: &Updater, key: &Key, input: &NDArray, stored: &NDArray) -> Result<()> {
        let (u, key, input, stored) = (u.clone(), key.clone(), input.clone(), stored.clone());
        self.run(move || u(&key, &input, &stored))
    }
}

/// The process's hooks (one server shard per process at most).
pub(crate) fn hooks() -> &'static Arc<Hooks> {
    static HOOKS: std::sync::OnceLock<Arc<Hooks>> = std::sync::OnceLock::new();
    HOOKS.get_or_init(|| Arc::new(Hooks::default()))
}

/// One stored key, or one part of a split key.
struct Entry {
    shape: Vec<usize>,
    dtype: DType,
    stored: Option<NDArray>,
    /// Workers whose init arrived, with the request to answer.
    inits: Vec<(usize, u64)>,
    /// Each init's shape and dtype.
    init_meta: Vec<(usize, Vec<usize>, DType)>,
    init_conflicts: Vec<String>,
    /// Sync mode: pushed values not yet applied, per worker.
    queues: Vec<VecDeque<NDArray>>,
    /// Pushes received, per worker.
    pushes: Vec<u64>,
    /// Completed sync rounds.
    rounds: u64,
    /// Deferred pulls: (worker, request, rounds needed).
    pulls: Vec<(usize, u64, u64)>,
    failed: Option<String>,
}

type Replies = Vec<(usize, Msg)>;

/// A server shard.
pub(crate) struct Shard {
    index: usize,
    layout: Layout,
    hooks: Arc<Hooks>,
    entries: HashMap<(Key, i32), Entry>,
    barrier: Vec<(usize, u64)>,
    /// Per worker: why it cannot push now ("reached a barrier", "finished").
    blocked: Vec<Option<&'static str>>,
    finished: usize,
}

fn describe(key: &Key, part: i32) -> String {
    if part > 0 { format!("key {key} (part {part})") } else { format!("key {key}") }
}

impl Shard {
    pub(crate) fn new(index: usize, layout: Layout, hooks: Arc<Hooks>) -> Shard {
        Shard {
            index,
            layout,
            hooks,
            entries: HashMap::new(),
            barrier: Vec::new(),
            blocked: vec![None; layout.workers],
            finished: 0,
        }
    }

    /// True once every worker finished.
    pub(crate) fn done(&self) -> bool {
        self.finished >= self.layout.workers
    }

    fn me(&self) -> String {
        format!("server {} (rank {})", self.index, self.layout.rank)
    }

    /// Handle a request from rank `src`; returns the replies to send.
    pub(crate) fn handle(&mut self, src: usize, msg: Msg) -> Replies {
        if src >= self.layout.workers {
            return vec![(src, Msg::fail(msg.id, &format!("rank {src} is not a worker")))];
        }
        let mut out = Vec::new();
        let key = msg.key.clone().map(|k| (k, msg.arg));
        if matches!(msg.op, Op::Barrier | Op::Finalize) {
            let n = msg.body.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
            let mut b = self.hooks.blocked.lock();
            b.resize(self.layout.workers, None);
            b[src] = Some((if msg.op == Op::Barrier { "reached a barrier" } else { "finished" }, n));
        }
        match (msg.op, key) {
            (Op::Init, Some(k)) => self.init(src, k, msg, &mut out),
            (Op::Push, Some(k)) => self.push(src, k, msg, &mut out),
            (Op::Pull, Some(k)) => self.pull(src, k, &msg, &mut out),
            (Op::Command, _) => out.push((src, self.command(msg))),
            (Op::Barrier, _) => self.enter_barrier(src, msg.id, &mut out),
            (Op::Finalize, _) => {
                if self.blocked[src] != Some("finished") {
                    self.blocked[src] = Some("finished");
                    self.finished += 1;
                }
                self.fail_barrier(&format!("rank {src} finished while other workers wait at a barrier"), &mut out);
                self.check_stuck(&mut out);
                out.push((src, Msg::bare(Op::Ack, msg.id)));
            }
            (op, _) => out.push((src, Msg::fail(msg.id, &format!("{}: unexpected request {op:?}", self.me())))),
        }
        out
    }

    fn init(&mut self, w: usize, k: (Key, i32), msg: Msg, out: &mut Replies) {
        let nw = self.layout.workers;
        let name = describe(&k.0, k.1);
        let e = self.entries.entry(k).or_insert_with(|| Entry {
            shape: msg.shape.clone(),
            dtype: msg.dtype,
            stored: None,
            inits: Vec::new(),
            init_meta: Vec::new(),
            init_conflicts: Vec::new(),
            queues: vec![VecDeque::new(); nw],
            pushes: vec![0; nw],
            rounds: 0,
            pulls: Vec::new(),
            failed: None,
        });
        if e.inits.len() >= nw || e.inits.iter().any(|&(v, _)| v == w) {
            out.push((w, Msg::fail(msg.id, &format!("duplicate init of {name} (rank {w})"))));
            return;
        }
        if msg.flags & FLAG_VALUE != 0 {
            match array(&msg) {
                Ok(a) => e.stored = Some(a),
                Err(err) => e.init_conflicts.push(format!("rank {w}'s value: {err}")),
            }
        }
        e.init_meta.push((w, msg.shape.clone(), msg.dtype));
        e.inits.push((w, msg.id));
        if e.inits.len() < nw {
            return;
        }
        // Rank 0's init decides (MXNet initialises from rank 0); the others must agree.
        if let Some((_, shape, dtype)) = e.init_meta.iter().find(|m| m.0 == 0).cloned() {
            for (v, sh, dt) in &e.init_meta {
                if *sh != shape || *dt != dtype {
                    e.init_conflicts.push(format!(
                        "rank {v} has shape {} dtype {dt} but rank 0 has shape {} dtype {dtype}",
                        fmt_shape(sh),
                        fmt_shape(&shape)
                    ));
                }
            }
            (e.shape, e.dtype) = (shape, dtype);
        }
        let problem = if !e.init_conflicts.is_empty() {
            Some(format!("ranks disagree on {name}: {}", e.init_conflicts.join("; ")))
        } else {
            e.stored.is_none().then(|| format!("{name}: rank 0 sent no initial value"))
        };
        for &(v, id) in &e.inits {
            out.push((v, problem.as_ref().map_or_else(|| Msg::bare(Op::Ack, id), |p| Msg::fail(id, p))));
        }
        e.failed = problem;
    }

    /// The initialised entry of `k`, or the failure message for `id`.
    fn ready(&mut self, k: &(Key, i32), id: u64, w: usize) -> std::result::Result<&mut Entry, Msg> {
        let nw = self.layout.workers;
        match self.entries.get_mut(k) {
            Some(e) if e.inits.len() == nw => match &e.failed {
                Some(f) => Err(Msg::fail(id, f)),
                None => Ok(e),
            },
            _ => Err(Msg::fail(id, &format!("{} has not been inited (rank {w})", describe(&k.0, k.1)))),
        }
    }

    fn push(&mut self, w: usize, k: (Key, i32), msg: Msg, out: &mut Replies) {
        let name = describe(&k.0, k.1);
        let me = self.me();
        let updater = self.hooks.updater.read().clone();
        let hooks = self.hooks.clone();
        let e = match self.ready(&k, msg.id, w) {
            Ok(e) => e,
            Err(m) => return out.push((w, m)),
        };
        if msg.shape != e.shape || msg.dtype != e.dtype {
            let m = format!(
                "ranks disagree on {name}: rank {w} pushed shape {} dtype {} but the key holds shape {} dtype {}",
                fmt_shape(&msg.shape),
                msg.dtype,
                fmt_shape(&e.shape),
                e.dtype
            );
            out.push((w, Msg::fail(msg.id, &m)));
            return fail_entry(e, m, out);
        }
        let value = match array(&msg) {
            Ok(v) => v,
            Err(err) => return out.push((w, Msg::fail(msg.id, &format!("{name}: {err}")))),
        };
        e.pushes[w] += 1;
        if msg.flags & FLAG_SYNC == 0 {
            let Some(u) = updater else {
                let m = format!("{name}: Updater needs to be set for async mode (call kv.set_optimizer first)");
                return out.push((w, Msg::fail(msg.id, &m)));
            };
            let stored = e.stored.clone().expect("initialised entries have a value");
            if let Err(err) = hooks.update(&u, &k.0, &value, &stored).and_then(|()| stored.wait_to_read()) {
                out.push((w, Msg::fail(msg.id, &format!("{name}: the updater on {me} raised: {err}"))));
            }
            e.rounds = e.pushes.iter().sum();
            return;
        }
        e.queues[w].push_back(value);
        complete_rounds(e, &k.0, &name, updater.as_ref().map(|u| (u, &*hooks)), &me, out);
        self.check_stuck(out);
    }

    fn pull(&mut self, w: usize, k: (Key, i32), msg: &Msg, out: &mut Replies) {
        let e = match self.ready(&k, msg.id, w) {
            Ok(e) => e,
            Err(m) => return out.push((w, m)),
        };
        let (id, need) = (msg.id, e.pushes[w]);
        if msg.flags & FLAG_SYNC == 0 || e.rounds >= need {
            out.push((w, data(e, id)));
        } else {
            e.pulls.push((w, id, need));
        }
    }

    fn command(&mut self, msg: Msg) -> Msg {
        let controller = self.hooks.controller.read().clone();
        let Some(c) = controller else {
            return Msg::fail(msg.id, &format!("{}: no command handler is installed", self.me()));
        };
        if msg.arg == 0 {
            let mut last = self.hooks.last_optimizer.lock();
            if last.as_deref() == Some(&msg.body[..]) {
                return Msg::bare(Op::Ack, msg.id);
            }
            *last = Some(msg.body.clone());
        }
        let (cmd, body) = (msg.arg, msg.body.clone());
        match self.hooks.run(move || c(cmd, &body)) {
            Ok(Some(u)) => {
                *self.hooks.updater.write() = Some(u);
                Msg::bare(Op::Ack, msg.id)
            }
            Ok(None) => Msg::bare(Op::Ack, msg.id),
            Err(e) => Msg::fail(msg.id, &format!("{}: server command {} failed: {e}", self.me(), msg.arg)),
        }
    }

    fn enter_barrier(&mut self, w: usize, id: u64, out: &mut Replies) {
        self.blocked[w] = Some("reached a barrier");
        self.barrier.push((w, id));
        if self.check_stuck(out) {
            self.fail_barrier("a key's push round can never complete (see the key's error)", out);
            return;
        }
        if self.barrier.len() + self.finished >= self.layout.workers {
            if self.finished > 0 {
                return self.fail_barrier("a worker finished before reaching the barrier", out);
            }
            for (v, id) in self.barrier.drain(..) {
                self.blocked[v] = None;
                if let Some(b) = self.hooks.blocked.lock().get_mut(v) {
                    *b = None;
                }
                out.push((v, Msg::bare(Op::Ack, id)));
            }
        }
    }

    fn fail_barrier(&mut self, why: &str, out: &mut Replies) {
        for (v, id) in self.barrier.drain(..) {
            self.blocked[v] = None;
            if let Some(b) = self.hooks.blocked.lock().get_mut(v) {
                *b = None;
            }
            out.push((v, Msg::fail(id, &format!("barrier failed on rank {v}: {why}"))));
        }
    }

    /// Fail every key whose sync round waits for a worker that cannot push; true if any.
    fn check_stuck(&mut self, out: &mut Replies) -> bool {
        let blocked = self.blocked.clone();
        let mut any = false;
        for (k, e) in self.entries.iter_mut() {
            if e.failed.is_some() || e.queues.iter().all(VecDeque::is_empty) {
                continue;
            }
            let waiting: Vec<usize> = (0..blocked.len()).filter(|&v| !e.queues[v].is_empty()).collect();
            let Some((v, why)) =
                (0..blocked.len()).find_map(|v| blocked[v].filter(|_| e.queues[v].is_empty()).map(|w| (v, w)))
            else {
                continue;
            };
            let m = format!(
                "{}: rank {v} {why} without pushing it while rank(s) {waiting:?} pushed it (push {} of the \
                 key); every worker must push each key equally often under dist_sync (uneven batch counts?)",
                describe(&k.0, k.1),
                e.rounds + 1
            );
            fail_entry(e, m, out);
            any = true;
        }
        any
    }
}

/// The array a message carries.
fn array(msg: &Msg) -> Result<NDArray> {
    let data = CpuStorage::from_le_bytes(msg.dtype, &msg.body)?;
    if data.len() != msg.shape.iter().product::<usize>() {
        return Err(Error::msg(format!("{} values for shape {}", data.len(), fmt_shape(&msg.shape))));
    }
    NDArray::from_cpu(data, &msg.shape, Context::cpu(0))
}

/// A reply carrying the stored value (waiting for pending updates to it).
fn data(e: &Entry, id: u64) -> Msg {
    let stored = e.stored.as_ref().expect("initialised entries have a value");
    match stored.to_bytes() {
        Ok(body) => Msg { dtype: e.dtype, shape: e.shape.clone(), body, ..Msg::bare(Op::Data, id) },
        Err(err) => Msg::fail(id, &format!("reading the stored value failed: {err}")),
    }
}

/// Apply every complete round, then answer the pulls it unblocks.
fn complete_rounds(
    e: &mut Entry,
    key: &Key,
    name: &str,
    updater: Option<(&Updater, &Hooks)>,
    me: &str,
    out: &mut Replies,
) {
    while e.queues.iter().all(|q| !q.is_empty()) {
        let values: Vec<NDArray> = e.queues.iter_mut().filter_map(VecDeque::pop_front).collect();
        let stored = e.stored.clone().expect("initialised entries have a value");
        let r = apply_round(key, &values, &stored, updater);
        match r {
            Ok(Some(merged)) => e.stored = Some(merged),
            Ok(None) => {}
            Err(err) => return fail_entry(e, format!("{name}: the updater on {me} raised: {err}"), out),
        }
        e.rounds += 1;
    }
    let rounds = e.rounds;
    let (ready, waiting): (Vec<_>, Vec<_>) = e.pulls.drain(..).partition(|&(_, _, need)| need <= rounds);
    e.pulls = waiting;
    for (w, id, _) in ready {
        out.push((w, data(e, id)));
    }
}

/// Sum a round's values; give the sum to the updater (`None` returned) or return it to store.
fn apply_round(
    key: &Key,
    values: &[NDArray],
    stored: &NDArray,
    updater: Option<(&Updater, &Hooks)>,
) -> Result<Option<NDArray>> {
    let merged = if values.len() == 1 {
        values[0].clone()
    } else {
        let m = NDArray::zeros(stored.shape(), stored.dtype(), Context::cpu(0))?;
        sum_into(values, &m)?;
        m
    };
    match updater {
        Some((u, hooks)) => {
            hooks.update(u, key, &merged, stored)?;
            stored.wait_to_read()?;
            Ok(None)
        }
        None => Ok(Some(merged)),
    }
}

/// Mark the entry failed and fail its waiting pulls.
fn fail_entry(e: &mut Entry, message: String, out: &mut Replies) {
    for (w, id, _) in e.pulls.drain(..) {
        out.push((w, Msg::fail(id, &message)));
    }
    for q in e.queues.iter_mut() {
        q.clear();
    }
    e.failed = Some(message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::wire::FLAG_SYNC;

    fn shard(workers: usize) -> Shard {
        let layout = Layout { rank: workers, workers, servers: 1, dedicated: true };
        Shard::new(0, layout, Arc::new(Hooks::default()))
    }

    fn msg(op: Op, id: u64, key: i64, shape: &[usize], value: Option<f32>) -> Msg {
        let n: usize = shape.iter().product();
        let body = value.map_or(Vec::new(), |v| v.to_le_bytes().repeat(n));
        let flags = FLAG_SYNC | if value.is_some() && op == Op::Init { FLAG_VALUE } else { 0 };
        Msg { key: Some(Key::Int(key)), shape: shape.to_vec(), body, flags, ..Msg::bare(op, id) }
    }

    fn value(m: &Msg) -> f32 {
        assert_eq!(m.op, Op::Data, "{}", m.text());
        f32::from_le_bytes(m.body[..4].try_into().unwrap())
    }

    fn init2(s: &mut Shard, key: i64) {
        assert!(s.handle(0, msg(Op::Init, 1, key, &[2], Some(1.0))).is_empty());
        let r = s.handle(1, msg(Op::Init, 2, key, &[2], None));
        assert_eq!(r.iter().map(|(w, m)| (*w, m.op)).collect::<Vec<_>>(), [(0, Op::Ack), (1, Op::Ack)]);
    }

    #[test]
    fn sync_rounds_sum_every_worker_before_answering_pulls() {
        let mut s = shard(2);
        init2(&mut s, 3);
        assert!(s.handle(0, msg(Op::Push, 3, 3, &[2], Some(1.0))).is_empty());
        // Worker 0's pull waits for the round it pushed into.
        assert!(s.handle(0, msg(Op::Pull, 4, 3, &[2], None)).is_empty());
        // Worker 1 has not pushed: it reads the previous value.
        let r = s.handle(1, msg(Op::Pull, 5, 3, &[2], None));
        assert_eq!(value(&r[0].1), 1.0);
        let r = s.handle(1, msg(Op::Push, 6, 3, &[2], Some(2.0)));
        assert_eq!((r[0].0, r[0].1.id, value(&r[0].1)), (0, 4, 3.0));
        let r = s.handle(1, msg(Op::Pull, 7, 3, &[2], None));
        assert_eq!(value(&r[0].1), 3.0);
    }

    #[test]
    fn disagreeing_inits_fail_on_every_rank() {
        let mut s = shard(2);
        s.handle(1, msg(Op::Init, 1, 3, &[3], None));
        let r = s.handle(0, msg(Op::Init, 2, 3, &[2], Some(1.0)));
        assert_eq!(r.len(), 2);
        for (_, m) in &r {
            assert_eq!(m.op, Op::Fail);
            assert!(m.text().contains("rank 1 has shape (3) dtype float32 but rank 0 has shape (2)"), "{}", m.text());
        }
        let r = s.handle(0, msg(Op::Push, 3, 3, &[2], Some(1.0)));
        assert!(r[0].1.text().contains("ranks disagree on key 3"));
    }

    #[test]
    fn a_round_that_cannot_complete_fails_instead_of_hanging() {
        let mut s = shard(2);
        init2(&mut s, 3);
        s.handle(0, msg(Op::Push, 3, 3, &[2], Some(1.0)));
        assert!(s.handle(0, msg(Op::Pull, 4, 3, &[2], None)).is_empty());
        let r = s.handle(1, Msg::bare(Op::Barrier, 5));
        let texts: Vec<(usize, String)> = r.iter().map(|(w, m)| (*w, m.text())).collect();
        assert!(texts.iter().any(|(w, t)| *w == 0 && t.contains("key 3: rank 1 reached a barrier without pushing")));
        assert!(texts.iter().any(|(w, t)| *w == 1 && t.contains("barrier failed on rank 1")), "{texts:?}");
        let r = s.handle(1, msg(Op::Push, 6, 3, &[2], Some(1.0)));
        assert_eq!(r[0].1.op, Op::Fail);
    }

    #[test]
    fn async_pushes_need_an_updater_and_pulls_do_not_wait() {
        let mut s = shard(2);
        init2(&mut s, 3);
        let mut push = msg(Op::Push, 3, 3, &[2], Some(1.0));
        push.flags = 0;
        let r = s.handle(0, push.clone());
        assert!(r[0].1.text().contains("Updater needs to be set for async mode"));
        let add: Updater = Arc::new(|_k: &Key, input: &NDArray, stored: &NDArray| {
            let sum: Vec<f32> = (0..input.size())
                .map(|i| {
                    (input.to_cpu_storage().unwrap().get_f64(i) + stored.to_cpu_storage().unwrap().get_f64(i)) as f32
                })
                .collect();
            stored.write_from_cpu(CpuStorage::F32(sum.into()))
        });
        *s.hooks.updater.write() = Some(add);
        assert!(s.handle(0, push.clone()).is_empty());
        let mut pull = msg(Op::Pull, 4, 3, &[2], None);
        pull.flags = 0;
        assert_eq!(value(&s.handle(1, pull)[0].1), 2.0);
    }

    #[test]
    fn finishing_counts_workers_and_uninitialised_keys_fail() {
        let mut s = shard(2);
        let r = s.handle(0, msg(Op::Pull, 1, 9, &[2], None));
        assert!(r[0].1.text().contains("key 9 has not been inited (rank 0)"));
        s.handle(0, Msg::bare(Op::Finalize, 2));
        assert!(!s.done());
        s.handle(1, Msg::bare(Op::Finalize, 3));
        assert!(s.done());
        let r = s.handle(5, Msg::bare(Op::Barrier, 4));
        assert!(r[0].1.text().contains("rank 5 is not a worker"));
    }

    #[test]
    fn blocked_workers_are_published_with_their_allreduce_counts() {
        let mut s = shard(2);
        let barrier = |id, n: u64| Msg { body: n.to_le_bytes().to_vec(), ..Msg::bare(Op::Barrier, id) };
        assert!(s.handle(1, barrier(1, 4)).is_empty());
        assert_eq!(s.hooks.blocked.lock().clone(), vec![None, Some(("reached a barrier", 4))]);
        let r = s.handle(0, barrier(2, 4));
        assert_eq!(r.len(), 2);
        assert_eq!(s.hooks.blocked.lock().clone(), vec![None, None]);
        s.handle(0, Msg { body: 7u64.to_le_bytes().to_vec(), ..Msg::bare(Op::Finalize, 3) });
        assert_eq!(s.hooks.blocked.lock()[0], Some(("finished", 7)));
    }
}
