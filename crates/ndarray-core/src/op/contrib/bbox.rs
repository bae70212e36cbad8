//! Bounding-box ops: `_contrib_box_nms` (alias `_contrib_box_non_maximum_suppression`) with its
//! backward op, `_contrib_box_iou` and `_contrib_bipartite_matching`, as MXNet 1.9.1's
//! `bounding_box-inl.h` computes them on the CPU.

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry, ParamSpec};
use super::{In, Kernel, add, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const NMS: &str = "_contrib_box_nms";
const NMS_BWD: &str = "_backward_contrib_box_nms";
const IOU: &str = "_contrib_box_iou";
const MATCH: &str = "_contrib_bipartite_matching";

const NMS_PARAMS: &[ParamSpec] = params!(
    "overlap_thresh" = Some("0.5"),
    "valid_thresh" = Some("0"),
    "topk" = Some("-1"),
    "coord_start" = Some("2"),
    "score_index" = Some("1"),
    "id_index" = Some("-1"),
    "background_id" = Some("-1"),
    "force_suppress" = Some("False"),
    "in_format" = Some("'corner'"),
    "out_format" = Some("'corner'")
);

/// True for the center encoding `[x, y, w, h]`, false for corners `[x1, y1, x2, y2]`.
fn is_center(op: &str, a: &Attrs, key: &str) -> Result<bool> {
    match a.str_or(key, "corner") {
        "corner" => Ok(false),
        "center" => Ok(true),
        f => Err(Error::param(op, format!("{key} '{f}' is not one of corner, center"))),
    }
}

/// The overlap of two boxes along one axis (`a[0]`, `a[2]` are that axis' entries).
fn intersect(a: &[f64], b: &[f64], center: bool) -> f64 {
    let w = if center {
        let (al, ar) = (a[0] - a[2] / 2.0, a[0] + a[2] / 2.0);
        let (bl, br) = (b[0] - b[2] / 2.0, b[0] + b[2] / 2.0);
        br.min(ar) - bl.max(al)
    } else {
        a[2].min(b[2]) - a[0].max(b[0])
    };
    if w > 0.0 { w } else { 0.0 }
}

fn area(b: &[f64], center: bool) -> f64 {
    let (w, h) = if center { (b[2], b[3]) } else { (b[2] - b[0], b[3] - b[1]) };
    if w < 0.0 || h < 0.0 { 0.0 } else { w * h }
}

/// `box_nms` (two outputs: the boxes and, hidden, each output row's source row for the
/// gradient) or its backward (inputs `out_grad, record`).
#[derive(Debug)]
struct Nms {
    overlap: f64,
    valid: f64,
    topk: i64,
    coord: usize,
    score: usize,
    id: Option<usize>,
    background: f64,
    force: bool,
    in_center: bool,
    out_center: bool,
    backward: bool,
}

impl Nms {
    fn parse(a: &Attrs, backward: bool) -> Result<Nms> {
        let op = if backward { NMS_BWD } else { NMS };
        a.check_known(op, &keys(NMS_PARAMS))?;
        let idx = |k: &str, d: i64| -> Result<i64> { a.int_or(op, k, d) };
        let (coord, score, id) = (idx("coord_start", 2)?, idx("score_index", 1)?, idx("id_index", -1)?);
        if coord < 0 || score < 0 {
            return Err(Error::param(op, format!("coord_start {coord} and score_index {score} must be >= 0")));
        }
        Ok(Nms {
            overlap: a.float_or(op, "overlap_thresh", 0.5)?,
            valid: a.float_or(op, "valid_thresh", 0.0)?,
            topk: idx("topk", -1)?,
            coord: coord as usize,
            score: score as usize,
            id: (id >= 0).then_some(id as usize),
            background: idx("background_id", -1)? as f64,
            force: a.bool_or(op, "force_suppress", false)?,
            in_center: is_center(op, a, "in_format")?,
            out_center: is_center(op, a, "out_format")?,
            backward,
        })
    }

    fn check(&self, s: &[usize]) -> Result<()> {
        let e = |what: String| shape_err(NMS, what, &[("data", s)]);
        if s.len() < 2 {
            return Err(e("data must have at least 2 dimensions (..., num_box, box_width)".into()));
        }
        let width = s[s.len() - 1];
        let want = if self.id.is_some() { 6 } else { 5 };
        if width < want {
            return Err(e(format!("the last dimension must have at least {want} elements")));
        }
        let (c0, c1) = (self.coord, self.coord + 3);
        if c1 >= width {
            return Err(e(format!("coordinates ({c0}, {c1}) out of range (0, {width})")));
        }
        if self.score >= width || (c0..=c1).contains(&self.score) {
            return Err(e(format!("score_index {} out of range or conflicts with coordinates", self.score)));
        }
        if let Some(id) = self.id
            && (id >= width || (c0..=c1).contains(&id) || id == self.score)
        {
            return Err(e(format!("id_index {id} out of range or conflicts with score or coordinates")));
        }
        Ok(())
    }

    /// The kept rows of one batch, in output order (indices into the batch's rows).
    fn keep(&self, d: &[f64], n: usize, w: usize) -> Vec<usize> {
        let row = |i: usize| &d[i * w..(i + 1) * w];
        let mut cand: Vec<usize> = (0..n)
            .filter(|&i| {
                let r = row(i);
                r[self.score] > self.valid && self.id.is_none_or(|id| r[id] != self.background)
            })
            .collect();
        // Stable: equal scores keep their order.
        cand.sort_by(|&a, &b| row(b)[self.score].partial_cmp(&row(a)[self.score]).unwrap_or(std::cmp::Ordering::Equal));
        let k = if self.topk < 0 { n } else { (self.topk as usize).min(n) };
        cand.truncate(k);
        let c = self.coord;
        let areas: Vec<f64> = cand.iter().map(|&i| area(&row(i)[c..c + 4], self.in_center)).collect();
        let mut alive = vec![true; cand.len()];
        for r in 0..cand.len() {
            if !alive[r] {
                continue;
            }
            let rb = &row(cand[r])[c..c + 4];
            for p in r + 1..cand.len() {
                if !alive[p] {
                    continue;
                }
                let pr = row(cand[p]);
                if !self.force && self.id.is_some_and(|id| row(cand[r])[id] as i64 != pr[id] as i64) {
                    continue;
                }
                let pb = &pr[c..c + 4];
                let inter = intersect(rb, pb, self.in_center) * intersect(&rb[1..], &pb[1..], self.in_center);
                if inter / (areas[r] + areas[p] - inter) > self.overlap {
                    alive[p] = false;
                }
            }
        }
        cand.into_iter().zip(alive).filter(|(_, a)| *a).map(|(i, _)| i).collect()
    }

    /// Re-encode the coordinates of an output row (rows starting below 0 are left as they are,
    /// as MXNet does).
    fn convert(&self, b: &mut [f64]) {
        if self.in_center == self.out_center || b[0] < 0.0 {
            return;
        }
        let v = [b[0], b[1], b[2], b[3]];
        if self.out_center {
            b.copy_from_slice(&[(v[0] + v[2]) / 2.0, (v[1] + v[3]) / 2.0, v[2] - v[0], v[3] - v[1]]);
        } else {
            let (hw, hh) = (v[2] / 2.0, v[3] / 2.0);
            b.copy_from_slice(&[v[0] - hw, v[1] - hh, v[0] + hw, v[1] + hh]);
        }
    }
}

impl Kernel for Nms {
    fn name(&self) -> &'static str {
        if self.backward { NMS_BWD } else { NMS }
    }
    fn num_outputs(&self) -> usize {
        if self.backward { 1 } else { 2 }
    }
    fn num_visible(&self) -> usize {
        1
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = if self.backward { &["out_grad", "record"] } else { &["data"] };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        self.check(&x[0])?;
        if self.backward {
            return Ok(vec![x[0].clone()]);
        }
        let mut rec = x[0].clone();
        *rec.last_mut().expect("checked") = 1;
        Ok(vec![x[0].clone(), rec])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let s = x[0].s;
        let (n, w) = (s[s.len() - 2], s[s.len() - 1]);
        let batches = s[..s.len() - 2].iter().product::<usize>();
        if self.backward {
            let (g, rec) = (&x[0].v, &x[1].v);
            let mut dx = vec![0.0; g.len()];
            for b in 0..batches {
                for i in 0..n {
                    let src = rec[b * n + i];
                    if src >= n as f64 {
                        return Err(Error::msg(format!("{NMS_BWD}: record entry {src} is out of range for {n} boxes")));
                    }
                    if src >= 0.0 {
                        let (to, from) = ((b * n + src as usize) * w, (b * n + i) * w);
                        dx[to..to + w].copy_from_slice(&g[from..from + w]);
                    }
                }
            }
            return Ok(vec![dx]);
        }
        let d = &x[0].v;
        if self.topk == 0 {
            return Ok(vec![d.clone(), (0..batches * n).map(|i| (i % n) as f64).collect()]);
        }
        let mut out = vec![-1.0; d.len()];
        let mut rec = vec![-1.0; batches * n];
        for b in 0..batches {
            let part = &d[b * n * w..(b + 1) * n * w];
            for (j, i) in self.keep(part, n, w).into_iter().enumerate() {
                let o = (b * n + j) * w;
                out[o..o + w].copy_from_slice(&part[i * w..(i + 1) * w]);
                self.convert(&mut out[o + self.coord..o + self.coord + 4]);
                rec[b * n + j] = i as f64;
            }
        }
        Ok(vec![out, rec])
    }
}

