//! The single-process store: MXNet's `local` (values summed on the store's host context) and
//! `device` (values summed on the context of the first pushed value) stores.

use std::collections::HashMap;
use std::fmt;

use mxrs_ndarray_core::shape::fmt_shape;
use mxrs_ndarray_core::{Context, Error, NDArray, Result};
use parking_lot::Mutex;

use crate::store::{KVStore, Key, Updater, check_lengths, sum_into};

/// One stored key.
struct Entry {
    /// The stored value.
    stored: NDArray,
    /// Reused buffer for the sum of several pushed values when an updater needs it.
    merge: Option<NDArray>,
    /// Reused copies of pushed values that live on memory the merge context cannot read.
    staging: HashMap<Context, NDArray>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Whether the store uses string keys (fixed by the first init).
    str_keys: Option<bool>,
}

/// MXNet's `local` / `device` store.
pub struct LocalStore {
    name: String,
    /// Reduce on the devices (`device`) instead of the store's host context (`local`).
    on_device: bool,
    /// Where `local` keeps and merges values.
    host: Context,
    state: Mutex<State>,
    updater: Mutex<Option<Updater>>,
}

impl fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStore")
            .field("type", &self.name)
            .field("keys", &self.state.lock().entries.len())
            .field("updater", &self.has_updater())
            .finish()
    }
}

/// True when an op on `a` can read or write memory of `b` directly (host contexts share memory).
fn compatible(a: Context, b: Context) -> bool {
    a == b || (a.is_host() && b.is_host())
}

impl LocalStore {
    /// A new empty store of type `name` (`device` in the name reduces on the devices).
    pub fn new(name: &str) -> LocalStore {
        LocalStore {
            name: name.to_lowercase(),
            on_device: name.to_lowercase().contains("device"),
            host: Context::cpu(0),
            state: Mutex::new(State::default()),
            updater: Mutex::new(None),
        }
    }

    /// The keys currently stored, sorted.
    pub fn keys(&self) -> Vec<Key> {
        let mut k: Vec<Key> = self.state.lock().entries.keys().cloned().collect();
        k.sort();
        k
    }

    /// A handle to the stored value of `key` (shares its memory), for inspection and tests.
    pub fn stored(&self, key: &Key) -> Option<NDArray> {
        self.state.lock().entries.get(key).map(|e| e.stored.clone())
    }

    fn check_key_kind(&self, st: &State, keys: &[Key]) -> Result<()> {
        let mut kind = st.str_keys;
        for k in keys {
            let is_str = matches!(k, Key::Str(_));
            match kind {
                Some(s) if s != is_str => {
                    return Err(Error::param(
                        "kvstore",
                        "Mixed key types are not allowed: use only int or only str keys",
                    ));
                }
                _ => kind = Some(is_str),
            }
        }
        Ok(())
    }

    /// The context a value pushed to or initialised with values on `ctx` is kept on.
    fn home(&self, ctx: Context) -> Context {
        if self.on_device { ctx } else { self.host }
    }

    /// Prepare the push of `vals` (validated) to `e`, under the lock: with an updater, move the
    /// stored value to where the values merge (as MXNet's device store does); queue copies of
    /// the values the merge context cannot read into reused staging arrays; pick the sum buffer.
    fn plan_push(&self, e: &mut Entry, key: &Key, vals: &[NDArray], has_updater: bool) -> Result<PushPlan> {
        let merge_ctx = self.home(vals[0].ctx());
        if has_updater && !compatible(e.stored.ctx(), merge_ctx) {
            let moved = NDArray::zeros(e.stored.shape(), e.stored.dtype(), merge_ctx)?;
            moved.copy_from(&e.stored)?;
            e.stored = moved;
        }
        let mut ready = Vec::with_capacity(vals.len());
        for v in vals {
            if compatible(v.ctx(), merge_ctx) {
                ready.push(v.clone());
            } else {
                let buf = match e.staging.get(&v.ctx()) {
                    Some(b) => b.clone(),
                    None => {
                        let b = NDArray::zeros(v.shape(), v.dtype(), merge_ctx)?;
                        e.staging.insert(v.ctx(), b.clone());
                        b
                    }
                };
                buf.copy_from(v)?;
                ready.push(buf);
            }
        }
        let needs_merge = ready.len() > 1 && (has_updater || !compatible(e.stored.ctx(), ready[0].ctx()));
        let merge = if needs_merge {
            let m = match &e.merge {
                Some(m) if compatible(m.ctx(), merge_ctx) => m.clone(),
                _ => NDArray::zeros(e.stored.shape(), e.stored.dtype(), merge_ctx)?,
            };
            e.merge = Some(m.clone());
            Some(m)
        } else {
            None
        };
        Ok(PushPlan { key: key.clone(), stored: e.stored.clone(), values: ready, merge })
    }

