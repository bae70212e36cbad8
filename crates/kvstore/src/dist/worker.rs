//! The worker side: [`DistStore`], MXNet's `dist_sync` / `dist_async` store as seen by a worker.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mxrs_ndarray_core::shape::fmt_shape;
use mxrs_ndarray_core::{Context, CpuStorage, DType, Error, NDArray, Result};
use parking_lot::Mutex;

use super::comm::Comm;
use super::mpi::Elem;
use super::wire::{FLAG_SYNC, FLAG_VALUE, Msg, Op};
use crate::store::{KVStore, Key, Updater, check_lengths, sum_into};

/// Arrays with at least this many elements are split evenly over all servers
/// (`MXNET_KVSTORE_BIGARRAY_BOUND`, MXNet's default 1e6).
const DEFAULT_BIGARRAY_BOUND: usize = 1_000_000;
/// A pull of at most this many bytes on the allreduce path copies on the calling thread when
/// neither array is in use ([`NDArray::copy_now`]): an engine worker's wake-up costs more than
/// such a copy, and an MPI rank often has one core.
const INLINE_PULL_BYTES: usize = 1 << 20;
/// Seconds a worker waits for a reply before failing (`MXNET_KVSTORE_TIMEOUT`).
const DEFAULT_TIMEOUT_S: f64 = 600.0;

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.trim().parse::<f64>().ok().filter(|v| *v > 0.0)
}

/// The reply timeout (`MXNET_KVSTORE_TIMEOUT` seconds, default 600).
pub(crate) fn timeout() -> Duration {
    Duration::from_secs_f64(env_f64("MXNET_KVSTORE_TIMEOUT").unwrap_or(DEFAULT_TIMEOUT_S))
}

/// One piece of a key on one server: (shard, part, first element, elements).
type Piece = (usize, i32, usize, usize);

/// FNV-1a, a hash that is the same in every process (string keys' shard).
fn fnv1a(s: &str) -> u64 {
    fnv1a_bytes(s.as_bytes())
}

fn fnv1a_bytes(s: &[u8]) -> u64 {
    s.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A distributed store, seen from a worker.
pub struct DistStore {
    name: String,
    sync: bool,
    comm: Arc<Comm>,
    bound: usize,
    timeout: Duration,
    keys: Mutex<HashMap<Key, (Vec<usize>, DType)>>,
    str_keys: Mutex<Option<bool>>,
    updater: Mutex<Option<Updater>>,
    /// The allreduce path (see [`DistStore::allreduce_keys`]).
    fast: Option<Fast>,
}

/// The allreduce path's state: each worker keeps every value itself, sums a round's pushes
/// with one MPI allreduce and runs the same optimizer on the same sum.
#[derive(Default)]
struct Fast {
    values: Mutex<HashMap<Key, NDArray>>,
    /// Each key's buffer for a round's sum, given to the updater (reused, as MXNet's merge
    /// buffers).
    sums: Mutex<HashMap<Key, NDArray>>,
    /// The optimizer installed by `set_optimizer` (its pickle, and the updater made from it).
    updater: Mutex<Option<(Vec<u8>, Updater)>>,
    /// Why the values may differ between workers (an allreduce that failed half-way).
    broken: Mutex<Option<String>>,
}

impl fmt::Debug for DistStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistStore").field("type", &self.name).field("layout", &self.comm.layout).finish()
    }
}

impl DistStore {
    pub(crate) fn new(name: &str, comm: Arc<Comm>) -> DistStore {
        let bound = env_f64("MXNET_KVSTORE_BIGARRAY_BOUND").map_or(DEFAULT_BIGARRAY_BOUND, |v| v as usize);
        let fast = Self::use_allreduce(name, &comm).then(Fast::default);
        DistStore {
            name: name.to_string(),
            sync: !name.contains("async"),
            comm,
            bound: bound.max(1),
            timeout: timeout(),
            keys: Mutex::new(HashMap::new()),
            str_keys: Mutex::new(None),
            updater: Mutex::new(None),
            fast,
        }
    }

