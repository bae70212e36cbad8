//! The shape-only index maps: `reverse` (`flip`), `depth_to_space`, `space_to_depth`, `Pad`
//! (`pad`), `UpSampling` (nearest), `slice_like` and `diag`.

use super::{Remap, Spec, map_coords, remap_grad};
use crate::error::{Error, Result};
use crate::op::Attrs;
use crate::params;
use crate::shape::{Shape, fmt_shape, norm_axis};

#[derive(Debug)]
struct Reverse {
    name: &'static str,
    axes: Vec<i64>,
}

impl Remap for Reverse {
    fn name(&self) -> &'static str {
        self.name
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        for &a in &self.axes {
            norm_axis(self.name, a, inputs[0].len())?;
        }
        Ok(inputs[0].clone())
    }
    fn map(&self, inputs: &[Shape], out: &[usize], _: &[Vec<f64>]) -> Result<Vec<i64>> {
        let flip = self.flips(out.len())?;
        Ok(map_coords(out, &inputs[0], |oc, ic| {
            for (a, (i, &o)) in ic.iter_mut().zip(oc).enumerate() {
                *i = if flip[a] { out[a] - 1 - o } else { o };
            }
            true
        }))
    }
    fn flipped_axes(&self, ndim: usize) -> Option<Vec<bool>> {
        self.flips(ndim).ok()
    }
}

impl Reverse {
    /// Which axes end up reversed: an axis named twice is reversed twice, so not at all (as
    /// MXNet 1.9.1 does).
    fn flips(&self, ndim: usize) -> Result<Vec<bool>> {
        let mut flip = vec![false; ndim];
        for &a in &self.axes {
            flip[norm_axis(self.name, a, ndim)?] ^= true;
        }
        Ok(flip)
    }
}

/// `depth_to_space` (`to_space`) or `space_to_depth` with block size `b` on NCHW data.
#[derive(Debug)]
struct DepthSpace {
    name: &'static str,
    b: usize,
    to_space: bool,
}

impl Remap for DepthSpace {
    fn name(&self) -> &'static str {
        self.name
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        let b = self.b;
        let bad = |why: &str| Error::shape(self.name, format!("data {} {why}", fmt_shape(s)));
        if s.len() != 4 || b == 0 {
            return Err(bad("must be 4-D (N, C, H, W) with block_size > 0"));
        }
        if self.to_space {
            if !s[1].is_multiple_of(b * b) {
                return Err(bad(&format!("has channels not divisible by block_size^2 = {}", b * b)));
            }
            Ok(vec![s[0], s[1] / (b * b), s[2] * b, s[3] * b])
        } else {
            if !s[2].is_multiple_of(b) || !s[3].is_multiple_of(b) {
                return Err(bad(&format!("has height or width not divisible by block_size {b}")));
            }
            Ok(vec![s[0], s[1] * b * b, s[2] / b, s[3] / b])
        }
    }
    fn map(&self, inputs: &[Shape], out: &[usize], _: &[Vec<f64>]) -> Result<Vec<i64>> {
        let b = self.b;
        Ok(if self.to_space {
            let c2 = out[1];
            map_coords(out, &inputs[0], |o, i| {
                let (bi, bj) = (o[2] % b, o[3] % b);
                i.copy_from_slice(&[o[0], (bi * b + bj) * c2 + o[1], o[2] / b, o[3] / b]);
                true
            })
        } else {
            let c = inputs[0][1];
            map_coords(out, &inputs[0], |o, i| {
                let (blk, ch) = (o[1] / c, o[1] % c);
                i.copy_from_slice(&[o[0], ch, o[2] * b + blk / b, o[3] * b + blk % b]);
                true
            })
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum PadMode {
    Constant,
    Edge,
    Reflect,
}

#[derive(Debug)]
struct Pad {
    name: &'static str,
    mode: PadMode,
    width: Vec<usize>,
    value: f64,
}

impl Remap for Pad {
    fn name(&self) -> &'static str {
        self.name
    }
    fn fill(&self) -> f64 {
        self.value
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        if !(4..=5).contains(&s.len()) || self.width.len() != 2 * s.len() || self.width[..4].iter().any(|&w| w != 0) {
            return Err(Error::shape(
                self.name,
                format!(
                    "pads 4-D or 5-D data on its spatial axes only: pad_width needs 2 values per axis, zero for the \
                     first two; got data {} and pad_width {:?}",
                    fmt_shape(s),
                    self.width
                ),
            ));
        }
        if self.mode == PadMode::Reflect
            && s.iter().enumerate().any(|(d, &n)| self.width[2 * d].max(self.width[2 * d + 1]) >= n.max(1))
        {
            return Err(Error::shape(self.name, "reflect padding must be smaller than the padded axis"));
        }
        Ok(s.iter().enumerate().map(|(d, &n)| n + self.width[2 * d] + self.width[2 * d + 1]).collect())
    }
    fn map(&self, inputs: &[Shape], out: &[usize], _: &[Vec<f64>]) -> Result<Vec<i64>> {
        let s = &inputs[0];
        Ok(map_coords(out, s, |o, i| {
            for d in 0..o.len() {
                let x = o[d] as i64 - self.width[2 * d] as i64;
                let n = s[d] as i64;
                i[d] = match self.mode {
                    _ if (0..n).contains(&x) => x as usize,
                    PadMode::Constant => return false,
                    PadMode::Edge => x.clamp(0, n - 1) as usize,
                    PadMode::Reflect => (if x < 0 { -x } else { 2 * (n - 1) - x }) as usize,
                };
            }
            true
        }))
    }
}

#[derive(Debug)]
struct UpSampling {
    name: &'static str,
    scale: usize,
}

impl Remap for UpSampling {
    fn name(&self) -> &'static str {
        self.name
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        if s.len() != 4 {
            return Err(Error::shape(self.name, format!("data must be 4-D (N, C, H, W), got {}", fmt_shape(s))));
        }
        Ok(vec![s[0], s[1], s[2] * self.scale, s[3] * self.scale])
    }
    fn map(&self, inputs: &[Shape], out: &[usize], _: &[Vec<f64>]) -> Result<Vec<i64>> {
        Ok(map_coords(out, &inputs[0], |o, i| {
            i.copy_from_slice(&[o[0], o[1], o[2] / self.scale, o[3] / self.scale]);
            true
        }))
    }
}

#[derive(Debug)]
struct SliceLike {
    name: &'static str,
    axes: Vec<i64>,
}

impl Remap for SliceLike {
    fn name(&self) -> &'static str {
        self.name
    }
    fn num_inputs(&self) -> usize {
        2
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(vec!["data".into(), "shape_like".into()])
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let (s, like) = (&inputs[0], &inputs[1]);
        let mut out = s.clone();
        let axes: Vec<i64> = if self.axes.is_empty() { (0..s.len() as i64).collect() } else { self.axes.clone() };
        if self.axes.is_empty() && like.len() != s.len() {
            return Err(Error::shape(
                self.name,
                format!("shape_like {} must have data's rank {}", fmt_shape(like), s.len()),
            ));
        }
        for a in axes {
            let (d, e) = (norm_axis(self.name, a, s.len())?, norm_axis(self.name, a, like.len())?);
            if like[e] > s[d] {
                return Err(Error::shape(self.name, format!("cannot slice {} like {}", fmt_shape(s), fmt_shape(like))));
            }
            out[d] = like[e];
        }
        Ok(out)
    }
    fn map(&self, inputs: &[Shape], out: &[usize], _: &[Vec<f64>]) -> Result<Vec<i64>> {
        Ok(map_coords(out, &inputs[0], |o, i| {
            i.copy_from_slice(o);
            true
        }))
    }
}

