//! `Convolution` and `Deconvolution` (transposed convolution) over NCW, NCHW and NCDHW data, with their
//! fused backward ops `_backward_Convolution` and `_backward_Deconvolution`.
//!
//! Kernels live in [`crate::backend::cpu::conv`]; float16 and bfloat16 compute in float32.

use super::registry::Registry;
use super::{Attrs, GradBuilder, Kept, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_dtype};
use crate::backend::cpu::Parallelism;
use crate::backend::cpu::conv::{
    ConvFloat, ConvGeom, PoolGeom, PoolKind, bias_backward, conv_backward_data, conv_backward_weight, conv_forward,
    pool_backward, pool_forward,
};
use crate::backend::device::{self, DevIn, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// One kernel call of this family, run on float32 or float64 slices by [`run_float`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Task {
    /// `(data, weight[, bias]) -> out`.
    ConvFwd(ConvGeom, bool),
    /// `(out_grad, data, weight) -> (data_grad, weight_grad[, bias_grad])`, the ones flagged.
    ConvBwd(ConvGeom, Kept),
    /// `(data, weight[, bias]) -> out` of a transposed convolution whose adjoint is `ConvGeom`.
    DeconvFwd(ConvGeom, bool),
    /// `(out_grad, data, weight) -> (data_grad, weight_grad[, bias_grad])`, the ones flagged.
    DeconvBwd(ConvGeom, Kept),
    /// `data -> out`.
    PoolFwd(PoolGeom, PoolKind),
    /// `(out_grad, data, out) -> data_grad`.
    PoolBwd(PoolGeom, PoolKind),
}

impl Task {
    fn run<T: ConvFloat + StorageElement>(self, par: Parallelism, x: &[&[T]]) -> Vec<Vec<T>> {
        match self {
            Task::ConvFwd(g, bias) => vec![conv_forward(par, x[0], x[1], bias.then(|| x[2]), &g)],
            Task::ConvBwd(g, Kept(keep)) => {
                let mut v = Vec::with_capacity(3);
                if keep[0] {
                    v.push(conv_backward_data(par, x[0], x[2], &g));
                }
                if keep[1] {
                    v.push(conv_backward_weight(par, x[0], x[1], &g));
                }
                if keep[2] {
                    v.push(bias_backward(x[0], g.batch, g.out_c, g.out_vol()));
                }
                v
            }
            Task::DeconvFwd(g, bias) => {
                let mut y = conv_backward_data(par, x[0], x[1], &g);
                if bias {
                    let plane = g.in_vol();
                    for (i, chunk) in y.chunks_mut(plane.max(1)).enumerate() {
                        let b = x[2][i % g.in_c];
                        chunk.iter_mut().for_each(|v| *v = *v + b);
                    }
                }
                vec![y]
            }
            Task::DeconvBwd(g, Kept(keep)) => {
                let mut v = Vec::with_capacity(3);
                if keep[0] {
                    v.push(conv_forward(par, x[0], x[2], None, &g));
                }
                if keep[1] {
                    v.push(conv_backward_weight(par, x[1], x[0], &g));
                }
                if keep[2] {
                    v.push(bias_backward(x[0], g.batch, g.in_c, g.in_vol()));
                }
                v
            }
            Task::PoolFwd(g, k) => vec![pool_forward(par, x[0], &g, k)],
            Task::PoolBwd(g, k) => vec![pool_backward(par, x[0], x[1], x[2], &g, k)],
        }
    }
}

fn float_slices<'a, T: StorageElement>(op: &str, ins: &[&'a CpuStorage]) -> Result<Vec<&'a [T]>> {
    ins.iter().map(|s| T::slice(s).ok_or_else(|| Error::dtype(op, s.dtype(), "inputs must share one dtype"))).collect()
}