    /// `dist_sync` with the servers inside the workers (no server processes of their own) sums
    /// with MPI allreduces unless `MXRS_KVSTORE_ALLREDUCE=0`.
    fn use_allreduce(name: &str, comm: &Comm) -> bool {
        let off = std::env::var("MXRS_KVSTORE_ALLREDUCE").is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off"));
        !name.contains("async") && !comm.layout.dedicated && !off
    }

    /// Whether pushes of this store are allreduces among the workers (else they go to the
    /// server shards).
    pub fn allreduce_keys(&self) -> bool {
        self.fast.is_some()
    }

    /// Number of server shards.
    pub fn num_servers(&self) -> usize {
        self.comm.layout.servers
    }

    /// Where the `n` elements of `key` live: one server, or split over all of them.
    fn pieces(&self, key: &Key, n: usize) -> Vec<Piece> {
        let s = self.comm.layout.servers;
        if s > 1 && n >= self.bound {
            return (0..s).map(|p| (p, p as i32 + 1, p * n / s, (p + 1) * n / s - p * n / s)).collect();
        }
        let shard = match key {
            Key::Int(k) => (k.wrapping_mul(9973)).rem_euclid(s as i64) as usize,
            Key::Str(k) => (fnv1a(k) % s as u64) as usize,
        };
        vec![(shard, 0, 0, n)]
    }

    fn msg(&self, op: Op, key: &Key, piece: &Piece, dtype: DType) -> Msg {
        Msg {
            key: Some(key.clone()),
            arg: piece.1,
            dtype,
            shape: vec![piece.3],
            flags: if self.sync { FLAG_SYNC } else { 0 },
            ..Msg::bare(op, self.comm.id())
        }
    }

    /// Raise failures of earlier pushes.
    fn check_errors(&self, op: &str) -> Result<()> {
        let errs = self.comm.take_errors();
        if errs.is_empty() {
            return Ok(());
        }
        Err(Error::msg(format!("kvstore.{op} (rank {}): {}", self.comm.layout.rank, errs.join("; "))))
    }

    /// Send awaited requests (dest, msg) and wait for all replies; a failure is an error.
    fn call(&self, op: &str, reqs: Vec<(usize, Msg)>, what: &dyn Fn() -> String) -> Result<Vec<Msg>> {
        let ids: Vec<u64> = reqs.iter().map(|(_, m)| m.id).collect();
        for (dest, m) in &reqs {
            self.comm.request(*dest, m, true);
        }
        let replies = self.comm.wait(&ids, self.timeout, what)?;
        self.check_errors(op)?;
        if let Some(f) = replies.iter().find(|m| m.op == Op::Fail) {
            return Err(Error::msg(format!("kvstore.{op} (rank {}): {}", self.comm.layout.rank, f.text())));
        }
        Ok(replies)
    }

    fn check_kind(&self, keys: &[Key]) -> Result<()> {
        let mut kind = self.str_keys.lock();
        for k in keys {
            let is_str = matches!(k, Key::Str(_));
            match *kind {
                Some(s) if s != is_str => return Err(Error::msg("Mixed key types are not allowed")),
                _ => *kind = Some(is_str),
            }
        }
        Ok(())
    }

    /// Shape and dtype of each key, checking the values against them.
    fn lookup(&self, op: &str, keys: &[Key], lists: &[Vec<NDArray>]) -> Result<Vec<(Vec<usize>, DType)>> {
        check_lengths(op, keys.len(), lists.len())?;
        let known = self.keys.lock();
        let mut out = Vec::with_capacity(keys.len());
        for (k, list) in keys.iter().zip(lists) {
            let (shape, dtype) = known
                .get(k)
                .cloned()
                .ok_or_else(|| Error::msg(format!("kvstore.{op}: key {k} has not been inited")))?;
            if list.is_empty() {
                return Err(Error::param(format!("kvstore.{op}"), format!("key {k}: empty list of arrays")));
            }
            for v in list {
                let bad_shape =
                    if op == "pull" { v.size() != shape.iter().product::<usize>() } else { v.shape() != shape };
                if bad_shape || (op != "pull" && v.dtype() != dtype) {
                    return Err(Error::shape(
                        format!("kvstore.{op}"),
                        format!(
                            "key {k}: array of shape {} dtype {} does not match the stored shape {} dtype {dtype}",
                            fmt_shape(v.shape()),
                            v.dtype(),
                            fmt_shape(&shape)
                        ),
                    ));
                }
            }
            out.push((shape, dtype));
        }
        Ok(out)
    }

