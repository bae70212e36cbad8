//! Large copies and sums written with non-temporal (streaming) stores.
//!
//! A plain store to memory that is not in cache first reads the line it writes ("read for
//! ownership"), so a copy into a cold buffer moves three bytes per byte copied. Streaming
//! stores skip that read: a 4 MB copy into a cold buffer ran 1.6x faster on the 2-core EPYC
//! this was written on. They only pay off for outputs far larger than the caches, which the
//! result would leave anyway, so small slices use ordinary stores.

/// Outputs of at least this many bytes use streaming stores. Below, an output and its inputs
/// stay in the last-level cache, where the next op (or the next step of a loop over pooled
/// buffers) finds them:
/// - On a 2-vCPU Xeon (2 MiB of L2 per core), a chain of four same-shape binary ops, each
///   reading the one before, ran 1.2-1.7x faster with ordinary stores for outputs of 1 and
///   4 MiB, and 1.25-1.4x faster with streaming stores from 8 MiB.
/// - On a 2-vCPU EPYC (Zen 4, 1 MiB of L2 per core, 32 MiB of L3), ordinary stores made a
///   copy, `elemwise_add(out=)` and `a + a` 1.2-1.8x faster for outputs of 1-4 MiB, and the
///   same chain 1.1-1.3x; at 8 and 16 MiB the two were even. A kvstore pull of 1 MiB on an MPI
///   rank took 49 µs instead of 95.
pub const STREAM_MIN_BYTES: usize = 8 << 20;

/// The output size from which large copies, sums, casts and elementwise results are written
/// with streaming stores: `MXRS_STREAM_MIN_BYTES` when set, else [`STREAM_MIN_BYTES`] (read
/// once).
pub fn stream_min_bytes() -> usize {
    static BOUND: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| super::env_usize("MXRS_STREAM_MIN_BYTES", STREAM_MIN_BYTES))
}

/// `dst.copy_from_slice(src)`, with streaming stores when large.
pub fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    copy_bytes_with(dst, src, dst.len() >= stream_min_bytes())
}

/// `dst.copy_from_slice(src)`, with streaming stores when `stream` (for a chunk of a large
/// output).
pub fn copy_bytes_with(dst: &mut [u8], src: &[u8], stream: bool) {
    assert_eq!(dst.len(), src.len(), "copy_bytes: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if stream {
        x86::copy(dst, src);
        return;
    }
    let _ = stream;
    dst.copy_from_slice(src);
}

/// `dst[i] = srcs[0][i] + srcs[1][i] + ...` (added in that order), with streaming stores when
/// large. Every source must have `dst.len()` elements.
pub fn sum_f32(dst: &mut [f32], srcs: &[&[f32]]) {
    assert!(srcs.iter().all(|s| s.len() == dst.len()), "sum_f32: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if std::mem::size_of_val(dst) >= stream_min_bytes() && (1..=8).contains(&srcs.len()) {
        x86::sum(dst, srcs);
        return;
    }
    sum_scalar(dst, srcs, 0);
}

/// [`sum_f32`] with streaming stores whatever the length (for a chunk of a large output).
pub fn sum_f32_streamed(dst: &mut [f32], srcs: &[&[f32]]) {
    assert!(srcs.iter().all(|s| s.len() == dst.len()), "sum_f32: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if (1..=8).contains(&srcs.len()) {
        x86::sum(dst, srcs);
        return;
    }
    sum_scalar(dst, srcs, 0);
}

/// The arithmetic of [`binary_f32_streamed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
}

impl Arith {
    #[inline(always)]
    fn apply(self, x: f32, y: f32) -> f32 {
        match self {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
        }
    }
}

/// `dst[i] = a[i] op b[i]` with streaming stores whatever the length (for a chunk of a large
/// output); the same IEEE results as the plain loop.
pub fn binary_f32_streamed(dst: &mut [f32], a: &[f32], b: &[f32], op: Arith) {
    assert!(a.len() == dst.len() && b.len() == dst.len(), "binary_f32_streamed: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        x86::binary(dst, a, b, op);
    }
    #[cfg(not(target_arch = "x86_64"))]
    binary_scalar(dst, a, b, op, 0);
}

/// The plain loop of [`binary_f32_streamed`], from element `start` on.
fn binary_scalar(dst: &mut [f32], a: &[f32], b: &[f32], op: Arith, start: usize) {
    for i in start..dst.len() {
        dst[i] = op.apply(a[i], b[i]);
    }
}