/// Run `task` on the inputs' dtype: float32 and float64 natively, float16 and bfloat16 through
/// float32 (results cast back); other dtypes are an error.
pub(super) fn run_float(par: Parallelism, op: &str, task: Task, ins: &[TensorIn<'_>]) -> Result<Vec<CpuStorage>> {
    let dtype = ins.first().map(|t| t.dtype()).unwrap_or(DType::F32);
    match dtype {
        DType::F32 | DType::F64 => {
            let owned: Vec<_> = ins.iter().map(|t| t.storage()).collect();
            let refs: Vec<&CpuStorage> = owned.iter().map(|c| &**c).collect();
            Ok(if dtype == DType::F32 {
                task.run(par, &float_slices::<f32>(op, &refs)?).into_iter().map(f32::wrap).collect()
            } else {
                task.run(par, &float_slices::<f64>(op, &refs)?).into_iter().map(f64::wrap).collect()
            })
        }
        DType::F16 | DType::BF16 => {
            let owned: Vec<CpuStorage> = ins.iter().map(|t| t.data.cast(t.offset, t.len(), DType::F32)).collect();
            let refs: Vec<&CpuStorage> = owned.iter().collect();
            let outs = task.run(par, &float_slices::<f32>(op, &refs)?);
            Ok(outs
                .into_iter()
                .map(|v| {
                    let n = v.len();
                    CpuStorage::F32(v.into()).cast(0, n, dtype)
                })
                .collect())
        }
        d => Err(Error::dtype(op, d, "needs floating-point inputs")),
    }
}

/// All inputs share one floating-point dtype, which every output has.
pub(super) fn float_dtype(op: &str, inputs: &[DType], outputs: usize) -> Result<Vec<DType>> {
    let d = same_dtype(op, inputs)?;
    if !d.is_float() {
        return Err(Error::dtype(op, d, "needs floating-point inputs"));
    }
    Ok(vec![d; outputs])
}

/// A per-dimension tuple parameter: empty gives `default` for every dimension.
pub(super) fn spatial(a: &Attrs, op: &str, key: &str, nd: usize, default: usize) -> Result<Vec<usize>> {
    let t = a.shape(op, key)?;
    if t.is_empty() {
        return Ok(vec![default; nd]);
    }
    if t.len() != nd {
        return Err(Error::param(op, format!("{key} {t:?} must have {nd} entries, as the kernel has")));
    }
    Ok(t)
}

/// Accept the layouts matching `nd` spatial dimensions in NC(D)HW order.
pub(super) fn check_layout(a: &Attrs, op: &str, nd: usize) -> Result<()> {
    let layout = a.str_or("layout", "None");
    let want = match nd {
        1 => "NCW",
        2 => "NCHW",
        _ => "NCDHW",
    };
    if layout == "None" || layout == want {
        Ok(())
    } else if ["NCW", "NCHW", "NCDHW"].contains(&layout) {
        Err(Error::param(op, format!("layout {layout} does not match the {nd}-D kernel (use {want})")))
    } else {
        Err(Error::NotSupported(format!("{op}: layout {layout} is not supported (only NCW, NCHW and NCDHW)")))
    }
}

/// `v` (1 to 3 entries) as (depth, height, width), the missing leading ones `fill`.
pub(super) fn dhw(v: &[usize], fill: usize) -> [usize; 3] {
    let mut out = [fill; 3];
    out[3 - v.len()..].copy_from_slice(v);
    out
}

/// Check a kernel's rank: 1 to 3 spatial dimensions.
pub(super) fn check_kernel_rank(op: &str, kernel: &[usize]) -> Result<()> {
    match kernel.len() {
        0 => Err(Error::param(op, "required parameter 'kernel' is missing")),
        1..=3 => Ok(()),
        _ => Err(Error::param(op, format!("kernel {kernel:?} must have 1, 2 or 3 entries"))),
    }
}

/// Parameters of Convolution and Deconvolution (and of the quantized convolution, which takes
/// Convolution's).
#[derive(Clone, Debug)]
pub(super) struct ConvParams {
    pub(super) kernel: Vec<usize>,
    pub(super) stride: Vec<usize>,
    pub(super) dilate: Vec<usize>,
    pub(super) pad: Vec<usize>,
    adj: Vec<usize>,
    target: Vec<usize>,
    pub(super) num_filter: usize,
    pub(super) num_group: usize,
    pub(super) no_bias: bool,
}

const CONV_KEYS: &[&str] = &[
    "kernel",
    "stride",
    "dilate",
    "pad",
    "num_filter",
    "num_group",
    "workspace",
    "no_bias",
    "cudnn_tune",
    "cudnn_off",
    "layout",
];
const DECONV_KEYS: &[&str] = &[
    "kernel",
    "stride",
    "dilate",
    "pad",
    "adj",
    "target_shape",
    "num_filter",
    "num_group",
    "workspace",
    "no_bias",
    "cudnn_tune",
    "cudnn_off",
    "layout",
];

impl ConvParams {
    /// The attributes of `op`, Convolution's or (`deconv`) Deconvolution's, checked.
    pub(super) fn parse(op: &str, a: &Attrs, deconv: bool) -> Result<ConvParams> {
        a.check_known(op, if deconv { DECONV_KEYS } else { CONV_KEYS })?;
        let kernel = a.shape(op, "kernel")?;
        check_kernel_rank(op, &kernel)?;
        let nd = kernel.len();
        check_layout(a, op, nd)?;
        let p = ConvParams {
            stride: spatial(a, op, "stride", nd, 1)?,
            dilate: spatial(a, op, "dilate", nd, 1)?,
            pad: spatial(a, op, "pad", nd, 0)?,
            adj: if deconv { spatial(a, op, "adj", nd, 0)? } else { vec![0; nd] },
            target: if deconv { spatial(a, op, "target_shape", nd, 0)? } else { vec![0; nd] },
            num_filter: a.int(op, "num_filter")?.max(0) as usize,
            num_group: a.int_or(op, "num_group", 1)?.max(0) as usize,
            no_bias: a.bool_or(op, "no_bias", deconv)?,
            kernel,
        };
        if p.kernel.contains(&0) || p.stride.contains(&0) || p.dilate.contains(&0) {
            return Err(Error::param(
                op,
                format!("kernel {:?}, stride {:?} and dilate {:?} must be positive", p.kernel, p.stride, p.dilate),
            ));
        }
        if p.num_filter == 0 || p.num_group == 0 {
            return Err(Error::param(op, "num_filter and num_group must be positive"));
        }
        if !p.num_filter.is_multiple_of(p.num_group) {
            return Err(Error::param(
                op,
                format!("num_filter ({}) must be divisible by num_group ({})", p.num_filter, p.num_group),
            ));
        }
        Ok(p)
    }

    fn nd(&self) -> usize {
        self.kernel.len()
    }

    /// The data's channels, checked against the groups.
    fn channels(&self, op: &str, data: &[usize]) -> Result<usize> {
        if data.len() != self.nd() + 2 {
            return Err(Error::shape(
                op,
                format!(
                    "data {} must have {} dimensions for a {}-D kernel {:?}",
                    fmt_shape(data),
                    self.nd() + 2,
                    self.nd(),
                    self.kernel
                ),
            ));
        }
        if !data[1].is_multiple_of(self.num_group) {
            return Err(Error::shape(
                op,
                format!(
                    "data {}: {} channels are not divisible by num_group {}",
                    fmt_shape(data),
                    data[1],
                    self.num_group
                ),
            ));
        }
        Ok(data[1])
    }

    /// The geometry as 3-D: 2-D data gets a unit depth, 1-D data also a unit height.
    fn geom(
        &self,
        batch: usize,
        in_c: usize,
        out_c: usize,
        insz: &[usize],
        outsz: &[usize],
        pad: &[usize],
    ) -> ConvGeom {
        let ([kd, kh, kw], [sd, sh, sw]) = (dhw(&self.kernel, 1), dhw(&self.stride, 1));
        let ([dd, dh, dw], [pd, ph, pw]) = (dhw(&self.dilate, 1), dhw(pad, 0));
        let ([d, h, w], [od, oh, ow]) = (dhw(insz, 1), dhw(outsz, 1));
        let groups = self.num_group;
        ConvGeom { batch, in_c, d, h, w, out_c, groups, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow }
    }

    fn bias_shape(&self) -> Shape {
        vec![self.num_filter]
    }
}

fn check_input(op: &str, what: &str, got: &[usize], want: &[usize], data: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::shape(
            op,
            format!(
                "{what} shape {} does not match {} expected for data {}",
                fmt_shape(got),
                fmt_shape(want),
                fmt_shape(data)
            ),
        ));
    }
    Ok(())
}