    /// Send to every server and wait for every reply.
    fn to_all_servers(&self, op: &str, make: impl Fn(u64) -> Msg) -> Result<()> {
        let l = self.comm.layout;
        let reqs = (0..l.servers).map(|s| (l.host(s), make(self.comm.id()))).collect();
        self.call(op, reqs, &|| format!("kvstore.{op} on rank {}", l.rank)).map(|_| ())
    }

    /// Send a command to every server and wait until each ran it (MXNet's
    /// `_send_command_to_servers`; `set_optimizer` sends the pickled optimizer as command 0).
    pub fn send_command(&self, cmd: i32, body: &[u8]) -> Result<()> {
        self.check_errors("send_command")?;
        self.to_all_servers("send_command", |id| Msg { arg: cmd, body: body.to_vec(), ..Msg::bare(Op::Command, id) })?;
        match &self.fast {
            Some(f) if cmd == 0 => f.install(body, self.comm.layout.rank),
            _ => Ok(()),
        }
    }

    /// Whether `dtype`'s keys take the allreduce path.
    fn is_fast(&self, dtype: DType) -> Option<&Fast> {
        self.fast.as_ref().filter(|_| Elem::of(dtype).is_some())
    }

    /// Sum the values with one allreduce per dtype among the workers, then update (or replace)
    /// each key's value on this worker, as the server would. The allreduce runs on this
    /// thread. One key sums straight from the pushed array ([`DistStore::push_one`]); several
    /// are first laid end to end per dtype, one allreduce each.
    ///
    /// `into` (one key only): the array that ends with the key's new value, as a pull after
    /// the push would leave it ([`KVStore::pushpull`]).
    fn push_allreduce(
        &self,
        f: &Fast,
        items: Vec<(&Key, Vec<usize>, DType, NDArray)>,
        into: Option<&NDArray>,
    ) -> Result<()> {
        let r = self.comm.layout.rank;
        if let Some(why) = f.broken.lock().clone() {
            return Err(Error::msg(format!("kvstore.push (rank {r}): {why}")));
        }
        // What every worker must agree on: keys, shapes, dtypes and the optimizer.
        let mut sig = String::new();
        let mut metas = Vec::with_capacity(items.len());
        let mut parts: Vec<(Elem, Vec<NDArray>)> = Vec::new();
        let mut place = Vec::with_capacity(items.len());
        for (k, shape, dtype, value) in items {
            sig.push_str(&format!("key {k} {} {dtype}; ", fmt_shape(&shape)));
            let elem = Elem::of(dtype).ok_or_else(|| Error::msg(format!("no MPI type for {dtype}")))?;
            let g = parts.iter().position(|(e, _)| *e == elem).unwrap_or_else(|| {
                parts.push((elem, Vec::new()));
                parts.len() - 1
            });
            let at: usize = parts[g].1.iter().map(NDArray::size).sum();
            place.push((g, at, value.size()));
            parts[g].1.push(value);
            metas.push((k, shape));
        }
        let updater = f.updater.lock().clone();
        let opt = updater.as_ref().map_or(0, |(b, _)| fnv1a_bytes(b));
        let check = ((fnv1a(&sig) ^ opt.rotate_left(17)) >> 2) as i64;
        let key = metas.first().map_or(String::new(), |m| format!("key {}", m.0));
        let nw = self.comm.layout.workers;
        let what = || {
            format!(
                "kvstore.push of {key} on rank {r} (an allreduce among the {nw} workers: every worker must push the \
                 same keys equally often under dist_sync; uneven batch counts?)"
            )
        };
        let give_up = |n: u64| {
            let blocked = super::server::hooks().blocked.lock();
            let (v, why) = blocked.iter().enumerate().find_map(|(v, b)| b.filter(|b| b.1 < n).map(|b| (v, b.0)))?;
            Some(format!(
                "{key}: rank {v} {why} without pushing it while rank(s) [{r}] pushed it (allreduce {n} among the \
                 workers); every worker must push each key equally often under dist_sync (uneven batch counts?)"
            ))
        };
        if let [(k, ref shape)] = metas[..]
            && let [(elem, values)] = &parts[..]
        {
            let agreed = Agreed { check, sig: &sig, what: &what, give_up: &give_up };
            return self.push_one(f, k, shape, (*elem, &values[0], into), updater.as_ref(), agreed);
        }
        if into.is_some() {
            return Err(Error::msg("internal: a pushpull of several keys took the fused path"));
        }
        let groups = parts
            .iter()
            .map(|(elem, v)| Ok((*elem, concat(v.iter().map(NDArray::to_cpu_storage).collect::<Result<Vec<_>>>()?)?)))
            .collect::<Result<Vec<_>>>()?;
        let sums = match self.comm.allreduce(check, groups, self.timeout, &what, &give_up) {
            Ok(Some(sums)) => sums,
            Ok(None) => return Err(disagree(r, &sig, updater.is_some())),
            Err(e) => {
                *f.broken.lock() = Some(format!("an earlier allreduce failed ({e}); the workers' values differ"));
                return Err(e);
            }
        };
        let single: Vec<bool> = parts.iter().map(|(_, v)| v.len() == 1).collect();
        let mut sums: Vec<Option<CpuStorage>> = sums.into_iter().map(Some).collect();
        let mut values = f.values.lock();
        for ((k, shape), (g, at, len)) in metas.into_iter().zip(place) {
            let data = if single[g] {
                sums[g].take().ok_or_else(|| Error::msg("internal: allreduce sum taken twice"))?
            } else {
                sums[g].as_ref().map(|s| s.slice_copy(at, len)).ok_or_else(|| Error::msg("internal: no sum"))?
            };
            let sum = NDArray::from_cpu(data, &shape, Context::cpu(0))?;
            match &updater {
                Some((_, u)) => {
                    let stored = values.get(k).ok_or_else(|| Error::msg(format!("key {k} has not been inited")))?;
                    u(k, &sum, stored)
                        .and_then(|()| stored.wait_to_read())
                        .map_err(|e| Error::msg(format!("key {k}: the updater on rank {r} raised: {e}")))?;
                }
                None => {
                    values.insert(k.clone(), sum);
                }
            }
        }
        Ok(())
    }
}

