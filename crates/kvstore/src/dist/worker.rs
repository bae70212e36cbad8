//! The worker side: [`DistStore`], MXNet's `dist_sync` / `dist_async` store as seen by a worker.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mxrs_ndarray_core::shape::fmt_shape;
use mxrs_ndarray_core::{Context, CpuStorage, DType, Error, NDArray, Result};
use parking_lot::Mutex;

use super::comm::Comm;
use super::wire::{FLAG_SYNC, FLAG_VALUE, Msg, Op};
use crate::store::{KVStore, Key, Updater, check_lengths, sum_into};

/// Arrays with at least this many elements are split evenly over all servers
/// (`MXNET_KVSTORE_BIGARRAY_BOUND`, MXNet's default 1e6).
const DEFAULT_BIGARRAY_BOUND: usize = 1_000_000;
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
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
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
}

impl fmt::Debug for DistStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistStore").field("type", &self.name).field("layout", &self.comm.layout).finish()
    }
}

impl DistStore {
    pub(crate) fn new(name: &str, comm: Arc<Comm>) -> DistStore {
        let bound = env_f64("MXNET_KVSTORE_BIGARRAY_BOUND").map_or(DEFAULT_BIGARRAY_BOUND, |v| v as usize);
        DistStore {
            name: name.to_string(),
            sync: !name.contains("async"),
            comm,
            bound: bound.max(1),
            timeout: timeout(),
            keys: Mutex::new(HashMap::new()),
            str_keys: Mutex::new(None),
            updater: Mutex::new(None),
        }
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
        self.to_all_servers("send_command", |id| Msg { arg: cmd, body: body.to_vec(), ..Msg::bare(Op::Command, id) })
    }
}

/// The bytes of the sum of `list` (waiting for them to be computed). Values on devices are
/// first copied to the host (`dist_sync_device` sums on the host before sending, too).
fn merged_bytes(list: &[NDArray]) -> Result<Vec<u8>> {
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
        return host[0].to_bytes();
    }
    let m = NDArray::zeros(host[0].shape(), host[0].dtype(), Context::cpu(0))?;
    sum_into(&host, &m)?;
    m.to_bytes()
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
            let bytes = if rank0 { merged_bytes(std::slice::from_ref(v))? } else { Vec::new() };
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
        let mut known = self.keys.lock();
        for (k, v) in keys.iter().zip(values) {
            known.insert(k.clone(), (v.shape().to_vec(), v.dtype()));
        }
        Ok(())
    }

    fn push(&self, keys: &[Key], values: &[Vec<NDArray>], _priority: i32) -> Result<()> {
        self.check_errors("push")?;
        let meta = self.lookup("push", keys, values)?;
        for ((k, list), (shape, dtype)) in keys.iter().zip(values).zip(meta) {
            let bytes = merged_bytes(list)?;
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
        Ok(())
    }

    fn pull(&self, keys: &[Key], outs: &[Vec<NDArray>], _priority: i32) -> Result<()> {
        self.check_errors("pull")?;
        let meta = self.lookup("pull", keys, outs)?;
        let r = self.comm.layout.rank;
        for ((k, list), (shape, dtype)) in keys.iter().zip(outs).zip(meta) {
            let n: usize = shape.iter().product();
            let reqs: Vec<(usize, Msg)> = self
                .pieces(k, n)
                .iter()
                .map(|p| (self.comm.layout.host(p.0), self.msg(Op::Pull, k, p, dtype)))
                .collect();
            let replies = self.call("pull", reqs, &|| format!("kvstore.pull of key {k} on rank {r}"))?;
            let data = if replies.len() == 1 {
                CpuStorage::from_le_bytes(dtype, &replies[0].body)?
            } else {
                let bytes: Vec<u8> = replies.iter().flat_map(|m| m.body.iter().copied()).collect();
                CpuStorage::from_le_bytes(dtype, &bytes)?
            };
            let value = NDArray::from_cpu(data, &shape, Context::cpu(0))?;
            for o in list {
                o.copy_from(&value)?;
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
        self.to_all_servers("barrier", |id| Msg::bare(Op::Barrier, id))
    }

    fn send_command_to_servers(&self, cmd: i32, body: &[u8]) -> Result<()> {
        self.send_command(cmd, body)
    }
}
