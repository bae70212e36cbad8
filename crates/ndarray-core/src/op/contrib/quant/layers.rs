//! Quantized layers that carry their input's range: `quantized_pooling`, `quantized_flatten`,
//! `quantized_act` (relu), `quantized_embedding`, and `quantized_batch_norm` (which maps onto
//! a calibrated output range).

use super::super::super::Attrs;
use super::super::super::conv::{check_layout, spatial};
use super::super::super::registry::Registry;
use super::{
    In, INT8_RANGE, QKernel, UINT8_RANGE, add, bounds, dtype_err, int8_or_uint8, max_abs, names, round_sat, scalar,
    zero_grads,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape};

const POOL: &str = "_contrib_quantized_pooling";
const FLATTEN: &str = "_contrib_quantized_flatten";
const ACT: &str = "_contrib_quantized_act";
const EMBED: &str = "_contrib_quantized_embedding";
const BN: &str = "_contrib_quantized_batch_norm";

/// `quantized_pooling(data, min_data, max_data)`: max or average pooling of int8/uint8 NCHW or
/// NCDHW data, the range passed through. Averages are rounded to nearest (ties to even) as
/// oneDNN rounds them; `count_include_pad` (default true) divides by the kernel's size.
#[derive(Debug)]
struct QuantizedPool {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    pad: Vec<usize>,
    max: bool,
    global: bool,
    full: bool,
    include_pad: bool,
}

impl QuantizedPool {
    fn parse(a: &Attrs) -> Result<QuantizedPool> {
        let keys = [
            "kernel",
            "pool_type",
            "global_pool",
            "cudnn_off",
            "pooling_convention",
            "stride",
            "pad",
            "p_value",
            "count_include_pad",
            "layout",
        ];
        a.check_known(POOL, &keys)?;
        let global = a.bool_or(POOL, "global_pool", false)?;
        let kernel = a.shape(POOL, "kernel")?;
        if !global && !(2..=3).contains(&kernel.len()) {
            return Err(Error::param(POOL, format!("kernel {kernel:?} must be 2-D or 3-D (NCHW or NCDHW data)")));
        }
        let nd = kernel.len();
        if nd > 0 {
            check_layout(a, POOL, nd)?;
        }
        let max = match a.str_or("pool_type", "max") {
            "max" => true,
            "avg" => false,
            other => return Err(Error::param(POOL, format!("pool_type must be 'max' or 'avg', got '{other}'"))),
        };
        let full = match a.str_or("pooling_convention", "valid") {
            "valid" => false,
            "full" => true,
            other => {
                return Err(Error::param(POOL, format!("pooling_convention must be 'valid' or 'full', got '{other}'")));
            }
        };
        let p = QuantizedPool {
            stride: spatial(a, POOL, "stride", nd, 1)?,
            pad: spatial(a, POOL, "pad", nd, 0)?,
            max,
            global,
            full,
            include_pad: a.bool_or(POOL, "count_include_pad", true)?,
            kernel,
        };
        if p.stride.contains(&0) || (!global && p.kernel.contains(&0)) {
            return Err(Error::param(POOL, "kernel and stride must be positive"));
        }
        Ok(p)
    }

    /// Per spatial dimension: (kernel, stride, pad, output size) for `data`.
    fn dims(&self, data: &[usize]) -> Result<Vec<[usize; 4]>> {
        if !(4..=5).contains(&data.len()) || (!self.global && data.len() != self.kernel.len() + 2) {
            return Err(Error::shape(
                POOL,
                format!("data {} must be 4-D or 5-D and match the kernel {:?}", fmt_shape(data), self.kernel),
            ));
        }
        let sp = &data[2..];
        if self.global {
            return Ok(sp.iter().map(|&d| [d, 1, 0, 1]).collect());
        }
        let mut out = Vec::with_capacity(sp.len());
        for (i, &d) in sp.iter().enumerate() {
            let (k, s, p) = (self.kernel[i], self.stride[i], self.pad[i]);
            if k > d + 2 * p {
                return Err(Error::shape(
                    POOL,
                    format!("kernel {:?} exceeds data {} padded by {:?}", self.kernel, fmt_shape(data), self.pad),
                ));
            }
            let span = d + 2 * p - k;
            let o = if self.full { span.div_ceil(s) + 1 } else { span / s + 1 };
            out.push([k, s, p, o]);
        }
        Ok(out)
    }
}

