//! `quantized_fully_connected` and `quantized_conv`: int8/uint8 data times int8 weights,
//! accumulated exactly in int32, with MXNet's output range
//! (`QuantizationRangeForMultiplication`: one data level times one weight level times 2^31).
//!
//! Inputs are MXNet's: `data, weight, [bias,] min_data, max_data, min_weight, max_weight,
//! [min_bias, max_bias]`.

use super::super::super::Attrs;
use super::super::super::conv::{ConvParams, dhw};
use super::super::super::registry::Registry;
use super::{
    INT8_RANGE, INT32_RANGE, In, QKernel, UINT8_RANGE, add, int8_or_uint8, max_abs, names, scalar, zero_grads,
};
use crate::backend::cpu::Parallelism;
use crate::backend::cpu::conv::{ConvGeom, conv_forward};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape};

const FC: &str = "_contrib_quantized_fully_connected";
const CONV: &str = "_contrib_quantized_conv";

/// Input names with or without a bias.
fn io_names(no_bias: bool) -> Vec<String> {
    if no_bias {
        names(&["data", "weight", "min_data", "max_data", "min_weight", "max_weight"])
    } else {
        names(&["data", "weight", "bias", "min_data", "max_data", "min_weight", "max_weight", "min_bias", "max_bias"])
    }
}

/// Number of quantized inputs (data, weight and maybe bias).
fn arrays(no_bias: bool) -> usize {
    if no_bias { 2 } else { 3 }
}

/// The output range `[-m, m]` of a product of data (int8 when `signed`, else uint8) and int8
/// weights, as MXNet's `QuantizationRangeForS8S8Multiplication` (both levels over 127) and
/// `...S8U8...` (which applies int8's 127 to the data and uint8's 255 to the weight) compute it.
pub(super) fn product_range(signed: bool, data: (f32, f32), weight: (f32, f32)) -> f32 {
    let a = max_abs(data.0, data.1) / 127.0;
    let b = max_abs(weight.0, weight.1) / if signed { 127.0 } else { 255.0 };
    a * b * INT32_RANGE
}

