//! MXNet's INT8 quantization ops (`src/operator/quantization/`): `quantize`, `quantize_v2`,
//! `quantize_asym`, `dequantize` and `requantize` (`convert.rs`), the int32-accumulating
//! `quantized_fully_connected` and `quantized_conv` (`matmul.rs`), the range-carrying layers
//! `quantized_pooling`, `quantized_flatten`, `quantized_act`, `quantized_concat`,
//! `quantized_elemwise_add`/`_mul`, `quantized_embedding` and `quantized_batch_norm`
//! (`layers.rs`, `arith.rs`), and `calibrate_entropy` (`calib.rs`).
//!
//! The numbers are those of MXNet 1.9.1's CPU build as pip ships it, which runs these ops
//! through oneDNN (MKL-DNN): scales are `127.5 / range` (int8) and `255.5 / range` (uint8),
//! products are rounded to the nearest integer (ties to even) and saturated, all in `f32` as
//! oneDNN computes them. Where that build refuses an input MXNet's portable kernel accepts
//! (int8 data for `quantized_conv`), the portable kernel's arithmetic is used; each op's doc
//! says which.
//!
//! Every op takes its quantized data with a float32 `(1,)` minimum and maximum per quantized
//! input, and returns its data with a float32 `(1,)` minimum and maximum. None has a gradient
//! (MXNet gives none).

mod arith;
mod calib;
mod convert;
mod layers;
mod matmul;
#[cfg(test)]
mod tests;

use std::fmt;