/// Fill or check the weight and bias slots from the expected shapes.
fn fill_params(op: &str, inputs: &mut [Option<Shape>], want: &[Shape], data: &[usize]) -> Result<()> {
    for (i, w) in want.iter().enumerate() {
        let what = if i == 0 { "weight" } else { "bias" };
        match &inputs[i + 1] {
            Some(s) => check_input(op, what, s, w, data)?,
            None => inputs[i + 1] = Some(w.clone()),
        }
    }
    Ok(())
}

/// `Convolution` or `Deconvolution` (`deconv`), or their backward op when `backward`: the two
/// differ only in their layout (a deconvolution runs the adjoint convolution's geometry).
#[derive(Debug, Clone)]
struct Conv {
    p: ConvParams,
    deconv: bool,
    backward: bool,
    /// Backward only: which of the (data, weight, bias) gradients to compute.
    keep: Kept,
}

impl Conv {
    fn new(p: ConvParams, deconv: bool, backward: bool) -> Conv {
        let keep = Kept::all(!p.no_bias);
        Conv { p, deconv, backward, keep }
    }

    fn name_of(&self) -> &'static str {
        match (self.deconv, self.backward) {
            (false, false) => "Convolution",
            (false, true) => "_backward_Convolution",
            (true, false) => "Deconvolution",
            (true, true) => "_backward_Deconvolution",
        }
    }

    fn num_params(&self) -> usize {
        if self.p.no_bias { 2 } else { 3 }
    }

    /// Geometry (of the convolution, or of the adjoint one for a deconvolution), the weight
    /// shape and the output shape for `data`.
    fn layout(&self, data: &[usize]) -> Result<(ConvGeom, Shape, Shape)> {
        if self.deconv { self.deconv_layout(data) } else { self.conv_layout(data) }
    }

    /// Geometry, weight shape and output shape of a convolution of `data`.
    fn conv_layout(&self, data: &[usize]) -> Result<(ConvGeom, Shape, Shape)> {
        let (op, p) = (self.name_of(), &self.p);
        let c = p.channels(op, data)?;
        let mut out = vec![data[0], p.num_filter];
        for i in 0..p.nd() {
            let dk = p.dilate[i] * (p.kernel[i] - 1) + 1;
            let padded = data[2 + i] + 2 * p.pad[i];
            if dk > padded {
                return Err(Error::shape(
                    op,
                    format!(
                        "kernel {:?} (dilated size {dk}) exceeds the input: data {} padded to {padded} with pad {:?}",
                        p.kernel,
                        fmt_shape(data),
                        p.pad
                    ),
                ));
            }
            out.push((padded - dk) / p.stride[i] + 1);
        }
        let mut weight = vec![p.num_filter, c / p.num_group];
        weight.extend(&p.kernel);
        let g = p.geom(data[0], c, p.num_filter, &data[2..], &out[2..], &p.pad);
        Ok((g, weight, out))
    }
}

