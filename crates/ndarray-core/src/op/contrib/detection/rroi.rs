//! `_contrib_RROIAlign`: ROI Align over rotated boxes `[batch, cx, cy, w, h, angle_degrees]`,
//! as MXNet 1.9.1's `rroi_align.cc` (after Caffe2's `RoIAlignRotated`). Forward only: MXNet
//! registers no gradient for it (its `_backward_RROIAlign` aborts), so neither does mxrs.

use super::super::super::registry::Registry;
use super::super::super::{Attrs, ParamSpec};
use super::super::roi::bilinear;
use super::super::{In, Kernel, add};
use super::{keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const OP: &str = "_contrib_RROIAlign";

const PARAMS: &[ParamSpec] = params!("pooled_size" = None, "spatial_scale" = None, "sampling_ratio" = Some("-1"));

/// `RROIAlign(data, rois)`: `(num_rois, channels, pooled_h, pooled_w)`.
#[derive(Debug)]
pub(super) struct RroiAlign {
    pub ph: usize,
    pub pw: usize,
    pub scale: f64,
    pub ratio: i64,
}

impl RroiAlign {
    fn parse(a: &Attrs) -> Result<RroiAlign> {
        a.check_known(OP, &keys(PARAMS))?;
        let ps = a.shape(OP, "pooled_size")?;
        let [ph, pw] = ps.as_slice() else {
            return Err(Error::param(OP, format!("pooled_size {ps:?} must be (height, width)")));
        };
        if *ph == 0 || *pw == 0 {
            return Err(Error::param(OP, format!("pooled_size {ps:?} must be positive")));
        }
        let scale = a.float(OP, "spatial_scale")? as f32 as f64;
        if !(0.0..=1.0).contains(&scale) {
            return Err(Error::param(OP, format!("spatial_scale {scale} must lie in [0, 1]")));
        }
        Ok(RroiAlign { ph: *ph, pw: *pw, scale, ratio: a.int_or(OP, "sampling_ratio", -1)? })
    }

    /// The pooled values of one roi over one image `img` (`(c, h, w)`), into `out`
    /// (`(c, ph, pw)`).
    fn roi(&self, roi: &[f64], img: &[f64], d: &[usize], out: &mut [f64]) -> Result<()> {
        let (c, h, w) = (d[1], d[2], d[3]);
        let (cx, cy) = (roi[1] * self.scale, roi[2] * self.scale);
        let rw = (roi[3] * self.scale).max(1.0);
        let rh = (roi[4] * self.scale).max(1.0);
        let theta = roi[5] * std::f64::consts::PI / 180.0;
        let (start_h, start_w) = (-rh / 2.0, -rw / 2.0);
        let (bh, bw) = (rh / self.ph as f64, rw / self.pw as f64);
        let gh = if self.ratio > 0 { self.ratio as usize } else { (rh / self.ph as f64).ceil() as usize };
        let gw = if self.ratio > 0 { self.ratio as usize } else { (rw / self.pw as f64).ceil() as usize };
        if gh.saturating_mul(gw) > 1 << 24 {
            return Err(Error::msg(format!("{OP}: a roi needs a {gh}x{gw} sampling grid per bin; too large")));
        }
        let count = (gh * gw) as f64;
        let (cos, sin) = (theta.cos(), theta.sin());
        let mut points = Vec::with_capacity(self.ph * self.pw * gh * gw);
        for i in 0..self.ph {
            for j in 0..self.pw {
                for iy in 0..gh {
                    let yy = start_h + i as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let xx = start_w + j as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        let x = xx * cos + yy * sin + cx;
                        let y = yy * cos - xx * sin + cy;
                        points.push(bilinear(h, w, y, x));
                    }
                }
            }
        }
        let per_bin = gh * gw;
        for ch in 0..c {
            let plane = &img[ch * h * w..(ch + 1) * h * w];
            for (bin, pts) in points.chunks(per_bin.max(1)).enumerate().take(self.ph * self.pw) {
                let sum: f64 = pts.iter().flatten().flatten().map(|&(k, wt)| wt * plane[k]).sum();
                out[ch * self.ph * self.pw + bin] = sum / count;
            }
        }
        Ok(())
    }
}

impl Kernel for RroiAlign {
    fn name(&self) -> &'static str {
        OP
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(vec!["data".into(), "rois".into()])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (d, r) = (&x[0], &x[1]);
        if d.len() != 4 || r.len() != 2 || r[1] != 6 || d[2] == 0 || d[3] == 0 {
            return Err(shape_err(
                OP,
                "data must be 4-D (NCHW) with a non-empty map and rois of shape (num_rois, 6)",
                &[("data", d), ("rois", r)],
            ));
        }
        Ok(vec![vec![r[0], d[1], self.ph, self.pw]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (v, d, rois) = (&x[0].v, x[0].s, &x[1].v);
        let per_roi = d[1] * self.ph * self.pw;
        let img_len = d[1] * d[2] * d[3];
        let mut y = vec![0.0; out[0].iter().product()];
        for (n, roi) in rois.chunks(6).enumerate() {
            let b = roi[0] as i64;
            if b < 0 || b as usize >= d[0] {
                return Err(Error::msg(format!("{OP}: roi {n} has batch index {}, data has {} images", roi[0], d[0])));
            }
            let img = &v[b as usize * img_len..(b as usize + 1) * img_len];
            self.roi(roi, img, d, &mut y[n * per_roi..(n + 1) * per_roi])?;
        }
        Ok(vec![y])
    }
}

pub(super) fn register(r: &mut Registry) {
    let doc = "rotated ROI Align: features of rotated boxes [batch, cx, cy, w, h, degrees] by bilinear sampling";
    add(r, OP, &["data", "rois"], PARAMS, doc, RroiAlign::parse);
}
