//! Vectorisable float32 math for the hot unary ops. The loops are plain scalar code that LLVM
//! vectorises; on CPUs with AVX2+FMA the same loops are compiled a second time for those
//! instructions and picked at run time (the wheel must run on any x86-64, so no
//! `target-cpu=native`).

/// e^x for float32, accurate to about 2 ulp: range reduction by ln 2 and a degree-6
/// polynomial, with overflow to inf, underflow to 0 and NaN passed through.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let xc = x.clamp(-104.0, 88.75);
    let n = (xc * LOG2E + MAGIC) - MAGIC;
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
    let ni = n as i32;
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

fn exp_slice_generic(src: &[f32], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = exp_f32(s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_slice_avx2(src: &[f32], dst: &mut [f32]) {
    exp_slice_generic(src, dst)
}

/// `dst[i] = exp(src[i])`, using AVX2+FMA code when the CPU has it.
pub fn exp_slice(src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { exp_slice_avx2(src, dst) };
        return;
    }
    exp_slice_generic(src, dst)
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
}
