//! `_contrib_MultiBoxPrior`: SSD's anchor boxes for every position of a feature map, as
//! MXNet 1.9.1's `multibox_prior.cc` (Caffe SSD's order: every size at the first ratio, then
//! every further ratio at the first size).

use super::super::super::registry::Registry;
use super::super::super::{Attrs, ParamSpec};
use super::{DetKernel, In, add, floats, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const OP: &str = "_contrib_MultiBoxPrior";

const PARAMS: &[ParamSpec] = params!(
    "sizes" = Some("(1,)"),
    "ratios" = Some("(1,)"),
    "clip" = Some("False"),
    "steps" = Some("(-1, -1)"),
    "offsets" = Some("(0.5, 0.5)")
);

/// `MultiBoxPrior(data)`: `(1, H * W * (len(sizes) + len(ratios) - 1), 4)` corner boxes
/// `[xmin, ymin, xmax, ymax]` in units of the map (0 to 1).
#[derive(Debug)]
pub(super) struct Prior {
    pub sizes: Vec<f32>,
    pub ratios: Vec<f32>,
    pub clip: bool,
    /// `(step_y, step_x)`; non-positive: `1 / height`, `1 / width`.
    pub steps: [f32; 2],
    /// `(offset_y, offset_x)`.
    pub offsets: [f32; 2],
}

fn pair(op: &str, key: &str, v: Vec<f32>) -> Result<[f32; 2]> {
    <[f32; 2]>::try_from(v.as_slice()).map_err(|_| Error::param(op, format!("{key} {v:?} must have 2 elements (y, x)")))
}

impl Prior {
    fn parse(a: &Attrs) -> Result<Prior> {
        a.check_known(OP, &keys(PARAMS))?;
        let sizes = floats(a, OP, "sizes", &[1.0])?;
        let ratios = floats(a, OP, "ratios", &[1.0])?;
        if sizes.is_empty() || ratios.is_empty() {
            return Err(Error::param(OP, format!("sizes {sizes:?} and ratios {ratios:?} must not be empty")));
        }
        let steps = pair(OP, "steps", floats(a, OP, "steps", &[-1.0, -1.0])?)?;
        let offsets = pair(OP, "offsets", floats(a, OP, "offsets", &[0.5, 0.5])?)?;
        if offsets.iter().any(|o| !(0.0..=1.0).contains(o)) {
            return Err(Error::param(OP, format!("offsets {offsets:?} must lie in [0, 1]")));
        }
        if steps[0] * steps[1] < 0.0 {
            return Err(Error::param(OP, format!("steps {steps:?}: must specify both step_y and step_x")));
        }
        Ok(Prior { sizes, ratios, clip: a.bool_or(OP, "clip", false)?, steps, offsets })
    }

    fn per_position(&self) -> usize {
        self.sizes.len() + self.ratios.len() - 1
    }

    /// The boxes of an `h` x `w` map, flat.
    pub(super) fn boxes(&self, h: usize, w: usize) -> Vec<f32> {
        let (mut step_y, mut step_x) = (self.steps[0], self.steps[1]);
        if step_y <= 0.0 || step_x <= 0.0 {
            step_y = 1.0 / h as f32;
            step_x = 1.0 / w as f32;
        }
        let (hf, wf) = (h as f32, w as f32);
        let mut out = Vec::with_capacity(h * w * self.per_position() * 4);
        let mut push = |cx: f32, cy: f32, size: f32, ratio: f32| {
            let bw = size * hf / wf * ratio / 2.0;
            let bh = size / ratio / 2.0;
            out.extend_from_slice(&[cx - bw, cy - bh, cx + bw, cy + bh]);
        };
        for r in 0..h {
            let cy = (r as f32 + self.offsets[0]) * step_y;
            for c in 0..w {
                let cx = (c as f32 + self.offsets[1]) * step_x;
                let first = self.ratios[0].sqrt();
                for &size in &self.sizes {
                    push(cx, cy, size, first);
                }
                for &ratio in &self.ratios[1..] {
                    push(cx, cy, self.sizes[0], ratio.sqrt());
                }
            }
        }
        if self.clip {
            for v in &mut out {
                *v = v.clamp(0.0, 1.0);
            }
        }
        out
    }
}

impl DetKernel for Prior {
    fn name(&self) -> &'static str {
        OP
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let d = &x[0];
        if d.len() < 4 || d[2] == 0 || d[3] == 0 {
            return Err(shape_err(
                OP,
                "data must be at least 4-D (batch, channel, y, x) with a non-empty map",
                &[("data", d)],
            ));
        }
        Ok(vec![vec![1, d[2] * d[3] * self.per_position(), 4]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f32>>> {
        Ok(vec![self.boxes(x[0].s[2], x[0].s[3])])
    }
}

pub(super) fn register(r: &mut Registry) {
    let doc = "generate prior (anchor) boxes from data, sizes and ratios";
    add(r, OP, &["data"], PARAMS, doc, Prior::parse);
}
