//! `_contrib_BilinearResize2D` and `_contrib_AdaptiveAvgPooling2D` over NCHW data, with their
//! backward ops (fused: no composition of registered ops interpolates or pools adaptively).

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, keys, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const RESIZE: &str = "_contrib_BilinearResize2D";
const RESIZE_BWD: &str = "_backward_contrib_BilinearResize2D";
const POOL: &str = "_contrib_AdaptiveAvgPooling2D";
const POOL_BWD: &str = "_backward_contrib_AdaptiveAvgPooling2D";

const RESIZE_PARAMS: &[super::super::ParamSpec] = params!(
    "height" = Some("1"),
    "width" = Some("1"),
    "scale_height" = Some("None"),
    "scale_width" = Some("None"),
    "mode" = Some("'size'"),
    "align_corners" = Some("True")
);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Size,
    OddScale,
    Like,
    EvenDown,
    EvenUp,
    OddDown,
    OddUp,
}

/// `BilinearResize2D` (or its backward: inputs `out_grad, data`).
#[derive(Debug)]
struct Resize {
    height: usize,
    width: usize,
    scale: (Option<f64>, Option<f64>),
    mode: Mode,
    align: bool,
    backward: bool,
}

impl Resize {
    fn parse(a: &Attrs, backward: bool) -> Result<Resize> {
        let op = if backward { RESIZE_BWD } else { RESIZE };
        a.check_known(op, &keys(RESIZE_PARAMS))?;
        let (height, width) = (a.int_or(op, "height", 1)?, a.int_or(op, "width", 1)?);
        if height < 1 || width < 1 {
            return Err(Error::param(op, format!("height {height} and width {width} must be at least 1")));
        }
        let mode = match a.str_or("mode", "size") {
            "size" => Mode::Size,
            "odd_scale" => Mode::OddScale,
            "like" => Mode::Like,
            "to_even_down" => Mode::EvenDown,
            "to_even_up" => Mode::EvenUp,
            "to_odd_down" => Mode::OddDown,
            "to_odd_up" => Mode::OddUp,
            m => {
                return Err(Error::param(
                    op,
                    format!(
                        "mode '{m}' is not one of size, odd_scale, like, to_even_down, to_even_up, to_odd_down, \
                         to_odd_up"
                    ),
                ));
            }
        };
        let scale = (a.opt_float(op, "scale_height")?, a.opt_float(op, "scale_width")?);
        if mode == Mode::OddScale && (scale.0.is_none() || scale.1.is_none()) {
            return Err(Error::param(op, "mode 'odd_scale' needs scale_height and scale_width"));
        }
        if mode == Mode::Size && scale.0.is_some() && scale.1.is_none() {
            // MXNet 1.9.1 reads scale_width whenever scale_height is given.
            return Err(Error::param(op, "scale_height needs scale_width too"));
        }
        let align = a.bool_or(op, "align_corners", true)?;
        Ok(Resize { height: height as usize, width: width as usize, scale, mode, align, backward })
    }

    /// The output (height, width) for data of shape `d` (and `like` in mode like).
    fn out_hw(&self, d: &[usize], like: Option<&[usize]>) -> Result<(usize, usize)> {
        let (h, w) = (d[2], d[3]);
        let scaled = |n: usize, s: f64| (n as f64 * s) as i64;
        let odd = |n: usize, s: f64| if n.is_multiple_of(2) { scaled(n, s) } else { scaled(n - 1, s) + 1 };
        let (oh, ow): (i64, i64) = match self.mode {
            Mode::Size => match self.scale {
                (Some(sh), Some(sw)) => (scaled(h, sh), scaled(w, sw)),
                _ => (self.height as i64, self.width as i64),
            },
            Mode::OddScale => (odd(h, self.scale.0.unwrap_or(1.0)), odd(w, self.scale.1.unwrap_or(1.0))),
            Mode::Like => {
                let l = like.unwrap_or(d);
                if l.len() != 4 {
                    return Err(shape_err(RESIZE, "like must be 4-D (NCHW)", &[("like", l)]));
                }
                (l[2] as i64, l[3] as i64)
            }
            Mode::EvenDown => ((h - h % 2) as i64, (w - w % 2) as i64),
            Mode::EvenUp => ((h + h % 2) as i64, (w + w % 2) as i64),
            Mode::OddDown => ((h - 1 + h % 2) as i64, (w - 1 + w % 2) as i64),
            Mode::OddUp => ((h + 1 - h % 2) as i64, (w + 1 - w % 2) as i64),
        };
        if oh < 1 || ow < 1 {
            return Err(shape_err(RESIZE, format!("output size ({oh}, {ow}) must be positive"), &[("data", d)]));
        }
        Ok((oh as usize, ow as usize))
    }
}

