//! The batched op behind every linalg op but the products: a table entry ([`Spec`]) gives an
//! op's names, shape inference and computation on one matrix; [`BatchOp`] runs it over the
//! batch (the leading axes), converting float32 or float64 to float64 and back.

use rayon::prelude::*;

use super::dense::Mat;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradFn, OpCtx, Operator, ParamSpec, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

/// The parsed attributes of the linalg ops (each reads those it has).
#[derive(Clone, Copy, Debug)]
pub(super) struct P {
    pub(super) lower: bool,
    pub(super) transpose: bool,
    pub(super) rightside: bool,
    pub(super) alpha: f64,
    pub(super) offset: i64,
}

impl P {
    fn parse(op: &str, a: &Attrs, known: &[ParamSpec]) -> Result<P> {
        let names: Vec<&str> = known.iter().map(|p| p.name).collect();
        a.check_known(op, &names)?;
        Ok(P {
            lower: a.bool_or(op, "lower", true)?,
            transpose: a.bool_or(op, "transpose", false)?,
            rightside: a.bool_or(op, "rightside", false)?,
            alpha: a.float_or(op, "alpha", 1.0)?,
            offset: a.int_or(op, "offset", 0)?,
        })
    }
}

/// Shape inference of a [`Spec`]: output shapes from input shapes, or what is wrong.
pub(super) type ShapeFn = fn(&P, &[Shape]) -> std::result::Result<Vec<Shape>, String>;
/// The computation on one matrix of the batch: one matrix per input, one per output (vectors
/// and scalars are `1 x k` matrices).
pub(super) type ComputeFn = fn(&P, &[Mat]) -> std::result::Result<Vec<Mat>, String>;

/// A batched linalg op: its names, inputs, parameters and per-matrix computation.
pub(super) struct Spec {
    /// MXNet's name (`_linalg_potrf`, `_backward_linalg_potrf`).
    pub(super) name: &'static str,
    /// The public alias (`linalg_potrf`), empty for gradient kernels and `_linalg_syevd`
    /// (MXNet has no `linalg_syevd`); messages use it.
    pub(super) alias: &'static str,
    pub(super) inputs: &'static [&'static str],
    /// Which inputs are batches of matrices (the others are batches of vectors or scalars).
    pub(super) matrix_inputs: &'static [bool],
    /// The input whose leading axes are the batch, and how many trailing axes it has per item.
    pub(super) batch_of: (usize, usize),
    pub(super) params: &'static [ParamSpec],
    pub(super) doc: &'static str,
    pub(super) outputs: usize,
    pub(super) shape: ShapeFn,
    pub(super) compute: ComputeFn,
    pub(super) grad: Option<GradFn>,
}

pub(super) fn register_spec(r: &mut Registry, spec: &'static Spec) {
    r.add(spec.name, spec.inputs, spec.params, spec.doc, move |a: &Attrs| {
        let label = spec.label();
        Ok(Box::new(BatchOp { spec, p: P::parse(label, a, spec.params)? }))
    });
    if !spec.alias.is_empty() {
        r.alias(spec.alias, spec.name);
    }
    if let Some(g) = spec.grad {
        r.set_gradient(spec.name, g);
    }
}

impl Spec {
    /// The name errors give: the alias users call, else MXNet's name.
    fn label(&self) -> &'static str {
        if self.alias.is_empty() { self.name } else { self.alias }
    }
}