/// `dst[i] = src[i]` rounded to float16 with streaming stores (for a chunk of a large output),
/// through the F16C instructions; false, with nothing written, on a CPU without them.
pub fn f32_to_f16_streamed(dst: &mut [half::f16], src: &[f32]) -> bool {
    assert_eq!(dst.len(), src.len(), "f32_to_f16_streamed: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports F16C and AVX, checked just above.
        unsafe { x86::f32_to_f16(dst, src) };
        return true;
    }
    false
}

/// The ordinary loop, from element `start` on.
fn sum_scalar(dst: &mut [f32], srcs: &[&[f32]], start: usize) {
    for i in start..dst.len() {
        let mut acc = srcs[0][i];
        for s in &srcs[1..] {
            acc += s[i];
        }
        dst[i] = acc;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, _mm_add_ps, _mm_div_ps, _mm_loadu_ps, _mm_loadu_si128, _mm_mul_ps, _mm_sfence, _mm_stream_ps,
        _mm_stream_si128, _mm_sub_ps,
    };

    use super::Arith;

    /// [`super::f32_to_f16_streamed`] on a CPU with F16C and AVX.
    #[target_feature(enable = "f16c,avx")]
    pub(super) fn f32_to_f16(dst: &mut [half::f16], src: &[f32]) {
        use half::slice::HalfFloatSliceExt;
        use std::arch::x86_64::{_MM_FROUND_TO_NEAREST_INT, _mm256_cvtps_ph, _mm256_loadu_ps};
        let n = dst.len();
        let h = head(dst.as_ptr(), n);
        dst[..h].convert_from_f32_slice(&src[..h]);
        let body = (n - h) / 8 * 8;
        // SAFETY: F16C and AVX are enabled for this function (its callers check the CPU).
        // Element offsets run over [h, h + body) with h + body <= n = dst.len() = src.len(), so
        // all loads and stores are in bounds. `dst + h + k` is 16-byte aligned (h aligns it, k
        // is a multiple of 8 halves), as `_mm_stream_si128` requires; loads are unaligned. The
        // fence orders the streaming stores before anything that follows.
        unsafe {
            let (s, d) = (src.as_ptr().add(h), dst.as_mut_ptr().add(h));
            let mut k = 0;
            while k < body {
                let v = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(s.add(k)));
                _mm_stream_si128(d.add(k) as *mut __m128i, v);
                k += 8;
            }
            _mm_sfence();
        }
        dst[h + body..].convert_from_f32_slice(&src[h + body..]);
    }

    pub(super) fn binary(dst: &mut [f32], a: &[f32], b: &[f32], op: Arith) {
        let n = dst.len();
        let h = head(dst.as_ptr(), n);
        super::binary_scalar(&mut dst[..h], &a[..h], &b[..h], op, 0);
        let body = (n - h) / 8 * 8;
        macro_rules! run {
            ($f:ident) => {
                // SAFETY: SSE is part of the x86_64 baseline. Element offsets run over
                // [h, h + body) with h + body <= n, and `a` and `b` have n elements (checked by
                // the caller), so all loads and stores are in bounds. `dst + h + k` is 16-byte
                // aligned (h aligns it, k is a multiple of 4 floats), as `_mm_stream_ps`
                // requires; loads are unaligned. The fence orders the streaming stores before
                // anything that follows.
                unsafe {
                    let (pa, pb, d) = (a.as_ptr().add(h), b.as_ptr().add(h), dst.as_mut_ptr().add(h));
                    let mut k = 0;
                    while k < body {
                        let x0 = $f(_mm_loadu_ps(pa.add(k)), _mm_loadu_ps(pb.add(k)));
                        let x1 = $f(_mm_loadu_ps(pa.add(k + 4)), _mm_loadu_ps(pb.add(k + 4)));
                        _mm_stream_ps(d.add(k), x0);
                        _mm_stream_ps(d.add(k + 4), x1);
                        k += 8;
                    }
                    _mm_sfence();
                }
            };
        }
        match op {
            Arith::Add => run!(_mm_add_ps),
            Arith::Sub => run!(_mm_sub_ps),
            Arith::Mul => run!(_mm_mul_ps),
            Arith::Div => run!(_mm_div_ps),
        }
        super::binary_scalar(dst, a, b, op, h + body);
    }

    /// Elements before the first 16-byte aligned position of `p`.
    fn head<T>(p: *const T, len: usize) -> usize {
        let mis = (p as usize) % 16;
        let h = if mis == 0 { 0 } else { (16 - mis) / std::mem::size_of::<T>() };
        h.min(len)
    }

    pub(super) fn copy(dst: &mut [u8], src: &[u8]) {
        let n = dst.len();
        let h = head(dst.as_ptr(), n);
        dst[..h].copy_from_slice(&src[..h]);
        let body = (n - h) / 64 * 64;
        // SAFETY: SSE2 is part of the x86_64 baseline. Every access is inside the slices:
        // offsets run over [h, h + body) with h + body <= n = dst.len() = src.len(). Stores go
        // to `dst + h + k`, which is 16-byte aligned (h aligns it, k is a multiple of 16), as
        // `_mm_stream_si128` requires; loads are unaligned loads. The fence orders the
        // streaming stores before anything that follows.
        unsafe {
            let s = src.as_ptr().add(h);
            let d = dst.as_mut_ptr().add(h);
            let mut k = 0;
            while k < body {
                let a = _mm_loadu_si128(s.add(k) as *const __m128i);
                let b = _mm_loadu_si128(s.add(k + 16) as *const __m128i);
                let c = _mm_loadu_si128(s.add(k + 32) as *const __m128i);
                let e = _mm_loadu_si128(s.add(k + 48) as *const __m128i);
                _mm_stream_si128(d.add(k) as *mut __m128i, a);
                _mm_stream_si128(d.add(k + 16) as *mut __m128i, b);
                _mm_stream_si128(d.add(k + 32) as *mut __m128i, c);
                _mm_stream_si128(d.add(k + 48) as *mut __m128i, e);
                k += 64;
            }
            _mm_sfence();
        }
        dst[h + body..].copy_from_slice(&src[h + body..]);
    }

    pub(super) fn sum(dst: &mut [f32], srcs: &[&[f32]]) {
        let n = dst.len();
        let h = head(dst.as_ptr(), n);
        for i in 0..h {
            let mut acc = srcs[0][i];
            for s in &srcs[1..] {
                acc += s[i];
            }
            dst[i] = acc;
        }
        let body = (n - h) / 4 * 4;
        // SAFETY: SSE is part of the x86_64 baseline. Element offsets run over [h, h + body)
        // with h + body <= n, and every source has n elements (checked by the caller), so all
        // loads and stores are in bounds. `dst + h + k` is 16-byte aligned (h aligns it, k is
        // a multiple of 4 floats), as `_mm_stream_ps` requires; loads are unaligned. The fence
        // orders the streaming stores before anything that follows.
        unsafe {
            let d = dst.as_mut_ptr().add(h);
            let mut k = 0;
            while k < body {
                let mut acc = _mm_loadu_ps(srcs[0].as_ptr().add(h + k));
                for s in &srcs[1..] {
                    acc = _mm_add_ps(acc, _mm_loadu_ps(s.as_ptr().add(h + k)));
                }
                _mm_stream_ps(d.add(k), acc);
                k += 4;
            }
            _mm_sfence();
        }
        super::sum_scalar(dst, srcs, h + body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_copy_and_sum_match_plain_loops() {
        for n in [0usize, 3, 1000, (stream_min_bytes() / 4) + 7] {
            let a: Vec<f32> = (0..n + 1).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n + 1).map(|i| 1.0 - i as f32).collect();
            // Offset by one element so the destination is misaligned for some n.
            let mut out = vec![0f32; n + 1];
            sum_f32(&mut out[1..], &[&a[1..], &b[1..], &a[1..]]);
            for i in 1..=n {
                assert_eq!(out[i], a[i] + b[i] + a[i]);
            }
            for op in [Arith::Add, Arith::Sub, Arith::Mul, Arith::Div] {
                binary_f32_streamed(&mut out[1..], &a[1..], &b[1..], op);
                for i in 1..=n {
                    assert_eq!(out[i].to_bits(), op.apply(a[i], b[i]).to_bits(), "{op:?} at {i}");
                }
            }
            let mut h = vec![half::f16::ZERO; n + 1];
            if f32_to_f16_streamed(&mut h[1..], &b[1..]) {
                for i in 1..=n {
                    assert_eq!(h[i].to_bits(), half::f16::from_f32(b[i]).to_bits(), "f16 at {i}");
                }
            }
            let src: Vec<u8> = (0..4 * n + 5).map(|i| (i * 7) as u8).collect();
            let mut dst = vec![0u8; 4 * n + 5];
            copy_bytes(&mut dst[1..], &src[1..]);
            assert_eq!(dst[1..], src[1..]);
        }
    }
}
