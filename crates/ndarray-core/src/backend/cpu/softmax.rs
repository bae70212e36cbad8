//! Softmax and log-softmax of float32 rows: an AVX-512 kernel of two passes per row where the
//! CPU has AVX-512 (its exponential is `vmath`'s), else loops the compiler vectorises.

use super::Parallelism;
use super::vmath::exp_inplace;

/// Softmax along rows: each row of `n` values of `src` (`src.len()` a multiple of `n`) gives
/// the softmax of `scale * x`, or its logarithm when `log`, in the same row of `dst`. As MXNet:
/// the row's maximum is subtracted before the exponential and the sum is accumulated in float64;
/// a row holding NaN gives NaN. The exponential is [`exp_inplace`] (16 lanes with AVX-512), and
/// rows are split over threads for long inputs ([`Parallelism::split_mode`]); the float64
/// scalar loop it replaces took 5.4 ns an element.
///
/// Short rows of `log` go in groups ([`group_rows`]): the maxima and sums of a group's rows
/// first, then their results. A row's last pass waits for the logarithm of its sum, a libm call;
/// taken row by row, that wait was on the critical path of every row.
pub fn softmax_rows(par: Parallelism, src: &[f32], dst: &mut [f32], n: usize, scale: f32, log: bool) {
    if n == 0 {
        return;
    }
    let group = group_rows(n, log);
    super::rows_mut(par.split_mode(src.len()), dst, n, |start, d| {
        let s = &src[start..start + d.len()];
        if group == 1 {
            for (s, d) in s.chunks_exact(n).zip(d.chunks_exact_mut(n)) {
                softmax_row(s, d, scale, log);
            }
            return;
        }
        for (sg, dg) in s.chunks(group * n).zip(d.chunks_mut(group * n)) {
            let mut stats = [(0f32, 0f64); MAX_GROUP];
            for (st, (s, d)) in stats.iter_mut().zip(sg.chunks_exact(n).zip(dg.chunks_exact_mut(n))) {
                *st = row_stats(s, d, scale, log);
            }
            for (&st, (s, d)) in stats.iter().zip(sg.chunks_exact(n).zip(dg.chunks_exact_mut(n))) {
                row_finish(s, d, scale, log, st);
            }
        }
    });
}

/// Rows in a group, at most.
const MAX_GROUP: usize = 8;

/// A group's rows span at most about this many bytes, so that its last passes find them in L1.
const GROUP_BYTES: usize = 16 << 10;

/// Rows of `n` elements in a group of [`softmax_rows`]: for `log`, as many as fit
/// [`GROUP_BYTES`], from 1 to [`MAX_GROUP`]; for softmax 1 (its last pass waits only for a
/// division, and groups of 1000x100 rows took 8% longer on a Zen 4, 38.5 against 35-36 µs).
fn group_rows(n: usize, log: bool) -> usize {
    if log { (GROUP_BYTES / (4 * n)).clamp(1, MAX_GROUP) } else { 1 }
}

/// A whole row of [`softmax_rows`]: [`row_stats`] then [`row_finish`] in one call.
fn softmax_row(s: &[f32], d: &mut [f32], scale: f32, log: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        unsafe { avx512::softmax_row(s, d, scale, log) };
        return;
    }
    let st = generic_stats(s, d, scale, log);
    generic_finish(s, d, scale, log, st)
}

/// The first passes of a row of [`softmax_rows`]: its maximum (of `scale * x`) and the float64
/// sum of its exponentials; `d` holds the exponentials unless `log`.
fn row_stats(s: &[f32], d: &mut [f32], scale: f32, log: bool) -> (f32, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        return unsafe { avx512::row_stats(s, d, scale, log) };
    }
    generic_stats(s, d, scale, log)
}

/// The last pass of a row of [`softmax_rows`], from its [`row_stats`]: the exponentials
/// divided by their sum, or for `log`, `(scale x - max) - ln(sum)` from the input again.
fn row_finish(s: &[f32], d: &mut [f32], scale: f32, log: bool, (mx, sum): (f32, f64)) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        unsafe { avx512::row_finish(s, d, scale, log, mx, sum) };
        return;
    }
    generic_finish(s, d, scale, log, (mx, sum))
}

