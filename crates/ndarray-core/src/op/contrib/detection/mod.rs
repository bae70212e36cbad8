//! MXNet 1.9.1's object-detection ops: SSD's `_contrib_MultiBoxPrior` (`prior.rs`),
//! `_contrib_MultiBoxTarget` (`target.rs`) and `_contrib_MultiBoxDetection` (`detect.rs`),
//! Faster R-CNN's `_contrib_Proposal` and `_contrib_MultiProposal` (`proposal.rs`), and the
//! rotated `_contrib_RROIAlign` (`rroi.rs`), each as MXNet's CPU kernel computes it.
//!
//! The first five are MXNet "legacy" operators whose type inference accepts only float32: they
//! compute in `f32` ([`F32Op`]) in MXNet's order of operations, so that thresholds and sorts
//! decide as MXNet's do. Their backward passes write zeros, which [`zero_grads`] mirrors, so a
//! training graph (an SSD loss) containing them binds with `grad_req='write'`. `RROIAlign`
//! keeps its input's float dtype and, as in MXNet, has no gradient.

mod detect;
mod prior;
mod proposal;
pub(super) mod register;
mod rroi;
mod target;
#[cfg(test)]
mod tests;

use std::fmt;

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, ParamSpec, TensorIn, assign_shapes};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// One float32 input of a [`DetKernel`].
pub(super) struct In<'a> {
    /// The values, row-major.
    pub v: &'a [f32],
    /// The shape.
    pub s: &'a [usize],
}

/// A float32-only detection op (an MXNet legacy operator).
pub(super) trait DetKernel: Send + Sync + fmt::Debug {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// The output names as `list_outputs` shows them (every output, hidden ones last).
    fn output_names(&self) -> &'static [&'static str] {
        &["output"]
    }
    /// Outputs a caller sees.
    fn num_visible(&self) -> usize {
        self.output_names().len()
    }
    /// Output shapes from input shapes.
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>>;
    /// Fill input shapes deducible from the known ones (Proposal's `bbox_pred` and `im_info`
    /// from `cls_prob`), checking any already known.
    fn fill_inputs(&self, _x: &mut [Option<Shape>]) -> Result<()> {
        Ok(())
    }
    /// The outputs' values.
    fn run(&self, x: &[In<'_>], out: &[Shape]) -> Result<Vec<Vec<f32>>>;
}

/// The [`Operator`] of a [`DetKernel`], with the number of inputs it was registered with.
#[derive(Debug)]
pub(super) struct F32Op<K>(pub K, pub usize);

impl<K: DetKernel> F32Op<K> {
    fn check_count(&self, got: usize) -> Result<()> {
        super::super::expect_inputs(self.0.name(), got, self.1)
    }
}

/// MXNet's legacy operators accept float32 only ("Unsupported data type").
fn only_f32(op: &str, d: DType) -> Result<()> {
    if d != DType::F32 {
        return Err(Error::dtype(op, d, format!("{op} supports float32 inputs only (as MXNet 1.9.1), got {d}")));
    }
    Ok(())
}

impl<K: DetKernel> Operator for F32Op<K> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn num_outputs(&self) -> usize {
        self.0.output_names().len()
    }
    fn num_visible_outputs(&self) -> usize {
        self.0.num_visible()
    }
    fn output_names(&self) -> Vec<String> {
        self.0.output_names().iter().map(|s| s.to_string()).collect()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        self.check_count(inputs.len())?;
        self.0.shapes(inputs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        self.check_count(inputs.len())?;
        self.0.fill_inputs(inputs)?;
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        let inferred = self.0.shapes(&known)?;
        assign_shapes(self.0.name(), outputs, &inferred)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        self.check_count(inputs.len())?;
        for &d in inputs {
            only_f32(self.0.name(), d)?;
        }
        Ok(vec![DType::F32; self.num_outputs()])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        self.check_count(inputs.len())?;
        for slot in inputs.iter_mut().chain(outputs.iter_mut()) {
            only_f32(self.0.name(), *slot.get_or_insert(DType::F32))?;
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], shapes: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        for t in x {
            only_f32(self.0.name(), t.dtype())?;
        }
        let ins: Vec<In<'_>> = x.iter().map(|t| In { v: t.typed::<f32>(), s: t.shape }).collect();
        let outs = self.0.run(&ins, shapes)?;
        Ok(outs.into_iter().map(f32::wrap).collect())
    }
}

/// Register a float32 detection op whose instances `make` parses from the attributes.
fn add<K: DetKernel + 'static>(
    r: &mut Registry,
    name: &'static str,
    inputs: &'static [&'static str],
    params: &'static [ParamSpec],
    doc: &'static str,
    make: fn(&Attrs) -> Result<K>,
) {
    let n = inputs.len();
    r.add(name, inputs, params, doc, move |a: &Attrs| Ok(Box::new(F32Op(make(a)?, n)) as Box<dyn Operator>));
    r.set_gradient(name, zero_grads);
}

/// MXNet's backward of these ops: every input's gradient is zero.
fn zero_grads(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

/// A shape error of `op` naming the shapes involved.
pub(super) fn shape_err(op: &str, what: impl fmt::Display, shapes: &[(&str, &[usize])]) -> Error {
    let names: Vec<String> = shapes.iter().map(|(n, s)| format!("{n} {}", fmt_shape(s))).collect();
    Error::shape(op, format!("{what} (got {})", names.join(", ")))
}

/// The parameter names of `params`, for [`Attrs::check_known`].
pub(super) fn keys(params: &[ParamSpec]) -> Vec<&'static str> {
    params.iter().map(|p| p.name).collect()
}

/// A tuple of floats (`sizes=(0.5, 0.25)`, `[1, 2]`, or one number), each rounded to float32
/// as MXNet's `Tuple<float>` stores them; `default` when the attribute is absent.
pub(super) fn floats(a: &Attrs, op: &str, key: &str, default: &[f32]) -> Result<Vec<f32>> {
    let Some(raw) = a.raw(key) else { return Ok(default.to_vec()) };
    let body = raw.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
    body.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f32>()
                .map_err(|_| Error::param(op, format!("invalid {key} '{raw}': expected a tuple of numbers")))
        })
        .collect()
}

/// A float parameter rounded to float32, with a default.
pub(super) fn float(a: &Attrs, op: &str, key: &str, default: f64) -> Result<f32> {
    Ok(a.float_or(op, key, default)? as f32)
}

/// `variances`: four floats.
pub(super) fn variances(a: &Attrs, op: &str) -> Result<[f32; 4]> {
    let v = floats(a, op, "variances", &[0.1, 0.1, 0.2, 0.2])?;
    <[f32; 4]>::try_from(v.as_slice())
        .map_err(|_| Error::param(op, format!("variances {v:?} must have 4 elements (Variance size must be 4)")))
}
