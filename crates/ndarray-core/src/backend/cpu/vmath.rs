//! Vectorised float32 math for the hot unary ops (exp, tanh, sigmoid, the logarithms). On CPUs
//! with AVX-512, exp, tanh and sigmoid run hand-written kernels of 16 lanes and the logarithms
//! their scalar loop compiled for AVX-512; elsewhere plain scalar loops that LLVM vectorises,
//! compiled a second time for AVX2+FMA. The kernel is picked at run time (the wheel must run on
//! any x86-64, so no `target-cpu=native`).

use super::Parallelism;

/// e^x for float32, accurate to about 2 ulp: range reduction by ln 2 and a degree-6
/// polynomial, with overflow to inf, underflow to 0 and NaN passed through.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    // max/min (not clamp) send NaN to a bound; the NaN is restored at the end.
    #[allow(clippy::manual_clamp)] // clamp would keep the NaN
    let xc = x.max(-104.0).min(88.75);
    let shifted = xc * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let r = xc - n * LN2_HI - n * LN2_LO;
    // exp(r) on |r| <= ln2/2 (Cephes coefficients).
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n as two factors, so that results below f32's normal range come out as subnormals.
    // n as an integer, read from the mantissa of `shifted` (a float-to-int cast would not
    // vectorise: Rust's casts saturate).
    let ni = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    let n1 = ni >> 1;
    let s1 = f32::from_bits(((n1 + 127) << 23) as u32);
    let s2 = f32::from_bits(((ni - n1 + 127) << 23) as u32);
    let v = y * s1 * s2;
    if x > 88.722_84 {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        v
    }
}

/// tanh for float32, within a few ulp: an odd polynomial below |x| = 0.625 (Cephes), else
/// `1 - 2 / (e^{2|x|} + 1)` with the sign of x; ±1 for large |x|, NaN passed through. Both
/// branches are computed and one selected, so that loops over it vectorise.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    p = p * z + 2.063_909e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z - 3.333_328e-1;
    let small = (p * z * x + x).copysign(x); // keeps tanh(-0) = -0
    let e = exp_f32(2.0 * x.abs());
    let big = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    if x.abs() < 0.625 { small } else { big }
}

/// The logistic function `1 / (1 + e^-x)` for float32.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `x = 2^e m` with `m` in [sqrt(1/2), sqrt(2)): `(e, ln m)`, for finite positive `x`
/// (subnormals included); other inputs give garbage that the callers replace. Cephes' `logf`
/// polynomial (degree 9 in `m - 1`), about 1 ulp. Written without branches so that loops over
/// it vectorise.
#[inline(always)]
fn log_parts(x: f32) -> (f32, f32) {
    // Subnormals are scaled into the normal range first.
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x }; // 2^23
    let bits = xs.to_bits() as i32;
    let e0 = ((bits >> 23) & 0xff) - 127 - if tiny { 23 } else { 0 };
    let m0 = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32); // in [1, 2)
    let big = m0 > std::f32::consts::SQRT_2;
    let m = if big { m0 * 0.5 } else { m0 };
    let e = if big { e0 + 1 } else { e0 };
    let f = m - 1.0;
    let z = f * f;
    let mut y = 7.037_683_6e-2_f32;
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_5e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        y = y * f + c;
    }
    (e as f32, f + (y * f * z - 0.5 * z))
}

/// The value of a logarithm at the special inputs, else `r`: NaN below 0 and for NaN, -inf at
/// 0, inf at inf.
#[inline(always)]
fn log_special(x: f32, r: f32) -> f32 {
    if x > 0.0 && x < f32::INFINITY {
        r
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        f32::NAN
    }
}

/// ln x for float32, about 1 ulp ([`log_parts`]); NaN below 0, -inf at 0.
#[inline(always)]
pub fn log_f32(x: f32) -> f32 {
    let (e, lm) = log_parts(x);
    // e ln 2 in two parts (Cephes): the first exact in e's product.
    log_special(x, lm + e * -2.121_944_4e-4 + e * 0.693_359_4)
}

/// log2 x for float32: exact at powers of two.
#[inline(always)]
pub fn log2_f32(x: f32) -> f32 {
    let (e, lm) = log_parts(x);
    log_special(x, e + lm * std::f32::consts::LOG2_E)
}