    fn lookup<'a>(&self, st: &'a State, op: &str, key: &Key) -> Result<&'a Entry> {
        st.entries.get(key).ok_or_else(|| {
            Error::param(format!("kvstore.{op}"), format!("key {key} has not been initialized; call init first"))
        })
    }
}

fn check_like(op: &str, key: &Key, what: &str, v: &NDArray, stored: &NDArray) -> Result<()> {
    if v.shape() != stored.shape() {
        return Err(Error::shape(
            format!("kvstore.{op}"),
            format!(
                "key {key}: {what} has shape {} but the stored value has shape {}",
                fmt_shape(v.shape()),
                fmt_shape(stored.shape())
            ),
        ));
    }
    if v.dtype() != stored.dtype() {
        return Err(Error::dtype(
            format!("kvstore.{op}"),
            v.dtype(),
            format!("key {key}: {what} has dtype {} but the stored value has dtype {}", v.dtype(), stored.dtype()),
        ));
    }
    Ok(())
}

/// The planned work of one key of a push, prepared under the lock.
struct PushPlan {
    key: Key,
    stored: NDArray,
    /// Values readable on the merge context (copies already queued for the others).
    values: Vec<NDArray>,
    /// Sum buffer (used with an updater, or when `stored` is on other memory).
    merge: Option<NDArray>,
}

impl KVStore for LocalStore {
    fn type_name(&self) -> &str {
        &self.name
    }

    fn init(&self, keys: &[Key], values: &[NDArray]) -> Result<()> {
        check_lengths("init", keys.len(), values.len())?;
        let mut st = self.state.lock();
        self.check_key_kind(&st, keys)?;
        for (i, k) in keys.iter().enumerate() {
            if st.entries.contains_key(k) || keys[..i].contains(k) {
                return Err(Error::param("kvstore.init", format!("duplicate init of key {k}")));
            }
        }
        for (k, v) in keys.iter().zip(values) {
            let stored = NDArray::zeros(v.shape(), v.dtype(), self.home(v.ctx()))?;
            stored.copy_from(v)?;
            st.entries.insert(k.clone(), Entry { stored, merge: None, staging: HashMap::new() });
        }
        if let Some(k) = keys.first() {
            st.str_keys = Some(matches!(k, Key::Str(_)));
        }
        Ok(())
    }

    fn push(&self, keys: &[Key], values: &[Vec<NDArray>], _priority: i32) -> Result<()> {
        check_lengths("push", keys.len(), values.len())?;
        let updater = self.updater.lock().clone();
        let plans = {
            let mut st = self.state.lock();
            self.check_key_kind(&st, keys)?;
            // Validate everything before queueing anything, so a bad call changes nothing.
            for (k, vals) in keys.iter().zip(values) {
                let e = self.lookup(&st, "push", k)?;
                if vals.is_empty() {
                    return Err(Error::param("kvstore.push", format!("key {k}: no values to push")));
                }
                for v in vals {
                    check_like("push", k, "pushed value", v, &e.stored)?;
                }
            }
            let mut plans = Vec::with_capacity(keys.len());
            for (k, vals) in keys.iter().zip(values) {
                let e = st.entries.get_mut(k).expect("validated above");
                plans.push(self.plan_push(e, k, vals, updater.is_some())?);
            }
            plans
        };
        // The lock is released: the updater may use the store.
        for p in plans {
            apply_push(p, updater.as_ref())?;
        }
        Ok(())
    }

