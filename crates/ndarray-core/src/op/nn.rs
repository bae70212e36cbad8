//! softmax, log_softmax and softmin along an axis.

use super::grad::Grads;
use super::registry::Registry;
use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::backend::device::{self, DeviceStorage};
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::op::DevIn;
use crate::shape::{Shape, norm_axis};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

#[derive(Debug)]
struct Softmax {
    name: &'static str,
    axis: i64,
    temperature: f64,
    log: bool,
    /// -1 for softmin (the softmax of `-x`), else 1.
    sign: f64,
}

impl Operator for Softmax {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 1)?;
        norm_axis(self.name, self.axis, inputs[0].len())?;
        Ok(vec![inputs[0].clone()])
    }
    fn forward_device(
        &self,
        _: &mut OpCtx<'_>,
        x: &[DevIn<'_>],
        _: &[Shape],
        _: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let ax = norm_axis(self.name, self.axis, x[0].shape.len())?;
        Ok(device::softmax(x[0], ax, self.sign / self.temperature, self.log)?.map(|o| vec![o]))
    }
    fn inline_when_waited(&self, inputs: &[Shape]) -> bool {
        // Along the last axis: vectorised rows (`softmax_rows`).
        inputs.len() == 1 && norm_axis(self.name, self.axis, inputs[0].len()).is_ok_and(|ax| ax + 1 == inputs[0].len())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let s = x[0].shape;
        let ax = norm_axis(self.name, self.axis, s.len())?;
        let outer: usize = s[..ax].iter().product();
        let inner: usize = s[ax + 1..].iter().product();
        let n = s[ax];
        if inner == 1 && x[0].dtype() == DType::F32 {
            // The common case, along the last axis in float32: vectorised rows.
            let v = x[0].typed::<f32>();
            let mut o: Vec<f32> = crate::pool::alloc(v.len());
            let scale = (self.sign / self.temperature) as f32;
            crate::backend::cpu::softmax::softmax_rows(ctx.par, v, &mut o, n, scale, self.log);
            return Ok(vec![CpuStorage::F32(o.into())]);
        }
        let src = x[0].storage();
        Ok(vec![dispatch!(storage &*src => v: T, {
            let mut o: Vec<T> = v.to_vec();
            let mut buf = vec![0f64; n];
            for p in 0..outer {
                for q in 0..inner {
                    let at = |i: usize| (p * n + i) * inner + q;
                    let mut mx = f64::NEG_INFINITY;
                    for (i, b) in buf.iter_mut().enumerate() {
                        *b = self.sign * v[at(i)].to_f64() / self.temperature;
                        mx = mx.max(*b);
                    }
                    let sum: f64 = buf.iter().map(|b| (b - mx).exp()).sum();
                    for (i, b) in buf.iter().enumerate() {
                        let r = if self.log { b - mx - sum.ln() } else { (b - mx).exp() / sum };
                        o[at(i)] = T::from_f64(r);
                    }
                }
            }
            T::wrap(o)
        })])
    }
}

/// softmax: `y * (g - sum(g * y)) / T`; log_softmax: `(g - exp(y) * sum(g)) / T`, the sums
/// along the softmax axis.
fn grad_softmax(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    softmax_grad(b, a, y[0], g[0], false)
}

fn grad_log_softmax(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    softmax_grad(b, a, y[0], g[0], true)
}

/// softmin: the softmax gradient, negated.
fn grad_softmin(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let d = softmax_grad(b, a, y[0], g[0], false)?[0].expect("softmax gives a gradient");
    Ok(vec![Some(b.unary("negative", d)?)])
}

fn softmax_grad(b: &mut dyn GradBuilder, a: &Attrs, y: NodeEntry, g: NodeEntry, log: bool) -> Grads {
    let axis = a.int_or("softmax", "axis", -1)?;
    let temperature = a.float_or("softmax", "temperature", 1.0)?;
    let sum_at = Attrs::from_pairs([("axis", axis.to_string()), ("keepdims", "True".to_string())]);
    let d = if log {
        let s = b.apply("sum", &[g], sum_at)?;
        let e = b.unary("exp", y)?;
        let t = b.binary("broadcast_mul", e, s)?;
        b.binary("elemwise_sub", g, t)?
    } else {
        let t = b.mul(g, y)?;
        let s = b.apply("sum", &[t], sum_at)?;
        let d = b.binary("broadcast_sub", g, s)?;
        b.mul(d, y)?
    };
    let d = if temperature != 1.0 { b.scalar_op("_div_scalar", d, temperature)? } else { d };
    Ok(vec![Some(d)])
}

pub(super) fn register(r: &mut Registry) {
    for (name, log, sign) in [("softmax", false, 1.0), ("log_softmax", true, 1.0), ("softmin", false, -1.0)] {
        r.add(
            name,
            &["data"],
            params!(
                "axis" = Some("-1"),
                "temperature" = Some("None"),
                "dtype" = Some("None"),
                "use_length" = Some("False")
            ),
            "softmax along an axis",
            move |a: &Attrs| {
                a.check_known(name, &["axis", "temperature", "dtype", "use_length"])?;
                Ok(Box::new(Softmax {
                    name,
                    axis: a.int_or(name, "axis", -1)?,
                    temperature: a.float_or(name, "temperature", 1.0)?,
                    log,
                    sign,
                }))
            },
        );
    }
    r.set_gradient("softmax", grad_softmax);
    r.set_gradient("log_softmax", grad_log_softmax);
    r.set_gradient("softmin", grad_softmin);
}

#[cfg(test)]
mod grad_tests {
    use crate::eager_grad::testing::{arr, check};

    #[test]
    fn softmax_gradients() {
        for name in ["softmax", "log_softmax", "softmin"] {
            check(name, &[], &[arr(&[2, 3, 4], 1)], &[0]);
            check(name, &[("axis", "0")], &[arr(&[2, 3, 4], 2)], &[0]);
            check(name, &[("axis", "1"), ("temperature", "2.0")], &[arr(&[2, 3, 4], 3)], &[0]);
        }
    }
}
