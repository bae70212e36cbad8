//! Reductions over axes: sum, mean, prod, max, min, L2 norm, argmax, argmin.
//!
//! The input is viewed as `(outer, reduced, inner)` when the reduced axes are contiguous;
//! otherwise it is first transposed so that they are. Float32 sums use fixed-size blocks with
//! several accumulators, combined in f64, so results do not depend on the thread count.

use half::f16;
use rayon::prelude::*;

use super::gather::transpose;
use super::{Parallelism, SendPtr, Split};
use crate::dtype::Element;
use crate::storage::{CpuStorage, StorageElement};

/// What to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Product.
    Prod,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// sqrt of the sum of squares.
    Norm,
    /// L1 norm.
    NormL1,
    /// Index of the first maximum.
    Argmax,
    /// Index of the first minimum.
    Argmin,
    /// Sum ignoring NaN.
    NanSum,
}

const BLOCK: usize = 1024;
const LANES: usize = 32;

/// `x`, or `x * x` for the sums of squares (`SQ`).
#[inline(always)]
fn term<const SQ: bool>(x: f32) -> f32 {
    if SQ { x * x } else { x }
}

/// Sum of one block (of squares with `SQ`): 32 independent lanes (four AVX registers, enough
/// to hide the latency of the adds), combined in f64. Plain index loops only: an iterator
/// adapter here would be a call into code compiled without the caller's target features.
#[inline(always)]
fn block_sum<const SQ: bool>(b: &[f32]) -> f64 {
    let mut acc = [0f32; LANES];
    let full = b.len() / LANES * LANES;
    let mut j = 0;
    while j < full {
        let c = &b[j..j + LANES];
        for i in 0..LANES {
            acc[i] += term::<SQ>(c[i]);
        }
        j += LANES;
    }
    let mut s = 0f64;
    for &x in &b[full..] {
        s += term::<SQ>(x) as f64;
    }
    for &x in &acc {
        s += x as f64;
    }
    s
}

/// Blocks of [`BLOCK`] elements summed one by one, the block sums added in f64.
#[inline(always)]
fn group_sum_body<const SQ: bool>(g: &[f32]) -> f64 {
    let mut total = 0f64;
    let mut start = 0;
    while start < g.len() {
        let end = (start + BLOCK).min(g.len());
        total += block_sum::<SQ>(&g[start..end]);
        start = end;
    }
    total
}

fn group_sum_generic<const SQ: bool>(g: &[f32]) -> f64 {
    group_sum_body::<SQ>(g)
}

/// Fold eight float32 lanes into four float64 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn widen(v: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)))
}

/// The four float64 lanes of `d`, added.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lanes_sum(d: std::arch::x86_64::__m256d) -> f64 {
    let mut lanes = [0f64; 4];
    // SAFETY: `lanes` has room for the four f64 of `d`.
    unsafe { std::arch::x86_64::_mm256_storeu_pd(lanes.as_mut_ptr(), d) };
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// Sum of a group with AVX2, reading it as four interleaved streams (its four quarters) rather
/// than one: this VM's memory delivers far more to a core that has several streams in flight
/// (a probe read 10^7 float32 at 10-12 GB/s with one stream and 15-17 GB/s with four on one
/// core; 19-22 against 27-29 GB/s on two). Every float32 lane adds 32 elements before it is
/// folded into float64, as in [`group_sum_body`]; the group's tail takes that path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn group_sum_avx2<const SQ: bool>(g: &[f32]) -> f64 {
    use std::arch::x86_64::*;
    /// Elements of one stream between folds: 32 per lane.
    const PIECE: usize = 256;
    let quarter = g.len() / (4 * PIECE) * PIECE;
    let p = g.as_ptr();
    let t = |x: __m256| if SQ { _mm256_mul_ps(x, x) } else { x };
    let mut d = [_mm256_setzero_pd(); 2];
    let mut off = 0;
    while off < quarter {
        let mut a = [_mm256_setzero_ps(); 4];
        let mut j = off;
        while j < off + PIECE {
            // SAFETY: j + 8 <= off + PIECE <= quarter, so stream s reads inside
            // [s * quarter, (s + 1) * quarter), which lies in `g` (4 * quarter <= g.len());
            // unaligned loads accept any address.
            unsafe {
                a[0] = _mm256_add_ps(a[0], t(_mm256_loadu_ps(p.add(j))));
                a[1] = _mm256_add_ps(a[1], t(_mm256_loadu_ps(p.add(quarter + j))));
                a[2] = _mm256_add_ps(a[2], t(_mm256_loadu_ps(p.add(2 * quarter + j))));
                a[3] = _mm256_add_ps(a[3], t(_mm256_loadu_ps(p.add(3 * quarter + j))));
            }
            j += 8;
        }
        d[0] = _mm256_add_pd(d[0], _mm256_add_pd(widen(a[0]), widen(a[1])));
        d[1] = _mm256_add_pd(d[1], _mm256_add_pd(widen(a[2]), widen(a[3])));
        off += PIECE;
    }
    lanes_sum(_mm256_add_pd(d[0], d[1])) + group_sum_body::<SQ>(&g[4 * quarter..])
}