impl QKernel for QuantizedPool {
    fn name(&self) -> &'static str {
        POOL
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "min_data", "max_data"])
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![1, 2]
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        int8_or_uint8(POOL, "data", x[0])?;
        Ok(vec![x[0], DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let dims = self.dims(&x[0])?;
        let out = x[0][..2].iter().copied().chain(dims.iter().map(|d| d[3])).collect();
        Ok(vec![out, vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape], dt: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let dims = self.dims(x[0].s)?;
        // Treat 2-D as 3-D with a unit depth.
        let mut g = vec![[1, 1, 0, 1]; 3 - dims.len()];
        g.extend(dims);
        let ins: Vec<usize> = std::iter::repeat_n(1, 5 - x[0].s.len()).chain(x[0].s[2..].iter().copied()).collect();
        let (d, h, w) = (ins[0], ins[1], ins[2]);
        let planes = x[0].s[0] * x[0].s[1];
        let (od, oh, ow) = (g[0][3], g[1][3], g[2][3]);
        let (lo, hi) = bounds(dt[0]);
        let mut res = Vec::with_capacity(out[0].iter().product());
        for p in 0..planes {
            let src = &x[0].v[p * d * h * w..(p + 1) * d * h * w];
            for (a, b, c) in itertools_product(od, oh, ow) {
                let mut acc = if self.max { f64::NEG_INFINITY } else { 0.0 };
                let mut count = 0usize;
                for (i, j, k) in itertools_product(g[0][0], g[1][0], g[2][0]) {
                    let zi = (a * g[0][1] + i) as isize - g[0][2] as isize;
                    let yi = (b * g[1][1] + j) as isize - g[1][2] as isize;
                    let xi = (c * g[2][1] + k) as isize - g[2][2] as isize;
                    if zi < 0 || yi < 0 || xi < 0 || zi as usize >= d || yi as usize >= h || xi as usize >= w {
                        continue;
                    }
                    let v = src[(zi as usize * h + yi as usize) * w + xi as usize];
                    count += 1;
                    acc = if self.max { acc.max(v) } else { acc + v };
                }
                res.push(if self.max {
                    if count == 0 { 0.0 } else { acc }
                } else {
                    let n = if self.include_pad { g[0][0] * g[1][0] * g[2][0] } else { count.max(1) };
                    round_sat(acc as f32 / n as f32, lo, hi)
                });
            }
        }
        Ok(vec![res, x[1].v.clone(), x[2].v.clone()])
    }
}

/// Every `(a, b, c)` below `(n0, n1, n2)`, in row-major order.
fn itertools_product(n0: usize, n1: usize, n2: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n0).flat_map(move |a| (0..n1).flat_map(move |b| (0..n2).map(move |c| (a, b, c))))
}

/// `quantized_flatten(data, min_data, max_data)`: data reshaped to `(d0, rest)`, range passed
/// through.
#[derive(Debug)]
struct QuantizedFlatten;