/// [`row_stats`] without AVX-512: loops the compiler vectorises (for AVX2 where the CPU has
/// it), one pass each for the maximum, the exponentials and the sum (`d` holds the
/// exponentials whether or not `log`).
fn generic_stats(s: &[f32], d: &mut [f32], scale: f32, _log: bool) -> (f32, f64) {
    let mx = scaled_shift(s, d, scale);
    exp_inplace(d);
    (mx, sum_f64(d))
}

/// [`row_finish`] without AVX-512.
fn generic_finish(s: &[f32], d: &mut [f32], scale: f32, log: bool, (mx, sum): (f32, f64)) {
    if log {
        scaled_minus(s, d, scale, mx + sum.ln() as f32);
    } else {
        div_by(d, sum as f32);
    }
}

super::simd_fn! {
    /// `d[i] = scale * s[i] - max_j(scale * s[j])` (NaN ignored by the maximum, as in MXNet's
    /// loop, and then carried by the subtraction); returns the maximum.
    fn scaled_shift_into[](s: &[f32], d: &mut [f32], scale: f32, mx: &mut f32) {
        for (d, &x) in d.iter_mut().zip(s) {
            *d = scale * x;
        }
        // Sixteen running maxima, so that the loop vectorises (one running maximum is a chain
        // of dependent instructions, four cycles an element).
        let mut acc = [f32::NEG_INFINITY; 16];
        let mut chunks = d.chunks_exact(16);
        for c in &mut chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a = a.max(x);
            }
        }
        let mut m = acc.iter().fold(f32::NEG_INFINITY, |m, &a| m.max(a));
        for &x in chunks.remainder() {
            m = m.max(x);
        }
        for d in d.iter_mut() {
            *d -= m;
        }
        *mx = m;
    }
}

fn scaled_shift(s: &[f32], d: &mut [f32], scale: f32) -> f32 {
    let mut mx = 0.0;
    scaled_shift_into(s, d, scale, &mut mx);
    mx
}

super::simd_fn! {
    /// `d[i] = scale * s[i] - sub`.
    fn scaled_minus[](s: &[f32], d: &mut [f32], scale: f32, sub: f32) {
        for (d, &x) in d.iter_mut().zip(s) {
            *d = scale * x - sub;
        }
    }
}

super::simd_fn! {
    /// `d[i] /= by`.
    fn div_by[](d: &mut [f32], by: f32) {
        for d in d.iter_mut() {
            *d /= by;
        }
    }
}

super::simd_fn! {
    /// The sum of `v` accumulated in float64 (eight partial sums, so that the loop vectorises).
    fn sum_f64_into[](v: &[f32], out: &mut f64) {
        let mut acc = [0f64; 8];
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += x as f64;
            }
        }
        let mut total: f64 = acc.iter().sum();
        for &x in chunks.remainder() {
            total += x as f64;
        }
        *out = total;
    }
}

fn sum_f64(v: &[f32]) -> f64 {
    let mut s = 0.0;
    sum_f64_into(v, &mut s);
    s
}

