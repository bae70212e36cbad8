//! `_contrib_Proposal` (one image) and `_contrib_MultiProposal` (a batch): Faster R-CNN's
//! region proposal layer, as MXNet 1.9.1's `proposal.cc` / `multi_proposal.cc`. Anchors of
//! every ratio and scale are shifted over the feature map, moved by the predicted deltas,
//! clipped to the image, small ones are marked, and the best `rpn_pre_nms_top_n` by score go
//! through NMS (pixel boxes, `+1` areas) to `rpn_post_nms_top_n` rows `[batch, x1, y1, x2, y2]`
//! (repeating the kept ones when fewer survive), with their scores as a second (optionally
//! hidden) output.

use super::super::super::registry::Registry;
use super::super::super::{Attrs, ParamSpec};
use super::{DetKernel, In, add, float, floats, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const PROPOSAL: &str = "_contrib_Proposal";
const MULTI: &str = "_contrib_MultiProposal";

const PARAMS: &[ParamSpec] = params!(
    "rpn_pre_nms_top_n" = Some("6000"),
    "rpn_post_nms_top_n" = Some("300"),
    "threshold" = Some("0.7"),
    "rpn_min_size" = Some("16"),
    "scales" = Some("(4, 8, 16, 32)"),
    "ratios" = Some("(0.5, 1, 2)"),
    "feature_stride" = Some("16"),
    "output_score" = Some("False"),
    "iou_loss" = Some("False")
);

/// `Proposal` / `MultiProposal(cls_prob, bbox_pred, im_info)`.
#[derive(Debug)]
pub(super) struct Proposal {
    pub multi: bool,
    pub pre: i64,
    pub post: usize,
    pub threshold: f32,
    pub min_size: i64,
    pub scales: Vec<f32>,
    pub ratios: Vec<f32>,
    pub stride: i64,
    pub score: bool,
    pub iou_loss: bool,
}

/// The base anchors `[x1, y1, x2, y2]` of every ratio (outer) and scale (inner) for a
/// `stride` x `stride` cell at the origin, as MXNet's `GenerateAnchors`.
pub(super) fn base_anchors(stride: i64, ratios: &[f32], scales: &[f32]) -> Vec<[f32; 4]> {
    let end = (stride as f64 - 1.0) as f32;
    let (w, h) = (end + 1.0, end + 1.0);
    let x_ctr = (0.5 * (w as f64 - 1.0)) as f32;
    let y_ctr = x_ctr;
    let mut out = Vec::with_capacity(ratios.len() * scales.len());
    for &ratio in ratios {
        for &scale in scales {
            let size_ratios = (w * h / ratio).floor();
            let new_w = (size_ratios.sqrt() + 0.5).floor() * scale;
            let new_h = (new_w / scale * ratio + 0.5).floor() * scale;
            out.push([
                x_ctr - 0.5 * (new_w - 1.0),
                y_ctr - 0.5 * (new_h - 1.0),
                x_ctr + 0.5 * (new_w - 1.0),
                y_ctr + 0.5 * (new_h - 1.0),
            ]);
        }
    }
    out
}

/// `a - 0.5 * (b - 1.0)` (or `+`) computed in double and stored as float, as MXNet's mixed
/// `float`/`double` expressions do.
fn half(a: f32, b: f32, sign: f64) -> f32 {
    (a as f64 + sign * 0.5 * (b as f64 - 1.0)) as f32
}

/// The proposals `[x1, y1, x2, y2, score]` of one image before sorting.
struct Image<'a> {
    /// Foreground scores, `(num_anchors, h, w)`.
    scores: &'a [f32],
    /// Deltas, `(num_anchors * 4, h, w)`.
    deltas: &'a [f32],
    /// `[height, width, scale]`.
    info: &'a [f32],
}

impl Proposal {
    fn parse(a: &Attrs, multi: bool) -> Result<Proposal> {
        let op = if multi { MULTI } else { PROPOSAL };
        a.check_known(op, &keys(PARAMS))?;
        let post = a.int_or(op, "rpn_post_nms_top_n", 300)?;
        let stride = a.int_or(op, "feature_stride", 16)?;
        if post < 0 || stride <= 0 {
            return Err(Error::param(
                op,
                format!("rpn_post_nms_top_n {post} must be >= 0 and feature_stride {stride} must be > 0"),
            ));
        }
        let scales = floats(a, op, "scales", &[4.0, 8.0, 16.0, 32.0])?;
        let ratios = floats(a, op, "ratios", &[0.5, 1.0, 2.0])?;
        if scales.is_empty() || ratios.is_empty() {
            return Err(Error::param(op, format!("scales {scales:?} and ratios {ratios:?} must not be empty")));
        }
        Ok(Proposal {
            multi,
            pre: a.int_or(op, "rpn_pre_nms_top_n", 6000)?,
            post: post as usize,
            threshold: float(a, op, "threshold", 0.7)?,
            min_size: a.int_or(op, "rpn_min_size", 16)?,
            scales,
            ratios,
            stride,
            score: a.bool_or(op, "output_score", false)?,
            iou_loss: a.bool_or(op, "iou_loss", false)?,
        })
    }