/// A registered [`Spec`] with its parsed attributes.
#[derive(Debug)]
pub(super) struct BatchOp {
    spec: &'static Spec,
    p: P,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Operator for BatchOp {
    fn name(&self) -> &str {
        self.spec.label()
    }
    fn num_outputs(&self) -> usize {
        self.spec.outputs
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), self.spec.inputs.len())?;
        (self.spec.shape)(&self.p, inputs).map_err(|m| Error::shape(self.name(), m))
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![la_dtype(self.name(), inputs)?; self.spec.outputs])
    }
    fn forward(
        &self,
        ctx: &mut OpCtx<'_>,
        x: &[TensorIn<'_>],
        outs: &[Shape],
        dt: &[DType],
    ) -> Result<Vec<CpuStorage>> {
        let (src, trailing) = self.spec.batch_of;
        let s = x[src].shape;
        let batch: usize = s[..s.len().saturating_sub(trailing)].iter().product();
        let values: Vec<Vec<f64>> = x.iter().map(values).collect();
        let out_len: Vec<usize> = outs.iter().map(|o| o.iter().product()).collect();
        let item = |b: usize| -> Result<Vec<Mat>> {
            let mats: Vec<Mat> = x
                .iter()
                .zip(&values)
                .zip(self.spec.matrix_inputs)
                .map(|((t, v), &is_mat)| {
                    let per = v.len() / batch;
                    let (r, c) =
                        if is_mat { (t.shape[t.shape.len() - 2], t.shape[t.shape.len() - 1]) } else { (1, per) };
                    Mat::from_vec(r, c, v[b * per..(b + 1) * per].to_vec())
                })
                .collect();
            (self.spec.compute)(&self.p, &mats).map_err(|m| {
                let at = if batch > 1 { format!(" (matrix {b} of the batch)") } else { String::new() };
                Error::param(self.name(), format!("{m}{at}; input shapes {}", shapes_of(x)))
            })
        };
        let items: Vec<Vec<Mat>> = if batch == 0 {
            Vec::new()
        } else if ctx.par.split(values[src].len() * 8) {
            (0..batch).into_par_iter().map(item).collect::<Result<_>>()?
        } else {
            (0..batch).map(item).collect::<Result<_>>()?
        };
        (0..self.spec.outputs)
            .map(|o| {
                let mut flat = Vec::with_capacity(out_len[o]);
                for it in &items {
                    flat.extend_from_slice(&it[o].d);
                }
                debug_assert_eq!(flat.len(), out_len[o], "{}: output {o}", self.spec.name);
                Ok(store(dt[o], &flat))
            })
            .collect()
    }
}

/// The elements of an input as float64.
fn values(t: &TensorIn<'_>) -> Vec<f64> {
    crate::dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

/// Float64 values as a storage of `dt`.
fn store(dt: DType, v: &[f64]) -> CpuStorage {
    crate::dispatch!(dtype dt => T, { T::wrap(v.iter().map(|&x| <T as Element>::from_f64(x)).collect()) })
}

/// The input shapes, for messages.
fn shapes_of(x: &[TensorIn<'_>]) -> String {
    x.iter().map(|t| fmt_shape(t.shape)).collect::<Vec<_>>().join(", ")
}

/// The common dtype of the inputs, which must be float32 or float64 (as in MXNet).
pub(super) fn la_dtype(op: &str, inputs: &[DType]) -> Result<DType> {
    let d = crate::op::same_dtype(op, inputs)?;
    if !matches!(d, DType::F32 | DType::F64) {
        return Err(Error::dtype(op, d, "this operation only supports 32-bit and 64-bit floating point"));
    }
    Ok(d)
}

/// The leading (batch) axes and the size `n` of a batch of square matrices.
pub(super) fn square<'a>(what: &str, s: &'a [usize]) -> std::result::Result<(&'a [usize], usize), String> {
    let nd = s.len();
    if nd < 2 {
        return Err(format!("{what} must be a tensor of matrices (at least 2 axes), got shape {}", fmt_shape(s)));
    }
    if s[nd - 2] != s[nd - 1] {
        return Err(format!("{what} must be a tensor of square matrices, got shape {}", fmt_shape(s)));
    }
    Ok((&s[..nd - 2], s[nd - 1]))
}

/// The leading (batch) axes of a batch of matrices (at least 2 axes).
pub(super) fn lead<'a>(what: &str, s: &'a [usize]) -> std::result::Result<&'a [usize], String> {
    if s.len() < 2 {
        return Err(format!("{what} must be a tensor of matrices (at least 2 axes), got shape {}", fmt_shape(s)));
    }
    Ok(&s[..s.len() - 2])
}

/// `lead + tail`.
pub(super) fn join(lead: &[usize], tail: &[usize]) -> Shape {
    lead.iter().chain(tail).copied().collect()
}

/// The shape of one scalar per matrix: the batch axes, or `(1,)` for a single matrix (MXNet's
/// legacy shapes).
pub(super) fn scalar_shape(lead: &[usize]) -> Shape {
    if lead.is_empty() { vec![1] } else { lead.to_vec() }
}

/// Check that two inputs have the same batch axes.
pub(super) fn same_batch(a: &[usize], b: &[usize], sa: &[usize], sb: &[usize]) -> std::result::Result<(), String> {
    if a != b {
        return Err(format!(
            "inputs must have the same batch (leading) axes, got shapes {} and {}",
            fmt_shape(sa),
            fmt_shape(sb)
        ));
    }
    Ok(())
}