/// What every worker's push must agree on, and how its wait reports (see [`Comm::agree`]).
struct Agreed<'a> {
    check: i64,
    sig: &'a str,
    what: &'a dyn Fn() -> String,
    give_up: &'a dyn Fn(u64) -> Option<String>,
}

impl DistStore {
    /// [`DistStore::push_allreduce`] of one key: MPI sums the pushed array's memory straight
    /// into the key's value (without an updater) or into its sum buffer for the updater,
    /// without copies.
    ///
    /// With `into` and no updater, MPI sums straight into `into`, and the key's value is then
    /// copied from it by a queued engine op: the caller, who reads `into` next, does not wait
    /// for that copy (a pull would have made it on the caller's path). With an updater, `into`
    /// gets a copy of the updated value.
    fn push_one(
        &self,
        f: &Fast,
        k: &Key,
        shape: &[usize],
        (elem, value, into): (Elem, &NDArray, Option<&NDArray>),
        updater: Option<&(Vec<u8>, Updater)>,
        a: Agreed<'_>,
    ) -> Result<()> {
        let r = self.comm.layout.rank;
        let stored = f.values.lock().get(k).cloned();
        let stored = stored.ok_or_else(|| Error::msg(format!("key {k} has not been inited")))?;
        let target = match (updater, into) {
            (None, Some(o)) => o.clone(),
            (None, None) => stored.clone(),
            (Some(_), _) => {
                let mut sums = f.sums.lock();
                match sums.get(k) {
                    Some(s) => s.clone(),
                    None => {
                        let s = NDArray::zeros(shape, value.dtype(), Context::cpu(0))?;
                        sums.insert(k.clone(), s.clone());
                        s
                    }
                }
            }
        };
        // A failed write of the value fails the push before the ranks agree.
        value.wait_to_read()?;
        let zeros = || CpuStorage::zeros(value.dtype(), value.size());
        let orphan = &mut || vec![(elem, value.to_cpu_storage().unwrap_or_else(|_| zeros()))];
        let fail = |e: Error| {
            *f.broken.lock() = Some(format!("an earlier allreduce failed ({e}); the workers' values differ"));
            e
        };
        let turn = match self.comm.agree(a.check, self.timeout, a.what, a.give_up, orphan) {
            Ok(Some(turn)) => turn,
            Ok(None) => return Err(disagree(r, a.sig, updater.is_some())),
            Err(e) => return Err(fail(e)),
        };
        let summed = NDArray::with_host_bytes(value, &target, "kvstore.push", |send, recv| turn.sum(elem, send, recv));
        // Every rank takes part in the sum it agreed to: zeros stand in for a value that
        // cannot be read now.
        summed.unwrap_or_else(|e| turn.sum(elem, None, zeros().as_bytes_mut()).and(Err(e))).map_err(fail)?;
        if let Some((_, u)) = updater {
            // The turn is still held: no other push overwrites the sum before the updater's
            // ops have been queued on it.
            u(k, &target, &stored)
                .and_then(|()| stored.wait_to_read())
                .map_err(|e| Error::msg(format!("key {k}: the updater on rank {r} raised: {e}")))?;
        }
        drop(turn);
        match (into, updater) {
            (Some(o), None) => stored.copy_from(o),
            (Some(o), Some(_)) => o.copy_from(&stored),
            (None, _) => Ok(()),
        }
    }
}