impl QKernel for QuantizedFlatten {
    fn name(&self) -> &'static str {
        FLATTEN
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "min_data", "max_data"])
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![1, 2]
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        int8_or_uint8(FLATTEN, "data", x[0])?;
        Ok(vec![x[0], DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if x[0].is_empty() {
            return Err(Error::shape(FLATTEN, "data must have at least one dimension, got ()"));
        }
        Ok(vec![vec![x[0][0], x[0][1..].iter().product()], vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![x[0].v.clone(), x[1].v.clone(), x[2].v.clone()])
    }
}

/// `quantized_act(data, min_data, max_data)` with `act_type='relu'`: `max(x, 0)`, range passed
/// through. MXNet types the output int8 whatever the input, and its oneDNN kernel writes a
/// uint8 input's bytes unchanged, so uint8 values above 127 read back wrapped (200 -> -56).
#[derive(Debug)]
struct QuantizedAct;

impl QKernel for QuantizedAct {
    fn name(&self) -> &'static str {
        ACT
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "min_data", "max_data"])
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![1, 2]
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        int8_or_uint8(ACT, "data", x[0])?;
        Ok(vec![DType::I8, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![x[0].clone(), vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let out = if in_dt[0] == DType::U8 {
            x[0].v.iter().map(|&v| if v > 127.0 { v - 256.0 } else { v }).collect()
        } else {
            x[0].v.iter().map(|&v| v.max(0.0)).collect()
        };
        Ok(vec![out, x[1].v.clone(), x[2].v.clone()])
    }
}

/// `quantized_embedding(data, weight, min_weight, max_weight)`: rows of an int8 weight
/// `(input_dim, output_dim)` picked by the (clipped) indices in data; the weight's range is the
/// output's.
#[derive(Debug)]
struct QuantizedEmbedding {
    input_dim: usize,
    output_dim: usize,
}

impl QKernel for QuantizedEmbedding {
    fn name(&self) -> &'static str {
        EMBED
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "weight", "min_weight", "max_weight"])
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![2, 3]
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (i == 1).then_some(DType::I8)
    }
    fn dtypes(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I8, DType::F32, DType::F32])
    }
    fn fill_shapes(&self, x: &mut [Option<Shape>]) -> Result<()> {
        x[1].get_or_insert_with(|| vec![self.input_dim, self.output_dim]);
        Ok(())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if x[1] != [self.input_dim, self.output_dim] {
            return Err(Error::shape(
                EMBED,
                format!(
                    "weight must have shape ({}, {}), got {}",
                    self.input_dim,
                    self.output_dim,
                    fmt_shape(&x[1])
                ),
            ));
        }
        let out = x[0].iter().copied().chain([self.output_dim]).collect();
        Ok(vec![out, vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let k = self.output_dim;
        let last = self.input_dim.saturating_sub(1) as f64;
        let mut out = Vec::with_capacity(x[0].v.len() * k);
        for &i in &x[0].v {
            let r = i.clamp(0.0, last) as usize;
            out.extend_from_slice(&x[1].v[r * k..(r + 1) * k]);
        }
        Ok(vec![out, x[2].v.clone(), x[3].v.clone()])
    }
}

/// `quantized_batch_norm(data, gamma, beta, moving_mean, moving_var, min_data, max_data)` as
/// MXNet's oneDNN kernel: inference with the moving statistics folded into a per-channel
/// `f32` scale and shift onto the calibrated output range (required), int8 out. uint8 data is
/// first rescaled to int8 by `127.5 / 255.5`; as in MXNet, oneDNN's normalisation by the
/// rescaled unit variance leaves a factor `1 / sqrt(1 + eps)`.
#[derive(Debug)]
struct QuantizedBatchNorm {
    eps: f64,
    axis: i64,
    range: (f32, f32),
}

impl QuantizedBatchNorm {
    fn channel_axis(&self, data: &[usize]) -> Result<usize> {
        crate::shape::norm_axis(BN, self.axis, data.len())
    }
}

impl QKernel for QuantizedBatchNorm {
    fn name(&self) -> &'static str {
        BN
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "gamma", "beta", "moving_mean", "moving_var", "min_data", "max_data"])
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![5, 6]
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (1..5).contains(&i).then_some(DType::F32)
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        int8_or_uint8(BN, "data", x[0])?;
        Ok(vec![DType::I8, DType::F32, DType::F32])
    }
    fn fill_shapes(&self, x: &mut [Option<Shape>]) -> Result<()> {
        if let Some(d) = x[0].clone() {
            let c = d[self.channel_axis(&d)?];
            for s in &mut x[1..5] {
                s.get_or_insert_with(|| vec![c]);
            }
        }
        Ok(())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let c = x[0][self.channel_axis(&x[0])?];
        let names = self.input_names();
        for i in 1..5 {
            if x[i] != [c] {
                return Err(Error::shape(
                    BN,
                    format!("{} must have shape ({c},) for data {}, got {}", names[i], fmt_shape(&x[0]), fmt_shape(&x[i])),
                ));
            }
        }
        Ok(vec![x[0].clone(), vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let s = x[0].s;
        let ax = self.channel_axis(s)?;
        let c = s[ax];
        let inner: usize = s[ax + 1..].iter().product();
        let abs_data = max_abs(scalar(&x[5]), scalar(&x[6]));
        let abs_out = max_abs(self.range.0, self.range.1);
        let (weight, shift): (Vec<f32>, Vec<f32>) = (0..c)
            .map(|ch| {
                let (gamma, beta) = (x[1].v[ch] as f32, x[2].v[ch] as f32);
                let (mean, var) = (x[3].v[ch] as f32, x[4].v[ch] as f32);
                let invstd = (1.0 / (var as f64 + self.eps).sqrt()) as f32;
                let w = gamma * invstd * abs_data / abs_out;
                let b = (beta - mean * gamma * invstd) * INT8_RANGE / abs_out;
                (w, b)
            })
            .unzip();
        let unit = 1.0 / (1.0f32 + self.eps as f32).sqrt();
        let u8_scale = INT8_RANGE / UINT8_RANGE;
        let out = x[0]
            .v
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = (i / inner) % c;
                let q = if in_dt[0] == DType::U8 { round_sat(v as f32 * u8_scale, -128.0, 127.0) } else { v } as f32;
                round_sat(weight[ch] * (q * unit) + shift[ch], -128.0, 127.0)
            })
            .collect();
        Ok(vec![out, vec![self.range.0 as f64], vec![self.range.1 as f64]])
    }
}