/// The sum (of squares with `SQ`) of a group of blocks, with AVX2 code where the CPU has it.
fn group_sum<const SQ: bool>(g: &[f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { group_sum_avx2::<SQ>(g) };
    }
    group_sum_generic::<SQ>(g)
}

/// Sum of a float32 slice: 32 lanes per 1024-element block, blocks combined in f64.
pub fn sum_f32(par: Parallelism, v: &[f32]) -> f64 {
    groups_sum::<false>(par, v)
}

/// Sum of the squares of a float32 slice, accumulated as [`sum_f32`] does (for the L2 norm).
pub fn sum_squares_f32(par: Parallelism, v: &[f32]) -> f64 {
    groups_sum::<true>(par, v)
}

fn groups_sum<const SQ: bool>(par: Parallelism, v: &[f32]) -> f64 {
    map_groups(par, v, group_sum::<SQ>).iter().sum()
}

/// Elements of a group of a float32 reduction ([`map_groups`]): 512 KiB.
const GROUP: usize = BLOCK * 128;

/// `f` of each group of [`GROUP`] elements of `v`, in order, over the threads that
/// [`Parallelism::split_cheap_mode`] gives: the groups are fixed, so what is made of their
/// results does not depend on the split. The groups were 2^18 elements when only rayon's pool
/// split them; the team splits them on the thread that called the op, where a 3x10^5-element
/// sum was two groups of that size, one of them short. Groups of 2^16 read 10^7 elements over
/// the pool 4% slower in five alternated pairs on a Zen 4 (2^17 as fast as 2^18 there).
fn map_groups<R: Copy + Default + Send>(par: Parallelism, v: &[f32], f: impl Fn(&[f32]) -> R + Sync + Send) -> Vec<R> {
    map_split(par, v.len().div_ceil(GROUP), v.len(), |i| f(&v[i * GROUP..((i + 1) * GROUP).min(v.len())]))
}

/// `f(0)`, ..., `f(count - 1)`, in order, for a kernel of `work` elements in all: over the team
/// (a few runs of indices per thread), rayon's pool or this thread, as
/// [`Parallelism::split_cheap_mode`] says.
fn map_split<R: Copy + Default + Send>(
    par: Parallelism,
    count: usize,
    work: usize,
    f: impl Fn(usize) -> R + Sync + Send,
) -> Vec<R> {
    if count <= 1 {
        return (0..count).map(f).collect();
    }
    match par.split_cheap_mode(work) {
        Split::One => (0..count).map(f).collect(),
        Split::Pool => (0..count).into_par_iter().map(f).collect(),
        Split::Team(threads) => {
            let mut out = vec![R::default(); count];
            let step = count.div_ceil(2 * threads);
            let base = SendPtr(out.as_mut_ptr());
            super::team::run_blocks(count.div_ceil(step), threads - 1, &|b| {
                for i in b * step..((b + 1) * step).min(count) {
                    let r = f(i);
                    // SAFETY: run b writes elements b*step.. of `out` (each i < count =
                    // out.len()), which no other run writes; `out` outlives the runs
                    // (run_blocks returns when all have run).
                    unsafe { *base.ptr().add(i) = r };
                }
            });
            out
        }
    }
}