/// Source row/column, its neighbour offset (0 or 1) and the weight of the neighbour, for each
/// output index along one axis (MXNet's `area_pixel_compute_source_index`, in float32).
fn axis_weights(inp: usize, out: usize, align: bool) -> Vec<(usize, usize, f64)> {
    let scale = if out > 1 {
        if align { (inp as f32 - 1.0) / (out as f32 - 1.0) } else { inp as f32 / out as f32 }
    } else {
        0.0
    };
    (0..out)
        .map(|o| {
            let src = if align {
                scale * o as f32
            } else {
                let s = scale * (o as f32 + 0.5) - 0.5;
                if s < 0.0 { 0.0 } else { s }
            };
            let i = src as usize;
            let step = usize::from(i + 1 < inp);
            (i, step, f64::from(src - i as f32))
        })
        .collect()
}

impl Kernel for Resize {
    fn name(&self) -> &'static str {
        if self.backward { RESIZE_BWD } else { RESIZE }
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = match (self.backward, self.mode == Mode::Like) {
            (true, _) => &["out_grad", "data"],
            (false, true) => &["data", "like"],
            (false, false) => &["data"],
        };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let d = &x[usize::from(self.backward)];
        if d.len() != 4 || d[2] == 0 || d[3] == 0 {
            return Err(shape_err(self.name(), "data must be 4-D (NCHW) with a non-empty map", &[("data", d)]));
        }
        if self.backward {
            return Ok(vec![d.clone()]);
        }
        let (oh, ow) = self.out_hw(d, x.get(1).map(|s| s.as_slice()))?;
        Ok(vec![vec![d[0], d[1], oh, ow]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (src, dst) = if self.backward { (out[0].as_slice(), x[0].s) } else { (x[0].s, out[0].as_slice()) };
        let (planes, ih, iw, oh, ow) = (src[0] * src[1], src[2], src[3], dst[2], dst[3]);
        let hs = axis_weights(ih, oh, self.align);
        let ws = axis_weights(iw, ow, self.align);
        let (isz, osz) = (ih * iw, oh * ow);
        if self.backward {
            let g = &x[0].v;
            let mut dx = vec![0.0; planes * isz];
            for p in 0..planes {
                for (r, &(h1, hp, hl)) in hs.iter().enumerate() {
                    for (c, &(w1, wp, wl)) in ws.iter().enumerate() {
                        let gv = g[p * osz + r * ow + c];
                        let base = p * isz + h1 * iw + w1;
                        let (h0l, w0l) = (1.0 - hl, 1.0 - wl);
                        dx[base] += h0l * w0l * gv;
                        dx[base + wp] += h0l * wl * gv;
                        dx[base + hp * iw] += hl * w0l * gv;
                        dx[base + hp * iw + wp] += hl * wl * gv;
                    }
                }
            }
            return Ok(vec![dx]);
        }
        let v = &x[0].v;
        let mut y = vec![0.0; planes * osz];
        for p in 0..planes {
            for (r, &(h1, hp, hl)) in hs.iter().enumerate() {
                for (c, &(w1, wp, wl)) in ws.iter().enumerate() {
                    let b = p * isz + h1 * iw + w1;
                    let top = (1.0 - wl) * v[b] + wl * v[b + wp];
                    let bot = (1.0 - wl) * v[b + hp * iw] + wl * v[b + hp * iw + wp];
                    y[p * osz + r * ow + c] = (1.0 - hl) * top + hl * bot;
                }
            }
        }
        Ok(vec![y])
    }
}

fn grad_resize(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let dx = b.apply(RESIZE_BWD, &[g[0], x[0]], a.clone())?;
    let mut out = vec![Some(dx)];
    if x.len() > 1 {
        out.push(Some(b.unary("zeros_like", x[1])?));
    }
    Ok(out)
}

/// `AdaptiveAvgPooling2D` (or its backward: inputs `out_grad, data`).
#[derive(Debug)]
struct AdaptivePool {
    size: (usize, usize),
    backward: bool,
}

impl AdaptivePool {
    fn parse(a: &Attrs, backward: bool) -> Result<AdaptivePool> {
        let op = if backward { POOL_BWD } else { POOL };
        a.check_known(op, &["output_size"])?;
        let s = a.shape(op, "output_size")?;
        let size = match s.as_slice() {
            [] => (1, 1),
            [n] => (*n, *n),
            [h, w] => (*h, *w),
            _ => return Err(Error::param(op, format!("output_size {s:?} must have 1 or 2 entries"))),
        };
        if size.0 == 0 || size.1 == 0 {
            return Err(Error::param(op, format!("output_size {s:?} must be positive")));
        }
        Ok(AdaptivePool { size, backward })
    }
}

/// MXNet's START_IND / END_IND: the input window of output index `o` (float32 arithmetic).
fn window(o: usize, out: usize, inp: usize) -> (usize, usize) {
    let start = ((o * inp) as f32 / out as f32).floor() as usize;
    let end = (((o + 1) * inp) as f32 / out as f32).ceil() as usize;
    (start, end.min(inp))
}

impl Kernel for AdaptivePool {
    fn name(&self) -> &'static str {
        if self.backward { POOL_BWD } else { POOL }
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = if self.backward { &["out_grad", "data"] } else { &["data"] };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let d = &x[usize::from(self.backward)];
        if d.len() != 4 {
            return Err(shape_err(self.name(), "data must be 4-D (NCHW)", &[("data", d)]));
        }
        Ok(vec![if self.backward { d.clone() } else { vec![d[0], d[1], self.size.0, self.size.1] }])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let (src, dst) = if self.backward { (out[0].as_slice(), x[0].s) } else { (x[0].s, out[0].as_slice()) };
        let (planes, ih, iw, oh, ow) = (src[0] * src[1], src[2], src[3], dst[2], dst[3]);
        let v = &x[0].v;
        let mut res = vec![0.0; if self.backward { planes * ih * iw } else { planes * oh * ow }];
        for p in 0..planes {
            for r in 0..oh {
                let (h0, h1) = window(r, oh, ih);
                for c in 0..ow {
                    let (w0, w1) = window(c, ow, iw);
                    let n = ((h1 - h0) * (w1 - w0)) as f64;
                    let o = p * oh * ow + r * ow + c;
                    for i in h0..h1 {
                        for j in w0..w1 {
                            let k = p * ih * iw + i * iw + j;
                            if self.backward {
                                res[k] += v[o] / n;
                            } else {
                                res[o] += v[k];
                            }
                        }
                    }
                    if !self.backward {
                        res[o] /= n;
                    }
                }
            }
        }
        Ok(vec![res])
    }
}

fn grad_pool(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply(POOL_BWD, &[g[0], x[0]], a.clone())?)])
}

pub(super) fn register(r: &mut Registry) {
    let doc = "bilinear resizing of NCHW data to a size, a scale or another array's height and width";
    add(r, RESIZE, &["data", "like"], RESIZE_PARAMS, doc, |a| Resize::parse(a, false));
    add(r, RESIZE_BWD, &["out_grad", "data"], RESIZE_PARAMS, "gradient of BilinearResize2D's data", |a| {
        Resize::parse(a, true)
    });
    r.set_gradient(RESIZE, grad_resize);
    let p = params!("output_size" = Some("()"));
    add(r, POOL, &["data"], p, "adaptive average pooling of NCHW data to output_size", |a| {
        AdaptivePool::parse(a, false)
    });
    add(r, POOL_BWD, &["out_grad", "data"], p, "gradient of AdaptiveAvgPooling2D's data", |a| {
        AdaptivePool::parse(a, true)
    });
    r.set_gradient(POOL, grad_pool);
}
