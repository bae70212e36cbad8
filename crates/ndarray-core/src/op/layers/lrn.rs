//! LRN, local response normalization across channels (AlexNet's), and its fused gradient.
//!
//! For data `(N, C, H, W)`: `norm = knorm + alpha / nsize * sum(x^2)` over the `nsize`
//! channels centred on each one (clipped at the edges), `out = x * norm^-beta`. As in MXNet,
//! `norm` is a hidden second output that the gradient reads:
//! `dx = g * norm^-beta - 2 * beta * alpha / nsize * x * sum(g * x * norm^(-beta - 1))`, the
//! sum over the same channel windows.

use super::float_dtype;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};
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

    /// `out[n, c, p] = sum(v[n, c', p])` over the channels `c'` of the window around `c`.
    fn window_sum(&self, s: &[usize], v: &[f64]) -> Vec<f64> {
        let (ch, plane) = (s[1], s[2] * s[3]);
        let half = self.nsize / 2;
        let mut out = vec![0.0; v.len()];
        if v.is_empty() {
            return out;
        }
        for (ob, vb) in out.chunks_mut(ch * plane).zip(v.chunks(ch * plane)) {
            for c in 0..ch {
                let (lo, hi) = (c.saturating_sub(half), (c + half).min(ch - 1));
                let o = &mut ob[c * plane..(c + 1) * plane];
                for cc in lo..=hi {
                    for (a, &b) in o.iter_mut().zip(&vb[cc * plane..(cc + 1) * plane]) {
                        *a += b;
                    }
                }
            }
        }
        out
    }
}

fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

fn store<T: StorageElement>(v: &[f64]) -> CpuStorage {
    T::wrap(v.iter().map(|&x| T::from_f64(x)).collect())
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
        Ok(vec![float_dtype("LRN", inputs[0])?; 2])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let v = values(&x[0]);
        let sq: Vec<f64> = v.iter().map(|a| a * a).collect();
        let salpha = self.alpha / self.nsize as f64;
        let norm: Vec<f64> = self.window_sum(x[0].shape, &sq).iter().map(|s| s * salpha + self.knorm).collect();
        let out: Vec<f64> = v.iter().zip(&norm).map(|(a, n)| a * n.powf(-self.beta)).collect();
        dispatch!(float "LRN", dt[0] => T, { Ok(vec![store::<T>(&out), store::<T>(&norm)]) })
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
        Ok(vec![float_dtype("_backward_LRN", inputs[1])?])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let p = self.0;
        let (g, v, norm) = (values(&x[0]), values(&x[1]), values(&x[2]));
        let inner: Vec<f64> = g.iter().zip(&v).zip(&norm).map(|((g, a), n)| g * a * n.powf(-p.beta - 1.0)).collect();
        let pooled = p.window_sum(x[1].shape, &inner);
        let k = -2.0 * p.beta * p.alpha / p.nsize as f64;
        let dx: Vec<f64> = (0..v.len()).map(|i| g[i] * norm[i].powf(-p.beta) + k * pooled[i] * v[i]).collect();
        dispatch!(float "_backward_LRN", dt[0] => T, { Ok(vec![store::<T>(&dx)]) })
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
