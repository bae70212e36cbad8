//! `_contrib_MultiBoxDetection`: SSD's detections from class probabilities, box regression
//! predictions and anchors, with per-class (or forced) non-maximum suppression, as MXNet
//! 1.9.1's `multibox_detection.cc`.

use super::super::super::registry::Registry;
use super::super::super::{Attrs, ParamSpec};
use super::{DetKernel, In, add, float, keys, shape_err, variances};
use crate::error::Result;
use crate::params;
use crate::shape::Shape;

const OP: &str = "_contrib_MultiBoxDetection";

const PARAMS: &[ParamSpec] = params!(
    "clip" = Some("True"),
    "threshold" = Some("0.01"),
    "background_id" = Some("0"),
    "nms_threshold" = Some("0.5"),
    "force_suppress" = Some("False"),
    "variances" = Some("(0.1, 0.1, 0.2, 0.2)"),
    "nms_topk" = Some("-1")
);

/// `MultiBoxDetection(cls_prob, loc_pred, anchor)`: `(batch, num_anchors, 6)` rows
/// `[class_id, score, xmin, ymin, xmax, ymax]`, valid rows first by descending score and
/// `class_id = -1` for the rest. As in MXNet, class 0 is the background whatever
/// `background_id` says (MXNet parses that parameter but its kernel never reads it).
#[derive(Debug)]
pub(super) struct Detect {
    pub clip: bool,
    pub threshold: f32,
    pub nms: f32,
    pub force: bool,
    pub var: [f32; 4],
    pub topk: i64,
}

/// Decode a regression prediction `p` relative to anchor `a` into corners.
fn decode(a: &[f32], p: &[f32], clip: bool, v: &[f32; 4]) -> [f32; 4] {
    let (aw, ah) = (a[2] - a[0], a[3] - a[1]);
    let (ax, ay) = ((a[0] + a[2]) / 2.0, (a[1] + a[3]) / 2.0);
    let (ox, oy) = (p[0] * v[0] * aw + ax, p[1] * v[1] * ah + ay);
    let (ow, oh) = ((p[2] * v[2]).exp() * aw / 2.0, (p[3] * v[3]).exp() * ah / 2.0);
    // MXNet's `max(0, min(1, x))` takes a NaN to 1.
    let c = |x: f32| {
        if !clip {
            x
        } else if x.is_nan() {
            1.0
        } else {
            x.clamp(0.0, 1.0)
        }
    };
    [c(ox - ow), c(oy - oh), c(ox + ow), c(oy + oh)]
}

/// IoU of two corner boxes (0 for a non-positive union), as MXNet's `CalculateOverlap`.
fn overlap(a: &[f32], b: &[f32]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let i = w * h;
    let u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
    if u <= 0.0 { 0.0 } else { i / u }
}

impl Detect {
    fn parse(a: &Attrs) -> Result<Detect> {
        a.check_known(OP, &keys(PARAMS))?;
        a.int_or(OP, "background_id", 0)?;
        Ok(Detect {
            clip: a.bool_or(OP, "clip", true)?,
            threshold: float(a, OP, "threshold", 0.01)?,
            nms: float(a, OP, "nms_threshold", 0.5)?,
            force: a.bool_or(OP, "force_suppress", false)?,
            var: variances(a, OP)?,
            topk: a.int_or(OP, "nms_topk", -1)?,
        })
    }

