//! `_contrib_count_sketch(data, h, s)`: MXNet's count sketch of each row of `data`,
//! `out[i, h[j]] += s[j] * data[i, j]` (`src/operator/contrib/count_sketch-inl.h`; MXNet 1.9.1
//! runs it on GPU only). `data` is 2-d or 4-d and sketched along its last axis; `h` (bucket
//! indices in `[0, out_dim)`) and `s` (signs) have shape `(1, in_dim)`. The data gradient is
//! `grad[i, j] = out_grad[i, h[j]] * s[j]`; `h` and `s` get none (zeros), as in MXNet.

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const NAME: &str = "_contrib_count_sketch";
const BACK: &str = "_backward__contrib_count_sketch";

/// The sketch (`back == false`) or its data gradient (`back == true`, inputs
/// `(out_grad, h, s)`, with the data's last-axis length `in_dim`).
#[derive(Debug)]
struct CountSketch {
    out_dim: usize,
    back: bool,
}

/// The bucket of each of the first `n` entries of `h`, checked against `out_dim`.
fn buckets(op: &str, h: &[f64], n: usize, out_dim: usize) -> Result<Vec<usize>> {
    h[..n]
        .iter()
        .map(|&b| {
            if b < 0.0 || b as usize >= out_dim || b.fract() != 0.0 {
                Err(Error::msg(format!("{op}: hash index {b} is out of range for out_dim {out_dim}")))
            } else {
                Ok(b as usize)
            }
        })
        .collect()
}

impl Kernel for CountSketch {
    fn name(&self) -> &'static str {
        if self.back { BACK } else { NAME }
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (d, h, s) = (&x[0], &x[1], &x[2]);
        let op = self.name();
        let named = [("data", d.as_slice()), ("h", h.as_slice()), ("s", s.as_slice())];
        if d.len() != 2 && d.len() != 4 {
            return Err(shape_err(op, "data must be 2-d or 4-d", &named));
        }
        let last = d[d.len() - 1];
        if self.back {
            if last != self.out_dim || h.len() != 2 || s != h {
                return Err(shape_err(op, "out_grad's last axis must be out_dim, h and s (1, in_dim)", &named));
            }
            let mut out = d.clone();
            *out.last_mut().expect("2-d or 4-d") = h[1];
            return Ok(vec![out]);
        }
        if h.len() != 2 || s.len() != 2 || h[1] != last || s[1] != last || h[0] == 0 || s[0] == 0 {
            return Err(shape_err(op, "h and s must have shape (1, in_dim), in_dim being data's last axis", &named));
        }
        let mut out = d.clone();
        *out.last_mut().expect("2-d or 4-d") = self.out_dim;
        Ok(vec![out])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (data, h, s) = (&x[0], &x[1].v, &x[2].v);
        let in_dim = x[1].s[1];
        let idx = buckets(self.name(), h, in_dim, self.out_dim)?;
        let rows: usize = out[0][..out[0].len() - 1].iter().product();
        if self.back {
            let mut g = vec![0.0; rows * in_dim];
            for (r, row) in g.chunks_exact_mut(in_dim).enumerate() {
                let og = &data.v[r * self.out_dim..(r + 1) * self.out_dim];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = og[idx[j]] * s[j];
                }
            }
            return Ok(vec![g]);
        }
        let mut y = vec![0.0; rows * self.out_dim];
        for (r, row) in y.chunks_exact_mut(self.out_dim).enumerate() {
            for (j, &v) in data.v[r * in_dim..(r + 1) * in_dim].iter().enumerate() {
                row[idx[j]] += s[j] * v;
            }
        }
        Ok(vec![y])
    }
}

fn grad(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let d = b.apply(BACK, &[g[0], x[1], x[2]], a.clone())?;
    Ok(vec![Some(d), Some(b.unary("zeros_like", x[1])?), Some(b.unary("zeros_like", x[2])?)])
}

fn parse(op: &'static str, a: &Attrs, back: bool) -> Result<CountSketch> {
    a.check_known(op, &["out_dim", "processing_batch_size"])?;
    let out_dim = a.int(op, "out_dim")?;
    let batch = a.int_or(op, "processing_batch_size", 32)?;
    if out_dim < 1 || batch < 1 {
        return Err(Error::param(
            op,
            format!("out_dim ({out_dim}) and processing_batch_size ({batch}) must be positive"),
        ));
    }
    Ok(CountSketch { out_dim: out_dim as usize, back })
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("out_dim" = None, "processing_batch_size" = Some("32"));
    let doc = "the count sketch of each row of data: out[i, h[j]] += s[j] * data[i, j]";
    add(r, NAME, &["data", "h", "s"], p, doc, |a| parse(NAME, a, false));
    r.set_gradient(NAME, grad);
    let doc = "the data gradient of count_sketch: out_grad[i, h[j]] * s[j]";
    add(r, BACK, &["out_grad", "h", "s"], p, doc, |a| parse(BACK, a, true));
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::testing::{arr, check, vals};

    #[test]
    fn count_sketch_data_gradient() {
        let h = vals(&[1, 5], &[0.0, 2.0, 1.0, 2.0, 0.0]);
        let s = vals(&[1, 5], &[1.0, -1.0, 1.0, 1.0, -1.0]);
        check(super::NAME, &[("out_dim", "3")], &[arr(&[4, 5], 23), h, s], &[0]);
    }
}
