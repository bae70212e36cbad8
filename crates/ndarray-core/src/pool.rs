//! A cache of large host buffers.
//!
//! Fresh large allocations come from `mmap` and pay a page fault per 4 KiB page on first touch,
//! which caps elementwise ops far below memory bandwidth; smaller ones come zeroed, which costs
//! a `memset` the kernel's writes then repeat. Buffers of at least
//! [`MIN_POOLED_BYTES`] released by arrays are kept here, keyed by dtype and length, and reused
//! by kernels that overwrite every element of their output. Only sizes that some kernel has
//! asked for are kept (a kernel that allocates by itself would otherwise fill the pool with
//! buffers nobody takes). The pool holds at most `MXRS_POOL_BYTES` bytes (default 1 GiB; 0
//! disables it) and evicts the oldest buffers first. Buffers of 4-64 KiB are kept per thread
//! instead ([`MIN_LOCAL_BYTES`]), a few of them, without the lock.
//!
//! It also returns what a steady loop does not need: per size, the fewest buffers left free
//! right after a take is tracked over [`TRIM_TAKES`] takes, and that many (never needed in
//! that window) are released; sizes nobody took over [`SWEEP_TAKES`] takes of any size are
//! released whole. A training loop that frees a buffer of a size and takes one back in every
//! step thus keeps one spare of that size, not [`MAX_PER_SIZE`].

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::dtype::DType;
use crate::storage::{CpuStorage, StorageElement};

/// Buffers smaller than this are left to the system allocator. Fresh buffers below 1 MiB come
/// from glibc's heap without page faults, but zeroed: 64 KiB (a 128x128 float32 product)
/// costs a 1-2 µs `memset`, against about 0.1 µs to take a pooled buffer.
pub const MIN_POOLED_BYTES: usize = 1 << 16;

/// At most this many free buffers of one size are kept: when more arrays of a size are
/// released than kernels take (an op that allocates by itself writes into a pooled array each
/// step), the surplus goes back to the allocator instead of piling up.
pub const MAX_PER_SIZE: usize = 4;

/// Takes of one size over which its fewest free buffers are counted before trimming.
pub const TRIM_TAKES: usize = 8;

/// Takes of any size after which sizes nobody took in the meantime are released.
pub const SWEEP_TAKES: usize = 2048;

/// Per size: the fewest free buffers right after a take, the takes counted, and whether any
/// take came since the last sweep.
#[derive(Clone, Copy)]
struct Usage {
    low: usize,
    takes: usize,
    recent: bool,
}

#[derive(Default)]
struct Pool {
    free: HashMap<(DType, usize), Vec<CpuStorage>>,
    usage: HashMap<(DType, usize), Usage>,
    takes: usize,
    /// Sizes kernels have asked for: only these are kept.
    wanted: std::collections::HashSet<(DType, usize)>,
    /// Insertion order, for eviction.
    order: VecDeque<(DType, usize)>,
    bytes: usize,
    cap: usize,
}

/// `MXRS_POOL_BYTES`, or 1 GiB (read once).
fn cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| std::env::var("MXRS_POOL_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(1usize << 30))
}

fn pool() -> &'static Mutex<Pool> {
    static P: OnceLock<Mutex<Pool>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(Pool { cap: cap(), ..Default::default() }))
}

fn nbytes(dtype: DType, len: usize) -> usize {
    dtype.size() * len
}

/// Buffers from this size up to [`MIN_POOLED_BYTES`] are kept per thread, the last
/// [`LOCAL_MAX`] released there: below the shared pool's bound a fresh buffer costs no page
/// faults, but it comes zeroed, a `memset` of up to 64 KiB (3% of a `dot` of 64x64 float32)
/// that the kernel's writes repeat. Smaller ones are left to the allocator.
pub const MIN_LOCAL_BYTES: usize = 4096;

/// See [`MIN_LOCAL_BYTES`]: at most 8 buffers, 512 KiB, a thread.
pub const LOCAL_MAX: usize = 8;