#[derive(Debug)]
struct Diag {
    name: &'static str,
    k: i64,
    axis1: i64,
    axis2: i64,
}

impl Diag {
    fn axes(&self, nd: usize) -> Result<(usize, usize)> {
        let (a, b) = (norm_axis(self.name, self.axis1, nd)?, norm_axis(self.name, self.axis2, nd)?);
        if a == b {
            return Err(Error::param(self.name, "axis1 and axis2 must differ"));
        }
        Ok((a, b))
    }
    fn offsets(&self) -> (usize, usize) {
        (self.k.min(0).unsigned_abs() as usize, self.k.max(0) as usize)
    }
}

impl Remap for Diag {
    fn name(&self) -> &'static str {
        self.name
    }
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        let s = &inputs[0];
        let (r, c) = self.offsets();
        match s.len() {
            0 => Err(Error::shape(self.name, "data must have at least one dimension")),
            1 => Ok(vec![s[0] + r + c; 2]),
            nd => {
                let (a, b) = self.axes(nd)?;
                let len = s[a].saturating_sub(r).min(s[b].saturating_sub(c));
                let mut out: Shape = s.iter().enumerate().filter(|&(d, _)| d != a && d != b).map(|(_, &n)| n).collect();
                out.push(len);
                Ok(out)
            }
        }
    }
    fn map(&self, inputs: &[Shape], out: &[usize], _: &[Vec<f64>]) -> Result<Vec<i64>> {
        let s = &inputs[0];
        let (r, c) = self.offsets();
        if s.len() == 1 {
            return Ok(map_coords(out, s, |o, i| {
                i[0] = o[0].wrapping_sub(r);
                o[0] >= r && o[1] >= c && o[0] - r == o[1] - c
            }));
        }
        let (a, b) = self.axes(s.len())?;
        Ok(map_coords(out, s, |o, i| {
            let t = o[o.len() - 1];
            let mut rest = o.iter();
            for (d, slot) in i.iter_mut().enumerate() {
                *slot = if d == a {
                    t + r
                } else if d == b {
                    t + c
                } else {
                    *rest.next().unwrap_or(&0)
                };
            }
            true
        }))
    }
}

fn int_tuple(name: &str, a: &Attrs, key: &str) -> Result<Vec<i64>> {
    Ok(a.opt_tuple(name, key)?.unwrap_or_default())
}

