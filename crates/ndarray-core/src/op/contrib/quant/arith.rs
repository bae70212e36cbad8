//! Quantized arithmetic over several ranged inputs: `quantized_concat` and
//! `quantized_elemwise_add` (oneDNN kernels: every input rescaled onto the output's range),
//! and `quantized_elemwise_mul` (MXNet's portable CPU kernel).

use super::super::super::Attrs;
use super::super::super::registry::Registry;
use super::{In, INT8_RANGE, INT32_RANGE, QKernel, UINT8_RANGE, add, bounds, int8_or_uint8, max_abs, round_sat, scalar};
use super::{matmul::product_range, zero_grads};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape, norm_axis};

const CONCAT: &str = "_contrib_quantized_concat";
const ADD: &str = "_contrib_quantized_elemwise_add";
const MUL: &str = "_contrib_quantized_elemwise_mul";

/// oneDNN's scale numerator of an int8 or uint8 array (`GetScale` in MXNet).
fn type_range(d: DType) -> f32 {
    if d == DType::I8 { INT8_RANGE } else { UINT8_RANGE }
}

/// `quantized_concat(arg0.., arg0_min, arg0_max, ..)`: concatenation along `dim` onto the
/// widest range `[min(0, mins), max(0, maxes)]`; the output is int8 when any input is, else
/// uint8. An input whose scale differs from the output's is rescaled (rounded, saturated).
#[derive(Debug)]
struct QuantizedConcat {
    n: usize,
    dim: i64,
}

