//! Conversions between float32 and the quantized types: `quantize`, `quantize_v2`,
//! `dequantize` and `requantize`, with the arithmetic of MXNet 1.9.1's oneDNN kernels
//! (`mkldnn_quantize-inl.h`, `mkldnn_quantize_v2-inl.h`, `mkldnn_dequantize-inl.h`,
//! `mkldnn_requantize-inl.h`): one `f32` scale per call, `round_sat(x * scale)`.

use super::super::super::registry::Registry;
use super::{
    Calib, In, INT8_RANGE, INT32_RANGE, QKernel, UINT8_RANGE, add, bounds, dtype_err, int8_or_uint8, max_abs, names,
    round_sat, scalar, zero_grads,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const QUANTIZE: &str = "_contrib_quantize";
const QUANTIZE_V2: &str = "_contrib_quantize_v2";
const DEQUANTIZE: &str = "_contrib_dequantize";
const REQUANTIZE: &str = "_contrib_requantize";

/// The shapes of `(data, min, max)` outputs: data's shape and two `(1,)`.
fn data_and_range(data: &Shape) -> Vec<Shape> {
    vec![data.clone(), vec![1], vec![1]]
}

/// `quantize(data, min_range, max_range)`: float32 to int8 (zero-centred, scale
/// `127 / MaxAbs(min, max)`, range `[-r, r]`) or uint8 (scale `255 / MaxAbs(min, max)`, the input
/// range passed through).
#[derive(Debug)]
struct Quantize {
    out: DType,
}

impl QKernel for Quantize {
    fn name(&self) -> &'static str {
        QUANTIZE
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "min_range", "max_range"])
    }
    fn output_names(&self) -> Option<Vec<String>> {
        None
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![1, 2]
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (i == 0).then_some(DType::F32)
    }
    fn dtypes(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.out, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(data_and_range(&x[0]))
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let (lo, hi) = (scalar(&x[1]), scalar(&x[2]));
        let real = max_abs(lo, hi);
        let (q, omin, omax) = if self.out == DType::U8 { (255.0f32, lo, hi) } else { (127.0f32, -real, real) };
        let scale = q / real;
        let (bl, bh) = bounds(self.out);
        let out = x[0].v.iter().map(|&v| round_sat(v as f32 * scale, bl, bh)).collect();
        Ok(vec![out, vec![omin as f64], vec![omax as f64]])
    }
}

/// `quantize_v2(data)`: float32 to int8 or uint8 over the calibrated range or, without one,
/// the data's own minimum and maximum; int8 or uint8 data passes through with its range
/// (calibrated, or the type's `[-127.5, 127.5]` / `[0, 255.5]` as MXNet's oneDNN kernel
/// reports it).
#[derive(Debug)]
struct QuantizeV2 {
    calib: Calib,
}

/// Float data's `(min, max)`, as the oneDNN kernel scans it (`(FLT_MAX, -FLT_MAX)` when empty).
pub(super) fn data_range(v: &[f64]) -> (f32, f32) {
    v.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x as f32), hi.max(x as f32)))
}

impl QKernel for QuantizeV2 {
    fn name(&self) -> &'static str {
        QUANTIZE_V2
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data"])
    }
    fn output_names(&self) -> Option<Vec<String>> {
        None
    }
    fn range_inputs(&self) -> Vec<usize> {
        Vec::new()
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        if !matches!(x[0], DType::F32 | DType::I8 | DType::U8) {
            return Err(dtype_err(QUANTIZE_V2, "data", x[0], "float32, int8 or uint8"));
        }
        Ok(vec![self.calib.out, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(data_and_range(&x[0]))
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], dt: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let (bl, bh) = bounds(dt[0]);
        if in_dt[0] != DType::F32 {
            let (lo, hi) = self.calib.range.unwrap_or(if in_dt[0] == DType::U8 {
                (0.0, UINT8_RANGE)
            } else {
                (-INT8_RANGE, INT8_RANGE)
            });
            let out = x[0].v.iter().map(|&v| v.clamp(bl, bh)).collect();
            return Ok(vec![out, vec![lo as f64], vec![hi as f64]]);
        }
        let (lo, hi) = self.calib.range.unwrap_or_else(|| data_range(&x[0].v));
        let real = max_abs(lo, hi);
        let (q, omin, omax) = if dt[0] == DType::U8 { (UINT8_RANGE, lo, hi) } else { (INT8_RANGE, -real, real) };
        let scale = q / real;
        let out = x[0].v.iter().map(|&v| round_sat(v as f32 * scale, bl, bh)).collect();
        Ok(vec![out, vec![omin as f64], vec![omax as f64]])
    }
}

/// `dequantize(data, min_range, max_range)`: int8 or uint8 to float32, `x * MaxAbs(min, max) /
/// 127.5` (int8) or `/ 255.5` (uint8), as MXNet's oneDNN kernel (which ignores a uint8 minimum).
#[derive(Debug)]
struct Dequantize;

