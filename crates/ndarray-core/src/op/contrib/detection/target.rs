//! `_contrib_MultiBoxTarget`: SSD's training targets (box regression targets, their mask and
//! the class of every anchor) from anchors, padded ground-truth labels and class predictions,
//! as MXNet 1.9.1's `multibox_target.cc`: greedy bipartite matching, then threshold matching,
//! then optional hard negative mining.

use super::super::super::registry::Registry;
use super::super::super::{Attrs, ParamSpec};
use super::{DetKernel, In, add, float, keys, shape_err, variances};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const OP: &str = "_contrib_MultiBoxTarget";

const PARAMS: &[ParamSpec] = params!(
    "overlap_threshold" = Some("0.5"),
    "ignore_label" = Some("-1.0"),
    "negative_mining_ratio" = Some("-1.0"),
    "negative_mining_thresh" = Some("0.5"),
    "minimum_negative_samples" = Some("0"),
    "variances" = Some("(0.1, 0.1, 0.2, 0.2)")
);

/// `MultiBoxTarget(anchor, label, cls_pred)` -> `(loc_target, loc_mask, cls_target)`.
#[derive(Debug)]
pub(super) struct Target {
    pub overlap: f32,
    pub ignore: f32,
    pub mining_ratio: f32,
    pub mining_thresh: f32,
    pub var: [f32; 4],
}

/// IoU of two corner boxes in float32, as MXNet's temp-space expression (0 for an empty union).
fn iou(a: &[f32], b: &[f32]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union == 0.0 { 0.0 } else { inter / union }
}

/// The encoded regression target of ground truth `g` for anchor `a`.
fn encode(a: &[f32], g: &[f32], v: &[f32; 4]) -> [f32; 4] {
    let (aw, ah) = (a[2] - a[0], a[3] - a[1]);
    let (ax, ay) = ((a[0] + a[2]) * 0.5, (a[1] + a[3]) * 0.5);
    let (gw, gh) = (g[2] - g[0], g[3] - g[1]);
    let (gx, gy) = ((g[0] + g[2]) * 0.5, (g[1] + g[3]) * 0.5);
    [(gx - ax) / aw / v[0], (gy - ay) / ah / v[1], (gw / aw).ln() / v[2], (gh / ah).ln() / v[3]]
}

/// Anchor flags: -1 don't care, 0 negative, 1 positive.
const CARE_NOT: i8 = -1;

/// The best ground truth of an anchor by IoU (first on ties), with that IoU.
fn best_gt(ov: &[f32]) -> Option<(f32, usize)> {
    let mut best: Option<(f32, usize)> = None;
    for (k, &v) in ov.iter().enumerate() {
        if v > best.map_or(-1.0, |b| b.0) {
            best = Some((v, k));
        }
    }
    best
}

/// The matching state of one batch item.
struct Matches {
    flags: Vec<i8>,
    /// `(iou, gt)` of each anchor; `(-1, None)` until computed.
    best: Vec<(f32, Option<usize>)>,
    positives: usize,
}

impl Target {
    fn parse(a: &Attrs) -> Result<Target> {
        a.check_known(OP, &keys(PARAMS))?;
        // minimum_negative_samples is a parameter of MXNet's op that its kernel never reads.
        a.int_or(OP, "minimum_negative_samples", 0)?;
        Ok(Target {
            overlap: float(a, OP, "overlap_threshold", 0.5)?,
            ignore: float(a, OP, "ignore_label", -1.0)?,
            mining_ratio: float(a, OP, "negative_mining_ratio", -1.0)?,
            mining_thresh: float(a, OP, "negative_mining_thresh", 0.5)?,
            var: variances(a, OP)?,
        })
    }

    /// Greedy bipartite matching, then every other anchor above the overlap threshold.
    /// `ov[j * num_labels + k]` is the IoU of anchor `j` and ground truth `k`.
    fn match_anchors(&self, ov: &[f32], n: usize, nl: usize, valid: usize) -> Matches {
        let mut m = Matches { flags: vec![CARE_NOT; n], best: vec![(-1.0, None); n], positives: 0 };
        let mut gt_done = vec![false; valid];
        while gt_done.iter().any(|d| !d) {
            let mut found: Option<(usize, usize)> = None;
            let mut max = 1e-6f32;
            for j in 0..n {
                if m.flags[j] == 1 {
                    continue;
                }
                for k in (0..valid).filter(|&k| !gt_done[k]) {
                    if ov[j * nl + k] > max {
                        max = ov[j * nl + k];
                        found = Some((j, k));
                    }
                }
            }
            let Some((j, k)) = found else { break };
            m.best[j] = (max, Some(k));
            m.positives += 1;
            gt_done[k] = true;
            m.flags[j] = 1;
        }
        if self.overlap > 0.0 {
            for j in 0..n {
                if m.flags[j] == 1 {
                    continue;
                }
                if let Some((v, k)) = best_gt(&ov[j * nl..j * nl + valid]) {
                    m.best[j] = (v, Some(k));
                    if v > self.overlap {
                        m.positives += 1;
                        m.flags[j] = 1;
                    }
                }
            }
        }
        m
    }