/// Max (`MAX`) or min of a float32 slice, NaN if any element is NaN (as the generic path
/// gives): 32 lanes, each with its own NaN flag, so that the loop vectorises.
#[inline(always)]
fn extreme_body<const MAX: bool>(v: &[f32]) -> f32 {
    let init = if MAX { f32::NEG_INFINITY } else { f32::INFINITY };
    let mut acc = [init; LANES];
    let mut nan = [0u32; LANES];
    let full = v.len() / LANES * LANES;
    let mut j = 0;
    while j < full {
        let c = &v[j..j + LANES];
        for i in 0..LANES {
            let x = c[i];
            let better = if MAX { x > acc[i] } else { x < acc[i] };
            acc[i] = if better { x } else { acc[i] };
            nan[i] |= u32::from(x.is_nan());
        }
        j += LANES;
    }
    let mut m = init;
    let mut any_nan = nan.iter().any(|&n| n != 0);
    for &x in acc.iter().chain(&v[full..]) {
        any_nan |= x.is_nan();
        if if MAX { x > m } else { x < m } {
            m = x;
        }
    }
    if any_nan { f32::NAN } else { m }
}

/// [`extreme_body`] with AVX2 intrinsics, reading the slice as four interleaved streams (its
/// quarters), as the sum does; the rest goes through [`extreme_body`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn extreme_avx2<const MAX: bool>(v: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let init = if MAX { f32::NEG_INFINITY } else { f32::INFINITY };
    let quarter = v.len() / 32 * 8;
    let p = v.as_ptr();
    let mut acc = [_mm256_set1_ps(init); 4];
    let mut nan = _mm256_setzero_ps();
    let mut j = 0;
    while j < quarter {
        for (s, a) in acc.iter_mut().enumerate() {
            // SAFETY: j + 8 <= quarter, so stream s reads inside [s * quarter, (s + 1) * quarter),
            // which lies in `v` (4 * quarter <= v.len()); unaligned loads accept any address.
            let x = unsafe { _mm256_loadu_ps(p.add(s * quarter + j)) };
            // max_ps/min_ps return their second operand when either is NaN: NaNs never enter
            // the accumulators and are flagged separately.
            *a = if MAX { _mm256_max_ps(x, *a) } else { _mm256_min_ps(x, *a) };
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
        }
        j += 8;
    }
    if _mm256_movemask_ps(nan) != 0 {
        return f32::NAN;
    }
    let mut lanes = [0f32; 32];
    for (s, a) in acc.iter().enumerate() {
        // SAFETY: `lanes` has room for 8 floats from offset 8 * s.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr().add(8 * s), *a) };
    }
    let rest = extreme_body::<MAX>(&v[4 * quarter..]);
    let mut m = rest;
    for &x in &lanes {
        if !m.is_nan() && (if MAX { x > m } else { x < m }) {
            m = x;
        }
    }
    m
}

fn extreme_group<const MAX: bool>(v: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { extreme_avx2::<MAX>(v) };
    }
    extreme_body::<MAX>(v)
}

/// Max (`MAX`) or min of a float32 slice, split over threads when long; NaN if any is NaN.
fn extreme_f32<const MAX: bool>(par: Parallelism, v: &[f32]) -> f32 {
    let pick = |a: f32, b: f32| {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if if MAX { b > a } else { b < a } {
            b
        } else {
            a
        }
    };
    let init = if MAX { f32::NEG_INFINITY } else { f32::INFINITY };
    map_groups(par, v, extreme_group::<MAX>).into_iter().fold(init, pick)
}

fn reduce_row<T: Element>(kind: ReduceKind, row: &[T], stride: usize, n: usize) -> f64 {
    let get = |i: usize| row[i * stride].to_f64();
    match kind {
        ReduceKind::Sum | ReduceKind::Mean => {
            let mut s = 0.0;
            for i in 0..n {
                s += get(i);
            }
            if kind == ReduceKind::Mean { s / n as f64 } else { s }
        }
        ReduceKind::NanSum => (0..n).map(get).filter(|x| !x.is_nan()).sum(),
        ReduceKind::Prod => (0..n).map(get).product(),
        ReduceKind::Max => (0..n).map(get).fold(f64::NEG_INFINITY, |a, b| if b > a || b.is_nan() { b } else { a }),
        ReduceKind::Min => (0..n).map(get).fold(f64::INFINITY, |a, b| if b < a || b.is_nan() { b } else { a }),
        ReduceKind::Norm => (0..n).map(|i| get(i) * get(i)).sum::<f64>().sqrt(),
        ReduceKind::NormL1 => (0..n).map(|i| get(i).abs()).sum::<f64>(),
        ReduceKind::Argmax | ReduceKind::Argmin => {
            let mut best = 0usize;
            for i in 1..n {
                let (x, b) = (get(i), get(best));
                let better = if kind == ReduceKind::Argmax { x > b } else { x < b };
                if better {
                    best = i;
                }
            }
            best as f64
        }
    }
}

