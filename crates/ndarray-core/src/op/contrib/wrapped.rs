//! Contrib ops that are an existing layer with a small change: `_contrib_BatchNormWithReLU`
//! (BatchNorm, then ReLU on its output), `_contrib_SyncBatchNorm` (BatchNorm over axis 1; on
//! one process the batch statistics are the local batch's, so `ndev` and `key`, which name the
//! devices whose statistics MXNet combines, do not change the values; its hidden `var` output
//! is the variance, not BatchNorm's inverse standard deviation) and `_contrib_SparseEmbedding`
//! (Embedding; MXNet gives its weight a row_sparse gradient, mxrs a dense one with the same
//! values, as for `mx.sym.sparse`).

use super::super::grad::{Grads, pick_attrs};
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn};
use super::store;
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;
use crate::storage::CpuStorage;

const BN_RELU: &str = "_contrib_BatchNormWithReLU";
const SYNC_BN: &str = "_contrib_SyncBatchNorm";
const SPARSE_EMB: &str = "_contrib_SparseEmbedding";
const BN_BACK: &str = "_backward_BatchNorm";
const BN_PARAMS: &[&str] = &[
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
const EMB_PARAMS: &[&str] = &["input_dim", "output_dim", "dtype", "sparse_grad"];
const SYNC_PARAMS: &[&str] = &["eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var", "ndev", "key"];

/// What a [`Wrapped`] op changes in its inner op's outputs.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Nothing (a renamed op).
    None,
    /// ReLU of output 0.
    Relu,
    /// Output 2 from `1 / sqrt(var + eps)` to `var`.
    Variance(f64),
}

/// An inner op under another name, with [`Change`] applied to its outputs.
#[derive(Debug)]
struct Wrapped {
    name: &'static str,
    inner: Box<dyn Operator>,
    change: Change,
}

/// The values of an output buffer as `f64`.
fn to_f64(s: &CpuStorage) -> Vec<f64> {
    dispatch!(storage s => v: T, { v.iter().map(|a| a.to_f64()).collect() })
}