impl QKernel for Dequantize {
    fn name(&self) -> &'static str {
        DEQUANTIZE
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "min_range", "max_range"])
    }
    fn num_outputs(&self) -> usize {
        1
    }
    fn output_names(&self) -> Option<Vec<String>> {
        Some(names(&["output"]))
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![1, 2]
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        int8_or_uint8(DEQUANTIZE, "data", x[0])?;
        Ok(vec![DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![x[0].clone()])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let real = max_abs(scalar(&x[1]), scalar(&x[2]));
        let q = if in_dt[0] == DType::U8 { UINT8_RANGE } else { INT8_RANGE };
        let scale = real / q;
        Ok(vec![x[0].v.iter().map(|&v| (v as f32 * scale) as f64).collect()])
    }
}

/// `requantize(data, min_range, max_range)`: int32 (ranged `[-MaxAbs, MaxAbs]` over 2^31) to
/// int8 or uint8, over the calibrated range or, without one, the range of the data's extreme
/// value, as MXNet's oneDNN kernel computes both.
#[derive(Debug)]
struct Requantize {
    calib: Calib,
}

/// The real range of uncalibrated int32 data: `MaxAbs(min, max)` of the data, converted back to
/// int32 as MXNet's kernel does (2^31 wraps to `INT32_MIN` on x86), times the input range over
/// 2^31.
fn int32_real_range(v: &[f64], lo: f32, hi: f32) -> f32 {
    let (dmin, dmax) = v.iter().fold((i32::MAX as f64, i32::MIN as f64), |(a, b), &x| (a.min(x), b.max(x)));
    let abs = max_abs(dmin as f32, dmax as f32);
    let data_range = if abs >= INT32_RANGE { i32::MIN } else { abs as i32 };
    data_range as f32 * max_abs(lo, hi) / INT32_RANGE
}

impl QKernel for Requantize {
    fn name(&self) -> &'static str {
        REQUANTIZE
    }
    fn input_names(&self) -> Vec<String> {
        names(&["data", "min_range", "max_range"])
    }
    fn output_names(&self) -> Option<Vec<String>> {
        None
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![1, 2]
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (i == 0).then_some(DType::I32)
    }
    fn dtypes(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.calib.out, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        Ok(data_and_range(&x[0]))
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], dt: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let (lo, hi) = (scalar(&x[1]), scalar(&x[2]));
        let real = match self.calib.range {
            Some((a, b)) => max_abs(a, b),
            None => int32_real_range(&x[0].v, lo, hi),
        };
        let first_scale = max_abs(lo, hi) / INT32_RANGE;
        let (second_q, omin) = if dt[0] == DType::U8 { (255.0f32, 0.0) } else { (127.0f32, -real) };
        let scale = first_scale * (second_q / real);
        let (bl, bh) = bounds(dt[0]);
        let out = x[0].v.iter().map(|&v| round_sat(v as f32 * scale, bl, bh)).collect();
        Ok(vec![out, vec![omin as f64], vec![real as f64]])
    }
}

/// Parse `out_type` of `quantize` (`int8` or `uint8`, default `uint8`).
fn quantize_out(a: &super::super::super::Attrs) -> Result<DType> {
    match a.str_or("out_type", "uint8") {
        "int8" => Ok(DType::I8),
        "uint8" => Ok(DType::U8),
        other => Err(Error::param(QUANTIZE, format!("out_type must be 'int8' or 'uint8', got '{other}'"))),
    }
}

/// Register the conversions.
pub(super) fn register(r: &mut Registry) {
    let doc = "quantize float32 data to int8 or uint8 over the range [min_range, max_range]";
    add(r, QUANTIZE, &["data", "min_range", "max_range"], params!("out_type" = Some("'uint8'")), doc, |a| {
        a.check_known(QUANTIZE, &["out_type"])?;
        Ok(Quantize { out: quantize_out(a)? })
    });
    let p = params!("out_type" = Some("'int8'"), "min_calib_range" = Some("None"), "max_calib_range" = Some("None"));
    let doc = "quantize float32 data to int8 or uint8 over a calibrated range or the data's own";
    add(r, QUANTIZE_V2, &["data"], p, doc, |a| {
        a.check_known(QUANTIZE_V2, &["out_type", "min_calib_range", "max_calib_range"])?;
        Ok(QuantizeV2 { calib: Calib::parse(QUANTIZE_V2, a, "int8")? })
    });
    let doc = "dequantize int8 or uint8 data to float32 over the range [min_range, max_range]";
    add(r, DEQUANTIZE, &["data", "min_range", "max_range"], params!("out_type" = Some("'float32'")), doc, |a| {
        a.check_known(DEQUANTIZE, &["out_type"])?;
        match a.str_or("out_type", "float32") {
            "float32" => Ok(Dequantize),
            other => Err(Error::param(DEQUANTIZE, format!("out_type must be 'float32', got '{other}'"))),
        }
    });
    let p = params!("out_type" = Some("'int8'"), "min_calib_range" = Some("None"), "max_calib_range" = Some("None"));
    let doc = "requantize int32 data to int8 or uint8 over a calibrated range or the data's own";
    add(r, REQUANTIZE, &["data", "min_range", "max_range"], p, doc, |a| {
        a.check_known(REQUANTIZE, &["out_type", "min_calib_range", "max_calib_range"])?;
        Ok(Requantize { calib: Calib::parse(REQUANTIZE, a, "int8")? })
    });
    for name in [QUANTIZE, QUANTIZE_V2, DEQUANTIZE, REQUANTIZE] {
        r.set_gradient(name, zero_grads);
    }
}