/// `(min, max)` of range inputs `i` and `i + 1`.
fn pair(x: &[In<'_>], i: usize) -> (f32, f32) {
    (scalar(&x[i]), scalar(&x[i + 1]))
}

/// Checks shared by both ops: data int8/uint8, weight and bias int8.
fn dtypes_of(op: &str, x: &[DType]) -> Result<Vec<DType>> {
    int8_or_uint8(op, "data", x[0])?;
    Ok(vec![DType::I32, DType::F32, DType::F32])
}

/// An int32 accumulator saturated as oneDNN stores it.
fn sat32(v: f64) -> f64 {
    v.clamp(i32::MIN as f64, i32::MAX as f64)
}

/// `quantized_fully_connected`: int8/uint8 data times int8 weight, as MXNet's oneDNN kernel
/// (`mkldnn_quantized_fully_connected.cc`): the int8 bias enters as
/// `trunc(bias * data_scale * weight_scale * MaxAbs(bias range) / 127.5)`.
#[derive(Debug)]
struct QuantizedFc {
    num_hidden: usize,
    no_bias: bool,
    flatten: bool,
}

impl QuantizedFc {
    /// Input features of `data`.
    fn features(&self, data: &[usize]) -> Result<usize> {
        if data.is_empty() {
            return Err(Error::shape(FC, "data must have at least one dimension, got ()"));
        }
        Ok(if self.flatten { data[1..].iter().product() } else { data[data.len() - 1] })
    }
}

impl QKernel for QuantizedFc {
    fn name(&self) -> &'static str {
        FC
    }
    fn input_names(&self) -> Vec<String> {
        io_names(self.no_bias)
    }
    fn range_inputs(&self) -> Vec<usize> {
        let n = arrays(self.no_bias);
        (n..3 * n).collect()
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (1..arrays(self.no_bias)).contains(&i).then_some(DType::I8)
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        dtypes_of(FC, x)
    }
    fn fill_shapes(&self, x: &mut [Option<Shape>]) -> Result<()> {
        if let Some(d) = x[0].clone() {
            let k = self.features(&d)?;
            x[1].get_or_insert_with(|| vec![self.num_hidden, k]);
            if !self.no_bias {
                x[2].get_or_insert_with(|| vec![self.num_hidden]);
            }
        }
        Ok(())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let k = self.features(&x[0])?;
        if x[1] != [self.num_hidden, k] {
            return Err(Error::shape(
                FC,
                format!(
                    "weight must have shape ({}, {k}) for data {} and num_hidden {}, got {}",
                    self.num_hidden,
                    fmt_shape(&x[0]),
                    self.num_hidden,
                    fmt_shape(&x[1])
                ),
            ));
        }
        if !self.no_bias && x[2] != [self.num_hidden] {
            return Err(Error::shape(
                FC,
                format!("bias must have shape ({},), got {}", self.num_hidden, fmt_shape(&x[2])),
            ));
        }
        let out = if self.flatten {
            vec![x[0][0], self.num_hidden]
        } else {
            let mut s = x[0].clone();
            *s.last_mut().expect("checked non-empty") = self.num_hidden;
            s
        };
        Ok(vec![out, vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape], _: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let n = arrays(self.no_bias);
        let (data, weight) = (pair(x, n), pair(x, n + 2));
        let signed = in_dt[0] == DType::I8;
        let data_scale = if signed { INT8_RANGE } else { UINT8_RANGE } / max_abs(data.0, data.1);
        let weight_scale = INT8_RANGE / max_abs(weight.0, weight.1);
        let k = self.features(x[0].s)?;
        let h = self.num_hidden;
        let bias: Vec<f64> = if self.no_bias {
            vec![0.0; h]
        } else {
            let b = pair(x, n + 4);
            let rescale = data_scale * weight_scale * max_abs(b.0, b.1) / INT8_RANGE;
            x[2].v.iter().map(|&v| (v as f32 * rescale) as i32 as f64).collect()
        };
        let w = &x[1].v;
        let rows = out[0].iter().product::<usize>() / h;
        let out = (0..rows)
            .flat_map(|r| {
                let row = &x[0].v[r * k..(r + 1) * k];
                (0..h).map(move |o| row.iter().zip(&w[o * k..(o + 1) * k]).map(|(a, b)| a * b).sum::<f64>())
            })
            .enumerate()
            .map(|(i, acc)| sat32(acc + bias[i % h]))
            .collect();
        let m = product_range(signed, data, weight);
        Ok(vec![out, vec![-m as f64], vec![m as f64]])
    }
}

/// `quantized_conv` over NCHW or NCDHW data with `num_group=1`. uint8 data follows MXNet's
/// oneDNN kernel (`mkldnn_quantized_conv.cc`), which adds the int8 bias values unscaled; int8
/// data (which MXNet's CPU build refuses) follows its portable kernel (`quantized_conv.cu`):
/// `trunc((acc * out_level + bias * bias_level) / out_level)` with levels `MaxAbs / INT32_MAX`
/// and `MaxAbs / 127`.
#[derive(Debug)]
struct QuantizedConv(ConvParams);

impl QuantizedConv {
    /// Convolution's attributes (parsed as Convolution parses them), restricted to what the
    /// quantized kernel runs.
    fn parse(a: &Attrs) -> Result<QuantizedConv> {
        let p = ConvParams::parse(CONV, a, false)?;
        if !(2..=3).contains(&p.kernel.len()) {
            return Err(Error::param(CONV, format!("kernel {:?} must be 2-D or 3-D (NCHW or NCDHW data)", p.kernel)));
        }
        if p.num_group != 1 {
            return Err(Error::param(CONV, "quantized_conv only supports num_group=1"));
        }
        Ok(QuantizedConv(p))
    }

    /// The weight shape for `data`.
    fn weight_shape(&self, data: &[usize]) -> Shape {
        [self.0.num_filter, data[1]].into_iter().chain(self.0.kernel.iter().copied()).collect()
    }

    /// The geometry (checked) and output shape for `data`.
    fn geom(&self, data: &[usize]) -> Result<(ConvGeom, Shape)> {
        let nd = self.0.kernel.len();
        if data.len() != nd + 2 {
            return Err(Error::shape(
                CONV,
                format!("data {} must have {} dimensions for a {nd}-D kernel", fmt_shape(data), nd + 2),
            ));
        }
        let mut out = vec![data[0], self.0.num_filter];
        for i in 0..nd {
            let span = self.0.dilate[i] * (self.0.kernel[i] - 1) + 1;
            let padded = data[i + 2] + 2 * self.0.pad[i];
            if padded < span {
                return Err(Error::shape(
                    CONV,
                    format!("kernel {:?} (dilated) exceeds padded data {}", self.0.kernel, fmt_shape(data)),
                ));
            }
            out.push((padded - span) / self.0.stride[i] + 1);
        }
        let ([kd, kh, kw], [sd, sh, sw]) = (dhw(&self.0.kernel, 1), dhw(&self.0.stride, 1));
        let ([dd, dh, dw], [pd, ph, pw]) = (dhw(&self.0.dilate, 1), dhw(&self.0.pad, 0));
        let ([d, h, w], [od, oh, ow]) = (dhw(&data[2..], 1), dhw(&out[2..], 1));
        let (batch, in_c, out_c) = (data[0], data[1], self.0.num_filter);
        let g = ConvGeom {
            batch,
            in_c,
            d,
            h,
            w,
            out_c,
            groups: 1,
            kd,
            kh,
            kw,
            sd,
            sh,
            sw,
            pd,
            ph,
            pw,
            dd,
            dh,
            dw,
            od,
            oh,
            ow,
        };
        Ok((g, out))
    }
}

impl QKernel for QuantizedConv {
    fn name(&self) -> &'static str {
        CONV
    }
    fn input_names(&self) -> Vec<String> {
        io_names(self.0.no_bias)
    }
    fn range_inputs(&self) -> Vec<usize> {
        let n = arrays(self.0.no_bias);
        (n..3 * n).collect()
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (1..arrays(self.0.no_bias)).contains(&i).then_some(DType::I8)
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        dtypes_of(CONV, x)
    }
    fn fill_shapes(&self, x: &mut [Option<Shape>]) -> Result<()> {
        if let Some(d) = x[0].clone() {
            self.geom(&d)?;
            x[1].get_or_insert_with(|| self.weight_shape(&d));
            if !self.0.no_bias {
                x[2].get_or_insert_with(|| vec![self.0.num_filter]);
            }
        }
        Ok(())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let (_, out) = self.geom(&x[0])?;
        let want = self.weight_shape(&x[0]);
        if x[1] != want {
            return Err(Error::shape(
                CONV,
                format!(
                    "weight must have shape {} for data {}, got {}",
                    fmt_shape(&want),
                    fmt_shape(&x[0]),
                    fmt_shape(&x[1])
                ),
            ));
        }
        if !self.0.no_bias && x[2] != [self.0.num_filter] {
            return Err(Error::shape(
                CONV,
                format!("bias must have shape ({},), got {}", self.0.num_filter, fmt_shape(&x[2])),
            ));
        }
        Ok(vec![out, vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let n = arrays(self.0.no_bias);
        let (g, _) = self.geom(x[0].s)?;
        let acc = conv_forward::<f64>(Parallelism::SERIAL, &x[0].v, &x[1].v, None, &g);
        let m = product_range(true, pair(x, n), pair(x, n + 2));
        let plane = g.out_vol();
        let out = if self.0.no_bias {
            acc.into_iter().map(sat32).collect()
        } else if in_dt[0] == DType::U8 {
            acc.iter().enumerate().map(|(i, &v)| sat32(v + x[2].v[(i / plane) % g.out_c])).collect()
        } else {
            let b = pair(x, n + 4);
            let out_level = (m as f64 / i32::MAX as f64) as f32;
            let bias_level = (max_abs(b.0, b.1) as f64 / 127.0) as f32;
            acc.iter()
                .enumerate()
                .map(|(i, &v)| {
                    let bias = x[2].v[(i / plane) % g.out_c] as f32;
                    ((sat32(v) as i32 as f32 * out_level + bias * bias_level) / out_level) as i32 as f64
                })
                .collect()
        };
        Ok(vec![out, vec![-m as f64], vec![m as f64]])
    }
}

/// Register the two products.
pub(super) fn register(r: &mut Registry) {
    let inputs: &[&str] =
        &["data", "weight", "bias", "min_data", "max_data", "min_weight", "max_weight", "min_bias", "max_bias"];
    let p = params!("num_hidden" = None, "no_bias" = Some("False"), "flatten" = Some("True"));
    let doc = "fully connected layer over int8/uint8 data and int8 weights, accumulated in int32";
    add(r, FC, inputs, p, doc, |a| {
        a.check_known(FC, &["num_hidden", "no_bias", "flatten"])?;
        let h = a.int(FC, "num_hidden")?;
        if h < 1 {
            return Err(Error::param(FC, format!("num_hidden must be positive, got {h}")));
        }
        Ok(QuantizedFc {
            num_hidden: h as usize,
            no_bias: a.bool_or(FC, "no_bias", false)?,
            flatten: a.bool_or(FC, "flatten", true)?,
        })
    });
    let p = params!(
        "kernel" = None,
        "stride" = Some("[]"),
        "dilate" = Some("[]"),
        "pad" = Some("[]"),
        "num_filter" = None,
        "num_group" = Some("1"),
        "workspace" = Some("1024"),
        "no_bias" = Some("False"),
        "cudnn_tune" = Some("None"),
        "cudnn_off" = Some("False"),
        "layout" = Some("None"),
    );
    let doc = "convolution over int8/uint8 data and int8 weights, accumulated in int32";
    add(r, CONV, inputs, p, doc, QuantizedConv::parse);
    r.set_gradient(FC, zero_grads);
    r.set_gradient(CONV, zero_grads);
}
