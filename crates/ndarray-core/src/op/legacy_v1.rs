//! MXNet 1.x's deprecated `_v1` layers, `Convolution_v1` (2-D and 3-D), `Pooling_v1` (4-D and
//! 5-D data) and `BatchNorm_v1`: their own (older) argument sets, computed by the current
//! `Convolution`, `Pooling` and `BatchNorm` kernels, with the same gradients.

use super::grad::Grads;
use super::registry::Registry;
use super::sampler::common::{storage_of, values};
use super::{Attrs, CreateFn, GradBuilder, NodeEntry, OpCtx, Operator, ParamSpec, TensorIn, expect_inputs};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// The padding of a `Pooling_v1` max pooling that pads (`None` otherwise): the v1 kernel pads
/// with zeros, so unlike `Pooling` the padding takes part in the maximum.
fn zero_padded_max(a: &Attrs) -> Result<Option<Vec<usize>>> {
    let n = "Pooling_v1";
    let pad = a.opt_tuple(n, "pad")?.unwrap_or_default();
    let max = a.str_or("pool_type", "max").trim_matches('\'') == "max";
    if !max || a.bool_or(n, "global_pool", false)? || pad.iter().all(|&p| p == 0) {
        return Ok(None);
    }
    Ok(Some(pad.iter().map(|&p| p.max(0) as usize).collect()))
}

/// `a` with `pad` zero, and the `Pad` attributes adding `pad` zeros around the spatial axes.
fn split_pad(a: &Attrs, pad: &[usize]) -> (Attrs, Attrs) {
    let mut inner = a.clone();
    inner.set("pad", format!("({})", vec!["0"; pad.len()].join(", ")));
    let width: Vec<String> =
        [0, 0, 0, 0].iter().chain(pad.iter().flat_map(|p| [p, p])).map(|p| p.to_string()).collect();
    let pad_attrs =
        Attrs::from_pairs([("mode", "constant".to_string()), ("pad_width", format!("({})", width.join(", ")))]);
    (inner, pad_attrs)
}

/// `Pooling_v1` max pooling with padding: `Pooling` without padding over zero-padded data.
#[derive(Debug)]
struct PaddedMax {
    inner: Box<dyn Operator>,
    pad: Vec<usize>,
}

impl PaddedMax {
    fn padded(&self, d: &[usize]) -> Result<Shape> {
        if d.len() != self.pad.len() + 2 {
            let msg = format!("data {} does not match pad {:?}", fmt_shape(d), self.pad);
            return Err(Error::shape("Pooling_v1", msg));
        }
        Ok(d.iter().enumerate().map(|(i, &n)| if i < 2 { n } else { n + 2 * self.pad[i - 2] }).collect())
    }
}

impl Operator for PaddedMax {
    fn name(&self) -> &str {
        "Pooling_v1"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 1)?;
        self.inner.infer_shape(&[self.padded(&inputs[0])?])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        self.inner.infer_dtype(inputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (d, ps) = (x[0].shape, self.padded(x[0].shape)?);
        let mut p = vec![0.0; ps.iter().product()];
        for (i, v) in values(&x[0]).into_iter().enumerate() {
            let (mut rem, mut at, mut stride) = (i, 0, 1);
            for k in (0..d.len()).rev() {
                let off = if k < 2 { 0 } else { self.pad[k - 2] };
                at += (rem % d[k] + off) * stride;
                rem /= d[k];
                stride *= ps[k];
            }
            p[at] = v;
        }
        let s = storage_of(dt[0], p);
        self.inner.forward(ctx, &[TensorIn { data: &s, offset: 0, shape: &ps }], out, dt)
    }
}

/// `Pooling_v1`'s gradient: `Pooling`'s, through the zero padding for a padded max pooling.
fn grad_pool_v1(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let Some(pad) = zero_padded_max(a)? else {
        return Ok(vec![Some(b.apply("_backward_Pooling", &[g[0], x[0], y[0]], a.clone())?)]);
    };
    let (inner, pad_attrs) = split_pad(a, &pad);
    let xp = b.apply("Pad", &[x[0]], pad_attrs.clone())?;
    let gp = b.apply("_backward_Pooling", &[g[0], xp, y[0]], inner)?;
    Ok(vec![Some(b.apply("_backward_Pad", &[gp, x[0]], pad_attrs)?)])
}

/// A creator for `v1` that accepts only the arguments of `params` and, for `kernel` (unless
/// `global_pool`), only 2-D and 3-D kernels, then builds the current op `base`.
fn delegate(r: &Registry, v1: &'static str, base: &str, params: &'static [ParamSpec]) -> CreateFn {
    let create = r.get(base).expect("the current layers are registered first").create.clone();
    std::sync::Arc::new(move |a: &Attrs| -> Result<Box<dyn Operator>> {
        let known: Vec<&str> = params.iter().map(|p| p.name).collect();
        a.check_known(v1, &known)?;
        if known.contains(&"kernel") && !a.bool_or(v1, "global_pool", false)? {
            let k = a.opt_tuple(v1, "kernel")?.unwrap_or_default();
            if !(2..=3).contains(&k.len()) {
                return Err(Error::param(v1, format!("kernel {k:?} must be 2-D or 3-D (1-D is not supported)")));
            }
        }
        if v1 == "Pooling_v1"
            && let Some(pad) = zero_padded_max(a)?
        {
            let inner = create(&split_pad(a, &pad).0)?;
            return Ok(Box::new(PaddedMax { inner, pad }));
        }
        create(a)
    })
}

/// Register `v1` as `base` with `known` arguments, sharing its gradient.
fn add(
    r: &mut Registry,
    v1: &'static str,
    base: &'static str,
    inputs: &'static [&'static str],
    params: &'static [ParamSpec],
    doc: &'static str,
) {
    let create = delegate(r, v1, base, params);
    let grad = r.get(base).expect("registered").gradient;
    r.add(v1, inputs, params, doc, move |a: &Attrs| create(a));
    if let Some(g) = grad {
        r.set_gradient(v1, g);
    }
}

pub(super) fn register(r: &mut Registry) {
    let conv = params!(
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
    let doc = "deprecated convolution over NCHW or NCDHW data (Convolution's kernel)";
    add(r, "Convolution_v1", "Convolution", &["data", "weight", "bias"], conv, doc);
    let pool = params!(
        "kernel" = Some("()"),
        "pool_type" = Some("'max'"),
        "global_pool" = Some("False"),
        "pooling_convention" = Some("'valid'"),
        "stride" = Some("()"),
        "pad" = Some("()")
    );
    add(r, "Pooling_v1", "Pooling", &["data"], pool, "deprecated max, avg or sum pooling of NCHW or NCDHW data");
    r.set_gradient("Pooling_v1", grad_pool_v1);
    let bn = params!(
        "eps" = Some("0.001"),
        "momentum" = Some("0.9"),
        "fix_gamma" = Some("True"),
        "use_global_stats" = Some("False"),
        "output_mean_var" = Some("False")
    );
    let ins = &["data", "gamma", "beta", "moving_mean", "moving_var"];
    add(r, "BatchNorm_v1", "BatchNorm", ins, bn, "deprecated batch normalization over axis 1");
}