/// Reduce a contiguous array of `shape` over the axes flagged in `reduce`. Returns the values
/// in the layout of the kept axes (in order). Empty reductions give 0 for sums, 1 for products
/// and -inf/inf for max/min.
pub fn reduce<T: Element + StorageElement>(
    par: Parallelism,
    kind: ReduceKind,
    src: &[T],
    shape: &[usize],
    reduce: &[bool],
) -> Vec<T> {
    let nd = shape.len();
    // Make the reduced axes a contiguous block [lo, hi) by transposing when needed.
    let red: Vec<usize> = (0..nd).filter(|&i| reduce[i]).collect();
    let contiguous = red.windows(2).all(|w| w[1] == w[0] + 1);
    let (data, shape): (std::borrow::Cow<'_, [T]>, Vec<usize>) = if contiguous {
        (std::borrow::Cow::Borrowed(src), shape.to_vec())
    } else {
        let keep: Vec<usize> = (0..nd).filter(|&i| !reduce[i]).collect();
        let axes: Vec<usize> = keep.iter().chain(red.iter()).copied().collect();
        let sh: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        (std::borrow::Cow::Owned(transpose(par, src, shape, &axes)), sh)
    };
    let flags: Vec<bool> = if contiguous {
        reduce.to_vec()
    } else {
        let k = nd - red.len();
        (0..nd).map(|i| i >= k).collect()
    };
    let lo = flags.iter().position(|&f| f).unwrap_or(nd);
    let hi = flags.iter().rposition(|&f| f).map(|p| p + 1).unwrap_or(nd);
    let outer: usize = shape[..lo].iter().product();
    let r: usize = shape[lo..hi].iter().product();
    let inner: usize = shape[hi..].iter().product();
    let n_out = outer * inner;
    let data = &data[..];
    let fast =
        matches!(kind, ReduceKind::Sum | ReduceKind::Mean | ReduceKind::Norm | ReduceKind::Max | ReduceKind::Min);
    if fast && T::DTYPE == crate::dtype::DType::F32 && inner == 1 {
        // Rows of float32 through the vectorised kernels (split over threads when long): mean
        // and the L2 norm are a sum and a sum of squares finished per row.
        let d: &[f32] = bytemuck::cast_slice(data);
        let finish = |row: &[f32]| match kind {
            ReduceKind::Mean => sum_f32(par, row) / r as f64,
            ReduceKind::Norm => sum_squares_f32(par, row).sqrt(),
            ReduceKind::Max => extreme_f32::<true>(par, row) as f64,
            ReduceKind::Min => extreme_f32::<false>(par, row) as f64,
            _ => sum_f32(par, row),
        };
        // A row of one group, as `finish` computes it, without the split's bookkeeping (a
        // vector per row): on the Zen 4, `sum(axis=1)` of 10^4 rows of 100 went from 197-215 to
        // 102-103 µs, of 10^3 rows from 21-25 to 12.
        let short = |row: &[f32]| match kind {
            ReduceKind::Mean => group_sum::<false>(row) / r as f64,
            ReduceKind::Norm => group_sum::<true>(row).sqrt(),
            ReduceKind::Max => extreme_group::<true>(row) as f64,
            ReduceKind::Min => extreme_group::<false>(row) as f64,
            _ => group_sum::<false>(row),
        };
        let row = |o: usize| {
            let v = &d[o * r..(o + 1) * r];
            if r <= GROUP { short(v) } else { finish(v) }
        };
        let vals: Vec<f64> = if outer == 1 { vec![finish(d)] } else { map_split(par, outer, d.len(), row) };
        return vals.into_iter().map(T::from_f64).collect();
    }
    let work = |j: usize| -> T {
        let (o, i) = (j / inner.max(1), j % inner.max(1));
        let base = o * r * inner + i;
        T::from_f64(reduce_row(kind, &data[base.min(data.len())..], inner, r))
    };
    if par.split(n_out * r) { (0..n_out).into_par_iter().map(work).collect() } else { (0..n_out).map(work).collect() }
}