impl Operator for Conv {
    fn name(&self) -> &str {
        self.name_of()
    }
    fn num_outputs(&self) -> usize {
        if self.backward { self.keep.count() } else { 1 }
    }
    fn keep_outputs(&self, keep: &[bool]) -> Option<Box<dyn Operator>> {
        if !self.backward {
            return None;
        }
        Some(Box::new(Conv { keep: self.keep.narrow(keep)?, ..self.clone() }))
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = match (self.backward, self.p.no_bias) {
            (false, false) => &["data", "weight", "bias"],
            (false, true) => &["data", "weight"],
            (true, _) => &["out_grad", "data", "weight"],
        };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let op = self.name_of();
        if self.backward {
            expect_inputs(op, inputs.len(), 3)?;
            let (_, weight, out) = self.layout(&inputs[1])?;
            check_input(op, "weight", &inputs[2], &weight, &inputs[1])?;
            check_input(op, "out_grad", &inputs[0], &out, &inputs[1])?;
            let all = [inputs[1].clone(), weight, self.p.bias_shape()];
            return Ok(self.keep.select(all));
        }
        expect_inputs(op, inputs.len(), self.num_params())?;
        let (_, weight, out) = self.layout(&inputs[0])?;
        check_input(op, "weight", &inputs[1], &weight, &inputs[0])?;
        if !self.p.no_bias {
            check_input(op, "bias", &inputs[2], &self.p.bias_shape(), &inputs[0])?;
        }
        Ok(vec![out])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.backward {
            return default_partial(self, inputs, outputs);
        }
        let Some(data) = inputs.first().cloned().flatten() else { return Ok(()) };
        let (_, weight, out) = self.layout(&data)?;
        let mut want = vec![weight];
        if !self.p.no_bias {
            want.push(self.p.bias_shape());
        }
        fill_params(self.name_of(), inputs, &want, &data)?;
        super::assign_shapes(self.name_of(), outputs, &[out])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        float_dtype(self.name_of(), inputs, self.num_outputs())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let bias = !self.p.no_bias;
        let (g, _, _) = self.layout(x[usize::from(self.backward)].shape)?;
        let task = match (self.deconv, self.backward) {
            (false, false) => Task::ConvFwd(g, bias),
            (false, true) => Task::ConvBwd(g, self.keep),
            (true, false) => Task::DeconvFwd(g, bias),
            (true, true) => Task::DeconvBwd(g, self.keep),
        };
        run_float(ctx.par, self.name_of(), task, x)
    }
    /// Convolution and its backward on the device (`backend/cuda/conv.rs`); Deconvolution runs
    /// through host memory.
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        if self.deconv {
            return Ok(None);
        }
        if self.backward {
            let (g, _, _) = self.layout(x[1].shape)?;
            return device::conv_backward(x[0], x[1], x[2], &g, self.keep.0);
        }
        let (g, _, _) = self.layout(x[0].shape)?;
        let bias = if self.p.no_bias { None } else { Some(x[2]) };
        Ok(device::conv_forward(x[0], x[1], bias, &g)?.map(|y| vec![y]))
    }
}