impl QKernel for QuantizedConcat {
    fn name(&self) -> &'static str {
        CONCAT
    }
    fn input_names(&self) -> Vec<String> {
        let mut v: Vec<String> = (0..self.n).map(|i| format!("arg{i}")).collect();
        for i in 0..self.n {
            v.push(format!("arg{i}_min"));
            v.push(format!("arg{i}_max"));
        }
        v
    }
    fn range_inputs(&self) -> Vec<usize> {
        (self.n..3 * self.n).collect()
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        for (i, &d) in x[..self.n].iter().enumerate() {
            int8_or_uint8(CONCAT, &format!("arg{i}"), d)?;
        }
        let out = if x[..self.n].contains(&DType::I8) { DType::I8 } else { DType::U8 };
        Ok(vec![out, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        let first = &x[0];
        let ax = norm_axis(CONCAT, self.dim, first.len())?;
        let mut out = first.clone();
        for s in &x[1..self.n] {
            let same = s.len() == first.len() && s.iter().zip(first).enumerate().all(|(i, (a, b))| i == ax || a == b);
            if !same {
                return Err(Error::shape(
                    CONCAT,
                    format!(
                        "inputs must match except along dim {}: got {} and {}",
                        self.dim,
                        fmt_shape(first),
                        fmt_shape(s)
                    ),
                ));
            }
            out[ax] += s[ax];
        }
        Ok(vec![out, vec![1], vec![1]])
    }
    fn run(&self, x: &[In<'_>], out: &[Shape], dt: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let ranges: Vec<(f32, f32)> =
            (0..self.n).map(|i| (scalar(&x[self.n + 2 * i]), scalar(&x[self.n + 2 * i + 1]))).collect();
        let lo = ranges.iter().fold(0.0f32, |a, r| if r.0 < a { r.0 } else { a });
        let hi = ranges.iter().fold(0.0f32, |a, r| if r.1 > a { r.1 } else { a });
        let out_scale = type_range(dt[0]) / max_abs(lo, hi);
        let (bl, bh) = bounds(dt[0]);
        let ax = norm_axis(CONCAT, self.dim, out[0].len())?;
        let outer: usize = out[0][..ax].iter().product();
        let inner: usize = out[0][ax + 1..].iter().product();
        let parts: Vec<Vec<f64>> = (0..self.n)
            .map(|i| {
                let scale = type_range(in_dt[i]) / max_abs(ranges[i].0, ranges[i].1);
                if scale == out_scale {
                    x[i].v.clone()
                } else {
                    let k = out_scale / scale;
                    x[i].v.iter().map(|&v| round_sat(v as f32 * k, bl, bh)).collect()
                }
            })
            .collect();
        let mut res = Vec::with_capacity(out[0].iter().product());
        for o in 0..outer {
            for (i, p) in parts.iter().enumerate() {
                let w = x[i].s[ax] * inner;
                res.extend_from_slice(&p[o * w..(o + 1) * w]);
            }
        }
        Ok(vec![res, vec![lo as f64], vec![hi as f64]])
    }
}

/// The optional calibrated output range of the elementwise ops.
fn calib_range(op: &str, a: &Attrs) -> Result<Option<(f32, f32)>> {
    let lo = a.opt_float(op, "min_calib_range")?;
    let hi = a.opt_float(op, "max_calib_range")?;
    Ok(lo.zip(hi).map(|(l, h)| (l as f32, h as f32)))
}

/// Shapes of `(lhs, rhs, ..)` elementwise ops: equal, no broadcasting.
fn same_shapes(op: &str, x: &[Shape], outputs: usize) -> Result<Vec<Shape>> {
    if x[0] != x[1] {
        return Err(Error::shape(
            op,
            format!("lhs and rhs must have the same shape (no broadcasting), got {} and {}", fmt_shape(&x[0]), fmt_shape(&x[1])),
        ));
    }
    let mut v = vec![x[0].clone()];
    v.extend(std::iter::repeat_n(vec![1], outputs - 1));
    Ok(v)
}

const EW_INPUTS: [&str; 6] = ["lhs", "rhs", "lhs_min", "lhs_max", "rhs_min", "rhs_max"];

/// `quantized_elemwise_add(lhs, rhs, lhs_min, lhs_max, rhs_min, rhs_max)` as MXNet's oneDNN sum:
/// uncalibrated, int32 over `[-(|a| + |b|), |a| + |b|]`; calibrated, int8/uint8 (the inputs'
/// type when they agree, else int8) over the calibrated range. Mixed int8/uint8 inputs rescale
/// the uint8 one to int8 first.
#[derive(Debug)]
struct QuantizedAdd {
    calib: Option<(f32, f32)>,
}

impl QuantizedAdd {
    /// The per-input scales onto the output and the output range.
    fn scales(&self, a: (f32, f32), b: (f32, f32), ta: DType, tb: DType, out: DType) -> ([f32; 2], f32, (f32, f32)) {
        let (aa, ba) = (max_abs(a.0, a.1), max_abs(b.0, b.1));
        let out_r = match out {
            DType::I8 => INT8_RANGE,
            DType::U8 => UINT8_RANGE,
            _ => INT32_RANGE,
        };
        let (a_s, b_s) = (type_range(ta) / aa, type_range(tb) / ba);
        let (range, out_scale) = match self.calib {
            Some((lo, hi)) => ((lo, hi), out_r / max_abs(lo, hi)),
            None => ((-(aa + ba), aa + ba), 0.0),
        };
        let frac = |x: f32, r: f32| x * out_r / ((aa + ba) * r);
        let cal = self.calib.is_some();
        let mut s = [1.0f32; 2];
        let mut reorder = 1.0;
        if ta != tb {
            if ta == DType::I8 {
                reorder = if cal { out_scale / b_s } else { frac(ba, UINT8_RANGE) };
                s[0] = if cal { out_scale / a_s } else { frac(aa, INT8_RANGE) };
            } else {
                reorder = if cal { out_scale / a_s } else { frac(aa, UINT8_RANGE) };
                s[1] = if cal { out_scale / b_s } else { frac(ba, INT8_RANGE) };
            }
        } else {
            let r = type_range(ta);
            s = if cal { [out_scale / a_s, out_scale / b_s] } else { [frac(aa, r), frac(ba, r)] };
        }
        (s, reorder, range)
    }
}

impl QKernel for QuantizedAdd {
    fn name(&self) -> &'static str {
        ADD
    }
    fn input_names(&self) -> Vec<String> {
        super::names(&EW_INPUTS)
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![2, 3, 4, 5]
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        int8_or_uint8(ADD, "lhs", x[0])?;
        int8_or_uint8(ADD, "rhs", x[1])?;
        let out = match self.calib {
            None => DType::I32,
            Some(_) if x[0] == x[1] => x[0],
            Some(_) => DType::I8,
        };
        Ok(vec![out, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        same_shapes(ADD, x, 3)
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], dt: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>> {
        let (a, b) = ((scalar(&x[2]), scalar(&x[3])), (scalar(&x[4]), scalar(&x[5])));
        let (s, reorder, range) = self.scales(a, b, in_dt[0], in_dt[1], dt[0]);
        // The uint8 input of a mixed pair is first reordered to int8.
        let fix = |i: usize, v: f64| {
            if in_dt[0] != in_dt[1] && in_dt[i] == DType::U8 { round_sat(v as f32 * reorder, -128.0, 127.0) } else { v }
        };
        let (bl, bh) = bounds(dt[0]);
        let out = x[0]
            .v
            .iter()
            .zip(&x[1].v)
            .map(|(&p, &q)| round_sat(s[0] * fix(0, p) as f32 + s[1] * fix(1, q) as f32, bl, bh))
            .collect();
        Ok(vec![out, vec![range.0 as f64], vec![range.1 as f64]])
    }
}

/// `quantized_elemwise_mul(lhs, rhs, lhs_min, lhs_max, rhs_min, rhs_max)` over int8 inputs, as
/// MXNet's CPU kernel: uncalibrated, the exact int32 product over the S8S8 product range;
/// calibrated, `trunc(a * b * scale)` as int8 (wrapping as x86 does: 188 -> -68);
/// `enable_float_output`, the float32 product only.
#[derive(Debug)]
struct QuantizedMul {
    calib: Option<(f32, f32)>,
    float_out: bool,
}

impl QKernel for QuantizedMul {
    fn name(&self) -> &'static str {
        MUL
    }
    fn input_names(&self) -> Vec<String> {
        super::names(&EW_INPUTS)
    }
    fn num_outputs(&self) -> usize {
        if self.float_out { 1 } else { 3 }
    }
    fn output_names(&self) -> Option<Vec<String>> {
        let all = super::names(&["output", "min_output", "max_output"]);
        Some(all[..self.num_outputs()].to_vec())
    }
    fn range_inputs(&self) -> Vec<usize> {
        vec![2, 3, 4, 5]
    }
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        (i < 2).then_some(DType::I8)
    }
    fn dtypes(&self, _: &[DType]) -> Result<Vec<DType>> {
        if self.float_out {
            return Ok(vec![DType::F32]);
        }
        let out = if self.calib.is_some() { DType::I8 } else { DType::I32 };
        Ok(vec![out, DType::F32, DType::F32])
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        same_shapes(MUL, x, self.num_outputs())
    }
    fn run(&self, x: &[In<'_>], _: &[Shape], _: &[DType], _: &[DType]) -> Result<Vec<Vec<f64>>> {
        let (a, b) = ((scalar(&x[2]), scalar(&x[3])), (scalar(&x[4]), scalar(&x[5])));
        let (ls, rs) = (INT8_RANGE / max_abs(a.0, a.1), INT8_RANGE / max_abs(b.0, b.1));
        let prods = x[0].v.iter().zip(&x[1].v).map(|(&p, &q)| (p * q) as f32);
        if self.float_out {
            let scale = (1.0 / ls as f64 / rs as f64) as f32;
            return Ok(vec![prods.map(|p| (p * scale) as f64).collect()]);
        }
        match self.calib {
            Some((lo, hi)) => {
                let scale = INT8_RANGE / max_abs(lo, hi) / ls / rs;
                // `static_cast<int8_t>(float)` on x86: truncate to int32, keep the low byte.
                let out = prods.map(|p| (p * scale) as i32 as i8 as f64).collect();
                Ok(vec![out, vec![lo as f64], vec![hi as f64]])
            }
            None => {
                let m = product_range(true, a, b);
                Ok(vec![prods.map(|p| p as f64).collect(), vec![-m as f64], vec![m as f64]])
            }
        }
    }
}

/// Register the three.
pub(super) fn register(r: &mut Registry) {
    let p = params!("num_args" = None, "dim" = Some("1"));
    let doc = "concatenate int8/uint8 arrays onto their widest range";
    add(r, CONCAT, &["*data"], p, doc, |a| {
        a.check_known(CONCAT, &["num_args", "dim"])?;
        Ok(QuantizedConcat { n: a.count(CONCAT, "num_args")?, dim: a.int_or(CONCAT, "dim", 1)? })
    });
    let p = params!("min_calib_range" = Some("None"), "max_calib_range" = Some("None"));
    add(r, ADD, &EW_INPUTS, p, "sum of int8/uint8 arrays onto an int32 or calibrated range", |a| {
        a.check_known(ADD, &["min_calib_range", "max_calib_range"])?;
        Ok(QuantizedAdd { calib: calib_range(ADD, a)? })
    });
    let p = params!("min_calib_range" = Some("None"), "max_calib_range" = Some("None"), "enable_float_output" = Some("False"));
    add(r, MUL, &EW_INPUTS, p, "product of int8 arrays in int32, calibrated int8 or float32", |a| {
        a.check_known(MUL, &["min_calib_range", "max_calib_range", "enable_float_output"])?;
        Ok(QuantizedMul { calib: calib_range(MUL, a)?, float_out: a.bool_or(MUL, "enable_float_output", false)? })
    });
    r.set_gradient(CONCAT, zero_grads);
    r.set_gradient(MUL, zero_grads);
}