/// Reduce a storage; argmax/argmin results keep the input dtype (as MXNet's do).
pub fn reduce_storage(
    par: Parallelism,
    kind: ReduceKind,
    s: &CpuStorage,
    shape: &[usize],
    flags: &[bool],
) -> CpuStorage {
    match s {
        CpuStorage::F16(v) => {
            let f: Vec<f32> = v.iter().map(|x| x.to_f32()).collect();
            CpuStorage::F16(reduce(par, kind, &f, shape, flags).into_iter().map(f16::from_f32).collect())
        }
        other => crate::dispatch!(storage other => v: T, { T::wrap(reduce(par, kind, v, shape, flags)) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: Parallelism = Parallelism::SERIAL;

    #[test]
    fn axes() {
        let v: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let s = [2, 3, 4];
        assert_eq!(reduce(SERIAL, ReduceKind::Sum, &v, &s, &[true, true, true]), vec![276.0]);
        assert_eq!(
            reduce(SERIAL, ReduceKind::Sum, &v, &s, &[false, false, true]),
            vec![6.0, 22.0, 38.0, 54.0, 70.0, 86.0]
        );
        assert_eq!(reduce(SERIAL, ReduceKind::Sum, &v, &s, &[true, false, false])[..3], [12.0, 14.0, 16.0]);
        let r = reduce(SERIAL, ReduceKind::Max, &v, &s, &[true, false, true]);
        assert_eq!(r, vec![15.0, 19.0, 23.0]);
        let r = reduce(SERIAL, ReduceKind::Argmax, &v, &s, &[false, true, false]);
        assert_eq!(r, vec![2.0; 8]);
    }

    #[test]
    fn group_sums_match_the_exact_sum_at_every_length() {
        // The four-stream AVX2 loop, its tail, and the plain path, on lengths around their edges.
        let data: Vec<f32> = (0..1_000_003u64).map(|i| ((i * 7919) % 1000) as f32 / 7.0 - 60.0).collect();
        for n in [0, 1, 31, 1023, 1024, 1025, 4095, 4096, 4097, 65_536, 262_144, 262_144 + 777, 1_000_003] {
            let v = &data[..n];
            let exact: f64 = v.iter().map(|&x| x as f64).sum();
            let scale: f64 = v.iter().map(|&x| (x as f64).abs()).sum::<f64>().max(1.0);
            for (name, got) in [
                ("group_sum", group_sum::<false>(v)),
                ("generic", group_sum_generic::<false>(v)),
                ("sum_f32", sum_f32(Parallelism::whole_pool(), v)),
            ] {
                assert!((got - exact).abs() <= 1e-6 * scale, "{name} over {n}: {got} vs {exact}");
            }
            let squares: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
            let got = sum_squares_f32(Parallelism::whole_pool(), v);
            assert!((got - squares).abs() <= 1e-6 * squares.max(1.0), "squares over {n}: {got} vs {squares}");
        }
    }

    #[test]
    fn float32_max_and_min_match_a_plain_fold_and_keep_nan() {
        let data: Vec<f32> = (0..700_001u64).map(|i| ((i * 7919) % 100_003) as f32 - 50_000.0).collect();
        for n in [0, 1, 31, 32, 33, 1023, 262_145, 700_001] {
            let v = &data[..n];
            let max = v.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let min = v.iter().fold(f32::INFINITY, |a, &b| a.min(b));
            assert_eq!(
                (extreme_f32::<true>(Parallelism::whole_pool(), v), extreme_f32::<false>(Parallelism::whole_pool(), v)),
                (max, min),
                "over {n}"
            );
        }
        for at in [0, 5, 40, 300_000, 700_000] {
            let mut v = data.clone();
            v[at] = f32::NAN;
            assert!(
                extreme_f32::<true>(Parallelism::whole_pool(), &v).is_nan()
                    && extreme_f32::<false>(Parallelism::whole_pool(), &v).is_nan(),
                "NaN at {at}"
            );
        }
        // Rows through `reduce`, against the generic path's semantics.
        let rows = reduce(SERIAL, ReduceKind::Max, &data[..6 * 1000], &[6, 1000], &[false, true]);
        for (o, &m) in rows.iter().enumerate() {
            assert_eq!(m, data[o * 1000..(o + 1) * 1000].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)));
        }
    }

    #[test]
    fn big_sum_is_accurate() {
        let v = vec![0.1f32; 10_000_000];
        let s = sum_f32(Parallelism::whole_pool(), &v);
        let exact = 10_000_000.0 * 0.1f32 as f64;
        assert!((s - exact).abs() < 0.5, "{s} vs {exact}");
    }
}