impl Operator for Wrapped {
    fn name(&self) -> &str {
        self.name
    }
    fn num_outputs(&self) -> usize {
        self.inner.num_outputs()
    }
    fn num_visible_outputs(&self) -> usize {
        self.inner.num_visible_outputs()
    }
    fn output_names(&self) -> Vec<String> {
        self.inner.output_names()
    }
    fn input_names(&self) -> Option<Vec<String>> {
        self.inner.input_names()
    }
    fn num_aux(&self) -> usize {
        self.inner.num_aux()
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        self.inner.mutate_inputs()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        self.inner.infer_shape(inputs).map_err(|e| renamed(e, self.name))
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        self.inner.infer_shape_partial(inputs, outputs).map_err(|e| renamed(e, self.name))
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        self.inner.infer_dtype(inputs).map_err(|e| renamed(e, self.name))
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        self.inner.infer_dtype_partial(inputs, outputs).map_err(|e| renamed(e, self.name))
    }
    fn forward(
        &self,
        ctx: &mut OpCtx<'_>,
        x: &[TensorIn<'_>],
        shapes: &[Shape],
        dt: &[DType],
    ) -> Result<Vec<CpuStorage>> {
        let mut out = self.inner.forward(ctx, x, shapes, dt).map_err(|e| renamed(e, self.name))?;
        match self.change {
            Change::None => {}
            Change::Relu => {
                let v = to_f64(&out[0]).into_iter().map(|a| a.max(0.0)).collect();
                out[0] = store(dt[0], v);
            }
            Change::Variance(eps) => {
                let v = to_f64(&out[2]).into_iter().map(|s| 1.0 / (s * s) - eps).collect();
                out[2] = store(dt[2], v);
            }
        }
        Ok(out)
    }
}

/// `e` as raised by the op `name` (the inner op's name replaced).
fn renamed(e: Error, name: &str) -> Error {
    match e {
        Error::Shape { msg, .. } => Error::Shape { op: name.into(), msg },
        Error::DType { dtype, msg, .. } => Error::DType { op: name.into(), dtype, msg },
        Error::Param { msg, .. } => Error::Param { op: name.into(), msg },
        Error::Type { msg, .. } => Error::Type { op: name.into(), msg },
        other => other,
    }
}

/// Create `base` from the attributes named in `keep`, wrapped as `name`.
fn wrap(name: &'static str, base: &'static str, a: &Attrs, keep: &[&str], change: Change) -> Result<Box<dyn Operator>> {
    let inner = (super::super::registry().get(base)?.create)(&pick_attrs(a, keep))?;
    Ok(Box::new(Wrapped { name, inner, change }))
}

/// BatchNorm's gradient through the ReLU: the output gradient where the output is positive.
fn grad_bn_relu(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let mask = b.scalar_op("_greater_scalar", y[0], 0.0)?;
    let g0 = b.mul(g[0], mask)?;
    let r = b.op(BN_BACK, &[g0, x[0], x[1], y[1], y[2]], pick_attrs(a, BN_PARAMS))?;
    Ok(vec![Some(r[0]), Some(r[1]), Some(r[2]), None, None])
}

/// BatchNorm's gradient, from the variance output turned back into `1 / sqrt(var + eps)`.
fn grad_sync_bn(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let eps = a.float_or(SYNC_BN, "eps", 1e-3)?;
    let shifted = b.scalar_op("_plus_scalar", y[2], eps)?;
    let invstd = b.unary("rsqrt", shifted)?;
    let r = b.op(BN_BACK, &[g[0], x[0], x[1], y[1], invstd], pick_attrs(a, BN_PARAMS))?;
    Ok(vec![Some(r[0]), Some(r[1]), Some(r[2]), None, None])
}

pub(super) fn register(r: &mut Registry) {
    let ins = &["data", "gamma", "beta", "moving_mean", "moving_var"];
    let p = params!(
        "eps" = Some("0.001"),
        "momentum" = Some("0.9"),
        "fix_gamma" = Some("True"),
        "use_global_stats" = Some("False"),
        "output_mean_var" = Some("False"),
        "axis" = Some("1"),
        "cudnn_off" = Some("False"),
        "min_calib_range" = Some("None"),
        "max_calib_range" = Some("None")
    );
    r.add(BN_RELU, ins, p, "batch normalization over the channel axis, followed by ReLU", |a: &Attrs| {
        a.check_known(BN_RELU, BN_PARAMS)?;
        wrap(BN_RELU, "BatchNorm", a, BN_PARAMS, Change::Relu)
    });
    r.set_gradient(BN_RELU, grad_bn_relu);
    let p = params!(
        "eps" = Some("0.001"),
        "momentum" = Some("0.9"),
        "fix_gamma" = Some("True"),
        "use_global_stats" = Some("False"),
        "output_mean_var" = Some("False"),
        "ndev" = Some("1"),
        "key" = None
    );
    let doc = "batch normalization over axis 1 with statistics shared across ndev devices (one here)";
    r.add(SYNC_BN, ins, p, doc, |a: &Attrs| {
        a.check_known(SYNC_BN, SYNC_PARAMS)?;
        a.int_or(SYNC_BN, "ndev", 1)?;
        if a.raw("key").is_none() {
            return Err(Error::param(SYNC_BN, "the required parameter key is missing"));
        }
        let eps = a.float_or(SYNC_BN, "eps", 1e-3)?;
        wrap(SYNC_BN, "BatchNorm", a, &SYNC_PARAMS[..5], Change::Variance(eps))
    });
    r.set_gradient(SYNC_BN, grad_sync_bn);
    let p =
        params!("input_dim" = None, "output_dim" = None, "dtype" = Some("'float32'"), "sparse_grad" = Some("False"));
    let doc = "Embedding with a sparse weight gradient in MXNet (dense here)";
    r.add(SPARSE_EMB, &["data", "weight"], p, doc, |a: &Attrs| {
        a.check_known(SPARSE_EMB, EMB_PARAMS)?;
        wrap(SPARSE_EMB, "Embedding", a, EMB_PARAMS, Change::None)
    });
    let grad = r.get("Embedding").expect("layers are registered before contrib").gradient;
    if let Some(g) = grad {
        r.set_gradient(SPARSE_EMB, g);
    }
}