    fn op(&self) -> &'static str {
        if self.multi { MULTI } else { PROPOSAL }
    }

    fn num_anchors(&self) -> usize {
        self.ratios.len() * self.scales.len()
    }

    /// Shifted anchors moved by the deltas and clipped, with scores (-1: padded or too small).
    fn decode(&self, im: &Image<'_>, h: usize, w: usize) -> Result<Vec<[f32; 5]>> {
        let na = self.num_anchors();
        let (im_h, im_w, scale) = (im.info[0], im.info[1], im.info[2]);
        let real_h = (im_h / self.stride as f32) as i64;
        let real_w = (im_w / self.stride as f32) as i64;
        if real_h > h as i64 || real_w > w as i64 {
            return Err(Error::msg(format!(
                "{}: im_info ({im_h}, {im_w}) over feature_stride {} needs a {real_h}x{real_w} map, the map is {h}x{w}",
                self.op(),
                self.stride
            )));
        }
        let base = base_anchors(self.stride, &self.ratios, &self.scales);
        let min_size = self.min_size as f32 * scale;
        let mut boxes = vec![[0.0f32; 5]; na * h * w];
        for (idx, out) in boxes.iter_mut().enumerate() {
            let (a, k, j) = (idx % na, (idx / na) % w, idx / (w * na));
            let (sx, sy) = ((k as i64 * self.stride) as f32, (j as i64 * self.stride) as f32);
            let b = [base[a][0] + sx, base[a][1] + sy, base[a][2] + sx, base[a][3] + sy];
            let d = |c: usize| im.deltas[((a * 4 + c) * h + j) * w + k];
            let mut p = if self.iou_loss {
                [b[0] + d(0), b[1] + d(1), b[2] + d(2), b[3] + d(3)]
            } else {
                let width = ((b[2] - b[0]) as f64 + 1.0) as f32;
                let height = ((b[3] - b[1]) as f64 + 1.0) as f32;
                let ctr_x = half(b[0], width, 1.0);
                let ctr_y = half(b[1], height, 1.0);
                let (cx, cy) = (d(0) * width + ctr_x, d(1) * height + ctr_y);
                let (pw, ph) = (d(2).exp() * width, d(3).exp() * height);
                [half(cx, pw, -1.0), half(cy, ph, -1.0), half(cx, pw, 1.0), half(cy, ph, 1.0)]
            };
            let lim = [im_w - 1.0, im_h - 1.0, im_w - 1.0, im_h - 1.0];
            for (v, l) in p.iter_mut().zip(lim) {
                // MXNet's `max(min(v, l), 0)` keeps a NaN.
                if !v.is_nan() {
                    *v = v.min(l).max(0.0);
                }
            }
            let mut score = im.scores[(a * h + j) * w + k];
            if j as i64 >= real_h || k as i64 >= real_w {
                score = -1.0;
            }
            *out = [p[0], p[1], p[2], p[3], score];
            let (iw, ih) = (out[2] - out[0] + 1.0, out[3] - out[1] + 1.0);
            if iw < min_size || ih < min_size {
                out[0] -= min_size / 2.0;
                out[1] -= min_size / 2.0;
                out[2] += min_size / 2.0;
                out[3] += min_size / 2.0;
                out[4] = -1.0;
            }
        }
        Ok(boxes)
    }

    /// The rows and scores of one image: `post` rows `[x1, y1, x2, y2]` and their scores.
    fn image(&self, im: &Image<'_>, h: usize, w: usize) -> Result<Vec<[f32; 5]>> {
        let boxes = self.decode(im, h, w)?;
        let count = boxes.len();
        let pre = if self.pre > 0 { (self.pre as usize).min(count) } else { count };
        let post = self.post.min(pre);
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by(|&a, &b| boxes[b][4].partial_cmp(&boxes[a][4]).unwrap_or(std::cmp::Ordering::Equal));
        let dets: Vec<[f32; 5]> = order[..pre].iter().map(|&i| boxes[i]).collect();
        let keep = nms(&dets, self.threshold, post);
        if keep.is_empty() {
            if self.post == 0 {
                return Ok(Vec::new());
            }
            return Err(Error::msg(format!(
                "{}: no proposal survives (an empty feature map or no anchors)",
                self.op()
            )));
        }
        Ok((0..self.post).map(|i| dets[keep[i % keep.len()]]).collect())
    }
}