    fn pull(&self, keys: &[Key], outs: &[Vec<NDArray>], _priority: i32) -> Result<()> {
        check_lengths("pull", keys.len(), outs.len())?;
        let sources = {
            let st = self.state.lock();
            self.check_key_kind(&st, keys)?;
            let mut v = Vec::with_capacity(keys.len());
            for (k, os) in keys.iter().zip(outs) {
                let e = self.lookup(&st, "pull", k)?;
                for o in os {
                    check_like("pull", k, "output", o, &e.stored)?;
                }
                v.push(e.stored.clone());
            }
            v
        };
        for (src, os) in sources.iter().zip(outs) {
            for o in os {
                o.copy_from(src)?;
            }
        }
        Ok(())
    }

    fn set_updater(&self, updater: Option<Updater>) {
        *self.updater.lock() = updater;
    }

    fn has_updater(&self) -> bool {
        self.updater.lock().is_some()
    }
}

/// Queue a planned push: sum the values (into the stored array when there is no updater and
/// no sum buffer), then store the sum or give it to the updater.
fn apply_push(p: PushPlan, updater: Option<&Updater>) -> Result<()> {
    let merged = match (&p.merge, p.values.len()) {
        (_, 1) => p.values[0].clone(),
        (Some(m), _) => {
            sum_into(&p.values, m)?;
            m.clone()
        }
        (None, _) => return sum_into(&p.values, &p.stored),
    };
    match updater {
        Some(u) => u(&p.key, &merged, &p.stored).map_err(|e| match e {
            Error::Msg(m) => Error::Msg(format!("kvstore updater failed on key {}: {m}", p.key)),
            other => other,
        }),
        None => p.stored.copy_from(&merged),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mxrs_ndarray_core::{Attrs, invoke};
    use mxrs_ndarray_core::{CpuStorage, DType};

    use super::*;

    fn full(v: f32, ctx: u32) -> NDArray {
        NDArray::from_cpu(CpuStorage::F32(vec![v; 6].into()), &[2, 3], Context::cpu(ctx)).unwrap()
    }

    fn first(a: &NDArray) -> f64 {
        a.to_cpu_storage().unwrap().get_f64(0)
    }

    fn pull1(kv: &dyn KVStore, k: i64) -> f64 {
        let out = NDArray::zeros(&[2, 3], DType::F32, Context::cpu(0)).unwrap();
        kv.pull(&[Key::Int(k)], &[vec![out.clone()]], 0).unwrap();
        first(&out)
    }

    fn check_seed_sequence(name: &str) {
        let kv = crate::create(name).unwrap();
        kv.init(&[Key::Int(3)], &[full(2.0, 0)]).unwrap();
        assert_eq!(pull1(&*kv, 3), 2.0);
        kv.push(&[Key::Int(3)], &[vec![full(8.0, 0)]], 0).unwrap();
        assert_eq!(pull1(&*kv, 3), 8.0);
        kv.push(&[Key::Int(3)], &[(0..4).map(|c| full(1.0, c)).collect()], 0).unwrap();
        assert_eq!(pull1(&*kv, 3), 4.0);
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        kv.set_updater(Some(Arc::new(move |_k: &Key, input: &NDArray, stored: &NDArray| {
            c2.fetch_add(1, Ordering::SeqCst);
            // stored += input * 2
            let twice =
                invoke("_mul_scalar", &Attrs::from_pairs([("scalar", "2")]), std::slice::from_ref(input), None, None)?;
            invoke(
                "elemwise_add",
                &Attrs::default(),
                &[stored.clone(), twice[0].clone()],
                Some(std::slice::from_ref(stored)),
                None,
            )?;
            Ok(())
        })));
        assert_eq!(pull1(&*kv, 3), 4.0);
        kv.push(&[Key::Int(3)], &[vec![full(1.0, 0)]], 0).unwrap();
        assert_eq!(pull1(&*kv, 3), 6.0);
        let outs: Vec<NDArray> = (0..4).map(|c| full(1.0, c)).collect();
        kv.pull(&[Key::Int(3)], std::slice::from_ref(&outs), 0).unwrap();
        assert!(outs.iter().all(|o| first(o) == 6.0));
        let keys = [Key::Int(5), Key::Int(7), Key::Int(9)];
        kv.init(&keys, &[full(1.0, 0), full(1.0, 0), full(1.0, 0)]).unwrap();
        kv.push(&keys, &[vec![full(1.0, 0)], vec![full(1.0, 0)], vec![full(1.0, 0)]], 0).unwrap();
        assert_eq!(pull1(&*kv, 7), 3.0);
        let b: Vec<Vec<NDArray>> = (0..3).map(|_| (0..4).map(|c| full(1.0, c)).collect()).collect();
        kv.push(&keys, &b, 0).unwrap();
        kv.pull(&keys, &b, 0).unwrap();
        assert_eq!(first(&b[1][1]), 11.0);
        assert_eq!(calls.load(Ordering::SeqCst), 1 + 3 + 3);
    }

    #[test]
    fn seed_sequence_local_and_device() {
        check_seed_sequence("local");
        check_seed_sequence("device");
    }

    #[test]
    fn errors_leave_the_store_unchanged() {
        let kv = LocalStore::new("local");
        let k = Key::Int(1);
        let e = kv.push(std::slice::from_ref(&k), &[vec![full(1.0, 0)]], 0).unwrap_err();
        assert!(e.to_string().contains("has not been initialized"), "{e}");
        let out = full(0.0, 0);
        assert!(kv.pull(std::slice::from_ref(&k), &[vec![out]], 0).is_err());
        assert!(kv.keys().is_empty());
        // The failed push and pull did not register the key: init still works.
        kv.init(std::slice::from_ref(&k), &[full(2.0, 0)]).unwrap();
        let e = kv.init(std::slice::from_ref(&k), &[full(3.0, 0)]).unwrap_err();
        assert!(e.to_string().contains("duplicate init"), "{e}");
        let bad = NDArray::zeros(&[3, 2], DType::F32, Context::cpu(0)).unwrap();
        let e = kv.push(std::slice::from_ref(&k), &[vec![bad]], 0).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let bad = NDArray::zeros(&[2, 3], DType::F64, Context::cpu(0)).unwrap();
        let e = kv.push(std::slice::from_ref(&k), &[vec![bad]], 0).unwrap_err();
        assert!(matches!(e, Error::DType { .. }), "{e}");
        // A list with one bad key queues nothing for the good one.
        let e = kv.push(&[k.clone(), Key::Int(99)], &[vec![full(5.0, 0)], vec![full(5.0, 0)]], 0).unwrap_err();
        assert!(e.to_string().contains("99"), "{e}");
        assert_eq!(first(&kv.stored(&k).unwrap()), 2.0);
        let e = kv.init(&[Key::Str("w".into())], &[full(1.0, 0)]).unwrap_err();
        assert!(e.to_string().contains("Mixed key types"), "{e}");
        kv.set_updater(Some(Arc::new(|_: &Key, _: &NDArray, _: &NDArray| Err(Error::msg("boom")))));
        let e = kv.push(std::slice::from_ref(&k), &[vec![full(5.0, 0)]], 0).unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        assert_eq!(first(&kv.stored(&k).unwrap()), 2.0);
    }

    #[test]
    fn push_and_pull_are_ordered_against_compute_without_waiting() {
        let kv = LocalStore::new("local");
        let k = Key::Str("w".into());
        let n = 1 << 18;
        let mk = |v: f32| NDArray::from_cpu(CpuStorage::F32(vec![v; n].into()), &[n], Context::cpu(0)).unwrap();
        kv.init(std::slice::from_ref(&k), &[mk(0.0)]).unwrap();
        let grads: Vec<NDArray> = (0..4).map(|_| mk(0.0)).collect();
        let out = mk(0.0);
        for _ in 0..5 {
            // The gradients are produced by ops still in flight when the push is queued.
            for g in &grads {
                invoke(
                    "_plus_scalar",
                    &Attrs::from_pairs([("scalar", "1")]),
                    std::slice::from_ref(g),
                    Some(std::slice::from_ref(g)),
                    None,
                )
                .unwrap();
            }
            kv.push(std::slice::from_ref(&k), std::slice::from_ref(&grads), 0).unwrap();
            kv.pull(std::slice::from_ref(&k), &[vec![out.clone()]], 0).unwrap();
            // out = 4 * step, and writing a gradient next waits for the push to read it.
        }
        let s = out.to_cpu_storage().unwrap();
        assert_eq!(s.get_f64(0), 20.0);
        assert_eq!(s.get_f64(n - 1), 20.0);
    }
}