/// The default partial inference: run `infer_shape` once every input is known.
fn default_partial(op: &dyn Operator, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
    let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
    let inferred = op.infer_shape(&known)?;
    super::assign_shapes(op.name(), outputs, &inferred)
}

impl Conv {
    /// The adjoint convolution's geometry, the weight shape and the output shape of a
    /// deconvolution of `data`.
    fn deconv_layout(&self, data: &[usize]) -> Result<(ConvGeom, Shape, Shape)> {
        let (op, p) = (self.name_of(), &self.p);
        let c = p.channels(op, data)?;
        let use_target = p.target.iter().any(|&t| t != 0);
        let mut out = vec![data[0], p.num_filter];
        let mut pads = Vec::with_capacity(p.nd());
        for i in 0..p.nd() {
            let dk = p.dilate[i] * (p.kernel[i] - 1) + 1;
            let full = p.stride[i] * data[2 + i].saturating_sub(1) + dk;
            let (pad, adj) = if use_target {
                if full < p.target[i] {
                    return Err(Error::shape(
                        op,
                        format!(
                            "target_shape {:?} is too big for data {} (at most {full} in dimension {i})",
                            p.target,
                            fmt_shape(data)
                        ),
                    ));
                }
                let total = full - p.target[i];
                (total.div_ceil(2), total % 2)
            } else {
                (p.pad[i], p.adj[i])
            };
            if adj >= p.stride[i] {
                return Err(Error::shape(
                    op,
                    format!("adj {adj} must be smaller than stride {:?} (data {})", p.stride, fmt_shape(data)),
                ));
            }
            if full + adj <= 2 * pad {
                return Err(Error::shape(
                    op,
                    format!("pad {pad} leaves no output for data {} and kernel {:?}", fmt_shape(data), p.kernel),
                ));
            }
            out.push(full + adj - 2 * pad);
            pads.push(pad);
        }
        let mut weight = vec![c, p.num_filter / p.num_group];
        weight.extend(&p.kernel);
        let g = p.geom(data[0], p.num_filter, c, &out[2..], &data[2..], &pads);
        Ok((g, weight, out))
    }
}

