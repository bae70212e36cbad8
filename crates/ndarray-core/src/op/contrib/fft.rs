//! `_contrib_fft` and `_contrib_ifft`: MXNet's complex FFTs along the last axis, with complex
//! values stored interleaved (`re, im, re, im, ...`).
//!
//! `fft` of real data `(..., d)` gives `(..., 2d)`: the discrete Fourier transform of each row.
//! `ifft` of interleaved complex data `(..., 2d)` gives `(..., d)`: the real part of the
//! unnormalised inverse transform (MXNet does not divide by `d`, so `ifft(fft(x)) = d * x`).
//! As in MXNet 1.9.1 (`src/operator/contrib/fft-inl.h`, `ifft-inl.h`), only 2-d and 4-d data
//! are accepted; `compute_size` (how many rows cuFFT transforms at a time) does not change the
//! values. Each is the other's gradient: the gradient of `fft` is `ifft` of the output
//! gradient, and the gradient of `ifft` is `fft` of the output gradient.
//!
//! The transforms use `rustfft` rather than a hand-written FFT: a maintained, widely used
//! mixed-radix implementation that is exact for every length (primes included) in
//! O(d log d), where a hand-written radix-2 FFT would need extra code for other lengths.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const FFT: &str = "_contrib_fft";
const IFFT: &str = "_contrib_ifft";

/// `fft` (`inverse == false`) or `ifft` (`inverse == true`).
#[derive(Debug)]
struct Fft {
    inverse: bool,
}

impl Fft {
    fn op(&self) -> &'static str {
        if self.inverse { IFFT } else { FFT }
    }
}

/// Transform each row of `rows` complex vectors of length `d` in place (unnormalised).
pub(super) fn transform(buf: &mut [Complex<f64>], d: usize, inverse: bool) {
    if d == 0 || buf.is_empty() {
        return;
    }
    let mut planner = FftPlanner::<f64>::new();
    let plan = if inverse { planner.plan_fft_inverse(d) } else { planner.plan_fft_forward(d) };
    plan.process(buf);
}

/// The forward FFT of real rows of length `d`, interleaved (`2d` values a row).
pub(super) fn fft_real(x: &[f64], d: usize) -> Vec<f64> {
    let mut buf: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v, 0.0)).collect();
    transform(&mut buf, d, false);
    buf.iter().flat_map(|c| [c.re, c.im]).collect()
}

/// The real part of the unnormalised inverse FFT of interleaved complex rows of length `d`.
pub(super) fn ifft_real(x: &[f64], d: usize) -> Vec<f64> {
    let mut buf: Vec<Complex<f64>> = x.chunks_exact(2).map(|p| Complex::new(p[0], p[1])).collect();
    transform(&mut buf, d, true);
    buf.iter().map(|c| c.re).collect()
}

impl Kernel for Fft {
    fn name(&self) -> &'static str {
        self.op()
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let s = &x[0];
        if s.len() != 2 && s.len() != 4 {
            return Err(shape_err(self.op(), "data must be 2-d or 4-d", &[("data", s)]));
        }
        let mut out = s.clone();
        let last = s[s.len() - 1];
        if self.inverse {
            if !last.is_multiple_of(2) {
                let what = "the last axis holds interleaved (real, imag) pairs and must be even";
                return Err(shape_err(IFFT, what, &[("data", s)]));
            }
            out[s.len() - 1] = last / 2;
        } else {
            out[s.len() - 1] = last * 2;
        }
        Ok(vec![out])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let s = x[0].s;
        Ok(vec![if self.inverse { ifft_real(&x[0].v, out[0][s.len() - 1]) } else { fft_real(&x[0].v, s[s.len() - 1]) }])
    }
}

/// The gradient of `fft` is `ifft` of the output gradient.
fn grad_fft(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply(IFFT, &[g[0]], a.clone())?)])
}

/// The gradient of `ifft` is `fft` of the output gradient.
fn grad_ifft(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply(FFT, &[g[0]], a.clone())?)])
}

fn parse(op: &'static str, a: &Attrs, inverse: bool) -> Result<Fft> {
    a.check_known(op, &["compute_size"])?;
    let n = a.int_or(op, "compute_size", 128)?;
    if n < 1 {
        return Err(Error::param(op, format!("compute_size must be positive, got {n}")));
    }
    Ok(Fft { inverse })
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("compute_size" = Some("128"));
    let doc = "the FFT of each row of real data along the last axis, as interleaved (real, imag) pairs";
    add(r, FFT, &["data"], p, doc, |a| parse(FFT, a, false));
    r.set_gradient(FFT, grad_fft);
    let doc = "the real part of the unnormalised inverse FFT of interleaved complex rows (last axis)";
    add(r, IFFT, &["data"], p, doc, |a| parse(IFFT, a, true));
    r.set_gradient(IFFT, grad_ifft);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eager_grad::testing::{arr, check};

    #[test]
    fn fft_and_ifft_gradients_are_each_other() {
        check(FFT, &[], &[arr(&[3, 5], 21)], &[0]);
        check(IFFT, &[("compute_size", "2")], &[arr(&[2, 1, 2, 6], 22)], &[0]);
    }

    #[test]
    fn fft_matches_the_definition_and_ifft_inverts_it_times_d() {
        let d = 5;
        let x: Vec<f64> = (0..2 * d).map(|i| (i as f64 * 0.7).sin()).collect();
        let y = fft_real(&x, d);
        for row in 0..2 {
            for k in 0..d {
                let (mut re, mut im) = (0.0, 0.0);
                for n in 0..d {
                    let t = -2.0 * std::f64::consts::PI * (k * n) as f64 / d as f64;
                    re += x[row * d + n] * t.cos();
                    im += x[row * d + n] * t.sin();
                }
                assert!((y[row * 2 * d + 2 * k] - re).abs() < 1e-9);
                assert!((y[row * 2 * d + 2 * k + 1] - im).abs() < 1e-9);
            }
        }
        let back = ifft_real(&y, d);
        for (b, v) in back.iter().zip(&x) {
            assert!((b - d as f64 * v).abs() < 1e-9);
        }
    }
}
