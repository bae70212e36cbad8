//! `_contrib_group_adagrad_update(weight, grad, history)`: AdaGrad with one accumulated
//! squared gradient per row (MXNet 1.9.1's `src/operator/contrib/optimizer_op.cc`), over dense
//! arrays. With `g = clip(rescale_grad * grad, clip_gradient)` (no clipping when
//! `clip_gradient < 0`), each row `r` does
//! `history[r] += mean(g[r]^2); weight[r] -= lr * g[r] / sqrt(history[r] + epsilon)`.
//! The output is the new weight; `history` is updated in place. `mx.nd.contrib` keeps its
//! Python version, which also takes a row_sparse gradient (updating only the stored rows).

use super::super::registry::Registry;
use super::super::{Attrs, OpCtx, Operator, TensorIn, same_dtype};
use super::{shape_err, store};
use crate::dispatch;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;
use crate::storage::CpuStorage;

const NAME: &str = "_contrib_group_adagrad_update";

#[derive(Debug)]
struct GroupAdaGrad {
    lr: f64,
    rescale: f64,
    clip: f64,
    eps: f64,
}

fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|a| a.to_f64()).collect() })
}

impl Operator for GroupAdaGrad {
    fn name(&self) -> &str {
        NAME
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        vec![2]
    }
    fn infer_shape(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        super::super::expect_inputs(NAME, x.len(), 3)?;
        let (w, g, h) = (&x[0], &x[1], &x[2]);
        if w.len() != 2 || g != w || *h != [w[0], 1] {
            let what = "weight must be 2-d, grad weight's shape and history (rows, 1)";
            return Err(shape_err(NAME, what, &[("weight", w), ("grad", g), ("history", h)]));
        }
        Ok(vec![w.clone()])
    }
    fn infer_dtype(&self, x: &[DType]) -> Result<Vec<DType>> {
        let d = same_dtype(NAME, x)?;
        if !d.is_float() {
            return Err(Error::dtype(NAME, d, format!("{NAME} needs floating-point arrays, got {d}")));
        }
        Ok(vec![d])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (mut w, g, mut h) = (values(&x[0]), values(&x[1]), values(&x[2]));
        let cols = x[0].shape[1];
        for (r, hr) in h.iter_mut().enumerate() {
            let row: Vec<f64> = g[r * cols..(r + 1) * cols]
                .iter()
                .map(|&v| {
                    let v = v * self.rescale;
                    if self.clip >= 0.0 { v.clamp(-self.clip, self.clip) } else { v }
                })
                .collect();
            if cols > 0 {
                *hr += row.iter().map(|v| v * v).sum::<f64>() / cols as f64;
            }
            let div = (*hr + self.eps).sqrt();
            for (wv, gv) in w[r * cols..(r + 1) * cols].iter_mut().zip(&row) {
                *wv -= self.lr * gv / div;
            }
        }
        Ok(vec![store(dt[0], w), store(dt[0], h)])
    }
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("lr" = None, "rescale_grad" = Some("1"), "clip_gradient" = Some("-1"), "epsilon" = Some("1e-05"));
    let doc = "AdaGrad with one learning rate per row; returns the new weight and updates history";
    r.add(NAME, &["weight", "grad", "history"], p, doc, |a: &Attrs| {
        a.check_known(NAME, &["lr", "rescale_grad", "clip_gradient", "epsilon"])?;
        // MXNet's parameters are float32.
        let f = |k: &str, d: f64| -> Result<f64> { Ok(f64::from(a.float_or(NAME, k, d)? as f32)) };
        Ok(Box::new(GroupAdaGrad {
            lr: f64::from(a.float(NAME, "lr")? as f32),
            rescale: f("rescale_grad", 1.0)?,
            clip: f("clip_gradient", -1.0)?,
            eps: f("epsilon", 1e-5)?,
        }) as Box<dyn Operator>)
    });
}