use super::super::registry::Registry;
use super::super::grad::Grads;
use super::super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, ParamSpec, TensorIn, assign_shapes};
use super::{In, store, values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// oneDNN's int8 scale numerator, `kInt8Range` in MXNet.
pub(super) const INT8_RANGE: f32 = 127.5;
/// oneDNN's uint8 scale numerator, `kUint8Range` in MXNet.
pub(super) const UINT8_RANGE: f32 = 255.5;
/// `MinAbs(INT32_MIN, INT32_MAX)` as MXNet computes it in `f32`: 2^31.
pub(super) const INT32_RANGE: f32 = 2_147_483_648.0;

/// Register every quantization op.
pub(in crate::op) fn register(r: &mut Registry) {
    convert::register(r);
    matmul::register(r);
    layers::register(r);
    arith::register(r);
    calib::register(r);
}

/// `MaxAbs(a, b)` of MXNet's `quantization_utils.h`.
pub(super) fn max_abs(a: f32, b: f32) -> f32 {
    a.abs().max(b.abs())
}

/// oneDNN's conversion of an `f32` to an integer type with bounds `lo..=hi`: round to nearest,
/// ties to even, then saturate (NaN gives 0).
pub(super) fn round_sat(v: f32, lo: f64, hi: f64) -> f64 {
    if v.is_nan() {
        return 0.0;
    }
    (v.round_ties_even() as f64).clamp(lo, hi)
}

/// The bounds of an integer dtype, as `f64`.
pub(super) fn bounds(d: DType) -> (f64, f64) {
    match d {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// The `out_type` of `quantize_v2` and `requantize`, resolved as MXNet's
/// `GetQuantizeOutputType`: `auto` is uint8 when a calibrated minimum is non-negative, else
/// int8.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Calib {
    /// The resolved output dtype (int8 or uint8).
    pub out: DType,
    /// `(min_calib_range, max_calib_range)` when both are given.
    pub range: Option<(f32, f32)>,
}

impl Calib {
    /// Parse `out_type` (`auto`, `int8`, `uint8`, default `default`) and the calibration range.
    pub(super) fn parse(op: &str, a: &Attrs, default: &str) -> Result<Calib> {
        let lo = a.opt_float(op, "min_calib_range")?.map(|v| v as f32);
        let hi = a.opt_float(op, "max_calib_range")?.map(|v| v as f32);
        let range = lo.zip(hi);
        let out = match a.str_or("out_type", default) {
            "int8" => DType::I8,
            "uint8" => DType::U8,
            "auto" => match range {
                Some((lo, _)) if lo >= 0.0 => DType::U8,
                _ => DType::I8,
            },
            other => {
                return Err(Error::param(op, format!("out_type must be 'auto', 'int8' or 'uint8', got '{other}'")));
            }
        };
        Ok(Calib { out, range })
    }
}

/// One quantization op: its inputs' roles, shapes, dtypes and values.
pub(super) trait QKernel: Send + Sync + fmt::Debug {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// The input names of this instance (MXNet's `FListInputNames`).
    fn input_names(&self) -> Vec<String>;
    /// Number of outputs.
    fn num_outputs(&self) -> usize {
        3
    }
    /// Output names (MXNet's `FListOutputNames`); `None`: `output0`, `output1`...
    fn output_names(&self) -> Option<Vec<String>> {
        Some(vec!["output".into(), "min_output".into(), "max_output".into()])
    }
    /// Indices of the `(1,)` float32 range inputs (mins and maxes).
    fn range_inputs(&self) -> Vec<usize>;
    /// The dtype input `i` must have, where the op fixes it (range inputs are float32 anyway).
    fn fixed_dtype(&self, i: usize) -> Option<DType> {
        let _ = i;
        None
    }
    /// Output dtypes from every input's dtype (fixed ones already checked).
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>>;
    /// Shapes of the inputs other than ranges that follow from the known ones (a weight's from
    /// the data's), for Symbol inference.
    fn fill_shapes(&self, x: &mut [Option<Shape>]) -> Result<()> {
        let _ = x;
        Ok(())
    }
    /// Output shapes from every input's shape (range inputs already checked to be `(1,)`).
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>>;
    /// Number of trailing auxiliary-state inputs.
    fn num_aux(&self) -> usize {
        0
    }
    /// The outputs' values (in `f64`, stored as the output dtypes).
    fn run(&self, x: &[In<'_>], out: &[Shape], dt: &[DType], in_dt: &[DType]) -> Result<Vec<Vec<f64>>>;
}

/// The [`Operator`] of a [`QKernel`].
#[derive(Debug)]
pub(super) struct QOp<K>(pub K);

impl<K: QKernel> QOp<K> {
    fn check_count(&self, got: usize) -> Result<()> {
        super::super::expect_inputs(self.0.name(), got, self.0.input_names().len())
    }

    fn fixed(&self, i: usize) -> Option<DType> {
        if self.0.range_inputs().contains(&i) { Some(DType::F32) } else { self.0.fixed_dtype(i) }
    }
}

impl<K: QKernel> Operator for QOp<K> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn num_outputs(&self) -> usize {
        self.0.num_outputs()
    }
    fn output_names(&self) -> Vec<String> {
        self.0.output_names().unwrap_or_else(|| (0..self.0.num_outputs()).map(|i| format!("output{i}")).collect())
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(self.0.input_names())
    }
    fn num_aux(&self) -> usize {
        self.0.num_aux()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        self.check_count(inputs.len())?;
        let names = self.0.input_names();
        for i in self.0.range_inputs() {
            if inputs[i] != [1] {
                return Err(Error::shape(
                    self.0.name(),
                    format!("{} must have shape (1,), got {}", names[i], fmt_shape(&inputs[i])),
                ));
            }
        }
        self.0.shapes(inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        self.check_count(inputs.len())?;
        for i in self.0.range_inputs() {
            inputs[i].get_or_insert_with(|| vec![1]);
        }
        self.0.fill_shapes(inputs)?;
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        let inferred = self.infer_shape(&known)?;
        assign_shapes(self.0.name(), outputs, &inferred)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        self.check_count(inputs.len())?;
        let names = self.0.input_names();
        for (i, &d) in inputs.iter().enumerate() {
            if let Some(want) = self.fixed(i)
                && d != want
            {
                return Err(Error::dtype(self.0.name(), d, format!("{} must be {want}, got {d}", names[i])));
            }
        }
        self.0.dtypes(inputs)
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        self.check_count(inputs.len())?;
        for (i, x) in inputs.iter_mut().enumerate() {
            if let Some(want) = self.fixed(i) {
                x.get_or_insert(want);
            }
        }
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<DType>>>() else { return Ok(()) };
        let inferred = self.infer_dtype(&known)?;
        for (o, d) in outputs.iter_mut().zip(inferred) {
            match o {
                Some(x) if *x != d => {
                    return Err(Error::dtype(self.0.name(), d, format!("output dtype {x} conflicts with inferred {d}")));
                }
                _ => *o = Some(d),
            }
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], shapes: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let in_dt: Vec<DType> = x.iter().map(|t| t.data.dtype()).collect();
        let ins: Vec<In<'_>> = x.iter().map(|t| In { v: values(t), s: t.shape }).collect();
        let outs = self.0.run(&ins, shapes, dt, &in_dt)?;
        Ok(outs.into_iter().zip(dt).map(|(v, &d)| store(d, v)).collect())
    }
}

/// Register a quantization op whose instances `make` parses from the attributes.
pub(super) fn add<K: QKernel + 'static>(
    r: &mut Registry,
    name: &'static str,
    inputs: &'static [&'static str],
    params: &'static [ParamSpec],
    doc: &'static str,
    make: fn(&Attrs) -> Result<K>,
) {
    r.add(name, inputs, params, doc, move |a: &Attrs| Ok(Box::new(QOp(make(a)?)) as Box<dyn Operator>));
}

/// Zero gradients for every input: MXNet's `MakeZeroGradNodes`, which it registers for most
/// quantization ops so that graphs holding them can still be bound for training.
pub(super) fn zero_grads(
    b: &mut dyn GradBuilder,
    _: &Attrs,
    x: &[NodeEntry],
    _: &[NodeEntry],
    _: &[NodeEntry],
) -> Grads {
    b.zeros_like_each(x)
}

/// Names from string literals.
pub(super) fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The first value of a `(1,)` range input, as the `f32` MXNet reads.
pub(super) fn scalar(x: &In<'_>) -> f32 {
    x.v.first().copied().unwrap_or(0.0) as f32
}

/// A dtype error: `what` must be one of `allowed`.
pub(super) fn dtype_err(op: &str, what: &str, got: DType, allowed: &str) -> Error {
    Error::dtype(op, got, format!("{what} must be {allowed}, got {got}"))
}

/// Check that `d` is int8 or uint8.
pub(super) fn int8_or_uint8(op: &str, what: &str, d: DType) -> Result<()> {
    if d == DType::I8 || d == DType::U8 { Ok(()) } else { Err(dtype_err(op, what, d, "int8 or uint8")) }
}