fn parse_bn(a: &Attrs) -> Result<QuantizedBatchNorm> {
    let keys = [
        "eps",
        "momentum",
        "fix_gamma",
        "use_global_stats",
        "output_mean_var",
        "axis",
        "cudnn_off",
        "min_calib_range",
        "max_calib_range",
    ];
    a.check_known(BN, &keys)?;
    let lo = a.opt_float(BN, "min_calib_range")?;
    let hi = a.opt_float(BN, "max_calib_range")?;
    let Some(range) = lo.zip(hi) else {
        return Err(Error::param(
            BN,
            "min_calib_range and max_calib_range are required (MXNet's quantized batch norm has no calib_mode=None)",
        ));
    };
    Ok(QuantizedBatchNorm {
        eps: a.float_or(BN, "eps", 1e-3)?,
        axis: a.int_or(BN, "axis", 1)?,
        range: (range.0 as f32, range.1 as f32),
    })
}

/// Register the layers.
pub(super) fn register(r: &mut Registry) {
    let p = params!(
        "kernel" = Some("[]"),
        "pool_type" = Some("'max'"),
        "global_pool" = Some("False"),
        "cudnn_off" = Some("False"),
        "pooling_convention" = Some("'valid'"),
        "stride" = Some("[]"),
        "pad" = Some("[]"),
        "p_value" = Some("None"),
        "count_include_pad" = Some("None"),
        "layout" = Some("None"),
    );
    add(r, POOL, &["data", "min_data", "max_data"], p, "max or average pooling of int8/uint8 data", QuantizedPool::parse);
    add(r, FLATTEN, &["data", "min_data", "max_data"], params!(), "flatten int8/uint8 data to 2-D", |a| {
        a.check_known(FLATTEN, &[])?;
        Ok(QuantizedFlatten)
    });
    add(r, ACT, &["data", "min_data", "max_data"], params!("act_type" = None), "relu of int8/uint8 data", |a| {
        a.check_known(ACT, &["act_type"])?;
        match a.str_or("act_type", "") {
            "relu" => Ok(QuantizedAct),
            other => Err(Error::param(ACT, format!("only act_type='relu' is supported, got '{other}'"))),
        }
    });
    let p = params!("input_dim" = None, "output_dim" = None, "dtype" = Some("'float32'"), "sparse_grad" = Some("False"));
    add(r, EMBED, &["data", "weight", "min_weight", "max_weight"], p, "rows of an int8 embedding matrix", |a| {
        a.check_known(EMBED, &["input_dim", "output_dim", "dtype", "sparse_grad"])?;
        let (i, o) = (a.int(EMBED, "input_dim")?, a.int(EMBED, "output_dim")?);
        if i < 1 || o < 1 {
            return Err(Error::param(EMBED, format!("input_dim ({i}) and output_dim ({o}) must be positive")));
        }
        Ok(QuantizedEmbedding { input_dim: i as usize, output_dim: o as usize })
    });
    let p = params!(
        "eps" = Some("0.001"),
        "momentum" = Some("0.9"),
        "fix_gamma" = Some("True"),
        "use_global_stats" = Some("False"),
        "output_mean_var" = Some("False"),
        "axis" = Some("1"),
        "cudnn_off" = Some("False"),
        "min_calib_range" = Some("None"),
        "max_calib_range" = Some("None"),
    );
    let ins: &[&str] = &["data", "gamma", "beta", "moving_mean", "moving_var", "min_data", "max_data"];
    add(r, BN, ins, p, "batch norm (inference) of int8/uint8 data onto a calibrated int8 range", parse_bn);
    for name in [POOL, FLATTEN, EMBED, BN] {
        r.set_gradient(name, zero_grads);
    }
    let _ = dtype_err;
}
