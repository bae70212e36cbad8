//! Elementwise maps of one array, out of place and in place, split over the team or rayon's
//! pool when the op's thread budget allows.

use crate::backend::cpu::{Parallelism, Split, chunks_mut, simd_fn};
use crate::storage::StorageElement;

/// `out[i] = f(src[i])`, in parallel for long inputs.
pub fn map_into<S, T, F>(par: Parallelism, src: &[S], out: &mut [T], f: F)
where
    S: Copy + Sync,
    T: Send,
    F: Fn(S) -> T + Sync + Send,
{
    map_chunks(src, out, Split::pool_if(par.split(src.len())), f);
}

/// `out[i] = f(src[i])`, split as `split` says.
pub(super) fn map_chunks<S, T, F>(src: &[S], out: &mut [T], split: Split, f: F)
where
    S: Copy + Sync,
    T: Send,
    F: Fn(S) -> T + Sync + Send,
{
    chunks_mut(split, out, |s, o| map_chunk(&src[s..s + o.len()], o, &f));
}

// The chunk loops (here and in `binary.rs`) take their slices and the closure as arguments so
// that the compiler knows that writes to `out` cannot change what the closure captured (a
// scalar operand): inlined into rayon's plumbing it lost that, reloaded the scalar after every
// store and never vectorised (`x += 1` ran at a quarter of memory speed).

simd_fn! {
    /// `out[i] = f(src[i])` over one chunk.
    fn map_chunk[S: Copy, T, F: Fn(S) -> T](src: &[S], out: &mut [T], f: &F) {
        for (o, &x) in out.iter_mut().zip(src) {
            *o = f(x);
        }
    }
}

/// A new vector `f(src[i])`, in parallel for long inputs ([`Parallelism::split`]).
pub fn map<S: Copy + Sync, T: StorageElement + Send, F: Fn(S) -> T + Sync + Send>(
    par: Parallelism,
    src: &[S],
    f: F,
) -> Vec<T> {
    new_mapped(src, Split::pool_if(par.split(src.len())), f)
}

/// [`map`] for a function of a few instructions (`relu`, `abs`, `clip`): on an engine worker,
/// split over rayon's pool only from [`PAR_THRESHOLD_CHEAP`](crate::backend::cpu::PAR_THRESHOLD_CHEAP)
/// elements, as the binary arithmetic ops, since below it the hand-off costs more than the
/// second core saves; on the thread that called the op, over the team
/// ([`Parallelism::split_cheap_mode`]).
pub fn map_cheap<S: Copy + Sync, T: StorageElement + Send, F: Fn(S) -> T + Sync + Send>(
    par: Parallelism,
    src: &[S],
    f: F,
) -> Vec<T> {
    new_mapped(src, par.split_cheap_mode(src.len()), f)
}

/// A new vector `f(src[i])`, split as `split` says.
fn new_mapped<S: Copy + Sync, T: StorageElement + Send, F: Fn(S) -> T + Sync + Send>(
    src: &[S],
    split: Split,
    f: F,
) -> Vec<T> {
    let mut out: Vec<T> = crate::pool::alloc(src.len());
    map_chunks(src, &mut out, split, f);
    out
}

/// `a[i] = f(a[i])`, split as `split(a.len())` says ([`Parallelism::split_cheap_mode`], or
/// [`Split::pool_if`] of [`Parallelism::split`]).
pub(super) fn update_map<T, F>(a: &mut [T], split: impl FnOnce(usize) -> Split, f: F)
where
    T: Copy + Send + Sync,
    F: Fn(T) -> T + Sync + Send,
{
    chunks_mut(split(a.len()), a, |_, c| update_chunk(c, &f));
}

simd_fn! {
    /// `a[i] = f(a[i])` over one chunk.
    fn update_chunk[T: Copy, F: Fn(T) -> T](a: &mut [T], f: &F) {
        for x in a.iter_mut() {
            *x = f(*x);
        }
    }
}