/// The error of workers that pushed different keys, shapes, dtypes or optimizers.
fn disagree(rank: usize, sig: &str, with_optimizer: bool) -> Error {
    Error::msg(format!(
        "kvstore.push (rank {rank}): the workers pushed different keys, shapes or dtypes, or set different \
         optimizers (this rank pushed {}{}); under dist_sync every worker pushes the same keys in the same order",
        sig.trim_end_matches("; "),
        if with_optimizer { " with an optimizer" } else { " without optimizer" }
    ))
}

/// The storages laid end to end (the one storage itself, without copying), to be summed in
/// place.
fn concat(mut parts: Vec<CpuStorage>) -> Result<CpuStorage> {
    if parts.len() == 1 {
        return parts.pop().ok_or_else(|| Error::msg("internal: empty group"));
    }
    let total = parts.iter().map(CpuStorage::len).sum();
    let mut all = CpuStorage::try_zeros("kvstore.push", parts[0].dtype(), total)?;
    let mut at = 0;
    for p in &parts {
        all.copy_in(at, p)?;
        at += p.len();
    }
    Ok(all)
}

impl Fast {
    /// Install the optimizer `set_optimizer` sent (command 0) with the server's command
    /// handler; the same pickle again keeps the installed one (and its states).
    fn install(&self, body: &[u8], rank: usize) -> Result<()> {
        let mut cur = self.updater.lock();
        if cur.as_ref().is_some_and(|(b, _)| b[..] == *body) {
            return Ok(());
        }
        let c = super::server::hooks().controller.read().clone();
        let c = c.ok_or_else(|| Error::msg(format!("set_optimizer (rank {rank}): no command handler is installed")))?;
        if let Some(u) = c(0, body)? {
            *cur = Some((body.to_vec(), u));
        }
        Ok(())
    }