thread_local! {
    /// This thread's small buffers ([`MIN_LOCAL_BYTES`]), the latest released last.
    static LOCAL: std::cell::RefCell<Vec<CpuStorage>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keep `s` for reuse if it is large enough and fits (and mxrs owns it: foreign memory is
/// released).
pub fn give(s: CpuStorage) {
    if s.is_foreign() {
        return;
    }
    let (dtype, len) = (s.dtype(), s.len());
    let b = nbytes(dtype, len);
    if b < MIN_POOLED_BYTES {
        if b >= MIN_LOCAL_BYTES && cap() > 0 {
            // A thread being torn down drops it instead.
            let _ = LOCAL.try_with(|l| {
                let mut l = l.borrow_mut();
                if l.len() >= LOCAL_MAX {
                    l.remove(0);
                }
                l.push(s);
            });
        }
        return;
    }
    let mut p = pool().lock();
    if b > p.cap || !p.wanted.contains(&(dtype, len)) {
        return;
    }
    if p.free.get(&(dtype, len)).is_some_and(|v| v.len() >= MAX_PER_SIZE) {
        return;
    }
    while p.bytes + b > p.cap {
        let Some(key) = p.order.pop_front() else { break };
        if let Some(v) = p.free.get_mut(&key)
            && v.pop().is_some()
        {
            p.bytes -= nbytes(key.0, key.1);
        }
    }
    p.bytes += b;
    p.order.push_back((dtype, len));
    p.free.entry((dtype, len)).or_default().push(s);
}

/// A pooled buffer of exactly `len` elements of `dtype`, with arbitrary content.
pub fn take(dtype: DType, len: usize) -> Option<CpuStorage> {
    let b = nbytes(dtype, len);
    if b < MIN_POOLED_BYTES {
        if b < MIN_LOCAL_BYTES || cap() == 0 {
            return None;
        }
        return LOCAL
            .try_with(|l| {
                let mut l = l.borrow_mut();
                let i = l.iter().rposition(|s| s.dtype() == dtype && s.len() == len)?;
                Some(l.remove(i))
            })
            .ok()
            .flatten();
    }
    let mut p = pool().lock();
    if p.cap == 0 {
        return None;
    }
    if !p.wanted.contains(&(dtype, len)) {
        if p.wanted.len() > 4096 {
            p.wanted.clear();
        }
        p.wanted.insert((dtype, len));
        return None;
    }
    let key = (dtype, len);
    let s = p.free.get_mut(&key).and_then(Vec::pop);
    if s.is_some() {
        p.bytes -= nbytes(dtype, len);
        if let Some(i) = p.order.iter().rposition(|k| *k == key) {
            p.order.remove(i);
        }
    }
    note_take(&mut p, key);
    s
}

/// Count a take of `key`: trim the size's surplus after [`TRIM_TAKES`] takes of it, and
/// sweep the sizes nobody takes after [`SWEEP_TAKES`] takes of any size.
fn note_take(p: &mut Pool, key: (DType, usize)) {
    let left = p.free.get(&key).map_or(0, Vec::len);
    let u = p.usage.entry(key).or_insert(Usage { low: left, takes: 0, recent: true });
    u.low = u.low.min(left);
    u.takes += 1;
    u.recent = true;
    if u.takes >= TRIM_TAKES {
        let surplus = u.low;
        *u = Usage { low: left - surplus, takes: 0, recent: true };
        release(p, key, surplus);
    }
    p.takes += 1;
    if p.takes >= SWEEP_TAKES {
        p.takes = 0;
        let idle: Vec<(DType, usize)> = p.usage.iter().filter(|(_, u)| !u.recent).map(|(&k, _)| k).collect();
        for k in idle {
            let n = p.free.get(&k).map_or(0, Vec::len);
            release(p, k, n);
        }
        p.usage.values_mut().for_each(|u| u.recent = false);
    }
}

/// Free `n` of the pooled buffers of `key` (the oldest first).
fn release(p: &mut Pool, key: (DType, usize), n: usize) {
    let Some(v) = p.free.get_mut(&key) else { return };
    let n = n.min(v.len());
    drop(v.drain(..n));
    p.bytes -= n * nbytes(key.0, key.1);
    for _ in 0..n {
        if let Some(i) = p.order.iter().position(|k| *k == key) {
            p.order.remove(i);
        }
    }
}

/// A vector of `len` elements for a kernel that writes every element: pooled when possible
/// (arbitrary content), else freshly zeroed. For output sizes that [`crate::invoke()`] checked
/// before the op was pushed; [`try_alloc`] reports a refused allocation instead.
pub fn alloc<T: StorageElement>(len: usize) -> Vec<T> {
    pooled(len).unwrap_or_else(|| bytemuck::zeroed_vec(len))
}

/// [`alloc`] for a dtype known at run time: `len` elements of arbitrary content, for a kernel
/// that writes every one.
pub fn alloc_storage(dtype: DType, len: usize) -> CpuStorage {
    crate::dispatch!(dtype dtype => T, { T::wrap(alloc::<T>(len)) })
}

/// [`alloc`], with an out-of-memory error naming `op` and the bytes when the system refuses.
pub fn try_alloc<T: StorageElement>(op: &str, len: usize) -> crate::error::Result<Vec<T>> {
    match pooled(len) {
        Some(v) => Ok(v),
        None => crate::storage::try_zeroed_vec(op, len),
    }
}

/// A pooled buffer of `len` elements of `T`, with arbitrary content.
fn pooled<T: StorageElement>(len: usize) -> Option<Vec<T>> {
    let s = take(T::DTYPE, len)?;
    match T::into_vec(s) {
        Ok(v) => Some(v),
        Err(s) => {
            give(s);
            None
        }
    }
}

/// A zeroed vector of `len` elements for a kernel that accumulates into it: a pooled buffer
/// cleared (cheaper than the page faults of fresh memory) when possible.
pub fn alloc_zeroed<T: StorageElement + bytemuck::Zeroable>(len: usize) -> Vec<T> {
    match pooled::<T>(len) {
        Some(mut v) => {
            v.fill(T::zeroed());
            v
        }
        None => bytemuck::zeroed_vec(len),
    }
}

/// Bytes currently held by the pool.
pub fn pooled_bytes() -> usize {
    pool().lock().bytes
}

/// The free buffers the pool holds: `(dtype, elements, count)` per size, largest first.
pub fn pooled_sizes() -> Vec<(DType, usize, usize)> {
    let p = pool().lock();
    let mut v: Vec<(DType, usize, usize)> =
        p.free.iter().filter(|(_, b)| !b.is_empty()).map(|(&(d, n), b)| (d, n, b.len())).collect();
    v.sort_by_key(|&(d, n, _)| std::cmp::Reverse(n * d.size()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_kept_per_thread() {
        // 4-64 KiB: the last given of the size comes back, on this thread only, at most
        // LOCAL_MAX kept; smaller ones never.
        let n = MIN_LOCAL_BYTES / 4 + 5;
        let v: Vec<f32> = vec![2.5; n];
        let ptr = v.as_ptr();
        give(CpuStorage::F32(v.into()));
        assert!(take(DType::F32, n + 1).is_none(), "another size");
        assert!(take(DType::I32, n).is_none(), "another dtype");
        let other = std::thread::spawn(move || take(DType::F32, n).is_none()).join().unwrap();
        assert!(other, "another thread");
        let back = take(DType::F32, n).expect("kept");
        let CpuStorage::F32(b) = back else { panic!("dtype") };
        assert_eq!(b.as_ptr(), ptr);
        assert!(take(DType::F32, n).is_none(), "taken once");
        for i in 0..LOCAL_MAX + 2 {
            give(CpuStorage::F32(vec![i as f32; n].into()));
        }
        let kept = std::iter::from_fn(|| take(DType::F32, n)).count();
        assert_eq!(kept, LOCAL_MAX);
        give(CpuStorage::F32(vec![1.0f32; 16].into()));
        assert!(take(DType::F32, 16).is_none(), "below MIN_LOCAL_BYTES");
    }

    #[test]
    fn reuses_exact_sizes() {
        let n = (MIN_POOLED_BYTES / 4) + 3;
        assert!(take(DType::F32, n).is_none(), "a first request only registers the size");
        let v: Vec<f32> = vec![1.5; n];
        let ptr = v.as_ptr();
        give(CpuStorage::F32(v.into()));
        let w: Vec<f32> = alloc(n);
        assert_eq!(w.as_ptr(), ptr);
        let small: Vec<f32> = alloc(10);
        assert!(small.iter().all(|&x| x == 0.0));
        let tried: Vec<f32> = try_alloc("t", 10).unwrap();
        assert_eq!(tried.len(), 10);
        let e = try_alloc::<f64>("t", 1 << 59).unwrap_err();
        assert!(e.to_string().contains("4611686018427387904 bytes"), "{e}");
    }

    #[test]
    fn at_most_max_per_size_buffers_of_one_size() {
        let n = (MIN_POOLED_BYTES / 4) + 11;
        assert!(take(DType::F32, n).is_none());
        for _ in 0..MAX_PER_SIZE + 3 {
            give(CpuStorage::F32(vec![0.0; n].into()));
        }
        let mut got = 0;
        while take(DType::F32, n).is_some() {
            got += 1;
        }
        assert_eq!(got, MAX_PER_SIZE);
    }

    #[test]
    fn a_steady_loop_trims_the_buffers_it_never_takes() {
        // Four spare buffers, then a loop that frees one buffer of the size and takes one back
        // each round (an array rewritten every step): three spares are never needed.
        let n = (MIN_POOLED_BYTES / 4) + 19;
        assert!(take(DType::F32, n).is_none());
        let free_now = || pool().lock().free.get(&(DType::F32, n)).map_or(0, Vec::len);
        for _ in 0..MAX_PER_SIZE {
            give(CpuStorage::F32(vec![0.0; n].into()));
        }
        let mut held: Vec<f32> = vec![0.0; n];
        for round in 0..3 * TRIM_TAKES {
            give(CpuStorage::F32(std::mem::take(&mut held).into()));
            held = alloc::<f32>(n);
            let want = if round + 1 < TRIM_TAKES { MAX_PER_SIZE - 1 } else { 0 };
            assert_eq!(free_now(), want, "round {round}");
        }
        // The loop still gets its buffer back from the pool.
        let p = held.as_ptr();
        give(CpuStorage::F32(held.into()));
        let back = alloc::<f32>(n);
        assert_eq!(back.as_ptr(), p);
    }

    #[test]
    fn sizes_nobody_asks_for_are_not_kept() {
        let n = (MIN_POOLED_BYTES / 4) + 7;
        let before = pooled_bytes();
        give(CpuStorage::F32(vec![0.0; n].into()));
        assert_eq!(pooled_bytes(), before);
    }
}
