//! `_contrib_box_encode`, `_contrib_box_decode` (SSD-style box offsets), and the
//! straight-through estimators `_contrib_round_ste` / `_contrib_sign_ste`.

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const ENCODE: &str = "_contrib_box_encode";
const DECODE: &str = "_contrib_box_decode";

/// `box_encode(samples, matches, anchors, refs, means, stds)`: regression targets of the
/// positive anchors (`samples > 0.5`) towards their matched reference boxes, and their masks.
#[derive(Debug)]
struct BoxEncode;

impl Kernel for BoxEncode {
    fn name(&self) -> &'static str {
        ENCODE
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let names = ["samples", "matches", "anchors", "refs", "means", "stds"];
        let named: Vec<(&str, &[usize])> = names.iter().zip(x).map(|(n, s)| (*n, s.as_slice())).collect();
        let (s, m, a, r) = (&x[0], &x[1], &x[2], &x[3]);
        let ok = s.len() == 2
            && m == s
            && a.len() == 3
            && a[..2] == s[..]
            && a[2] == 4
            && r.len() == 3
            && r[0] == s[0]
            && r[2] == 4
            && x[4] == [4]
            && x[5] == [4];
        if !ok {
            let what = "expects samples and matches (B, N), anchors (B, N, 4), refs (B, M, 4), means and stds (4,)";
            return Err(shape_err(ENCODE, what, &named));
        }
        Ok(vec![a.clone(), a.clone()])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (samples, matches, anchors, refs, means, stds) = (&x[0].v, &x[1].v, &x[2].v, &x[3].v, &x[4].v, &x[5].v);
        let (n, m) = (x[0].s[1], x[3].s[1]);
        let mut targets = vec![0.0; anchors.len()];
        let mut masks = vec![0.0; anchors.len()];
        for (i, (&sample, &j)) in samples.iter().zip(matches.iter()).enumerate() {
            if sample <= 0.5 {
                continue;
            }
            if j < 0.0 || j as usize >= m {
                return Err(Error::msg(format!("{ENCODE}: match {j} is out of range for {m} reference boxes")));
            }
            let rb = &refs[((i / n) * m + j as usize) * 4..][..4];
            let ab = &anchors[i * 4..i * 4 + 4];
            let (rw, rh, aw, ah) = (rb[2] - rb[0], rb[3] - rb[1], ab[2] - ab[0], ab[3] - ab[1]);
            let (rx, ry, ax, ay) = (rb[0] + rw * 0.5, rb[1] + rh * 0.5, ab[0] + aw * 0.5, ab[1] + ah * 0.5);
            let t = [(rx - ax) / aw, (ry - ay) / ah, (rw / aw).ln(), (rh / ah).ln()];
            for (k, tk) in t.into_iter().enumerate() {
                targets[i * 4 + k] = (tk - means[k]) / stds[k];
                masks[i * 4 + k] = 1.0;
            }
        }
        Ok(vec![targets, masks])
    }
}

/// `box_decode(data, anchors)`: boxes (corners) from predicted offsets and anchors.
#[derive(Debug)]
struct BoxDecode {
    std: [f64; 4],
    clip: f64,
    center: bool,
}

impl Kernel for BoxDecode {
    fn name(&self) -> &'static str {
        DECODE
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (d, a) = (&x[0], &x[1]);
        if d.len() != 3 || d[2] != 4 || a.len() != 3 || a[2] != 4 || a[1] != d[1] || (a[0] != 1 && a[0] != d[0]) {
            let what = "expects data (B, N, 4) and anchors (1, N, 4)";
            return Err(shape_err(DECODE, what, &[("data", d), ("anchors", a)]));
        }
        Ok(vec![d.clone()])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (d, anchors, n) = (&x[0].v, &x[1].v, x[0].s[1]);
        let mut out = vec![0.0; d.len()];
        for i in 0..d.len() / 4 {
            let a = &anchors[(i % n) * 4..(i % n) * 4 + 4];
            let (mut ax, mut ay, mut aw, mut ah) = (a[0], a[1], a[2], a[3]);
            if !self.center {
                aw -= ax;
                ah -= ay;
                ax += aw * 0.5;
                ay += ah * 0.5;
            }
            let p = &d[i * 4..i * 4 + 4];
            let (ox, oy) = (p[0] * self.std[0] * aw + ax, p[1] * self.std[1] * ah + ay);
            let (mut dw, mut dh) = (p[2] * self.std[2], p[3] * self.std[3]);
            if self.clip > 0.0 {
                dw = dw.min(self.clip);
                dh = dh.min(self.clip);
            }
            let (ow, oh) = (dw.exp() * aw * 0.5, dh.exp() * ah * 0.5);
            out[i * 4..i * 4 + 4].copy_from_slice(&[ox - ow, oy - oh, ox + ow, oy + oh]);
        }
        Ok(vec![out])
    }
}

/// `round_ste` / `sign_ste`: rounding (half away from zero) or sign, whose gradient passes
/// through unchanged.
#[derive(Debug)]
struct Ste {
    sign: bool,
}

impl Kernel for Ste {
    fn name(&self) -> &'static str {
        if self.sign { "_contrib_sign_ste" } else { "_contrib_round_ste" }
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![x[0].clone()])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let f = |v: f64| {
            if self.sign {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            } else {
                v.round()
            }
        };
        Ok(vec![x[0].v.iter().map(|&v| f(v)).collect()])
    }
}

fn grad_identity(_: &mut dyn GradBuilder, _: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(g[0])])
}

fn zero_grads(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

pub(super) fn register(r: &mut Registry) {
    let ins: &[&str] = &["samples", "matches", "anchors", "refs", "means", "stds"];
    add(r, ENCODE, ins, params!(), "regression targets and masks of anchors matched to reference boxes", |a| {
        a.check_known(ENCODE, &[])?;
        Ok(BoxEncode)
    });
    r.set_gradient(ENCODE, zero_grads);
    let p = params!(
        "std0" = Some("1"),
        "std1" = Some("1"),
        "std2" = Some("1"),
        "std3" = Some("1"),
        "clip" = Some("-1"),
        "format" = Some("'center'")
    );
    add(r, DECODE, &["data", "anchors"], p, "corner boxes from predicted offsets relative to anchors", |a| {
        a.check_known(DECODE, &["std0", "std1", "std2", "std3", "clip", "format"])?;
        let s = |k| a.float_or(DECODE, k, 1.0);
        let center = match a.str_or("format", "center") {
            "center" => true,
            "corner" => false,
            f => return Err(Error::param(DECODE, format!("format '{f}' is not one of corner, center"))),
        };
        Ok(BoxDecode {
            std: [s("std0")?, s("std1")?, s("std2")?, s("std3")?],
            clip: a.float_or(DECODE, "clip", -1.0)?,
            center,
        })
    });
    r.set_gradient(DECODE, zero_grads);
    for (name, sign) in [("_contrib_round_ste", false), ("_contrib_sign_ste", true)] {
        let doc =
            if sign { "sign, with a straight-through gradient" } else { "rounding, with a straight-through gradient" };
        if sign {
            add(r, name, &["data"], params!(), doc, |_| Ok(Ste { sign: true }));
        } else {
            add(r, name, &["data"], params!(), doc, |_| Ok(Ste { sign: false }));
        }
        r.set_gradient(name, grad_identity);
    }
}
