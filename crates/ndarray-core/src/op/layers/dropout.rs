//! Dropout: in training (or with `mode='always'`) each element is kept with probability
//! `1 - p` and scaled by `1 / (1 - p)`; the mask (0 or `1 / (1 - p)` per element, equal along
//! `axes`) is a hidden output the gradient multiplies by. Otherwise it is the identity (mask
//! of ones).

use rand::Rng as _;

use super::{c, float_dtype};
use crate::backend::cpu::elemwise::BinaryKind;
use crate::backend::cpu::gather::broadcast_strides;
use crate::backend::device::{self, DeviceDist, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, DevIn, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_shape_partial};
use crate::shape::{Shape, norm_axis, strides_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};
#[allow(unused_imports)]
use num_traits::Float as _;

const NAME: &str = "Dropout";

#[derive(Debug)]
struct Dropout {
    p: f64,
    always: bool,
    axes: Vec<i64>,
}

impl Dropout {
    /// A training mask on the device, as the host draws it: per element of the shape with
    /// `axes` collapsed, `1 / (1 - p)` where a uniform draw (the device's Philox stream, keyed
    /// from the context's generator) is below `1 - p`, else 0; then broadcast to x's shape.
    fn device_mask(&self, ctx: &mut OpCtx<'_>, x: DevIn<'_>, dt: DType) -> Result<Option<DeviceStorage>> {
        let shape = x.shape;
        let mut mshape = shape.to_vec();
        for &a in &self.axes {
            mshape[norm_axis(NAME, a, shape.len())?] = 1;
        }
        let keep = 1.0 - self.p;
        let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: Dropout without a generator"))?;
        let key: u64 = rng.random();
        let n: usize = mshape.iter().product();
        let dev = x.data.device_id();
        let Some(u) = device::random(dev, dt, n, DeviceDist::Uniform(0.0, 1.0), key, 0)? else { return Ok(None) };
        let u = DevIn { data: &u, offset: 0, shape: &mshape };
        let Some(kept) = device::scalar(BinaryKind::Lesser, u, keep, false)? else { return Ok(None) };
        let kept = DevIn { data: &kept, offset: 0, shape: &mshape };
        let Some(small) = device::scalar(BinaryKind::Mul, kept, scale, false)? else { return Ok(None) };
        if mshape == shape {
            return Ok(Some(small));
        }
        let small = DevIn { data: &small, offset: 0, shape: &mshape };
        device::gather(small, 0, shape, &broadcast_strides(&mshape, shape))
    }
}

impl Operator for Dropout {
    fn name(&self) -> &str {
        NAME
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn num_visible_outputs(&self) -> usize {
        1
    }
    fn output_names(&self) -> Vec<String> {
        vec!["output".into(), "mask".into()]
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(NAME, inputs.len(), 1)?;
        for &a in &self.axes {
            norm_axis(NAME, a, inputs[0].len())?;
        }
        Ok(vec![inputs[0].clone(), inputs[0].clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        same_shape_partial(NAME, inputs, outputs)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = float_dtype(NAME, inputs[0])?;
        Ok(vec![d, d])
    }
    fn forward_device(
        &self,
        ctx: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        dt: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        if !((ctx.is_train || self.always) && self.p > 0.0) {
            let Some(out) = device::copy(x[0])? else { return Ok(None) };
            let Some(mask) = device::fill(x[0].data.device_id(), dt[0], x[0].len(), 1.0)? else { return Ok(None) };
            return Ok(Some(vec![out, mask]));
        }
        let Some(mask) = self.device_mask(ctx, x[0], dt[0])? else { return Ok(None) };
        let m = DevIn { data: &mask, offset: 0, shape: x[0].shape };
        let Some(out) = device::binary(BinaryKind::Mul, x[0], m, x[0].shape)? else { return Ok(None) };
        Ok(Some(vec![out, mask]))
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let n = x[0].len();
        let active = (ctx.is_train || self.always) && self.p > 0.0;
        if !active {
            return Ok(vec![x[0].to_storage(), CpuStorage::full(dt[0], n, 1.0)]);
        }
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: Dropout without a generator"))?;
        let shape = x[0].shape;
        // The mask is drawn over the shape with `axes` collapsed to 1, then broadcast.
        let mut mshape = shape.to_vec();
        for &a in &self.axes {
            mshape[norm_axis(NAME, a, shape.len())?] = 1;
        }
        let keep = 1.0 - self.p;
        let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
        let draws: Vec<f64> = (0..mshape.iter().product::<usize>())
            .map(|_| if rng.random::<f64>() < keep { scale } else { 0.0 })
            .collect();
        let full: Vec<f64> = if mshape.as_slice() == shape {
            draws
        } else {
            let (fs, ms) = (strides_of(shape), strides_of(&mshape));
            (0..n)
                .map(|i| {
                    let mut j = 0;
                    for d in 0..shape.len() {
                        let coord = (i / fs[d]) % shape[d];
                        if mshape[d] != 1 {
                            j += coord * ms[d];
                        }
                    }
                    draws[j]
                })
                .collect()
        };
        dispatch!(float NAME, dt[0] => T, {
            let v = x[0].typed::<T>();
            let mask: Vec<T> = full.iter().map(|&m| c(m)).collect();
            let out: Vec<T> = v.iter().zip(&mask).map(|(&a, &m)| a * m).collect();
            Ok(vec![T::wrap(out), T::wrap(mask)])
        })
    }
}

/// d Dropout = g * mask.
fn grad_dropout(
    b: &mut dyn GradBuilder,
    _: &Attrs,
    _: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    Ok(vec![Some(b.apply("elemwise_mul", &[g[0], y[1]], Attrs::default())?)])
}

pub(in crate::op) fn register(r: &mut Registry) {
    r.add(
        NAME,
        &["data"],
        params!("p" = Some("0.5"), "mode" = Some("'training'"), "axes" = Some("()"), "cudnn_off" = Some("False")),
        "randomly zero elements in training, scaling the rest by 1/(1-p)",
        |a: &Attrs| {
            a.check_known(NAME, &["p", "mode", "axes", "cudnn_off"])?;
            let p = a.float_or(NAME, "p", 0.5)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::param(NAME, format!("p must be in [0, 1], got {p}")));
            }
            let always = match a.str_or("mode", "training") {
                "training" => false,
                "always" => true,
                other => {
                    return Err(Error::param(
                        NAME,
                        format!("invalid mode '{other}'; valid values are always, training"),
                    ));
                }
            };
            let axes = a.opt_tuple(NAME, "axes")?.unwrap_or_default();
            Ok(Box::new(Dropout { p, always, axes }))
        },
    );
    r.set_gradient(NAME, grad_dropout);
}