/// log10 x for float32.
#[inline(always)]
pub fn log10_f32(x: f32) -> f32 {
    let (e, lm) = log_parts(x);
    // log10(2) and log10(e) each split into a short head (exact in its products) and a tail
    // (Cephes' log10f), the small terms summed first.
    log_special(x, ((lm * 7.007_319e-4 + e * 2.487_456_6e-4) + lm * 0.433_593_75) + e * 0.300_781_25)
}

/// ln(1 + x) for float32, accurate for small x: `ln(u) x / (u - 1)` with `u = 1 + x` (the
/// rounding of `u` cancels), `x` itself where `u` rounds to 1.
#[inline(always)]
pub fn log1p_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    let r = log_f32(u) * (x / (u - 1.0));
    if u == 1.0 {
        x
    } else if u == f32::INFINITY {
        u
    } else if u <= 0.0 || u.is_nan() {
        log_special(u, r)
    } else {
        r
    }
}

/// `dst[i] = f(src[i])` for one of the functions above, as `NAME_slice`, and `v[i] = f(v[i])`
/// as `NAME_inplace`: the hand-written AVX-512 kernels of the last two arguments where the
/// CPU has AVX-512, else the scalar loop compiled for AVX2+FMA where it has those, else the
/// scalar loop; picked at run time. `NAME_slice`'s `stream` asks for stores that bypass the
/// caches (a large output not read again soon); the AVX-512 kernels have them.
macro_rules! slice_fn {
    // Without hand-written kernels: the scalar loop is compiled a third time, for AVX-512.
    ($name:ident, $inplace:ident, $f:path, $doc:literal, $doc_inplace:literal) => {
        slice_fn!(@build $name, $inplace, $f, $doc, $doc_inplace, {
            #[target_feature(enable = "avx512f,avx2,fma")]
            fn auto512(src: &[f32], dst: &mut [f32], _stream: bool) {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = $f(s);
                }
            }
            auto512
        }, {
            #[target_feature(enable = "avx512f,avx2,fma")]
            fn auto512_inplace(v: &mut [f32]) {
                for x in v.iter_mut() {
                    *x = $f(*x);
                }
            }
            auto512_inplace
        });
    };
    ($name:ident, $inplace:ident, $f:path, $doc:literal, $doc_inplace:literal, $avx512:path, $avx512_inplace:path) => {
        slice_fn!(@build $name, $inplace, $f, $doc, $doc_inplace, { $avx512 }, { $avx512_inplace });
    };
    (@build $name:ident, $inplace:ident, $f:path, $doc:literal, $doc_inplace:literal, $avx512:block, $avx512_inplace:block) => {
        #[doc = $doc]
        pub fn $name(src: &[f32], dst: &mut [f32], stream: bool) {
            // Inlined into the AVX2 copy below, which is what makes that copy use AVX2.
            #[inline(always)]
            fn generic(src: &[f32], dst: &mut [f32]) {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = $f(s);
                }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2(src: &[f32], dst: &mut [f32]) {
                generic(src, dst)
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                unsafe { ($avx512)(src, dst, stream) };
                return;
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                unsafe { avx2(src, dst) };
                return;
            }
            let _ = stream;
            generic(src, dst)
        }

        #[doc = $doc_inplace]
        pub fn $inplace(v: &mut [f32]) {
            #[inline(always)]
            fn generic(v: &mut [f32]) {
                for x in v.iter_mut() {
                    *x = $f(*x);
                }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2(v: &mut [f32]) {
                generic(v)
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                unsafe { ($avx512_inplace)(v) };
                return;
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                unsafe { avx2(v) };
                return;
            }
            generic(v)
        }
    };
}

slice_fn!(
    exp_slice,
    exp_inplace,
    exp_f32,
    "`dst[i] = exp(src[i])`.",
    "`v[i] = exp(v[i])`.",
    avx512::exp,
    avx512::exp_inplace
);
slice_fn!(
    tanh_slice,
    tanh_inplace,
    tanh_f32,
    "`dst[i] = tanh(src[i])`.",
    "`v[i] = tanh(v[i])`.",
    avx512::tanh,
    avx512::tanh_inplace
);
slice_fn!(
    sigmoid_slice,
    sigmoid_inplace,
    sigmoid_f32,
    "`dst[i] = sigmoid(src[i])`.",
    "`v[i] = sigmoid(v[i])`.",
    avx512::sigmoid,
    avx512::sigmoid_inplace
);

