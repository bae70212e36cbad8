//! `Correlation` (FlowNet's correlation layer: the mean product, or mean absolute difference,
//! of patches of two feature maps at every displacement of a neighbourhood) and its backward
//! op, as MXNet 1.9.1's CPU kernel (`src/operator/correlation.cc`).

use super::super::super::grad::Grads;
use super::super::super::{Attrs, GradBuilder, NodeEntry, ParamSpec};
use super::super::{In, Kernel, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

/// The registered names.
pub(super) const CORR: &str = "Correlation";
pub(super) const CORR_BWD: &str = "_backward_Correlation";

/// `Correlation`'s parameters.
pub(super) const PARAMS: &[ParamSpec] = params!(
    "kernel_size" = Some("1"),
    "max_displacement" = Some("1"),
    "stride1" = Some("1"),
    "stride2" = Some("1"),
    "pad_size" = Some("0"),
    "is_multiply" = Some("True")
);

/// `Correlation(data1, data2)` (outputs: the correlation and the two padded NHWC copies MXNet
/// keeps hidden), or its backward `(out_grad, data1, data2)`.
#[derive(Debug)]
pub(super) struct Correlation {
    kernel: usize,
    max_disp: usize,
    stride1: usize,
    stride2: usize,
    pad: usize,
    multiply: bool,
    backward: bool,
}

/// The sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    /// Padded map.
    ph: usize,
    pw: usize,
    /// Output map and channels.
    th: usize,
    tw: usize,
    grid: usize,
    radius: usize,
}

impl Correlation {
    /// Parse the attributes (`backward`: of the backward op).
    pub fn parse(a: &Attrs, backward: bool) -> Result<Correlation> {
        let op = if backward { CORR_BWD } else { CORR };
        a.check_known(op, &keys(PARAMS))?;
        let count = |key: &str, default: i64| -> Result<usize> {
            let v = a.int_or(op, key, default)?;
            usize::try_from(v).map_err(|_| Error::param(op, format!("{key} must be non-negative, got {v}")))
        };
        let c = Correlation {
            kernel: count("kernel_size", 1)?,
            max_disp: count("max_displacement", 1)?,
            stride1: count("stride1", 1)?,
            stride2: count("stride2", 1)?,
            pad: count("pad_size", 0)?,
            multiply: a.bool_or(op, "is_multiply", true)?,
            backward,
        };
        if c.kernel.is_multiple_of(2) {
            return Err(Error::param(op, format!("kernel_size {} must be an odd number", c.kernel)));
        }
        if c.stride1 == 0 || c.stride2 == 0 {
            return Err(Error::param(op, "stride1 and stride2 must be positive"));
        }
        Ok(c)
    }

    fn geom(&self, x: &[Shape]) -> Result<Geom> {
        let (a, b) = (&x[0], &x[1]);
        let named = [("data1", a.as_slice()), ("data2", b.as_slice())];
        if a.len() != 4 || a != b {
            return Err(shape_err(self.name(), "data1 and data2 must be 4-D (N, C, H, W) of one shape", &named));
        }
        let (ph, pw) = (a[2] + 2 * self.pad, a[3] + 2 * self.pad);
        let border = self.max_disp + (self.kernel - 1) / 2;
        let top = |padded: usize| (padded as i64 - 2 * border as i64).max(0) as usize;
        let (th, tw) = (top(ph).div_ceil(self.stride1), top(pw).div_ceil(self.stride1));
        if th == 0 || tw == 0 {
            let what = format!(
                "the neighbourhood (max_displacement {}) and kernel ({}) do not fit in the padded maps",
                self.max_disp, self.kernel
            );
            return Err(shape_err(self.name(), what, &named));
        }
        let radius = self.max_disp / self.stride2;
        Ok(Geom { n: a[0], c: a[1], h: a[2], w: a[3], ph, pw, th, tw, grid: 2 * radius + 1, radius })
    }