    /// Copy each key's value into its outputs.
    fn pull(&self, rank: usize, key: &Key, outs: &[NDArray]) -> Result<()> {
        if let Some(why) = self.broken.lock().clone() {
            return Err(Error::msg(format!("kvstore.pull (rank {rank}): {why}")));
        }
        let v = self.values.lock().get(key).cloned();
        let v = v.ok_or_else(|| Error::msg(format!("kvstore.pull: key {key} has not been inited")))?;
        let small = v.size() * v.dtype().size() <= INLINE_PULL_BYTES;
        for o in outs {
            if !(small && o.copy_now(&v)?) {
                o.copy_from(&v)?;
            }
        }
        Ok(())
    }
}

impl DistStore {
    /// Pull `key` from its server shard(s) into `list`.
    fn pull_remote(&self, k: &Key, shape: &[usize], dtype: DType, list: &[NDArray]) -> Result<()> {
        let r = self.comm.layout.rank;
        let n: usize = shape.iter().product();
        let reqs: Vec<(usize, Msg)> =
            self.pieces(k, n).iter().map(|p| (self.comm.layout.host(p.0), self.msg(Op::Pull, k, p, dtype))).collect();
        let replies = self.call("pull", reqs, &|| format!("kvstore.pull of key {k} on rank {r}"))?;
        let data = if replies.len() == 1 {
            CpuStorage::from_le_bytes(dtype, &replies[0].body)?
        } else {
            let bytes: Vec<u8> = replies.iter().flat_map(|m| m.body.iter().copied()).collect();
            CpuStorage::from_le_bytes(dtype, &bytes)?
        };
        let value = NDArray::from_cpu(data, shape, Context::cpu(0))?;
        for o in list {
            o.copy_from(&value)?;
        }
        Ok(())
    }
}

/// The sum of `list`, on the host. Values on devices are first copied to the host
/// (`dist_sync_device` sums on the host before sending, too).
fn merged(list: &[NDArray]) -> Result<NDArray> {
    let host: Vec<NDArray> = list
        .iter()
        .map(|v| {
            if v.ctx().is_host() {
                return Ok(v.clone());
            }
            let c = NDArray::zeros(v.shape(), v.dtype(), Context::cpu(0))?;
            c.copy_from(v)?;
            Ok(c)
        })
        .collect::<Result<_>>()?;
    if host.len() == 1 {
        return Ok(host[0].clone());
    }
    let m = NDArray::zeros(host[0].shape(), host[0].dtype(), Context::cpu(0))?;
    sum_into(&host, &m)?;
    Ok(m)
}

impl KVStore for DistStore {
    fn type_name(&self) -> &str {
        &self.name
    }
    fn rank(&self) -> usize {
        self.comm.layout.rank
    }
    fn num_workers(&self) -> usize {
        self.comm.layout.workers
    }
    fn is_local(&self) -> bool {
        false
    }

    fn init(&self, keys: &[Key], values: &[NDArray]) -> Result<()> {
        check_lengths("init", keys.len(), values.len())?;
        self.check_kind(keys)?;
        self.check_errors("init")?;
        let mut seen = HashSet::new();
        for k in keys {
            if self.keys.lock().contains_key(k) || !seen.insert(k.clone()) {
                return Err(Error::msg(format!("duplicate init of key {k}")));
            }
        }
        let rank0 = self.comm.layout.rank == 0;
        let mut reqs = Vec::new();
        for (k, v) in keys.iter().zip(values) {
            let bytes = if rank0 { merged(std::slice::from_ref(v))?.to_bytes()? } else { Vec::new() };
            let es = v.dtype().size();
            for p in self.pieces(k, v.size()) {
                let mut m = self.msg(Op::Init, k, &p, v.dtype());
                if p.1 == 0 {
                    m.shape = v.shape().to_vec();
                }
                if rank0 {
                    m.flags |= FLAG_VALUE;
                    m.body = bytes[p.2 * es..(p.2 + p.3) * es].to_vec();
                }
                reqs.push((self.comm.layout.host(p.0), m));
            }
        }
        let r = self.comm.layout.rank;
        self.call("init", reqs, &|| format!("kvstore.init on rank {r} (waiting for every worker's init)"))?;
        for (k, v) in keys.iter().zip(values) {
            if let Some(f) = self.is_fast(v.dtype()) {
                // Rank 0's value, from the server shard that checked the workers agree.
                let mine = NDArray::zeros(v.shape(), v.dtype(), Context::cpu(0))?;
                self.pull_remote(k, v.shape(), v.dtype(), std::slice::from_ref(&mine))?;
                f.values.lock().insert(k.clone(), mine);
            }
        }
        let mut known = self.keys.lock();
        for (k, v) in keys.iter().zip(values) {
            known.insert(k.clone(), (v.shape().to_vec(), v.dtype()));
        }
        Ok(())
    }