fn reverse(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["axis"])?;
    Ok(Box::new(Reverse { name, axes: a.tuple(name, "axis")? }))
}

fn depth_to_space(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["block_size"])?;
    Ok(Box::new(DepthSpace { name, b: a.int(name, "block_size")?.max(0) as usize, to_space: true }))
}

fn space_to_depth(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["block_size"])?;
    Ok(Box::new(DepthSpace { name, b: a.int(name, "block_size")?.max(0) as usize, to_space: false }))
}

fn pad(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["mode", "pad_width", "constant_value"])?;
    let mode = match a.str_or("mode", "") {
        "constant" => PadMode::Constant,
        "edge" => PadMode::Edge,
        "reflect" => PadMode::Reflect,
        m => return Err(Error::param(name, format!("mode must be constant, edge or reflect, got '{m}'"))),
    };
    let width = a.shape(name, "pad_width")?;
    Ok(Box::new(Pad { name, mode, width, value: a.float_or(name, "constant_value", 0.0)? }))
}

fn up_sampling(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["scale", "num_filter", "sample_type", "multi_input_mode", "workspace", "num_args"])?;
    if a.str_or("sample_type", "") != "nearest" {
        return Err(Error::param(name, "only sample_type='nearest' is supported by mxrs"));
    }
    if a.int_or(name, "num_args", 1)? != 1 {
        return Err(Error::param(name, "mxrs supports UpSampling of one input"));
    }
    let scale = a.int(name, "scale")?;
    if scale < 1 {
        return Err(Error::param(name, format!("scale must be positive, got {scale}")));
    }
    Ok(Box::new(UpSampling { name, scale: scale as usize }))
}

fn slice_like(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["axes"])?;
    Ok(Box::new(SliceLike { name, axes: int_tuple(name, a, "axes")? }))
}

fn diag(name: &'static str, a: &Attrs) -> Result<Box<dyn Remap>> {
    a.check_known(name, &["k", "axis1", "axis2"])?;
    Ok(Box::new(Diag {
        name,
        k: a.int_or(name, "k", 0)?,
        axis1: a.int_or(name, "axis1", 0)?,
        axis2: a.int_or(name, "axis2", 1)?,
    }))
}

remap_grad!(grad_reverse, "_backward_reverse");
remap_grad!(grad_d2s, "_backward_depth_to_space");
remap_grad!(grad_s2d, "_backward_space_to_depth");
remap_grad!(grad_pad, "_backward_Pad");
remap_grad!(grad_up, "_backward_UpSampling");
remap_grad!(grad_slice_like, "_backward_slice_like");
remap_grad!(grad_diag, "_backward_diag");

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "reverse",
            back: "_backward_reverse",
            inputs: &["data"],
            params: params!("axis" = None),
            doc: "reverse the order of elements along the given axes",
            create: reverse,
            grad: grad_reverse,
            aliases: &["flip"],
        },
        Spec {
            name: "depth_to_space",
            back: "_backward_depth_to_space",
            inputs: &["data"],
            params: params!("block_size" = None),
            doc: "rearrange blocks of channels into spatial blocks (NCHW)",
            create: depth_to_space,
            grad: grad_d2s,
            aliases: &[],
        },
        Spec {
            name: "space_to_depth",
            back: "_backward_space_to_depth",
            inputs: &["data"],
            params: params!("block_size" = None),
            doc: "rearrange spatial blocks into channels (NCHW)",
            create: space_to_depth,
            grad: grad_s2d,
            aliases: &[],
        },
        Spec {
            name: "Pad",
            back: "_backward_Pad",
            inputs: &["data"],
            params: params!("mode" = None, "pad_width" = None, "constant_value" = Some("0")),
            doc: "pad the spatial axes of 4-D or 5-D data (constant, edge or reflect)",
            create: pad,
            grad: grad_pad,
            aliases: &["pad"],
        },
        Spec {
            name: "UpSampling",
            back: "_backward_UpSampling",
            inputs: &["*data"],
            params: params!(
                "scale" = None,
                "num_filter" = Some("0"),
                "sample_type" = None,
                "multi_input_mode" = Some("'concat'"),
                "num_args" = None,
                "workspace" = Some("512")
            ),
            doc: "nearest-neighbour upsampling of NCHW data",
            create: up_sampling,
            grad: grad_up,
            aliases: &[],
        },
        Spec {
            name: "slice_like",
            back: "_backward_slice_like",
            inputs: &["data", "shape_like"],
            params: params!("axes" = Some("()")),
            doc: "slice data to the shape of another array on the given axes",
            create: slice_like,
            grad: grad_slice_like,
            aliases: &[],
        },
        Spec {
            name: "diag",
            back: "_backward_diag",
            inputs: &["data"],
            params: params!("k" = Some("0"), "axis1" = Some("0"), "axis2" = Some("1")),
            doc: "extract a diagonal, or build a diagonal matrix from a vector",
            create: diag,
            grad: grad_diag,
            aliases: &[],
        },
    ]
}