    /// Hard negative mining: the unmatched anchors below the mining threshold with the lowest
    /// background probability become negatives. `cls` is this item's `(classes, anchors)`.
    fn mine(&self, m: &mut Matches, ov: &[f32], nl: usize, valid: usize, cls: &[f32], classes: usize) -> Result<()> {
        let n = m.flags.len();
        let mut count = (m.positives as f32 * self.mining_ratio) as i64;
        count = count.min((n - m.positives) as i64);
        if count <= 0 {
            return Ok(());
        }
        let mut cand: Vec<(f32, usize)> = Vec::new();
        for j in 0..n {
            if m.flags[j] == 1 {
                continue;
            }
            if m.best[j].0 < 0.0
                && let Some((v, k)) = best_gt(&ov[j * nl..j * nl + valid])
            {
                m.best[j] = (v, Some(k));
            }
            if m.best[j].0 < self.mining_thresh && m.flags[j] == CARE_NOT {
                let p = |k: usize| cls[j + n * k];
                let mut max = p(0);
                for k in 1..classes {
                    if p(k) > max {
                        max = p(k);
                    }
                }
                let sum: f32 = (0..classes).map(|k| (p(k) - max).exp()).sum();
                cand.push((-((p(0) - max).exp() / sum), j));
            }
        }
        if (cand.len() as i64) < count {
            return Err(Error::msg(format!(
                "{OP}: negative mining needs {count} negatives but only {} anchors qualify",
                cand.len()
            )));
        }
        // Stable, descending by value (MXNet's SortElemDescend with std::stable_sort).
        cand.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        for &(_, j) in &cand[..count as usize] {
            m.flags[j] = 0;
        }
        Ok(())
    }
}

impl DetKernel for Target {
    fn name(&self) -> &'static str {
        OP
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["loc_target", "loc_mask", "cls_target"]
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (a, l, p) = (&x[0], &x[1], &x[2]);
        let named = [("anchor", a.as_slice()), ("label", l.as_slice()), ("cls_pred", p.as_slice())];
        let e = |what: &str| Err(shape_err(OP, what, &named));
        if a.len() != 3 || a[0] != 1 || a[1] == 0 || a[2] != 4 {
            return e("anchor must be (1, num_anchors > 0, 4), shared across batches");
        }
        if l.len() != 3 || l[1] == 0 || l[2] < 5 {
            return e("label must be (batch, num_labels > 0, label_width >= 5)");
        }
        if p.len() != 3 || p[2] != a[1] {
            return e("cls_pred must be (batch, num_classes, num_anchors) with anchor's num_anchors");
        }
        let n = a[1];
        Ok(vec![vec![l[0], n * 4], vec![l[0], n * 4], vec![l[0], n]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f32>>> {
        let (anchors, labels, cls) = (x[0].v, x[1].v, x[2].v);
        let (batches, nl, lw) = (x[1].s[0], x[1].s[1], x[1].s[2]);
        let (n, classes) = (x[0].s[1], x[2].s[1]);
        let mut loc = vec![0.0f32; out[0].iter().product()];
        let mut mask = vec![0.0f32; loc.len()];
        let mut cls_t = vec![self.ignore; out[2].iter().product()];
        let mut ov = vec![0.0f32; n * nl];
        for b in 0..batches {
            let lab = &labels[b * nl * lw..(b + 1) * nl * lw];
            let valid = valid_labels(lab, nl, lw)?;
            if valid == 0 {
                continue;
            }
            for j in 0..n {
                for k in 0..nl {
                    ov[j * nl + k] = iou(&anchors[j * 4..j * 4 + 4], &lab[k * lw + 1..k * lw + 5]);
                }
            }
            let mut m = self.match_anchors(&ov, n, nl, valid);
            if self.mining_ratio > 0.0 {
                if self.mining_thresh <= 0.0 {
                    return Err(Error::param(OP, format!("negative_mining_thresh {} must be > 0", self.mining_thresh)));
                }
                if b >= x[2].s[0] || classes == 0 {
                    let s = [("label", x[1].s), ("cls_pred", x[2].s)];
                    return Err(shape_err(OP, "negative mining needs class predictions for every batch item", &s));
                }
                self.mine(&mut m, &ov, nl, valid, &cls[b * classes * n..(b + 1) * classes * n], classes)?;
            } else {
                for f in m.flags.iter_mut().filter(|f| **f != 1) {
                    *f = 0;
                }
            }
            for (i, &f) in m.flags.iter().enumerate() {
                let (o, c) = ((b * n + i) * 4, b * n + i);
                if f == 1 {
                    let g = m.best[i].1.expect("a positive anchor has a match");
                    cls_t[c] = lab[g * lw] + 1.0;
                    mask[o..o + 4].fill(1.0);
                    loc[o..o + 4].copy_from_slice(&encode(
                        &anchors[i * 4..i * 4 + 4],
                        &lab[g * lw + 1..g * lw + 5],
                        &self.var,
                    ));
                } else if f == 0 {
                    cls_t[c] = 0.0;
                }
            }
        }
        Ok(vec![loc, mask, cls_t])
    }
}

/// The number of ground truths before the first padding row (class -1, whose box must be -1s).
fn valid_labels(lab: &[f32], nl: usize, lw: usize) -> Result<usize> {
    for i in 0..nl {
        let row = &lab[i * lw..i * lw + 5];
        if row[0] == -1.0 {
            if row[1..].iter().any(|&v| v != -1.0) {
                return Err(Error::msg(format!(
                    "{OP}: label row {i} has class -1 (padding) but its box {:?} is not all -1",
                    &row[1..]
                )));
            }
            return Ok(i);
        }
    }
    Ok(nl)
}

pub(super) fn register(r: &mut Registry) {
    let doc = "compute MultiBox (SSD) training targets: box regression targets, their mask and anchor classes";
    add(r, OP, &["anchor", "label", "cls_pred"], PARAMS, doc, Target::parse);
}