    /// The padded NHWC copy of NCHW `v`.
    fn padded(&self, g: &Geom, v: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; g.n * g.ph * g.pw * g.c];
        for b in 0..g.n {
            for ch in 0..g.c {
                for y in 0..g.h {
                    for x in 0..g.w {
                        let o = ((b * g.ph + y + self.pad) * g.pw + x + self.pad) * g.c + ch;
                        out[o] = v[((b * g.c + ch) * g.h + y) * g.w + x];
                    }
                }
            }
        }
        out
    }

    /// Calls `f(out_index, p1, p2)` for every pair of padded NHWC indices an output sums over,
    /// where `p1`/`p2` is `None` inside the padding.
    fn walk(&self, g: &Geom, mut f: impl FnMut(usize, usize, usize, bool, bool)) {
        let inside = |y: usize, x: usize| y >= self.pad && x >= self.pad && y < g.h + self.pad && x < g.w + self.pad;
        for b in 0..g.n {
            for i in 0..g.th {
                for j in 0..g.tw {
                    let (x1, y1) = (j * self.stride1 + self.max_disp, i * self.stride1 + self.max_disp);
                    for tc in 0..g.grid * g.grid {
                        let s2o = (tc % g.grid) as i64 - g.radius as i64;
                        let s2p = (tc / g.grid) as i64 - g.radius as i64;
                        let x2 = (x1 as i64 + s2o * self.stride2 as i64) as usize;
                        let y2 = (y1 as i64 + s2p * self.stride2 as i64) as usize;
                        let o = ((b * g.grid * g.grid + tc) * g.th + i) * g.tw + j;
                        for h in 0..self.kernel {
                            for w in 0..self.kernel {
                                let p1 = ((b * g.ph + y1 + h) * g.pw + x1 + w) * g.c;
                                let p2 = ((b * g.ph + y2 + h) * g.pw + x2 + w) * g.c;
                                let (in1, in2) = (inside(y1 + h, x1 + w), inside(y2 + h, x2 + w));
                                for ch in 0..g.c {
                                    f(o, p1 + ch, p2 + ch, in1, in2);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The NCHW index of padded NHWC index `p`.
    fn unpad(&self, g: &Geom, p: usize) -> usize {
        let ch = p % g.c;
        let x = (p / g.c) % g.pw - self.pad;
        let y = (p / g.c / g.pw) % g.ph - self.pad;
        let b = p / g.c / g.pw / g.ph;
        ((b * g.c + ch) * g.h + y) * g.w + x
    }
}

impl Kernel for Correlation {
    fn name(&self) -> &'static str {
        if self.backward { CORR_BWD } else { CORR }
    }
    fn num_outputs(&self) -> usize {
        if self.backward { 2 } else { 3 }
    }
    fn num_visible(&self) -> usize {
        if self.backward { 2 } else { 1 }
    }
    fn output_names(&self) -> Option<Vec<String>> {
        (!self.backward).then(|| ["output", "tmp1", "tmp2"].map(String::from).to_vec())
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = if self.backward { &["out_grad", "data1", "data2"] } else { &["data1", "data2"] };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let k = usize::from(self.backward);
        let g = self.geom(&x[k..])?;
        let out = vec![g.n, g.grid * g.grid, g.th, g.tw];
        if self.backward {
            if x[0] != out {
                let what = format!("out_grad must have the output's shape {out:?}");
                return Err(shape_err(self.name(), what, &[("out_grad", &x[0]), ("data1", &x[1])]));
            }
            return Ok(vec![x[1].clone(), x[2].clone()]);
        }
        let tmp = vec![g.n, g.ph, g.pw, g.c];
        Ok(vec![out, tmp.clone(), tmp])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let k = usize::from(self.backward);
        let g = self.geom(&[x[k].s.to_vec(), x[k + 1].s.to_vec()])?;
        let (t1, t2) = (self.padded(&g, &x[k].v), self.padded(&g, &x[k + 1].v));
        let sum = (self.kernel * self.kernel * g.c) as f64;
        if self.backward {
            let dy = &x[0].v;
            let (mut d1, mut d2) = (vec![0.0; x[1].v.len()], vec![0.0; x[2].v.len()]);
            self.walk(&g, |o, p1, p2, in1, in2| {
                let gs = dy[o] / sum;
                let (g1, g2) = if self.multiply {
                    (t2[p2] * gs, t1[p1] * gs)
                } else if t1[p1] >= t2[p2] {
                    (gs, -gs)
                } else {
                    (-gs, gs)
                };
                if in1 {
                    d1[self.unpad(&g, p1)] += g1;
                }
                if in2 {
                    d2[self.unpad(&g, p2)] += g2;
                }
            });
            return Ok(vec![d1, d2]);
        }
        let mut out = vec![0.0; g.n * g.grid * g.grid * g.th * g.tw];
        self.walk(&g, |o, p1, p2, _, _| {
            out[o] += if self.multiply { t1[p1] * t2[p2] } else { (t1[p1] - t2[p2]).abs() };
        });
        out.iter_mut().for_each(|v| *v /= sum);
        Ok(vec![out, t1, t2])
    }
}

/// `Correlation`'s gradient through its backward op.
pub(super) fn grad_corr(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Grads {
    let outs = b.op(CORR_BWD, &[g[0], x[0], x[1]], a.clone())?;
    Ok(outs.into_iter().take(2).map(Some).collect())
}