slice_fn!(log_slice, log_inplace, log_f32, "`dst[i] = ln(src[i])`.", "`v[i] = ln(v[i])`.");
slice_fn!(log2_slice, log2_inplace, log2_f32, "`dst[i] = log2(src[i])`.", "`v[i] = log2(v[i])`.");
slice_fn!(log10_slice, log10_inplace, log10_f32, "`dst[i] = log10(src[i])`.", "`v[i] = log10(v[i])`.");
slice_fn!(log1p_slice, log1p_inplace, log1p_f32, "`dst[i] = ln(1 + src[i])`.", "`v[i] = ln(1 + v[i])`.");

/// exp, tanh and sigmoid of 16 float32 lanes at a time with AVX-512. The exponential is
/// [`exp_f32`]'s in fewer instructions: the scaling by 2^n is one `vscalefps`, which also
/// gives inf on overflow, subnormals and 0 on underflow, and NaN for NaN, with no selects.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use std::arch::x86_64::{
        __m512, __mmask16, _CMP_LT_OQ, _mm_sfence, _mm512_add_ps, _mm512_and_si512, _mm512_castps_si512,
        _mm512_castsi512_ps, _mm512_cmp_ps_mask, _mm512_div_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_loadu_ps,
        _mm512_mask_blend_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_min_ps,
        _mm512_mul_ps, _mm512_or_si512, _mm512_scalef_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_storeu_ps,
        _mm512_stream_ps, _mm512_sub_ps, _mm512_xor_si512,
    };

    /// e^x lane by lane, to about 2 ulp.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(in crate::backend::cpu) fn exp16(x: __m512) -> __m512 {
        const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
        // `max(lo, x)` and `min(hi, .)` return their second operand when either is NaN, so a
        // NaN goes through (and through `vscalefps`). The bounds keep `x log2 e` far inside
        // the rounding trick's range; e^-104 rounds to 0 and e^88.75 overflows, as the
        // unclamped values would.
        let xc = _mm512_min_ps(_mm512_set1_ps(88.75), _mm512_max_ps(_mm512_set1_ps(-104.0), x));
        let magic = _mm512_set1_ps(MAGIC);
        let n = _mm512_sub_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(std::f32::consts::LOG2_E), magic), magic);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), xc);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        // e^r = 1 + r (1 + r P(r)) on |r| <= ln2/2 (Cephes coefficients).
        let mut p = _mm512_set1_ps(1.987_569_1e-4);
        for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5, 1.0, 1.0] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// The sign bits of `x`, and `x` without them.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sign_abs(x: __m512) -> (__m512, __m512) {
        let bits = _mm512_castps_si512(x);
        let sign = _mm512_and_si512(bits, _mm512_set1_epi32(i32::MIN));
        (_mm512_castsi512_ps(sign), _mm512_castsi512_ps(_mm512_xor_si512(bits, sign)))
    }

    /// `x` with the sign bits of `sign` set (`x` non-negative: copysign).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn with_sign(x: __m512, sign: __m512) -> __m512 {
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x), _mm512_castps_si512(sign)))
    }

    /// [`super::tanh_f32`] lane by lane: both branches, one selected per lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn tanh16(x: __m512) -> __m512 {
        let (sign, a) = sign_abs(x);
        let z = _mm512_mul_ps(x, x);
        let mut p = _mm512_set1_ps(-5.704_988_7e-3);
        for c in [2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1] {
            p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(c));
        }
        // |x| + |x| z p(z), signed: tanh(-0) = -0.
        let small = with_sign(_mm512_fmadd_ps(_mm512_mul_ps(p, z), a, a), sign);
        let one = _mm512_set1_ps(1.0);
        let e = exp16(_mm512_add_ps(a, a));
        let big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0), _mm512_add_ps(e, one)));
        // NaN compares false and takes the second branch, which keeps it.
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625), _CMP_LT_OQ), with_sign(big, sign), small)
    }

    /// [`super::sigmoid_f32`] lane by lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sigmoid16(x: __m512) -> __m512 {
        let neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN)));
        let one = _mm512_set1_ps(1.0);
        _mm512_div_ps(one, _mm512_add_ps(one, exp16(neg)))
    }

    /// Lanes `0..len` set.
    pub(in crate::backend::cpu) fn mask(len: usize) -> __mmask16 {
        ((1u32 << len) - 1) as __mmask16
    }

    /// `NAME(src, dst, stream)`: `dst[i] = f(src[i])`, with `stream` stores that bypass the
    /// caches (a large output); `NAME_inplace(v)`: `v[i] = f(v[i])`.
    macro_rules! kernels {
        ($name:ident, $inplace:ident, $f:ident) => {
            #[doc = concat!("`dst[i] = ", stringify!($f), "(src[i])`, streamed when `stream`.")]
            #[target_feature(enable = "avx512f")]
            pub(super) fn $name(src: &[f32], dst: &mut [f32], stream: bool) {
                let n = dst.len().min(src.len());
                let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
                let mut i = 0;
                if stream {
                    // Up to the first 64-byte aligned element of dst, which `vmovntps` needs.
                    let head = ((64 - (d as usize) % 64) % 64 / 4).min(n);
                    // SAFETY: lanes 0..head <= n of both slices, masked.
                    unsafe { _mm512_mask_storeu_ps(d, mask(head), $f(_mm512_maskz_loadu_ps(mask(head), s))) };
                    i = head;
                    while i + 16 <= n {
                        // SAFETY: i + 16 <= n elements of both slices; d + i is 64-byte aligned
                        // (the head aligned it, i moves by 64 bytes).
                        unsafe { _mm512_stream_ps(d.add(i), $f(_mm512_loadu_ps(s.add(i)))) };
                        i += 16;
                    }
                    // Order the streaming stores before whatever follows.
                    _mm_sfence();
                } else {
                    while i + 16 <= n {
                        // SAFETY: i + 16 <= n elements of both slices.
                        unsafe { _mm512_storeu_ps(d.add(i), $f(_mm512_loadu_ps(s.add(i)))) };
                        i += 16;
                    }
                }
                let m = mask(n - i);
                // SAFETY: lanes 0..n-i < 16 from element i, masked: within both slices.
                unsafe { _mm512_mask_storeu_ps(d.add(i), m, $f(_mm512_maskz_loadu_ps(m, s.add(i)))) };
            }

            #[doc = concat!("`v[i] = ", stringify!($f), "(v[i])`.")]
            #[target_feature(enable = "avx512f")]
            pub(super) fn $inplace(v: &mut [f32]) {
                let n = v.len();
                let p = v.as_mut_ptr();
                let mut i = 0;
                while i + 16 <= n {
                    // SAFETY: i + 16 <= n elements of v.
                    unsafe { _mm512_storeu_ps(p.add(i), $f(_mm512_loadu_ps(p.add(i)))) };
                    i += 16;
                }
                let m = mask(n - i);
                // SAFETY: lanes 0..n-i < 16 from element i, masked: within v.
                unsafe { _mm512_mask_storeu_ps(p.add(i), m, $f(_mm512_maskz_loadu_ps(m, p.add(i)))) };
            }
        };
    }

    kernels!(exp, exp_inplace, exp16);
    kernels!(tanh, tanh_inplace, tanh16);
    kernels!(sigmoid, sigmoid_inplace, sigmoid16);
}