/// Greedy NMS over boxes sorted by score, keeping at most `limit`: the indices kept.
pub(super) fn nms(dets: &[[f32; 5]], thresh: f32, limit: usize) -> Vec<usize> {
    let area: Vec<f32> = dets.iter().map(|d| (d[2] - d[0] + 1.0) * (d[3] - d[1] + 1.0)).collect();
    let mut suppressed = vec![false; dets.len()];
    let mut keep = Vec::new();
    for i in 0..dets.len() {
        if keep.len() >= limit {
            break;
        }
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let a = &dets[i];
        for j in i + 1..dets.len() {
            if suppressed[j] {
                continue;
            }
            let b = &dets[j];
            let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
            let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
            let inter = w * h;
            if inter / (area[i] + area[j] - inter) > thresh {
                suppressed[j] = true;
            }
        }
    }
    keep
}

impl DetKernel for Proposal {
    fn name(&self) -> &'static str {
        self.op()
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["output", "score"]
    }
    fn num_visible(&self) -> usize {
        if self.score { 2 } else { 1 }
    }
    fn fill_inputs(&self, x: &mut [Option<Shape>]) -> Result<()> {
        let Some(c) = x[0].clone() else { return Ok(()) };
        self.check_cls(&c)?;
        let want = [vec![c[0], c[1] * 2, c[2], c[3]], vec![c[0], 3]];
        for ((slot, want), name) in x[1..].iter_mut().zip(want).zip(["bbox_pred", "im_info"]) {
            match slot {
                Some(s) if *s != want => {
                    let what = format!("{name} must be {}", crate::shape::fmt_shape(&want));
                    return Err(shape_err(self.op(), what, &[("cls_prob", &c), (name, s)]));
                }
                _ => *slot = Some(want),
            }
        }
        Ok(())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let mut slots: Vec<Option<Shape>> = x.iter().cloned().map(Some).collect();
        self.fill_inputs(&mut slots)?;
        let rows = if self.multi { x[0][0] * self.post } else { self.post };
        Ok(vec![vec![rows, 5], vec![rows, 1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f32>>> {
        let s = x[0].s;
        let (n, h, w) = (s[0], s[2], s[3]);
        if !self.multi && n != 1 {
            let what = "handles one image; use MultiProposal for a batch";
            return Err(shape_err(PROPOSAL, what, &[("cls_prob", s)]));
        }
        let na = self.num_anchors();
        let (mut rois, mut scores) = (Vec::with_capacity(n * self.post * 5), Vec::with_capacity(n * self.post));
        for b in 0..n {
            let im = Image {
                scores: &x[0].v[(b * 2 * na + na) * h * w..(b + 1) * 2 * na * h * w],
                deltas: &x[1].v[b * 4 * na * h * w..(b + 1) * 4 * na * h * w],
                info: &x[2].v[b * 3..b * 3 + 3],
            };
            for r in self.image(&im, h, w)? {
                rois.extend_from_slice(&[b as f32, r[0], r[1], r[2], r[3]]);
                scores.push(r[4]);
            }
        }
        Ok(vec![rois, scores])
    }
}

impl Proposal {
    /// `cls_prob` must be `(batch, 2 * len(ratios) * len(scales), height, width)`.
    fn check_cls(&self, c: &[usize]) -> Result<()> {
        if c.len() != 4 || c[1] != 2 * self.num_anchors() {
            let what = format!(
                "cls_prob must be (batch, 2 * {} anchors (len(ratios) * len(scales)), height, width)",
                self.num_anchors()
            );
            return Err(shape_err(self.op(), what, &[("cls_prob", c)]));
        }
        Ok(())
    }
}

pub(super) fn register(r: &mut Registry) {
    let inputs: &[&str] = &["cls_prob", "bbox_pred", "im_info"];
    add(r, PROPOSAL, inputs, PARAMS, "generate region proposals via RPN (one image)", |a| Proposal::parse(a, false));
    add(r, MULTI, inputs, PARAMS, "generate region proposals via RPN (a batch of images)", |a| {
        Proposal::parse(a, true)
    });
}
