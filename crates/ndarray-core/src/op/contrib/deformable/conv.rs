//! `_contrib_DeformableConvolution` (v1) and `_contrib_ModulatedDeformableConvolution` (v2,
//! with a modulation mask), and their backward ops: a deformable im2col (bilinear samples at
//! the kernel positions moved by the offsets, times the mask) then a grouped GEMM with the
//! weight, as MXNet 1.9.1's kernels (`deformable_im2col.h`, `modulated_deformable_im2col.cuh`).

use super::super::super::conv::{check_layout, spatial};
use super::super::super::grad::Grads;
use super::super::super::{Attrs, GradBuilder, NodeEntry, ParamSpec};
use super::super::{In, Kernel, keys, shape_err};
use super::sampler::Sampling;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

/// The registered names.
pub(super) const DCN: &str = "_contrib_DeformableConvolution";
pub(super) const DCN_BWD: &str = "_backward_contrib_DeformableConvolution";
pub(super) const MDCN: &str = "_contrib_ModulatedDeformableConvolution";
pub(super) const MDCN_BWD: &str = "_backward_contrib_ModulatedDeformableConvolution";

/// `DeformableConvolution`'s parameters.
pub(super) const PARAMS: &[ParamSpec] = params!(
    "kernel" = None,
    "stride" = Some("()"),
    "dilate" = Some("()"),
    "pad" = Some("()"),
    "num_filter" = None,
    "num_group" = Some("1"),
    "num_deformable_group" = Some("1"),
    "workspace" = Some("1024"),
    "no_bias" = Some("False"),
    "layout" = Some("None")
);

/// `ModulatedDeformableConvolution`'s parameters.
pub(super) const MOD_PARAMS: &[ParamSpec] = params!(
    "kernel" = None,
    "stride" = Some("()"),
    "dilate" = Some("()"),
    "pad" = Some("()"),
    "num_filter" = None,
    "num_group" = Some("1"),
    "num_deformable_group" = Some("1"),
    "workspace" = Some("1024"),
    "no_bias" = Some("False"),
    "im2col_step" = Some("64"),
    "layout" = Some("None")
);

/// A deformable convolution (`modulated`: with a mask input), or its backward op.
#[derive(Debug)]
pub(super) struct DeformConv {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilate: [usize; 2],
    pad: [usize; 2],
    filters: usize,
    groups: usize,
    dgroups: usize,
    no_bias: bool,
    im2col_step: usize,
    modulated: bool,
    backward: bool,
}

/// The sizes of one call: batch, channels, input map, output map.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

/// One sampling point of the column buffer of an image.
#[derive(Debug, Clone, Copy)]
struct Point {
    /// Input channel.
    chan: usize,
    /// Column-buffer row (`chan * kh * kw + i * kw + j`).
    row: usize,
    /// Output position (`oh * wo + ow`).
    pos: usize,
    /// Offset index of the `y` shift (the `x` shift follows `ho * wo` later).
    off: usize,
    /// Mask index.
    mask: usize,
    y: f64,
    x: f64,
}

fn pair(v: &[usize]) -> [usize; 2] {
    [v[0], v[1]]
}

impl DeformConv {
    /// Parse the attributes of the op `modulated` and `backward` select.
    pub fn parse(a: &Attrs, modulated: bool, backward: bool) -> Result<DeformConv> {
        let op = Self::op_name(modulated, backward);
        a.check_known(op, &keys(if modulated { MOD_PARAMS } else { PARAMS }))?;
        let kernel = a.shape(op, "kernel")?;
        if kernel.len() != 2 {
            return Err(Error::param(op, format!("kernel {kernel:?} must be (h, w): only 2-D is implemented")));
        }
        if kernel.contains(&0) {
            return Err(Error::param(op, format!("incorrect kernel size {kernel:?}")));
        }
        check_layout(a, op, 2)?;
        let (stride, dilate) = (spatial(a, op, "stride", 2, 1)?, spatial(a, op, "dilate", 2, 1)?);
        if stride.contains(&0) || dilate.contains(&0) {
            return Err(Error::param(op, format!("stride {stride:?} and dilate {dilate:?} must be positive")));
        }
        let positive = |key: &str, default: i64| -> Result<usize> {
            let v = a.int_or(op, key, default)?;
            if v < 1 {
                return Err(Error::param(op, format!("{key} must be positive, got {v}")));
            }
            Ok(v as usize)
        };
        let filters = a.count(op, "num_filter")?;
        if filters == 0 {
            return Err(Error::param(op, "num_filter must be positive"));
        }
        let groups = positive("num_group", 1)?;
        if !filters.is_multiple_of(groups) {
            return Err(Error::param(op, format!("num_filter {filters} must be a multiple of num_group {groups}")));
        }
        Ok(DeformConv {
            kernel: pair(&kernel),
            stride: pair(&stride),
            dilate: pair(&dilate),
            pad: pair(&spatial(a, op, "pad", 2, 0)?),
            filters,
            groups,
            dgroups: positive("num_deformable_group", 1)?,
            no_bias: a.bool_or(op, "no_bias", false)?,
            im2col_step: if modulated { positive("im2col_step", 64)? } else { 1 },
            modulated,
            backward,
        })
    }