/// `dst[i] = f(src[i])` with one of the slice functions above, split over rayon's threads for
/// long inputs (see [`Parallelism::split`]).
pub fn map_slices(par: Parallelism, src: &[f32], f: fn(&[f32], &mut [f32], bool)) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out: Vec<f32> = crate::pool::alloc(src.len());
    // From the same bound as the binary ops': these are mostly activations, read back at once
    // by the next layer, as in the chain that bound was measured on.
    let stream = std::mem::size_of_val(src) >= super::stream::stream_min_bytes();
    if par.split(src.len()) {
        out.par_chunks_mut(super::PAR_CHUNK).zip(src.par_chunks(super::PAR_CHUNK)).for_each(|(o, s)| f(s, o, stream));
    } else {
        f(src, &mut out, stream);
    }
    out
}

/// `v[i] = f(v[i])` in place with one of the `NAME_inplace` functions above, split over
/// rayon's threads for long inputs (see [`Parallelism::split`]).
pub fn map_inplace(par: Parallelism, v: &mut [f32], f: fn(&mut [f32])) {
    use rayon::prelude::*;
    if par.split(v.len()) {
        v.par_chunks_mut(super::PAR_CHUNK).for_each(f);
    } else {
        f(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The logarithms against float64 to 2 ulp over a sweep of magnitudes (subnormals, powers
    /// of two, both sides of 1), exact where they should be (powers of two for log2, 1 for all),
    /// the special values, and through every slice kernel (in place too, every length's tail).
    #[test]
    fn logarithms_match_f64() {
        fn ulps(a: f32, b: f64) -> f64 {
            let w = b as f32;
            if a == w || (a.is_nan() && w.is_nan()) {
                return 0.0;
            }
            let ulp = f32::from_bits(w.abs().to_bits() + 1) - w.abs();
            ((a as f64 - b).abs() / ulp as f64).max(if a.is_finite() != w.is_finite() { f64::INFINITY } else { 0.0 })
        }
        let mut xs: Vec<f32> =
            vec![1e-45, 1e-40, 1.17e-38, f32::MIN_POSITIVE, 1.0, 2.0, 0.5, f32::MAX, 1.0 + 1e-7, 1.0 - 1e-7];
        let mut x = 1e-30f32;
        while x < 1e30 {
            xs.push(x);
            x *= 1.013;
        }
        xs.extend((0..2000).map(|i| 0.5 + i as f32 / 1000.0));
        type Pair = (fn(f32) -> f32, fn(f64) -> f64);
        let fs: [(&str, Pair); 3] =
            [("log", (log_f32, f64::ln)), ("log2", (log2_f32, f64::log2)), ("log10", (log10_f32, f64::log10))];
        for (name, (f, g)) in fs {
            for &x in &xs {
                let u = ulps(f(x), g(x as f64));
                assert!(u <= 2.0, "{name}({x:e}) = {} against {}: {u} ulp", f(x), g(x as f64));
            }
            assert_eq!(f(1.0), 0.0, "{name}(1)");
            assert_eq!(f(0.0), f32::NEG_INFINITY, "{name}(0)");
            assert_eq!(f(-0.0), f32::NEG_INFINITY, "{name}(-0)");
            assert_eq!(f(f32::INFINITY), f32::INFINITY, "{name}(inf)");
            assert!(f(-1.0).is_nan() && f(f32::NAN).is_nan() && f(f32::NEG_INFINITY).is_nan(), "{name}");
        }
        for k in -149..128 {
            // 2^k from its bits (`powi` overflows on the way to the subnormals).
            let p = if k >= -126 { f32::from_bits(((k + 127) as u32) << 23) } else { f32::from_bits(1 << (k + 149)) };
            assert_eq!(log2_f32(p), k as f32, "log2(2^{k})");
        }
        // log1p: small arguments keep their precision; the ends of its domain.
        let mut xs1: Vec<f32> = xs.iter().flat_map(|&x| [x, -x.min(0.999_999)]).collect();
        xs1.extend([1e-20, -1e-20, 3e-8, -3e-8, 0.0, -0.0]);
        for &x in &xs1 {
            let u = ulps(log1p_f32(x), (x as f64).ln_1p());
            assert!(u <= 2.5, "log1p({x:e}) = {} against {}: {u} ulp", log1p_f32(x), (x as f64).ln_1p());
        }
        assert_eq!(log1p_f32(-1.0), f32::NEG_INFINITY);
        assert!(log1p_f32(-2.0).is_nan() && log1p_f32(f32::NAN).is_nan());
        assert_eq!(log1p_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(log1p_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        // The slice kernels equal the scalar functions at every length and in place.
        type Slice = fn(&[f32], &mut [f32], bool);
        type InPlace = fn(&mut [f32]);
        type Scalar = fn(f32) -> f32;
        let kernels: [(Slice, InPlace, Scalar); 4] = [
            (log_slice, log_inplace, log_f32),
            (log2_slice, log2_inplace, log2_f32),
            (log10_slice, log10_inplace, log10_f32),
            (log1p_slice, log1p_inplace, log1p_f32),
        ];
        for (slice, inplace, f) in kernels {
            for n in 0..40 {
                let src: Vec<f32> = xs[..n].to_vec();
                let mut dst = vec![7.0f32; n + 1];
                slice(&src, &mut dst[..n], false);
                let mut v = src.clone();
                inplace(&mut v);
                for i in 0..n {
                    let w = f(src[i]);
                    assert!(dst[i].to_bits() == w.to_bits() || (dst[i].is_nan() && w.is_nan()));
                    assert!(v[i].to_bits() == w.to_bits() || (v[i].is_nan() && w.is_nan()));
                }
                assert_eq!(dst[n], 7.0, "wrote past the end");
            }
        }
    }

    #[test]
    fn exp_matches_std() {
        let mut x = -100.0f32;
        while x < 90.0 {
            let (a, b) = (exp_f32(x), x.exp());
            let ok = if a == b {
                true
            } else if b < f32::MIN_POSITIVE {
                (a - b).abs() <= 2e-45
            } else {
                ((a - b) / b).abs() < 5e-7
            };
            assert!(ok, "exp({x}) = {a}, std {b}");
            x += 0.0137;
        }
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
        let src: Vec<f32> = (0..1000).map(|i| i as f32 * 0.01 - 5.0).collect();
        let mut dst = vec![0.0; 1000];
        exp_slice(&src, &mut dst, false);
        for (s, d) in src.iter().zip(&dst) {
            assert!(((d - s.exp()) / s.exp()).abs() < 5e-7);
        }
    }

    /// Whether `got` is e^x to about 2 ulp (or within 2 subnormal steps below f32's normal
    /// range), with the special values exact.
    fn exp_close(x: f32, got: f32) -> bool {
        let want = (x as f64).exp();
        if x.is_nan() {
            return got.is_nan();
        }
        if want > f32::MAX as f64 {
            return got == f32::INFINITY;
        }
        if want < f32::MIN_POSITIVE as f64 {
            return (got as f64 - want).abs() <= 2.0 * 1.401_298_5e-45;
        }
        ((got as f64 - want) / want).abs() < 2.5e-7
    }

    #[test]
    fn exp_kernels_match_f64_at_every_length_alignment_and_special_value() {
        // A sweep over the whole range, with the bounds, the specials and both zeros.
        let mut xs: Vec<f32> = (0..20_000).map(|i| -110.0 + i as f32 * 0.01021).collect();
        xs.extend([
            0.0,
            -0.0,
            88.722_83,
            88.722_84,
            88.75,
            89.0,
            -87.3,
            -103.0,
            -103.97,
            -104.0,
            -150.0,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            1e-8,
            -1e-8,
        ]);
        for stream in [false, true] {
            let mut dst = vec![0.0f32; xs.len() + 16];
            for off in 0..16 {
                exp_slice(&xs, &mut dst[off..off + xs.len()], stream);
                for (&x, &d) in xs.iter().zip(&dst[off..]) {
                    assert!(exp_close(x, d), "exp({x}) = {d} (stream {stream}, offset {off})");
                }
            }
        }
        // Every short length (the masked tail alone, a vector and a tail), nothing written past
        // the end, and the in-place kernel the same as the out-of-place one.
        for len in 0..40 {
            for stream in [false, true] {
                let src = &xs[9_000..9_000 + len];
                let mut dst = vec![-1.0f32; len + 5];
                exp_slice(src, &mut dst[..len], stream);
                assert!(dst[len..].iter().all(|&v| v == -1.0), "written past the end at length {len}");
                let mut v = src.to_vec();
                exp_inplace(&mut v);
                assert_eq!(v, dst[..len], "in place at length {len}");
                assert!(src.iter().zip(&v).all(|(&x, &d)| exp_close(x, d)));
            }
        }
    }

    #[test]
    fn tanh_and_sigmoid_match_f64() {
        let mut x = -20.0f32;
        while x < 20.0 {
            let t = (x as f64).tanh();
            let got = tanh_f32(x) as f64;
            assert!((got - t).abs() <= 4.0 * f32::EPSILON as f64 * t.abs().max(1e-30), "tanh({x}) = {got}, want {t}");
            let sg = 1.0 / (1.0 + (-(x as f64)).exp());
            let got = sigmoid_f32(x) as f64;
            assert!((got - sg).abs() <= 4.0 * f32::EPSILON as f64 * sg, "sigmoid({x}) = {got}, want {sg}");
            x += 0.00731;
        }
        for x in [0.624_999_9f32, 0.625, -0.625] {
            let t = (x as f64).tanh();
            assert!((tanh_f32(x) as f64 - t).abs() <= 4.0 * f32::EPSILON as f64 * t.abs(), "tanh({x})");
        }
        for x in [1e-30f32, -1e-30, 0.0, -0.0, 100.0, -100.0, f32::INFINITY, f32::NEG_INFINITY] {
            let t = (x as f64).tanh() as f32;
            assert_eq!(tanh_f32(x), t, "tanh({x})");
            assert_eq!(tanh_f32(x).is_sign_negative(), x.is_sign_negative(), "sign of tanh({x})");
        }
        assert!(tanh_f32(f32::NAN).is_nan() && sigmoid_f32(f32::NAN).is_nan());
        assert_eq!((sigmoid_f32(-200.0), sigmoid_f32(200.0)), (0.0, 1.0));
        let src: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0 - 5.0).collect();
        let mut dst = vec![0.0; 1000];
        tanh_slice(&src, &mut dst, false);
        let close = |s: f32, d: f32| (d as f64 - (s as f64).tanh()).abs() <= 4.0 * f32::EPSILON as f64;
        assert!(src.iter().zip(&dst).all(|(&s, &d)| close(s, d)));
    }

    #[test]
    fn tanh_and_sigmoid_kernels_match_f64_at_every_length_and_special_value() {
        let mut xs: Vec<f32> = (0..12_000).map(|i| -30.0 + i as f32 * 0.005_03).collect();
        xs.extend([0.0, -0.0, 0.624_999_9, 0.625, -0.625, 1e-30, -1e-30, 100.0, -100.0, -200.0, 200.0]);
        xs.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        let tol = 4.0 * f32::EPSILON as f64;
        for stream in [false, true] {
            for off in [0, 3] {
                let mut t = vec![0.0f32; xs.len() + off];
                let mut sg = vec![0.0f32; xs.len() + off];
                tanh_slice(&xs, &mut t[off..], stream);
                sigmoid_slice(&xs, &mut sg[off..], stream);
                for ((&x, &tv), &sv) in xs.iter().zip(&t[off..]).zip(&sg[off..]) {
                    if x.is_nan() {
                        assert!(tv.is_nan() && sv.is_nan());
                        continue;
                    }
                    let (tw, sw) = ((x as f64).tanh(), 1.0 / (1.0 + (-(x as f64)).exp()));
                    assert!((tv as f64 - tw).abs() <= tol * tw.abs().max(1e-30), "tanh({x}) = {tv}, want {tw}");
                    // Below float32's normal range the result may flush to 0, as the scalar function's.
                    assert!(
                        (sv as f64 - sw).abs() <= tol * sw + f32::MIN_POSITIVE as f64,
                        "sigmoid({x}) = {sv}, want {sw}"
                    );
                    assert_eq!(tv.is_sign_negative(), x.is_sign_negative(), "sign of tanh({x})");
                }
            }
        }
        for len in 0..20 {
            let src = &xs[6_000..6_000 + len];
            let (mut a, mut b) = (src.to_vec(), src.to_vec());
            tanh_inplace(&mut a);
            sigmoid_inplace(&mut b);
            let (mut ta, mut sb) = (vec![0.0; len], vec![0.0; len]);
            tanh_slice(src, &mut ta, false);
            sigmoid_slice(src, &mut sb, false);
            assert_eq!((a, b), (ta, sb), "in place at length {len}");
        }
    }
}
