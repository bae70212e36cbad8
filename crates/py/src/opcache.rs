//! The op instances of the native calls, kept per thread: an op instance is immutable once
//! made, so one serves every call with the same name and attributes, and making it took a
//! registry lookup and the parsing of every attribute. The operators' fast path
//! ([`fast_op`]: `a + b`, `x * 2`) and the calls with attribute strings ([`run_op`]: the op
//! functions of `mx.nd`, `NDArray` methods, indexing) take them from here.

use std::collections::BTreeMap;
use std::sync::Arc;

use mxrs_ndarray_core::op::{Operator, registry};
use mxrs_ndarray_core::{Attrs, NDArray};

/// Ops kept by [`fast_op`]: name, bits of the scalar, instance.
type FastOps = Vec<(String, Option<u64>, Arc<dyn Operator>)>;

thread_local! {
    /// Ops made by the fast path, by name and scalar. `NDArray`'s operators use a handful of
    /// them (`a + b`, `x * 2`), and an op instance is immutable (random ops are not kept), so
    /// one serves every call: making it took a registry lookup, the scalar's text and its
    /// parsing, and two allocations, per `a + 1`.
    static FAST_OPS: std::cell::RefCell<FastOps> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The op `name` (with attribute `scalar` when given), from the cache when it is there.
pub(crate) fn fast_op(name: &str, scalar: Option<f64>) -> mxrs_ndarray_core::Result<Arc<dyn Operator>> {
    let key = scalar.map(f64::to_bits);
    let hit =
        FAST_OPS.with(|c| c.borrow().iter().find(|(n, k, _)| *k == key && n == name).map(|(_, _, op)| op.clone()));
    if let Some(op) = hit {
        return Ok(op);
    }
    let mut attrs = Attrs::default();
    if let Some(s) = scalar {
        attrs.set("scalar", format!("{s:?}"));
    }
    let op: Arc<dyn Operator> = Arc::from((registry().get(name)?.create)(&attrs)?);
    if op.uses_rng() {
        return Ok(op);
    }
    FAST_OPS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 32 {
            c.remove(0);
        }
        c.push((name.to_string(), key, op.clone()));
    });
    Ok(op)
}

/// Run the registered op `name` with attribute strings `attrs`: with none, the op instance
/// comes from the cache of the operators' fast path (`mx.nd.relu(x)`: 1.9 -> 1.7 us), else
/// from [`attr_op`]'s.
pub(crate) fn run_op(
    name: &str,
    attrs: BTreeMap<String, String>,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    ctx: Option<mxrs_ndarray_core::Context>,
) -> mxrs_ndarray_core::Result<Vec<NDArray>> {
    if attrs.is_empty() {
        return mxrs_ndarray_core::invoke::invoke_op_attrs(fast_op(name, None)?, Attrs::default, inputs, out, ctx);
    }
    let op = attr_op(name, &attrs)?;
    mxrs_ndarray_core::invoke::invoke_op_attrs(op, || Attrs(attrs), inputs, out, ctx)
}

/// Ops [`attr_op`] made, by a hash of their name and attributes: each with its name and
/// attributes, which a hit must equal.
type AttrOps = std::collections::HashMap<u64, Vec<(String, BTreeMap<String, String>, Arc<dyn Operator>)>>;

/// Entries [`attr_op`] keeps at most; it starts afresh when full.
const ATTR_OPS_MAX: usize = 512;

thread_local! {
    static ATTR_OPS: std::cell::RefCell<(AttrOps, usize)> = std::cell::RefCell::new(Default::default());
}

/// The op `name` with attributes `attrs`, from this thread's cache when it made one before:
/// an op instance is immutable, so one serves every call with the same attributes (a loop's
/// `x.sum(axis=1)`, `mx.nd.ones(shape)`, an optimizer's update with its `lr`). Making it took a
/// registry lookup and the parsing of every attribute, about 0.4 µs of a 1.7 µs call. Ops that
/// draw random numbers or run the user's code (custom ops) are made anew for each call.
fn attr_op(name: &str, attrs: &BTreeMap<String, String>) -> mxrs_ndarray_core::Result<Arc<dyn Operator>> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, attrs).hash(&mut h);
    let key = h.finish();
    let hit = ATTR_OPS.with(|c| {
        let c = c.borrow();
        c.0.get(&key)?.iter().find(|(n, a, _)| n == name && a == attrs).map(|(_, _, op)| op.clone())
    });
    if let Some(op) = hit {
        return Ok(op);
    }
    let op: Arc<dyn Operator> = Arc::from((registry().get(name)?.create)(&Attrs(attrs.clone()))?);
    if op.uses_rng() || !op.pure_forward() {
        return Ok(op);
    }
    ATTR_OPS.with(|c| {
        let (map, len) = &mut *c.borrow_mut();
        if *len >= ATTR_OPS_MAX {
            map.clear();
            *len = 0;
        }
        map.entry(key).or_default().push((name.to_string(), attrs.clone(), op.clone()));
        *len += 1;
    });
    Ok(op)
}