    fn op_name(modulated: bool, backward: bool) -> &'static str {
        match (modulated, backward) {
            (false, false) => DCN,
            (false, true) => DCN_BWD,
            (true, false) => MDCN,
            (true, true) => MDCN_BWD,
        }
    }

    fn kk(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Input names of the forward op.
    fn forward_inputs(&self) -> Vec<&'static str> {
        let mut v = vec!["data", "offset"];
        if self.modulated {
            v.push("mask");
        }
        v.push("weight");
        if !self.no_bias {
            v.push("bias");
        }
        v
    }

    /// The weight's position among the forward inputs.
    fn weight_at(&self) -> usize {
        if self.modulated { 3 } else { 2 }
    }

    fn weight_shape(&self, c: usize) -> Shape {
        vec![self.filters, c / self.groups, self.kernel[0], self.kernel[1]]
    }

    /// The output map size for an `h` x `w` input, or `None` if the kernel does not fit.
    fn out_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let one = |n: usize, d: usize| {
            let span = self.dilate[d] * (self.kernel[d] - 1) + 1;
            let padded = n + 2 * self.pad[d];
            (padded >= span).then(|| (padded - span) / self.stride[d] + 1)
        };
        Some((one(h, 0)?, one(w, 1)?))
    }

    /// Check the forward inputs' shapes (data, offset, [mask], weight, [bias]); the geometry.
    fn check(&self, x: &[Shape]) -> Result<Geom> {
        let op = self.name();
        let names = self.forward_inputs();
        let named: Vec<(&str, &[usize])> = names.iter().zip(x).map(|(n, s)| (*n, s.as_slice())).collect();
        let fail = |what: String| Err(shape_err(op, what, &named));
        let d = &x[0];
        if d.len() != 4 || d.contains(&0) {
            return fail("data must be a non-empty 4-D (N, C, H, W) array".into());
        }
        let (c, kk, dg) = (d[1], self.kk(), self.dgroups);
        if !c.is_multiple_of(self.groups) || !c.is_multiple_of(dg) {
            return fail(format!(
                "data's {c} channels must be a multiple of num_group {} and num_deformable_group {dg}",
                self.groups
            ));
        }
        let Some((ho, wo)) = self.out_size(d[2], d[3]) else {
            return fail(format!("kernel {:?} (dilate {:?}) exceeds the padded input", self.kernel, self.dilate));
        };
        if x[1] != [d[0], dg * 2 * kk, ho, wo] {
            return fail(format!("offset must have shape ({}, {}, {ho}, {wo})", d[0], dg * 2 * kk));
        }
        if self.modulated {
            if x[2] != [d[0], dg * kk, ho, wo] {
                return fail(format!("mask must have shape ({}, {}, {ho}, {wo})", d[0], dg * kk));
            }
            let step = self.im2col_step;
            if d[0] > step && !d[0].is_multiple_of(step) {
                return fail(format!("the batch size must be a multiple of im2col_step {step}"));
            }
        }
        let wi = self.weight_at();
        if x[wi] != self.weight_shape(c) {
            return fail(format!("weight must have shape {:?}", self.weight_shape(c)));
        }
        if !self.no_bias && x[wi + 1] != [self.filters] {
            return fail(format!("bias must have shape ({},)", self.filters));
        }
        Ok(Geom { n: d[0], c, h: d[2], w: d[3], ho, wo })
    }

    /// Calls `f` for every sampling point of one image, in column-buffer order.
    fn points(&self, g: &Geom, off: &[f64], mut f: impl FnMut(Point)) {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let (kk, hw) = (self.kk(), g.ho * g.wo);
        let per_group = g.c / self.dgroups;
        for chan in 0..g.c {
            let dg = chan / per_group;
            for i in 0..kh {
                for j in 0..kw {
                    let k = i * kw + j;
                    let row = chan * kk + k;
                    let off_base = (dg * 2 * kk + 2 * k) * hw;
                    let mask_base = (dg * kk + k) * hw;
                    for oh in 0..g.ho {
                        let y0 = (oh * self.stride[0] + i * self.dilate[0]) as f64 - self.pad[0] as f64;
                        for ow in 0..g.wo {
                            let x0 = (ow * self.stride[1] + j * self.dilate[1]) as f64 - self.pad[1] as f64;
                            let pos = oh * g.wo + ow;
                            let o = off_base + pos;
                            let (y, x) = (y0 + off[o], x0 + off[o + hw]);
                            f(Point { chan, row, pos, off: o, mask: mask_base + pos, y, x });
                        }
                    }
                }
            }
        }
    }

    fn sampling(&self) -> Sampling {
        if self.modulated { Sampling::ZeroPad } else { Sampling::Clamped }
    }

    /// The column buffer `(C * kh * kw, ho * wo)` of image `b`.
    fn im2col(&self, g: &Geom, data: &[f64], off: &[f64], mask: Option<&[f64]>) -> Vec<f64> {
        let (hw, map) = (g.ho * g.wo, g.h * g.w);
        let mut col = vec![0.0; g.c * self.kk() * hw];
        let s = self.sampling();
        self.points(g, off, |p| {
            let img = &data[p.chan * map..(p.chan + 1) * map];
            let m = mask.map_or(1.0, |m| m[p.mask]);
            col[p.row * hw + p.pos] = m * s.taps(g.h, g.w, p.y, p.x).value(img);
        });
        col
    }

    /// Slices of image `b` of the data, offset and mask.
    fn image<'a>(&self, g: &Geom, b: usize, x: &'a [In<'_>]) -> (&'a [f64], &'a [f64], Option<&'a [f64]>) {
        let kk_hw = self.kk() * g.ho * g.wo * self.dgroups;
        let dsz = g.c * g.h * g.w;
        let data = &x[0].v[b * dsz..(b + 1) * dsz];
        let off = &x[1].v[b * 2 * kk_hw..(b + 1) * 2 * kk_hw];
        let mask = self.modulated.then(|| &x[2].v[b * kk_hw..(b + 1) * kk_hw]);
        (data, off, mask)
    }

    fn forward(&self, x: &[In<'_>], g: &Geom) -> Vec<f64> {
        let hw = g.ho * g.wo;
        let (m, k) = (self.filters / self.groups, g.c / self.groups * self.kk());
        let wi = self.weight_at();
        let weight = &x[wi].v;
        let mut out = vec![0.0; g.n * self.filters * hw];
        for b in 0..g.n {
            let (data, off, mask) = self.image(g, b, x);
            let col = self.im2col(g, data, off, mask);
            let y = &mut out[b * self.filters * hw..(b + 1) * self.filters * hw];
            for grp in 0..self.groups {
                for mi in 0..m {
                    let yrow = &mut y[(grp * m + mi) * hw..(grp * m + mi + 1) * hw];
                    for ki in 0..k {
                        let wv = weight[(grp * m + mi) * k + ki];
                        let crow = &col[(grp * k + ki) * hw..(grp * k + ki + 1) * hw];
                        yrow.iter_mut().zip(crow).for_each(|(o, c)| *o += wv * c);
                    }
                    if !self.no_bias {
                        let bias = x[wi + 1].v[grp * m + mi];
                        yrow.iter_mut().for_each(|o| *o += bias);
                    }
                }
            }
        }
        out
    }

    /// The gradients of data, offset, [mask], weight, [bias] for the head gradient `dy`.
    fn backward(&self, dy: &[f64], x: &[In<'_>], g: &Geom) -> Vec<Vec<f64>> {
        let (hw, map) = (g.ho * g.wo, g.h * g.w);
        let (m, k) = (self.filters / self.groups, g.c / self.groups * self.kk());
        let wi = self.weight_at();
        let weight = &x[wi].v;
        let mut ddata = vec![0.0; x[0].v.len()];
        let mut doff = vec![0.0; x[1].v.len()];
        let mut dmask = if self.modulated { vec![0.0; x[2].v.len()] } else { Vec::new() };
        let mut dw = vec![0.0; weight.len()];
        let s = self.sampling();
        for b in 0..g.n {
            let (data, off, mask) = self.image(g, b, x);
            let dyb = &dy[b * self.filters * hw..(b + 1) * self.filters * hw];
            // The column buffer's gradient: weight^T . dy per group.
            let mut dcol = vec![0.0; g.c * self.kk() * hw];
            for grp in 0..self.groups {
                for mi in 0..m {
                    let drow = &dyb[(grp * m + mi) * hw..(grp * m + mi + 1) * hw];
                    for ki in 0..k {
                        let wv = weight[(grp * m + mi) * k + ki];
                        let crow = &mut dcol[(grp * k + ki) * hw..(grp * k + ki + 1) * hw];
                        crow.iter_mut().zip(drow).for_each(|(c, d)| *c += wv * d);
                    }
                }
            }
            let (dsz, osz, msz) = (g.c * map, off.len(), mask.map_or(0, |m| m.len()));
            let ddata_b = &mut ddata[b * dsz..(b + 1) * dsz];
            let doff_b = &mut doff[b * osz..(b + 1) * osz];
            self.points(g, off, |p| {
                let taps = s.taps(g.h, g.w, p.y, p.x);
                let img = &data[p.chan * map..(p.chan + 1) * map];
                let gc = dcol[p.row * hw + p.pos];
                let mv = mask.map_or(1.0, |m| m[p.mask]);
                for t in taps.iter() {
                    ddata_b[p.chan * map + t.idx] += t.w * gc * mv;
                }
                let (gy, gx) = taps.grad(img);
                doff_b[p.off] += gy * gc * mv;
                doff_b[p.off + hw] += gx * gc * mv;
                if mask.is_some() {
                    dmask[b * msz + p.mask] += gc * taps.value(img);
                }
            });
            let col = self.im2col(g, data, off, mask);
            for grp in 0..self.groups {
                for mi in 0..m {
                    let drow = &dyb[(grp * m + mi) * hw..(grp * m + mi + 1) * hw];
                    for ki in 0..k {
                        let crow = &col[(grp * k + ki) * hw..(grp * k + ki + 1) * hw];
                        dw[(grp * m + mi) * k + ki] += drow.iter().zip(crow).map(|(d, c)| d * c).sum::<f64>();
                    }
                }
            }
        }
        let mut outs = vec![ddata, doff];
        if self.modulated {
            outs.push(dmask);
        }
        outs.push(dw);
        if !self.no_bias {
            let mut db = vec![0.0; self.filters];
            for (i, row) in dy.chunks(hw).enumerate() {
                db[i % self.filters] += row.iter().sum::<f64>();
            }
            outs.push(db);
        }
        outs
    }
}

impl Kernel for DeformConv {
    fn name(&self) -> &'static str {
        Self::op_name(self.modulated, self.backward)
    }
    fn num_outputs(&self) -> usize {
        if self.backward { self.forward_inputs().len() } else { 1 }
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let mut names = self.forward_inputs();
        if self.backward {
            names.pop_if(|n| *n == "bias");
            names.insert(0, "out_grad");
        }
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn fill_inputs(&self, inputs: &mut [Option<Shape>]) -> Result<()> {
        let k = usize::from(self.backward);
        let Some(d) = inputs[k].clone() else { return Ok(()) };
        if d.len() != 4 {
            return Ok(());
        }
        let wi = k + self.weight_at();
        if inputs[wi].is_none() {
            inputs[wi] = Some(self.weight_shape(d[1]));
        }
        if !self.backward && !self.no_bias && inputs[wi + 1].is_none() {
            inputs[wi + 1] = Some(vec![self.filters]);
        }
        if let Some((ho, wo)) = self.out_size(d[2], d[3]) {
            let (dg, kk) = (self.dgroups, self.kk());
            inputs[k + 1].get_or_insert_with(|| vec![d[0], dg * 2 * kk, ho, wo]);
            if self.modulated {
                inputs[k + 2].get_or_insert_with(|| vec![d[0], dg * kk, ho, wo]);
            }
        }
        Ok(())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if self.backward {
            let mut fwd = x[1..].to_vec();
            if !self.no_bias {
                fwd.push(vec![self.filters]);
            }
            let g = self.check(&fwd)?;
            let want = [g.n, self.filters, g.ho, g.wo];
            if x[0] != want {
                let what = format!("out_grad must have the output's shape {want:?}");
                return Err(shape_err(self.name(), what, &[("out_grad", &x[0]), ("data", &x[1])]));
            }
            return Ok(fwd);
        }
        let g = self.check(x)?;
        Ok(vec![vec![g.n, self.filters, g.ho, g.wo]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        if self.backward {
            let mut shapes: Vec<Shape> = x[1..].iter().map(|i| i.s.to_vec()).collect();
            if !self.no_bias {
                shapes.push(vec![self.filters]);
            }
            let g = self.check(&shapes)?;
            return Ok(self.backward(&x[0].v, &x[1..], &g));
        }
        let shapes: Vec<Shape> = x.iter().map(|i| i.s.to_vec()).collect();
        let g = self.check(&shapes)?;
        Ok(vec![self.forward(x, &g)])
    }
}

/// The gradient of either deformable convolution through its backward op.
fn grad_via(name: &str, b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let no_bias = a.bool_or(name, "no_bias", false)?;
    let n = if no_bias { x.len() } else { x.len() - 1 };
    let mut ins = vec![g[0]];
    ins.extend_from_slice(&x[..n]);
    let outs = b.op(name, &ins, a.clone())?;
    Ok(outs.into_iter().take(x.len()).map(Some).collect())
}

/// `DeformableConvolution`'s gradient.
pub(super) fn grad_dcn(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    grad_via(DCN_BWD, b, a, x, g)
}

/// `ModulatedDeformableConvolution`'s gradient.
pub(super) fn grad_mdcn(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Grads {
    grad_via(MDCN_BWD, b, a, x, g)
}
