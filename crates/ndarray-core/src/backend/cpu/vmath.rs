//! Vectorisable float32 math for the hot unary ops. The loops are plain scalar code that LLVM
//! vectorises; on CPUs with AVX2+FMA the same loops are compiled a second time for those
//! instructions and picked at run time (the wheel must run on any x86-64, so no
//! `target-cpu=native`).

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

/// `dst[i] = f(src[i])` for one of the functions above, as `NAME_slice`, and `v[i] = f(v[i])`
/// as `NAME_inplace`, each compiled a second time for AVX2+FMA and picked at run time.
macro_rules! slice_fn {
    ($name:ident, $inplace:ident, $f:path, $doc:literal, $doc_inplace:literal) => {
        #[doc = $doc]
        pub fn $name(src: &[f32], dst: &mut [f32]) {
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
            #[target_feature(enable = "avx512f,avx2,fma")]
            fn avx512(src: &[f32], dst: &mut [f32]) {
                generic(src, dst)
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX-512F, AVX2 and FMA, checked just above (AVX-512F
                // implies AVX2).
                unsafe { avx512(src, dst) };
                return;
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                unsafe { avx2(src, dst) };
                return;
            }
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
            #[target_feature(enable = "avx512f,avx2,fma")]
            fn avx512(v: &mut [f32]) {
                generic(v)
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX-512F, AVX2 and FMA, checked just above.
                unsafe { avx512(v) };
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

slice_fn!(exp_slice, exp_inplace, exp_f32, "`dst[i] = exp(src[i])`.", "`v[i] = exp(v[i])`.");
slice_fn!(tanh_slice, tanh_inplace, tanh_f32, "`dst[i] = tanh(src[i])`.", "`v[i] = tanh(v[i])`.");
slice_fn!(sigmoid_slice, sigmoid_inplace, sigmoid_f32, "`dst[i] = sigmoid(src[i])`.", "`v[i] = sigmoid(v[i])`.");

/// `dst[i] = f(src[i])` with one of the slice functions above, split over rayon's threads for
/// long inputs (see [`Parallelism::split`]).
pub fn map_slices(par: Parallelism, src: &[f32], f: fn(&[f32], &mut [f32])) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out: Vec<f32> = crate::pool::alloc(src.len());
    if par.split(src.len()) {
        out.par_chunks_mut(super::PAR_CHUNK).zip(src.par_chunks(super::PAR_CHUNK)).for_each(|(o, s)| f(s, o));
    } else {
        f(src, &mut out);
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
        exp_slice(&src, &mut dst);
        for (s, d) in src.iter().zip(&dst) {
            assert!(((d - s.exp()) / s.exp()).abs() < 5e-7);
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
        tanh_slice(&src, &mut dst);
        assert!(src.iter().zip(&dst).all(|(&s, &d)| d == tanh_f32(s)));
    }
}
