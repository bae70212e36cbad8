//! `_contrib_PSROIPooling` (R-FCN's position-sensitive ROI average pooling) and
//! `_contrib_DeformablePSROIPooling` (its deformable version: bins moved by a learned `trans`,
//! sampled bilinearly), and their backward ops, as MXNet 1.9.1's CPU kernels.

use super::super::super::grad::Grads;
use super::super::super::{Attrs, GradBuilder, NodeEntry, ParamSpec};
use super::super::{In, Kernel, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

/// The registered names.
pub(super) const PS: &str = "_contrib_PSROIPooling";
pub(super) const PS_BWD: &str = "_backward_contrib_PSROIPooling";
pub(super) const DPS: &str = "_contrib_DeformablePSROIPooling";
pub(super) const DPS_BWD: &str = "_backward_contrib_DeformablePSROIPooling";

/// `PSROIPooling`'s parameters.
pub(super) const PS_PARAMS: &[ParamSpec] =
    params!("spatial_scale" = None, "output_dim" = None, "pooled_size" = None, "group_size" = Some("0"));

/// `DeformablePSROIPooling`'s parameters.
pub(super) const DPS_PARAMS: &[ParamSpec] = params!(
    "spatial_scale" = None,
    "output_dim" = None,
    "group_size" = None,
    "pooled_size" = None,
    "part_size" = Some("0"),
    "sample_per_part" = Some("1"),
    "trans_std" = Some("0.0"),
    "no_trans" = Some("False")
);

/// Either pooling (`deformable`), or its backward op.
#[derive(Debug)]
pub(super) struct PsRoi {
    scale: f64,
    out_dim: usize,
    pooled: usize,
    group: usize,
    part: usize,
    samples: usize,
    trans_std: f64,
    no_trans: bool,
    deformable: bool,
    backward: bool,
}

/// A positive integer attribute.
fn positive(a: &Attrs, op: &str, key: &str, default: Option<i64>) -> Result<usize> {
    let v = match default {
        Some(d) => a.int_or(op, key, d)?,
        None => a.int(op, key)?,
    };
    if v < 1 {
        return Err(Error::param(op, format!("{key} must be positive, got {v}")));
    }
    Ok(v as usize)
}

/// An ROI's corners after rounding and scaling: `(x0, y0, x1, y1)`.
fn corners(roi: &[f64], scale: f64, shift: f64) -> (f64, f64, f64, f64) {
    let s = |v: f64, add: f64| (v.round() + add) * scale - shift;
    (s(roi[1], 0.0), s(roi[2], 0.0), s(roi[3], 1.0), s(roi[4], 1.0))
}

impl PsRoi {
    /// Parse the attributes of the op `deformable` and `backward` select.
    pub fn parse(a: &Attrs, deformable: bool, backward: bool) -> Result<PsRoi> {
        let op = Self::op_name(deformable, backward);
        a.check_known(op, &keys(if deformable { DPS_PARAMS } else { PS_PARAMS }))?;
        let scale = a.float(op, "spatial_scale")?;
        let pooled = positive(a, op, "pooled_size", None)?;
        let out_dim = positive(a, op, "output_dim", None)?;
        let group = if deformable {
            positive(a, op, "group_size", None)?
        } else {
            match a.int_or(op, "group_size", 0)? {
                0 => pooled,
                _ => positive(a, op, "group_size", None)?,
            }
        };
        let part = match a.int_or(op, "part_size", 0)? {
            0 => pooled,
            _ => positive(a, op, "part_size", None)?,
        };
        let trans_std = a.float_or(op, "trans_std", 0.0)?;
        if !(0.0..=1.0).contains(&trans_std) {
            return Err(Error::param(op, format!("trans_std {trans_std} must be in [0, 1]")));
        }
        Ok(PsRoi {
            scale,
            out_dim,
            pooled,
            group,
            part,
            samples: positive(a, op, "sample_per_part", Some(1))?,
            trans_std,
            no_trans: !deformable || a.bool_or(op, "no_trans", false)?,
            deformable,
            backward,
        })
    }

    fn op_name(deformable: bool, backward: bool) -> &'static str {
        match (deformable, backward) {
            (false, false) => PS,
            (false, true) => PS_BWD,
            (true, false) => DPS,
            (true, true) => DPS_BWD,
        }
    }

    fn forward_inputs(&self) -> Vec<&'static str> {
        if self.no_trans { vec!["data", "rois"] } else { vec!["data", "rois", "trans"] }
    }

    /// Check the forward inputs; the output shape.
    fn check(&self, x: &[Shape]) -> Result<Shape> {
        let names = self.forward_inputs();
        let named: Vec<(&str, &[usize])> = names.iter().zip(x).map(|(n, s)| (*n, s.as_slice())).collect();
        let fail = |what: String| Err(shape_err(self.name(), what, &named));
        let (d, r) = (&x[0], &x[1]);
        if d.len() != 4 || d[2] == 0 || d[3] == 0 {
            return fail("data must be 4-D (N, C, H, W) with a non-empty map".into());
        }
        if r.len() != 2 || r[1] != 5 {
            return fail("rois must have shape (num_rois, 5)".into());
        }
        let need = self.out_dim * self.group * self.group;
        if d[1] < need {
            return fail(format!(
                "data needs output_dim * group_size^2 = {} * {}^2 = {need} channels",
                self.out_dim, self.group
            ));
        }
        if !self.no_trans {
            let t = &x[2];
            if t.len() != 4
                || t[0] != r[0]
                || t[1] == 0
                || !t[1].is_multiple_of(2)
                || t[2] != self.part
                || t[3] != self.part
            {
                return fail(format!("trans must have shape (num_rois, 2 * num_classes, {0}, {0})", self.part));
            }
            if !self.out_dim.is_multiple_of(t[1] / 2) {
                return fail(format!("output_dim {} must be a multiple of the {} classes", self.out_dim, t[1] / 2));
            }
        }
        Ok(vec![r[0], self.out_dim, self.pooled, self.pooled])
    }

    /// The data channel of output channel `ct` at bin `(ph, pw)`.
    fn channel(&self, ct: usize, ph: usize, pw: usize) -> usize {
        let g = |p: usize| (p * self.group / self.pooled).min(self.group - 1);
        (ct * self.group + g(ph)) * self.group + g(pw)
    }

    /// `PSROIPooling`: calls `f(out_index, data_index, weight)` for every averaged pixel.
    fn walk_plain(&self, d: &[usize], rois: &[f64], mut f: impl FnMut(usize, usize, f64)) -> Result<()> {
        let (c, h, w, p) = (d[1], d[2] as i64, d[3] as i64, self.pooled);
        for (n, roi) in rois.chunks(5).enumerate() {
            let b = self.batch(n, roi[0], d[0])?;
            let (x0, y0, x1, y1) = corners(roi, self.scale, 0.0);
            let (rw, rh) = ((x1 - x0).max(0.1), (y1 - y0).max(0.1));
            let (bh, bw) = (rh / p as f64, rw / p as f64);
            for ct in 0..self.out_dim {
                for ph in 0..p {
                    for pw in 0..p {
                        let hs = ((ph as f64 * bh + y0).floor() as i64).clamp(0, h);
                        let he = (((ph + 1) as f64 * bh + y0).ceil() as i64).clamp(0, h);
                        let ws = ((pw as f64 * bw + x0).floor() as i64).clamp(0, w);
                        let we = (((pw + 1) as f64 * bw + x0).ceil() as i64).clamp(0, w);
                        if he <= hs || we <= ws {
                            continue;
                        }
                        let o = ((n * self.out_dim + ct) * p + ph) * p + pw;
                        let base = (b * c + self.channel(ct, ph, pw)) * d[2] * d[3];
                        let area = ((he - hs) * (we - ws)) as f64;
                        for y in hs..he {
                            for x in ws..we {
                                f(o, base + (y * w + x) as usize, 1.0 / area);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The image of roi `n`: its first value truncated, as MXNet casts it to an integer.
    fn batch(&self, n: usize, b: f64, images: usize) -> Result<usize> {
        let b = b.trunc();
        if !(b >= 0.0 && (b as usize) < images) {
            return Err(Error::msg(format!("{}: roi {n} has batch index {b}, data has {images} images", self.name())));
        }
        Ok(b as usize)
    }

    /// `DeformablePSROIPooling`: calls `f(out, roi, trans_index, sample)` for every sample
    /// point counted, where `sample` gives the bilinear cells, the trans scale and the count.
    fn walk_deformable(&self, d: &[usize], rois: &[f64], trans: &[f64], mut f: impl FnMut(&Sample)) -> Result<()> {
        let (c, h, w, p, sp) = (d[1], d[2], d[3], self.pooled, self.samples);
        let per_roi = 2 * self.part * self.part * (rois.len() / 5).max(1);
        let classes = if self.no_trans { 1 } else { (trans.len() / per_roi).max(1) };
        let per_class = if self.no_trans { self.out_dim } else { self.out_dim / classes };
        for (n, roi) in rois.chunks(5).enumerate() {
            let b = self.batch(n, roi[0], d[0])?;
            let (x0, y0, x1, y1) = corners(roi, self.scale, 0.5);
            let (rw, rh) = ((x1 - x0).max(0.1), (y1 - y0).max(0.1));
            let (bh, bw) = (rh / p as f64, rw / p as f64);
            let (sbh, sbw) = (bh / sp as f64, bw / sp as f64);
            for ct in 0..self.out_dim {
                for ph in 0..p {
                    for pw in 0..p {
                        let part_h = (ph as f64 / p as f64 * self.part as f64).floor() as usize;
                        let part_w = (pw as f64 / p as f64 * self.part as f64).floor() as usize;
                        let class = ct / per_class;
                        let tx = (((n * classes + class) * 2) * self.part + part_h) * self.part + part_w;
                        let ty = tx + self.part * self.part;
                        let (dx, dy) = if self.no_trans {
                            (0.0, 0.0)
                        } else {
                            (trans[tx] * self.trans_std, trans[ty] * self.trans_std)
                        };
                        let ws = pw as f64 * bw + x0 + dx * rw;
                        let hs = ph as f64 * bh + y0 + dy * rh;
                        let base = (b * c + self.channel(ct, ph, pw)) * h * w;
                        let mut cells = Vec::new();
                        for ih in 0..sp {
                            for iw in 0..sp {
                                let (xs, ys) = (ws + iw as f64 * sbw, hs + ih as f64 * sbh);
                                if xs < -0.5 || xs > w as f64 - 0.5 || ys < -0.5 || ys > h as f64 - 0.5 {
                                    continue;
                                }
                                cells.push((xs.clamp(0.0, (w - 1) as f64), ys.clamp(0.0, (h - 1) as f64)));
                            }
                        }
                        let out = ((n * self.out_dim + ct) * p + ph) * p + pw;
                        f(&Sample { out, base, w, tx, ty, rw, rh, cells });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The sample points of one output bin of `DeformablePSROIPooling`.
struct Sample {
    out: usize,
    base: usize,
    w: usize,
    tx: usize,
    ty: usize,
    rw: f64,
    rh: f64,
    /// The clamped `(x, y)` of each counted point.
    cells: Vec<(f64, f64)>,
}

impl Sample {
    /// The four cells `(index, weight)` of a point and its fractions `(dist_x, dist_y)`.
    fn taps(&self, x: f64, y: f64) -> ([(usize, f64); 4], f64, f64) {
        let (xl, xh, yl, yh) = (x.floor() as usize, x.ceil() as usize, y.floor() as usize, y.ceil() as usize);
        let (dx, dy) = (x - xl as f64, y - yl as f64);
        let at = |r: usize, c: usize| self.base + r * self.w + c;
        let taps = [
            (at(yl, xl), (1.0 - dx) * (1.0 - dy)),
            (at(yh, xl), (1.0 - dx) * dy),
            (at(yl, xh), dx * (1.0 - dy)),
            (at(yh, xh), dx * dy),
        ];
        (taps, dx, dy)
    }
}

impl Kernel for PsRoi {
    fn name(&self) -> &'static str {
        Self::op_name(self.deformable, self.backward)
    }
    fn num_outputs(&self) -> usize {
        if self.backward { self.forward_inputs().len() } else { 1 + usize::from(self.deformable) }
    }
    fn num_visible(&self) -> usize {
        if self.backward { self.num_outputs() } else { 1 }
    }
    fn output_names(&self) -> Option<Vec<String>> {
        (self.deformable && !self.backward).then(|| ["output", "top_count"].map(String::from).to_vec())
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let mut names = self.forward_inputs();
        if self.backward {
            names.insert(0, "out_grad");
        }
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if self.backward {
            let out = self.check(&x[1..])?;
            if x[0] != out {
                let what = format!("out_grad must have the output's shape {out:?}");
                return Err(shape_err(self.name(), what, &[("out_grad", &x[0]), ("rois", &x[2])]));
            }
            return Ok(x[1..].to_vec());
        }
        let out = self.check(x)?;
        Ok(vec![out; self.num_outputs()])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let k = usize::from(self.backward);
        let (data, d, rois) = (&x[k].v, x[k].s, &x[k + 1].v);
        let empty = Vec::new();
        let trans = if self.no_trans { &empty } else { &x[k + 2].v };
        if !self.deformable {
            if self.backward {
                let g = &x[0].v;
                let mut dx = vec![0.0; data.len()];
                self.walk_plain(d, rois, |o, i, wt| dx[i] += g[o] * wt)?;
                return Ok(vec![dx, vec![0.0; rois.len()]]);
            }
            let mut y = vec![0.0; out[0].iter().product()];
            self.walk_plain(d, rois, |o, i, wt| y[o] += data[i] * wt)?;
            return Ok(vec![y]);
        }
        if self.backward {
            let g = &x[0].v;
            let (mut dx, mut dt) = (vec![0.0; data.len()], vec![0.0; trans.len()]);
            self.walk_deformable(d, rois, trans, |s| {
                if s.cells.is_empty() {
                    return;
                }
                let diff = g[s.out] / s.cells.len() as f64;
                for &(cx, cy) in &s.cells {
                    let (taps, fx, fy) = s.taps(cx, cy);
                    for (i, wt) in taps {
                        dx[i] += wt * diff;
                    }
                    if self.no_trans {
                        continue;
                    }
                    let u = taps.map(|(i, _)| data[i]);
                    let (u00, u01, u10, u11) = (u[0], u[1], u[2], u[3]);
                    let gx = u11 * fy + u10 * (1.0 - fy) - u01 * fy - u00 * (1.0 - fy);
                    let gy = u11 * fx + u01 * (1.0 - fx) - u10 * fx - u00 * (1.0 - fx);
                    dt[s.tx] += gx * self.trans_std * diff * s.rw;
                    dt[s.ty] += gy * self.trans_std * diff * s.rh;
                }
            })?;
            let mut outs = vec![dx, vec![0.0; rois.len()]];
            if !self.no_trans {
                outs.push(dt);
            }
            return Ok(outs);
        }
        let size = out[0].iter().product();
        let (mut y, mut count) = (vec![0.0; size], vec![0.0; size]);
        self.walk_deformable(d, rois, trans, |s| {
            let sum: f64 =
                s.cells.iter().map(|&(cx, cy)| s.taps(cx, cy).0.iter().map(|(i, wt)| wt * data[*i]).sum::<f64>()).sum();
            let n = s.cells.len();
            y[s.out] = if n == 0 { 0.0 } else { sum / n as f64 };
            count[s.out] = n as f64;
        })?;
        Ok(vec![y, count])
    }
}

/// The gradient of either pooling through its backward op (`rois` gets zeros).
fn grad_via(name: &str, b: &mut dyn GradBuilder, x: &[NodeEntry], g: &[NodeEntry], a: &Attrs) -> Grads {
    let mut ins = vec![g[0]];
    ins.extend_from_slice(x);
    let outs = b.op(name, &ins, a.clone())?;
    Ok(outs.into_iter().take(x.len()).map(Some).collect())
}

/// `PSROIPooling`'s gradient.
pub(super) fn grad_ps(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    grad_via(PS_BWD, b, x, g, a)
}

/// `DeformablePSROIPooling`'s gradient.
pub(super) fn grad_dps(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    grad_via(DPS_BWD, b, x, g, a)
}