/// Gradient of Convolution / Deconvolution: one fused backward op giving every input's gradient.
/// Fused: `_backward_Convolution` 8.06 ms vs 23.26 ms composed (Deconvolution, transposed
/// Convolution, sum) on 32x16x28x28 with 32 3x3 filters, pad 1; `_backward_Deconvolution`
/// 7.73 ms vs 23.82 ms on 32x32x28x28 to 16 3x3 filters (examples/fused_backward.rs).
fn grad_via(
    name: &str,
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let outs = b.op(name, &[g[0], x[0], x[1]], attrs.clone())?;
    Ok(outs.into_iter().take(x.len()).map(Some).collect())
}

fn grad_conv(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    grad_via("_backward_Convolution", b, attrs, x, g)
}

fn grad_deconv(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    grad_via("_backward_Deconvolution", b, attrs, x, g)
}

pub(super) fn register(r: &mut Registry) {
    let conv_params = params!(
        "kernel" = None,
        "stride" = Some("()"),
        "dilate" = Some("()"),
        "pad" = Some("()"),
        "num_filter" = None,
        "num_group" = Some("1"),
        "workspace" = Some("1024"),
        "no_bias" = Some("False"),
        "cudnn_tune" = Some("None"),
        "cudnn_off" = Some("False"),
        "layout" = Some("None")
    );
    let deconv_params = params!(
        "kernel" = None,
        "stride" = Some("()"),
        "dilate" = Some("()"),
        "pad" = Some("()"),
        "adj" = Some("()"),
        "target_shape" = Some("()"),
        "num_filter" = None,
        "num_group" = Some("1"),
        "workspace" = Some("512"),
        "no_bias" = Some("True"),
        "cudnn_tune" = Some("None"),
        "cudnn_off" = Some("False"),
        "layout" = Some("None")
    );
    r.add(
        "Convolution",
        &["data", "weight", "bias"],
        conv_params,
        "convolution over NCW, NCHW or NCDHW data with a (num_filter, C/num_group, *kernel) weight",
        |a: &Attrs| Ok(Box::new(Conv::new(ConvParams::parse("Convolution", a, false)?, false, false))),
    );
    r.add(
        "_backward_Convolution",
        &["out_grad", "data", "weight"],
        conv_params,
        "gradients of Convolution's data, weight and bias",
        |a: &Attrs| Ok(Box::new(Conv::new(ConvParams::parse("_backward_Convolution", a, false)?, false, true))),
    );
    r.set_gradient("Convolution", grad_conv);
    r.add(
        "Deconvolution",
        &["data", "weight", "bias"],
        deconv_params,
        "transposed convolution over NCW, NCHW or NCDHW data with a (C, num_filter/num_group, *kernel) weight",
        |a: &Attrs| Ok(Box::new(Conv::new(ConvParams::parse("Deconvolution", a, true)?, true, false))),
    );
    r.add(
        "_backward_Deconvolution",
        &["out_grad", "data", "weight"],
        deconv_params,
        "gradients of Deconvolution's data, weight and bias",
        |a: &Attrs| Ok(Box::new(Conv::new(ConvParams::parse("_backward_Deconvolution", a, true)?, true, true))),
    );
    r.set_gradient("Deconvolution", grad_deconv);
}

#[cfg(test)]
#[path = "conv_tests.rs"]
mod tests;
