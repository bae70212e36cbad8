//! LRN, local response normalization across channels (AlexNet's), and its fused gradient.
//!
//! For data `(N, C, H, W)`: `norm = knorm + alpha / nsize * sum(x^2)` over the `nsize`
//! channels centred on each one (clipped at the edges), `out = x * norm^-beta`. As in MXNet,
//! `norm` is a hidden second output that the gradient reads:
//! `dx = g * norm^-beta - 2 * beta * alpha / nsize * x * sum(g * x * norm^(-beta - 1))`, the
//! sum over the same channel windows.

use rayon::prelude::*;

use super::{Real, float_dtype};
use crate::backend::cpu::Parallelism;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement as _};
use crate::{dispatch, params};

#[derive(Clone, Copy, Debug)]
struct Lrn {
    alpha: f64,
    beta: f64,
    knorm: f64,
    nsize: usize,
}

const KNOWN: &[&str] = &["alpha", "beta", "knorm", "nsize"];

impl Lrn {
    fn parse(op: &str, a: &Attrs) -> Result<Lrn> {
        a.check_known(op, KNOWN)?;
        let nsize = a.int(op, "nsize")?;
        if nsize < 1 || nsize % 2 == 0 {
            return Err(Error::param(op, format!("nsize must be a positive odd number (LRN's window), got {nsize}")));
        }
        Ok(Lrn {
            alpha: a.float_or(op, "alpha", 1e-4)?,
            beta: a.float_or(op, "beta", 0.75)?,
            knorm: a.float_or(op, "knorm", 2.0)?,
            nsize: nsize as usize,
        })
    }

    fn check(&self, op: &str, s: &[usize]) -> Result<()> {
        if s.len() != 4 {
            return Err(Error::shape(op, format!("data must be 4-D (N, C, H, W), got shape {}", fmt_shape(s))));
        }
        if self.nsize > s[1] {
            return Err(Error::shape(
                op,
                format!("nsize {} is larger than the {} channels of data {}", self.nsize, s[1], fmt_shape(s)),
            ));
        }
        Ok(())
    }

    /// Per sample of `(C, H*W)` values, `f(window sum of sq, channel c, position q)` for every
    /// element: `sq` gives the summed term of channel `c'` at `q`; the sum runs over the
    /// channels of the window around `c`, in order, as MXNet's `chpool` does.
    fn per_sample<T: Real>(
        &self,
        par: Parallelism,
        s: &[usize],
        outs: &mut [&mut [T]],
        sq: impl Fn(usize, usize, usize) -> T + Sync,
        f: impl Fn(usize, usize, usize, T) -> [T; 2] + Sync,
    ) {
        let (ch, plane) = (s[1], s[2] * s[3]);
        let (size, half) = (ch * plane, self.nsize / 2);
        if size == 0 {
            return;
        }
        // Sample `n`'s two output chunks.
        let sample = |n: usize, o0: &mut [T], o1: &mut [T]| {
            let mut acc = vec![<T as Element>::zero(); plane];
            for c in 0..ch {
                acc.iter_mut().for_each(|a| *a = <T as Element>::zero());
                for cc in c.saturating_sub(half)..=(c + half).min(ch - 1) {
                    for (q, a) in acc.iter_mut().enumerate() {
                        *a = *a + sq(n, cc, q);
                    }
                }
                for (q, &a) in acc.iter().enumerate() {
                    let [x0, x1] = f(n, c, q, a);
                    o0[c * plane + q] = x0;
                    o1[c * plane + q] = x1;
                }
            }
        };
        let [o0, o1] = outs else { unreachable!("two outputs") };
        if par.split(o0.len()) {
            o0.par_chunks_mut(size).zip(o1.par_chunks_mut(size)).enumerate().for_each(|(n, (a, b))| sample(n, a, b));
        } else {
            o0.chunks_mut(size).zip(o1.chunks_mut(size)).enumerate().for_each(|(n, (a, b))| sample(n, a, b));
        }
    }

    /// The output and the norm, in `T`'s arithmetic (float32 for float32, as MXNet).
    fn forward_kernel<T: Real>(&self, par: Parallelism, s: &[usize], x: &[T]) -> (Vec<T>, Vec<T>) {
        let (ch, plane) = (s[1], s[2] * s[3]);
        let at = |n: usize, c: usize, q: usize| (n * ch + c) * plane + q;
        let (salpha, knorm, beta) = (c::<T>(self.alpha / self.nsize as f64), c::<T>(self.knorm), c::<T>(-self.beta));
        let (mut out, mut norm) = (vec![<T as Element>::zero(); x.len()], vec![<T as Element>::zero(); x.len()]);
        self.per_sample(
            par,
            s,
            &mut [&mut out, &mut norm],
            |n, cc, q| x[at(n, cc, q)] * x[at(n, cc, q)],
            |n, c, q, sum| {
                let nm = sum * salpha + knorm;
                [x[at(n, c, q)] * nm.powf(beta), nm]
            },
        );
        (out, norm)
    }

