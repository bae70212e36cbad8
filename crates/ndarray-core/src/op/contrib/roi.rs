//! `_contrib_ROIAlign` (Mask R-CNN's region features by bilinear sampling, optionally
//! position-sensitive or center-aligned) and its backward op, as MXNet 1.9.1's CPU kernel.

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry, ParamSpec};
use super::{In, Kernel, add, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const ROI: &str = "_contrib_ROIAlign";
const ROI_BWD: &str = "_backward_contrib_ROIAlign";

const PARAMS: &[ParamSpec] = params!(
    "pooled_size" = None,
    "spatial_scale" = None,
    "sample_ratio" = Some("-1"),
    "position_sensitive" = Some("False"),
    "aligned" = Some("False")
);

/// `ROIAlign(data, rois)`, or its backward `(out_grad, data, rois)` giving data's gradient.
#[derive(Debug)]
struct RoiAlign {
    ph: usize,
    pw: usize,
    scale: f64,
    ratio: i64,
    sensitive: bool,
    aligned: bool,
    backward: bool,
}

/// The four neighbours and weights of a sampling point (none outside the map); RROIAlign samples
/// with it too.
pub(super) fn bilinear(h: usize, w: usize, mut y: f64, mut x: f64) -> Option<[(usize, f64); 4]> {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return None;
    }
    y = y.max(0.0);
    x = x.max(0.0);
    let (mut yl, mut xl) = (y as usize, x as usize);
    let yh = if yl >= h - 1 {
        yl = h - 1;
        y = yl as f64;
        yl
    } else {
        yl + 1
    };
    let xh = if xl >= w - 1 {
        xl = w - 1;
        x = xl as f64;
        xl
    } else {
        xl + 1
    };
    let (ly, lx) = (y - yl as f64, x - xl as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Some([(yl * w + xl, hy * hx), (yl * w + xh, hy * lx), (yh * w + xl, ly * hx), (yh * w + xh, ly * lx)])
}

impl RoiAlign {
    fn parse(a: &Attrs, backward: bool) -> Result<RoiAlign> {
        let op = if backward { ROI_BWD } else { ROI };
        a.check_known(op, &keys(PARAMS))?;
        let ps = a.shape(op, "pooled_size")?;
        let [ph, pw] = ps.as_slice() else {
            return Err(Error::param(op, format!("pooled_size {ps:?} must be (height, width)")));
        };
        if *ph == 0 || *pw == 0 {
            return Err(Error::param(op, format!("pooled_size {ps:?} must be positive")));
        }
        let scale = a.float(op, "spatial_scale")?;
        Ok(RoiAlign {
            ph: *ph,
            pw: *pw,
            scale,
            ratio: a.int_or(op, "sample_ratio", -1)?,
            sensitive: a.bool_or(op, "position_sensitive", false)?,
            aligned: a.bool_or(op, "aligned", false)?,
            backward,
        })
    }

    /// Calls `f(roi, out_index, data_index, weight)` for every sampling contribution.
    fn walk(&self, d: &[usize], rois: &[f64], mut f: impl FnMut(usize, usize, f64)) -> Result<()> {
        let (c_out, h, w) = (self.out_channels(d), d[2], d[3]);
        let (ph, pw) = (self.ph, self.pw);
        for (n, roi) in rois.chunks(5).enumerate() {
            let b = roi[0];
            if b < 0.0 {
                continue;
            }
            let b = b as usize;
            if b >= d[0] {
                return Err(Error::msg(format!("{ROI}: roi {n} has batch index {b}, data has {} images", d[0])));
            }
            let off = if self.aligned { 0.5 } else { 0.0 };
            let (x0, y0) = (roi[1] * self.scale - off, roi[2] * self.scale - off);
            let (mut rw, mut rh) = (roi[3] * self.scale - off - x0, roi[4] * self.scale - off - y0);
            if self.aligned {
                if rw <= 0.0 || rh <= 0.0 {
                    return Err(Error::msg(format!("{ROI}: roi {n} has a non-positive size ({rw}, {rh})")));
                }
            } else {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / ph as f64, rw / pw as f64);
            let gh = if self.ratio > 0 { self.ratio as usize } else { (rh / ph as f64).ceil() as usize };
            let gw = if self.ratio > 0 { self.ratio as usize } else { (rw / pw as f64).ceil() as usize };
            if gh.saturating_mul(gw) > 1 << 24 {
                return Err(Error::msg(format!("{ROI}: roi {n} needs a {gh}x{gw} sampling grid per bin; too large")));
            }
            let count = (gh * gw) as f64;
            for c in 0..c_out {
                for i in 0..ph {
                    for j in 0..pw {
                        let o = ((n * c_out + c) * ph + i) * pw + j;
                        let (cu, cin) =
                            if self.sensitive { ((c * ph + i) * pw + j, c_out * ph * pw) } else { (c, c_out) };
                        let base = (b * cin + cu) * h * w;
                        for iy in 0..gh {
                            let y = y0 + i as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                            for ix in 0..gw {
                                let x = x0 + j as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                                for (k, wt) in bilinear(h, w, y, x).into_iter().flatten() {
                                    f(o, base + k, wt / count);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn out_channels(&self, d: &[usize]) -> usize {
        if self.sensitive { d[1] / (self.ph * self.pw) } else { d[1] }
    }
}

impl Kernel for RoiAlign {
    fn name(&self) -> &'static str {
        if self.backward { ROI_BWD } else { ROI }
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = if self.backward { &["out_grad", "data", "rois"] } else { &["data", "rois"] };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let k = usize::from(self.backward);
        let (d, r) = (&x[k], &x[k + 1]);
        let named = [("data", d.as_slice()), ("rois", r.as_slice())];
        if d.len() != 4 || r.len() != 2 || r[1] != 5 || d[2] == 0 || d[3] == 0 {
            return Err(shape_err(
                self.name(),
                "data must be 4-D (NCHW) with a non-empty map and rois of shape (num_rois, 5)",
                &named,
            ));
        }
        if self.sensitive && !d[1].is_multiple_of(self.ph * self.pw) {
            let what = format!("data's channels must be a multiple of pooled_size {}x{}", self.ph, self.pw);
            return Err(shape_err(self.name(), what, &named));
        }
        Ok(vec![if self.backward { d.clone() } else { vec![r[0], self.out_channels(d), self.ph, self.pw] }])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        if self.backward {
            let (g, d, rois) = (&x[0].v, x[1].s, &x[2].v);
            let mut dx = vec![0.0; x[1].v.len()];
            self.walk(d, rois, |o, k, wt| dx[k] += g[o] * wt)?;
            return Ok(vec![dx]);
        }
        let (v, d, rois) = (&x[0].v, x[0].s, &x[1].v);
        let mut y = vec![0.0; out[0].iter().product()];
        self.walk(d, rois, |o, k, wt| y[o] += v[k] * wt)?;
        Ok(vec![y])
    }
}

fn grad_roi(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let dx = b.apply(ROI_BWD, &[g[0], x[0], x[1]], a.clone())?;
    Ok(vec![Some(dx), Some(b.unary("zeros_like", x[1])?)])
}

pub(super) fn register(r: &mut Registry) {
    let doc = "region-of-interest features of NCHW data by bilinear sampling (ROI Align)";
    add(r, ROI, &["data", "rois"], PARAMS, doc, |a| RoiAlign::parse(a, false));
    add(r, ROI_BWD, &["out_grad", "data", "rois"], PARAMS, "gradient of ROIAlign's data", |a| RoiAlign::parse(a, true));
    r.set_gradient(ROI, grad_roi);
}