fn grad_nms(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply(NMS_BWD, &[g[0], y[1]], a.clone())?)])
}

/// `box_iou(lhs, rhs)`: the IoU of every lhs box with every rhs box.
#[derive(Debug)]
struct Iou {
    center: bool,
}

impl Kernel for Iou {
    fn name(&self) -> &'static str {
        IOU
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (l, r) = (&x[0], &x[1]);
        if l.len() < 2 || r.len() < 2 || l[l.len() - 1] != 4 || r[r.len() - 1] != 4 {
            return Err(shape_err(
                IOU,
                "lhs and rhs must have at least 2 dimensions, the last of size 4",
                &[("lhs", l), ("rhs", r)],
            ));
        }
        Ok(vec![l[..l.len() - 1].iter().chain(&r[..r.len() - 1]).copied().collect()])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (l, r) = (&x[0].v, &x[1].v);
        let (nl, nr) = (l.len() / 4, r.len() / 4);
        let mut out = vec![0.0; nl * nr];
        for i in 0..nl {
            let a = &l[i * 4..i * 4 + 4];
            for j in 0..nr {
                let b = &r[j * 4..j * 4 + 4];
                let inter = intersect(a, b, self.center) * intersect(&a[1..], &b[1..], self.center);
                if inter > 0.0 {
                    out[i * nr + j] = inter / (area(a, self.center) + area(b, self.center) - inter);
                }
            }
        }
        Ok(vec![out])
    }
}