/// The AVX-512 row, on `vmath`'s 16-lane exponential.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __mmask16, _mm512_div_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps,
        _mm512_sub_ps,
    };

    use crate::backend::cpu::vmath::avx512::{exp16, mask};

    /// [`super::softmax_row`]: both passes in one function.
    #[target_feature(enable = "avx512f")]
    pub(super) fn softmax_row(s: &[f32], d: &mut [f32], scale: f32, log: bool) {
        let (mx, sum) = row_stats(s, d, scale, log);
        row_finish(s, d, scale, log, mx, sum)
    }

    /// [`super::row_stats`]: the maximum, then the exponentials summed in float64 (and stored
    /// unless `log`). Ragged ends are masked.
    #[target_feature(enable = "avx512f")]
    pub(super) fn row_stats(s: &[f32], d: &mut [f32], scale: f32, log: bool) -> (f32, f64) {
        use std::arch::x86_64::{
            _mm256_castpd_ps, _mm512_add_pd, _mm512_castps_pd, _mm512_castps512_ps256, _mm512_cvtps_pd,
            _mm512_extractf64x4_pd, _mm512_mask_max_ps, _mm512_maskz_mov_ps, _mm512_reduce_add_pd,
            _mm512_reduce_max_ps, _mm512_setzero_pd,
        };
        let n = s.len().min(d.len());
        let (sp, dp) = (s.as_ptr(), d.as_mut_ptr());
        let sc = _mm512_set1_ps(scale);
        // The maximum of scale * x; `max(v, m)` returns m where v is NaN, so NaN is skipped
        // (as MXNet's loop does) and carried by the exponentials below.
        let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut i = 0;
        while i < n {
            let k = full(i, n);
            // SAFETY: lanes of k lie in i..n, inside s.
            let v = _mm512_mul_ps(sc, unsafe { _mm512_maskz_loadu_ps(k, sp.add(i)) });
            m = _mm512_mask_max_ps(m, k, v, m);
            i += 16;
        }
        let mx = _mm512_reduce_max_ps(m);
        let mv = _mm512_set1_ps(mx);
        let (mut lo, mut hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut i = 0;
        while i < n {
            let k = full(i, n);
            // SAFETY: lanes of k lie in i..n, inside s and d.
            unsafe {
                let v = _mm512_sub_ps(_mm512_mul_ps(sc, _mm512_maskz_loadu_ps(k, sp.add(i))), mv);
                let e = _mm512_maskz_mov_ps(k, exp16(v));
                if !log {
                    _mm512_mask_storeu_ps(dp.add(i), k, e);
                }
                lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
                let upper = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(e)));
                hi = _mm512_add_pd(hi, _mm512_cvtps_pd(upper));
            }
            i += 16;
        }
        (mx, _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)))
    }

    /// [`super::row_finish`]: the division, or for `log`, `scale x - max - ln(sum)`.
    #[target_feature(enable = "avx512f")]
    pub(super) fn row_finish(s: &[f32], d: &mut [f32], scale: f32, log: bool, mx: f32, sum: f64) {
        let n = s.len().min(d.len());
        let (sp, dp) = (s.as_ptr(), d.as_mut_ptr());
        let mut i = 0;
        if log {
            let sc = _mm512_set1_ps(scale);
            let sub = _mm512_set1_ps(mx + sum.ln() as f32);
            while i < n {
                let k = full(i, n);
                // SAFETY: lanes of k lie in i..n, inside s and d.
                unsafe {
                    let v = _mm512_sub_ps(_mm512_mul_ps(sc, _mm512_maskz_loadu_ps(k, sp.add(i))), sub);
                    _mm512_mask_storeu_ps(dp.add(i), k, v);
                }
                i += 16;
            }
        } else {
            let by = _mm512_set1_ps(sum as f32);
            while i < n {
                let k = full(i, n);
                // SAFETY: lanes of k lie in i..n, inside d.
                unsafe { _mm512_mask_storeu_ps(dp.add(i), k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, dp.add(i)), by)) };
                i += 16;
            }
        }
    }

    /// The lanes of a row of `n` from element `i` on: all 16, or the row's ragged end.
    #[inline(always)]
    fn full(i: usize, n: usize) -> __mmask16 {
        if i + 16 <= n { 0xffff } else { mask(n - i) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of every length from 1 to 40 and some longer, with both scales' signs, softmax and
    /// log-softmax, through the AVX-512 kernel (where the CPU has it) and the generic loops,
    /// against the float64 definition; a row with NaN gives NaN, -inf entries give 0 (or -inf).
    #[test]
    fn softmax_rows_match_float64() {
        let reference = |x: &[f32], scale: f64, log: bool| -> Vec<f64> {
            let v: Vec<f64> = x.iter().map(|&a| scale * a as f64).collect();
            let mx = v.iter().cloned().filter(|a| !a.is_nan()).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = v.iter().map(|a| (a - mx).exp()).sum();
            v.iter().map(|a| if log { a - mx - sum.ln() } else { (a - mx).exp() / sum }).collect()
        };
        type Row = fn(&[f32], &mut [f32], f32, bool);
        let generic: Row = |s, d, sc, l| {
            let st = generic_stats(s, d, sc, l);
            generic_finish(s, d, sc, l, st)
        };
        let mut kernels: Vec<(&str, Row)> = vec![("generic", generic)];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: only pushed where the CPU has AVX-512F, checked just above.
            kernels.push(("avx512", |s, d, sc, l| unsafe {
                let (mx, sum) = avx512::row_stats(s, d, sc, l);
                avx512::row_finish(s, d, sc, l, mx, sum)
            }));
        }
        let lens: Vec<usize> = (1..=40).chain([100, 1000, 1023]).collect();
        for (name, kernel) in &kernels {
            for &n in &lens {
                let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 101) as f32 / 7.0 - 6.0).collect();
                for scale in [1.0f32, -1.0, 0.5] {
                    for log in [false, true] {
                        let mut d = vec![f32::NAN; n + 1];
                        kernel(&x, &mut d[..n], scale, log);
                        assert!(d[n].is_nan(), "{name}: wrote past the row");
                        let want = reference(&x, scale as f64, log);
                        for (i, (&g, &w)) in d.iter().zip(&want).enumerate() {
                            let tol = if log { 2e-6 * w.abs().max(1.0) } else { 1e-6 * w.abs() + 1e-30 };
                            assert!(
                                (g as f64 - w).abs() <= tol,
                                "{name} n={n} scale={scale} log={log} [{i}]: {g} against {w}"
                            );
                        }
                    }
                }
            }
            let mut d = [0f32; 5];
            kernel(&[1.0, f32::NAN, 2.0, 0.0, 1.0], &mut d, 1.0, false);
            assert!(d.iter().all(|v| v.is_nan()), "{name}: NaN row gave {d:?}");
            kernel(&[f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0, 0.0], &mut d, 1.0, false);
            assert_eq!(d[0], 0.0, "{name}");
            assert!((d[1] - 1.0 / 3.0).abs() < 1e-7, "{name}: {d:?}");
            kernel(&[f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0, 0.0], &mut d, 1.0, true);
            assert_eq!(d[0], f32::NEG_INFINITY, "{name}");
        }
        // Many rows split over threads give the rows computed one by one.
        let x: Vec<f32> = (0..100 * 1000).map(|i| ((i * 31) % 97) as f32 / 9.0).collect();
        let par = Parallelism { threads: 2, ..Parallelism::SERIAL };
        let (mut a, mut b) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        softmax_rows(par, &x, &mut a, 100, 1.0, false);
        softmax_rows(Parallelism::SERIAL, &x, &mut b, 100, 1.0, false);
        assert_eq!(a, b);
    }

    /// Rows taken in groups (a ragged last group included) give what each row gives alone, for
    /// short rows (groups of [`MAX_GROUP`]), mid-length ones and rows too long to group.
    #[test]
    fn grouped_rows_match_rows_one_by_one() {
        assert_eq!((group_rows(100, true), group_rows(1000, true), group_rows(5000, true)), (MAX_GROUP, 4, 1));
        assert_eq!(group_rows(100, false), 1);
        for (n, rows) in [(100, 1003), (1000, 7), (5000, 3), (3, 17)] {
            let x: Vec<f32> = (0..n * rows).map(|i| ((i * 37) % 89) as f32 / 11.0 - 3.0).collect();
            for log in [false, true] {
                let mut grouped = vec![0f32; x.len()];
                softmax_rows(Parallelism::SERIAL, &x, &mut grouped, n, 0.5, log);
                let mut alone = vec![0f32; x.len()];
                for (s, d) in x.chunks_exact(n).zip(alone.chunks_exact_mut(n)) {
                    let st = row_stats(s, d, 0.5, log);
                    row_finish(s, d, 0.5, log, st);
                }
                assert_eq!(grouped, alone, "n={n} rows={rows} log={log}");
            }
        }
    }
}