    /// One batch item: `cls` is `(classes, n)`, `loc` is `(n, 4)`; writes `out` (`(n, 6)`,
    /// filled with -1).
    fn item(&self, cls: &[f32], loc: &[f32], anchors: &[f32], classes: usize, out: &mut [f32]) {
        let n = anchors.len() / 4;
        let mut valid = 0;
        for i in 0..n {
            let (mut score, mut id) = (-1.0f32, 0usize);
            for j in 1..classes {
                if cls[j * n + i] > score {
                    score = cls[j * n + i];
                    id = j;
                }
            }
            if id > 0 && score < self.threshold {
                id = 0;
            }
            if id == 0 {
                continue;
            }
            let b = decode(&anchors[i * 4..i * 4 + 4], &loc[i * 4..i * 4 + 4], self.clip, &self.var);
            out[valid * 6..valid * 6 + 6].copy_from_slice(&[(id - 1) as f32, score, b[0], b[1], b[2], b[3]]);
            valid += 1;
        }
        if valid < 1 || self.nms <= 0.0 || self.nms > 1.0 {
            return;
        }
        let rows: Vec<[f32; 6]> = out[..valid * 6].chunks(6).map(|r| r.try_into().expect("6 wide")).collect();
        let mut order: Vec<usize> = (0..valid).collect();
        // Stable, descending by score (MXNet's std::stable_sort of SortElemDescend).
        order.sort_by(|&a, &b| rows[b][1].partial_cmp(&rows[a][1]).unwrap_or(std::cmp::Ordering::Equal));
        let keep = if self.topk > 0 && (self.topk as usize) < valid { self.topk as usize } else { valid };
        // Beyond the top k MXNet only marks the (unsorted) rows invalid.
        for i in keep..valid {
            out[i * 6] = -1.0;
        }
        for (i, &src) in order[..keep].iter().enumerate() {
            out[i * 6..i * 6 + 6].copy_from_slice(&rows[src]);
        }
        for i in 0..keep {
            if out[i * 6] < 0.0 {
                continue;
            }
            for j in i + 1..keep {
                if out[j * 6] < 0.0 {
                    continue;
                }
                if (self.force || out[i * 6] == out[j * 6])
                    && overlap(&out[i * 6 + 2..i * 6 + 6], &out[j * 6 + 2..j * 6 + 6]) >= self.nms
                {
                    out[j * 6] = -1.0;
                }
            }
        }
    }
}

impl DetKernel for Detect {
    fn name(&self) -> &'static str {
        OP
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (c, l, a) = (&x[0], &x[1], &x[2]);
        let named = [("cls_prob", c.as_slice()), ("loc_pred", l.as_slice()), ("anchor", a.as_slice())];
        if c.len() != 3 || l.len() != 2 || a.len() != 3 {
            return Err(shape_err(OP, "cls_prob must be 3-D, loc_pred 2-D and anchor 3-D", &named));
        }
        if c[2] != a[1] || c[2] * 4 != l[1] || a[1] == 0 || a[2] != 4 || a[0] == 0 {
            let what = "cls_prob (batch, classes, n), loc_pred (batch, n * 4) and anchor (1, n > 0, 4) disagree";
            return Err(shape_err(OP, what, &named));
        }
        Ok(vec![vec![c[0], a[1], 6]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f32>>> {
        let (batches, classes, n) = (x[0].s[0], x[0].s[1], x[0].s[2]);
        if x[1].s[0] < batches {
            let s = [("cls_prob", x[0].s), ("loc_pred", x[1].s)];
            return Err(shape_err(OP, "loc_pred has fewer batch items than cls_prob", &s));
        }
        let mut y = vec![-1.0f32; out[0].iter().product()];
        let anchors = &x[2].v[..n * 4];
        for b in 0..batches {
            let cls = &x[0].v[b * classes * n..(b + 1) * classes * n];
            let loc = &x[1].v[b * n * 4..(b + 1) * n * 4];
            self.item(cls, loc, anchors, classes, &mut y[b * n * 6..(b + 1) * n * 6]);
        }
        Ok(vec![y])
    }
}

pub(super) fn register(r: &mut Registry) {
    let doc = "convert MultiBox (SSD) predictions into detections [class_id, score, xmin, ymin, xmax, ymax]";
    add(r, OP, &["cls_prob", "loc_pred", "anchor"], PARAMS, doc, Detect::parse);
}