    /// The data gradient: `g * norm^-beta - 2 * beta * salpha * x * sum(g * x * norm^(-beta-1))`.
    fn backward_kernel<T: Real>(&self, par: Parallelism, s: &[usize], g: &[T], x: &[T], norm: &[T]) -> Vec<T> {
        let (ch, plane) = (s[1], s[2] * s[3]);
        let at = |n: usize, c: usize, q: usize| (n * ch + c) * plane + q;
        let (beta, beta1) = (c::<T>(-self.beta), c::<T>(-self.beta - 1.0));
        let k = c::<T>(-2.0 * self.beta * self.alpha / self.nsize as f64);
        let term = |i: usize| g[i] * x[i] * norm[i].powf(beta1);
        let inner: Vec<T> = if par.split(x.len()) {
            (0..x.len()).into_par_iter().map(term).collect()
        } else {
            (0..x.len()).map(term).collect()
        };
        let (mut dx, mut unused) = (vec![<T as Element>::zero(); x.len()], vec![<T as Element>::zero(); x.len()]);
        self.per_sample(
            par,
            s,
            &mut [&mut dx, &mut unused],
            |n, cc, q| inner[at(n, cc, q)],
            |n, c, q, sum| {
                let i = at(n, c, q);
                [g[i] * norm[i].powf(beta) + k * sum * x[i], <T as Element>::zero()]
            },
        );
        dx
    }
}

/// A constant in `T`.
fn c<T: Real>(v: f64) -> T {
    <T as Element>::from_f64(v)
}

/// LRN computes in float32 or float64 (MXNet 1.9.1: float32 only).
fn lrn_dtype(op: &str, d: DType) -> Result<DType> {
    match float_dtype(op, d)? {
        DType::F32 | DType::F64 => Ok(d),
        d => Err(Error::dtype(op, d, "LRN supports float32 and float64")),
    }
}

impl Operator for Lrn {
    fn name(&self) -> &str {
        "LRN"
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn num_visible_outputs(&self) -> usize {
        1
    }
    fn output_names(&self) -> Vec<String> {
        vec!["output".into(), "tmp_norm".into()]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("LRN", inputs.len(), 1)?;
        self.check("LRN", &inputs[0])?;
        Ok(vec![inputs[0].clone(), inputs[0].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs("LRN", inputs.len(), 1)?;
        Ok(vec![lrn_dtype("LRN", inputs[0])?; 2])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        dispatch!(float "LRN", dt[0] => T, {
            let (out, norm) = self.forward_kernel(ctx.par, x[0].shape, x[0].typed::<T>());
            Ok(vec![T::wrap(out), T::wrap(norm)])
        })
    }
}

/// `_backward_LRN(ograd, data, tmp_norm)` → the data gradient. Fused: no registered op sums
/// over a window of channels, which the gradient needs.
#[derive(Debug)]
struct LrnBackward(Lrn);

impl Operator for LrnBackward {
    fn name(&self) -> &str {
        "_backward_LRN"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs("_backward_LRN", inputs.len(), 3)?;
        self.0.check("_backward_LRN", &inputs[1])?;
        if inputs[0] != inputs[1] || inputs[2] != inputs[1] {
            return Err(Error::shape(
                "_backward_LRN",
                format!(
                    "output gradient {}, data {} and norm {} must have one shape",
                    fmt_shape(&inputs[0]),
                    fmt_shape(&inputs[1]),
                    fmt_shape(&inputs[2])
                ),
            ));
        }
        Ok(vec![inputs[1].clone()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs("_backward_LRN", inputs.len(), 3)?;
        Ok(vec![lrn_dtype("_backward_LRN", inputs[1])?])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        dispatch!(float "_backward_LRN", dt[0] => T, {
            let (g, v, n) = (x[0].typed::<T>(), x[1].typed::<T>(), x[2].typed::<T>());
            Ok(vec![T::wrap(self.0.backward_kernel(ctx.par, x[1].shape, g, v, n))])
        })
    }
}

fn grad_lrn(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    Ok(vec![Some(b.apply("_backward_LRN", &[g[0], x[0], y[1]], a.clone())?)])
}

pub(in crate::op) fn register(r: &mut Registry) {
    let p = params!("alpha" = Some("0.0001"), "beta" = Some("0.75"), "knorm" = Some("2"), "nsize" = None);
    r.add("LRN", &["data"], p, "local response normalization across channels", |a: &Attrs| {
        Ok(Box::new(Lrn::parse("LRN", a)?))
    });
    r.add("_backward_LRN", &["ograd", "data", "tmp_norm"], p, "fused gradient of LRN", |a: &Attrs| {
        Ok(Box::new(LrnBackward(Lrn::parse("_backward_LRN", a)?)))
    });
    r.set_gradient("LRN", grad_lrn);
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::testing::{arr, check};

    #[test]
    fn lrn_gradient_matches_finite_differences() {
        check("LRN", &[("nsize", "3"), ("alpha", "0.5"), ("knorm", "1.5")], &[arr(&[2, 5, 2, 3], 4)], &[0]);
        check("LRN", &[("nsize", "5"), ("beta", "0.5")], &[arr(&[1, 5, 2, 2], 5)], &[0]);
    }
}