    fn push(&self, keys: &[Key], values: &[Vec<NDArray>], _priority: i32) -> Result<()> {
        self.check_errors("push")?;
        let meta = self.lookup("push", keys, values)?;
        let mut fast = Vec::new();
        for ((k, list), (shape, dtype)) in keys.iter().zip(values).zip(meta) {
            if self.is_fast(dtype).is_some() {
                fast.push((k, shape, dtype, merged(list)?));
                continue;
            }
            let bytes = merged(list)?.to_bytes()?;
            let es = dtype.size();
            for p in self.pieces(k, shape.iter().product()) {
                let mut m = self.msg(Op::Push, k, &p, dtype);
                if p.1 == 0 {
                    m.shape = shape.clone();
                }
                let body = &bytes[p.2 * es..(p.2 + p.3) * es];
                self.comm.request_with(self.comm.layout.host(p.0), &m, body, false);
            }
        }
        match &self.fast {
            Some(f) if !fast.is_empty() => self.push_allreduce(f, fast, None),
            _ => Ok(()),
        }
    }

    /// One key, one value and one output in separate host memory (or the value itself), on the
    /// allreduce path: the sum goes straight into the output ([`DistStore::push_one`]); else a
    /// push, then a pull.
    fn pushpull(&self, keys: &[Key], values: &[Vec<NDArray>], outs: &[Vec<NDArray>], priority: i32) -> Result<()> {
        let plain = || self.push(keys, values, priority).and_then(|()| self.pull(keys, outs, priority));
        let (Some(f), [k], [vs], [os]) = (&self.fast, keys, values, outs) else {
            return plain();
        };
        let ([v], [o]) = (&vs[..], &os[..]) else {
            return plain();
        };
        let fused = o.ctx().is_host()
            && v.ctx().is_host()
            && o.shape() == v.shape()
            && o.dtype() == v.dtype()
            && (!o.same_chunk(v) || o.same_view(v))
            && self.is_fast(v.dtype()).is_some();
        if !fused {
            return plain();
        }
        self.check_errors("push")?;
        let (shape, dtype) = self.lookup("pushpull", keys, values)?.swap_remove(0);
        self.push_allreduce(f, vec![(k, shape, dtype, v.clone())], Some(o))
    }

    fn pull(&self, keys: &[Key], outs: &[Vec<NDArray>], _priority: i32) -> Result<()> {
        self.check_errors("pull")?;
        let meta = self.lookup("pull", keys, outs)?;
        for ((k, list), (shape, dtype)) in keys.iter().zip(outs).zip(meta) {
            match self.is_fast(dtype) {
                Some(f) => f.pull(self.comm.layout.rank, k, list)?,
                None => self.pull_remote(k, &shape, dtype, list)?,
            }
        }
        Ok(())
    }

    fn set_updater(&self, updater: Option<Updater>) {
        // Kept for `has_updater` only: updates run on the servers (set_optimizer).
        *self.updater.lock() = updater;
    }

    fn has_updater(&self) -> bool {
        self.updater.lock().is_some()
    }

    fn barrier(&self) -> Result<()> {
        self.check_errors("barrier")?;
        let n = self.comm.allreduces().to_le_bytes().to_vec();
        self.to_all_servers("barrier", |id| Msg { body: n.clone(), ..Msg::bare(Op::Barrier, id) })
    }

    fn send_command_to_servers(&self, cmd: i32, body: &[u8]) -> Result<()> {
        self.send_command(cmd, body)
    }
}