/// `bipartite_matching(data)`: greedy matching of rows to columns by score; outputs the
/// column of each row and the row of each column (-1: unmatched).
#[derive(Debug)]
struct Matching {
    ascend: bool,
    threshold: f64,
    topk: i64,
}

impl Kernel for Matching {
    fn name(&self) -> &'static str {
        MATCH
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let s = &x[0];
        if s.len() < 2 {
            return Err(shape_err(MATCH, "the score matrix must have at least 2 dimensions", &[("data", s)]));
        }
        let rows = s[..s.len() - 1].to_vec();
        let mut cols = rows.clone();
        *cols.last_mut().expect("2-D") = s[s.len() - 1];
        Ok(vec![rows, cols])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let s = x[0].s;
        let (nr, nc) = (s[s.len() - 2], s[s.len() - 1]);
        let batches = s[..s.len() - 2].iter().product::<usize>();
        let mut rows = vec![-1.0; batches * nr];
        let mut cols = vec![-1.0; batches * nc];
        for b in 0..batches {
            let sc = &x[0].v[b * nr * nc..(b + 1) * nr * nc];
            let mut order: Vec<usize> = (0..nr * nc).collect();
            order.sort_by(|&i, &j| {
                let o = sc[i].partial_cmp(&sc[j]).unwrap_or(std::cmp::Ordering::Equal);
                if self.ascend { o } else { o.reverse() }
            });
            let (rm, cm) = (&mut rows[b * nr..(b + 1) * nr], &mut cols[b * nc..(b + 1) * nc]);
            let mut count = 0;
            for idx in order {
                let (r, c) = (idx / nc, idx % nc);
                if rm[r] != -1.0 || cm[c] != -1.0 {
                    continue;
                }
                let good = if self.ascend { sc[idx] < self.threshold } else { sc[idx] > self.threshold };
                if !good {
                    break;
                }
                rm[r] = c as f64;
                cm[c] = r as f64;
                count += 1;
                // As MXNet 1.9.1: the match that makes the count exceed topk is kept.
                if self.topk > 0 && count > self.topk {
                    break;
                }
            }
        }
        Ok(vec![rows, cols])
    }
}

fn zero_grads(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

pub(super) fn register(r: &mut Registry) {
    let doc = "non-maximum suppression of scored boxes, per batch, optionally per class";
    add(r, NMS, &["data"], NMS_PARAMS, doc, |a| Nms::parse(a, false));
    add(r, NMS_BWD, &["out_grad", "record"], NMS_PARAMS, "gradient of box_nms's data", |a| Nms::parse(a, true));
    r.set_gradient(NMS, grad_nms);
    r.alias("_contrib_box_non_maximum_suppression", NMS);
    let p = params!("format" = Some("'corner'"));
    add(r, IOU, &["lhs", "rhs"], p, "intersection over union of every pair of lhs and rhs boxes", |a| {
        a.check_known(IOU, &["format"])?;
        Ok(Iou { center: is_center(IOU, a, "format")? })
    });
    r.set_gradient(IOU, zero_grads);
    let p = params!("is_ascend" = Some("False"), "threshold" = None, "topk" = Some("-1"));
    add(r, MATCH, &["data"], p, "greedy bipartite matching of rows and columns by score", |a| {
        a.check_known(MATCH, &["is_ascend", "threshold", "topk"])?;
        Ok(Matching {
            ascend: a.bool_or(MATCH, "is_ascend", false)?,
            threshold: a.float(MATCH, "threshold")?,
            topk: a.int_or(MATCH, "topk", -1)?,
        })
    });
    r.set_gradient(MATCH, zero_grads);
}
