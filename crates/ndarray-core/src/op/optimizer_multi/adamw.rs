//! AdamW (decoupled weight decay): `_adamw_update`, `_mp_adamw_update`, `_multi_adamw_update`
//! and `_multi_mp_adamw_update`, also registered as `_contrib_adamw_update`... (the names
//! `mx.nd.contrib.adamw_update` and friends call).
//!
//! The gradient scale is the last input (a one-element array), as in MXNet: when it is zero or
//! not finite the update is skipped and the weight and states keep their values.
//! `w -= eta * (lr * mean / (sqrt(var) + epsilon) + wd * w)`.

use num_traits::Float;

use super::common::{
    expect_count, f32_dtype, f32_param, float_dtype, float_tuple, group_names, load, num_weights, same_shapes, store,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, OpCtx, Operator, TensorIn};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

#[derive(Debug)]
struct AdamW {
    name: &'static str,
    mp: bool,
    /// The `_multi_*` forms (their kernel writes the moment updates as `b*(m - g) + g`).
    multi: bool,
    n: usize,
    lrs: Vec<f64>,
    wds: Vec<f64>,
    etas: Vec<f64>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    clip: f64,
}

impl AdamW {
    /// `_adamw_update` leaves the rescaled, clipped gradient in `grad` (MXNet's kernel assigns
    /// it there), which its callers see.
    fn rewrites_grad(&self) -> bool {
        !self.mp && !self.multi
    }
    fn stride(&self) -> usize {
        4 + usize::from(self.mp)
    }
    fn num_inputs(&self) -> usize {
        self.n * self.stride() + 1
    }
    fn how(&self) -> String {
        let w32 = if self.mp { ", weight32" } else { "" };
        format!("weight, grad, mean, var{w32} per weight for num_weights={}, then rescale_grad", self.n)
    }

    /// Group `i` in `T`: the new weight, mean, var (and weight32).
    fn group<T: Float + StorageElement>(&self, x: &[TensorIn<'_>], i: usize, scale: f32, dt: DType) -> Vec<CpuStorage> {
        let c = |v: f64| T::from(v).unwrap_or_else(T::nan);
        let base = i * self.stride();
        let master = self.mp && (!self.multi || x[base].dtype() != DType::F32);
        let w = if master { load::<T>(&x[base + 4]) } else { load::<T>(&x[base]) };
        let mut g = load::<T>(&x[base + 1]);
        let (mut mean, mut var) = (load::<T>(&x[base + 2]), load::<T>(&x[base + 3]));
        let (b1, b2, eps, bound) = (c(self.beta1), c(self.beta2), c(self.eps), c(self.clip));
        let (lr, wd, eta, scale) = (c(self.lrs[i]), c(self.wds[i]), c(self.etas[i]), c(f64::from(scale)));
        let one = <T as num_traits::One>::one();
        let mut out = Vec::with_capacity(w.len());
        for j in 0..w.len() {
            let gj = scale * g[j];
            let gj = if bound >= <T as num_traits::Zero>::zero() { super::common::clip(gj, bound) } else { gj };
            g[j] = gj;
            if self.multi {
                mean[j] = b1 * (mean[j] - gj) + gj;
                var[j] = b2 * (var[j] - gj * gj) + gj * gj;
            } else {
                mean[j] = b1 * mean[j] + (one - b1) * gj;
                var[j] = b2 * var[j] + (one - b2) * gj * gj;
            }
            out.push(w[j] - eta * (lr * mean[j] / (var[j].sqrt() + eps) + wd * w[j]));
        }
        let state_dt = x[base + 2].dtype();
        let mut res = vec![store(out.clone(), dt)];
        if self.rewrites_grad() {
            res.push(store(g, x[base + 1].dtype()));
        }
        res.extend([store(mean, state_dt), store(var, state_dt)]);
        if self.mp {
            res.push(if master { store(out, DType::F32) } else { x[base + 4].to_storage() });
        }
        res
    }
}

impl Operator for AdamW {
    fn name(&self) -> &str {
        self.name
    }
    fn num_outputs(&self) -> usize {
        self.n
    }
    fn input_names(&self) -> Option<Vec<String>> {
        if !self.multi {
            return None;
        }
        let per: &[&str] =
            if self.mp { &["weight", "grad", "mean", "var", "weight32"] } else { &["weight", "grad", "mean", "var"] };
        let mut names = group_names(self.n, per);
        names.push("rescale_grad".to_string());
        Some(names)
    }
    fn infer_shape(&self, s: &[Shape]) -> Result<Vec<Shape>> {
        expect_count(self.name, s.len(), self.num_inputs(), &self.how())?;
        for (key, v) in [("lrs", &self.lrs), ("wds", &self.wds), ("etas", &self.etas)] {
            if v.len() != self.n {
                return Err(Error::param(
                    self.name,
                    format!("{key} has {} values but num_weights is {}", v.len(), self.n),
                ));
            }
        }
        let k = self.stride();
        for i in 0..self.n {
            let idx: Vec<usize> = (i * k..(i + 1) * k).collect();
            same_shapes(self.name, s, &idx, &format!("weight {i}: its grad and states must have its shape"))?;
        }
        let scale = &s[self.n * k];
        if scale.iter().product::<usize>() != 1 {
            return Err(Error::shape(
                self.name,
                format!("rescale_grad must hold one value, got shape {}", fmt_shape(scale)),
            ));
        }
        Ok((0..self.n).map(|i| s[i * k].clone()).collect())
    }
    fn infer_dtype(&self, d: &[DType]) -> Result<Vec<DType>> {
        expect_count(self.name, d.len(), self.num_inputs(), &self.how())?;
        let k = self.stride();
        let mut out = Vec::with_capacity(self.n);
        for i in 0..self.n {
            let w = d[i * k];
            float_dtype(self.name, w, "weight")?;
            let plain = if self.mp { 2 } else { k };
            if let Some(&o) = d[i * k..i * k + plain].iter().find(|&&o| o != w) {
                return Err(Error::dtype(self.name, o, format!("weight {i} is {w} but its grad or states are {o}")));
            }
            for &o in &d[i * k + plain..(i + 1) * k] {
                f32_dtype(self.name, o, "mean, var and weight32 of the mp updates")?;
            }
            out.push(w);
        }
        float_dtype(self.name, d[self.n * k], "rescale_grad")?;
        Ok(out)
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        if self.rewrites_grad() {
            return vec![1, 2, 3];
        }
        let k = self.stride();
        (0..self.n).flat_map(|i| (2..k).map(move |j| i * k + j)).collect()
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let k = self.stride();
        let scale = load::<f32>(&x[self.n * k])[0];
        let skip = !scale.is_finite() || scale == 0.0;
        let mut outs = Vec::with_capacity(self.n);
        let mut states = Vec::new();
        for (i, &d) in dt.iter().enumerate().take(self.n) {
            let mut g = if skip {
                // MXNet returns without writing: everything keeps its value.
                let base = i * k;
                let first = if self.rewrites_grad() { 1 } else { 2 };
                let mut v = vec![x[base].to_storage()];
                v.extend((first..k).map(|j| x[base + j].to_storage()));
                v
            } else if !self.mp && d == DType::F64 {
                self.group::<f64>(x, i, scale, d)
            } else {
                self.group::<f32>(x, i, scale, d)
            };
            outs.push(g.remove(0));
            states.extend(g);
        }
        outs.extend(states);
        Ok(outs)
    }
}

fn parse(name: &'static str, mp: bool, multi: bool, a: &Attrs) -> Result<AdamW> {
    let f = |k: &str, d: Option<f64>| f32_param(a, name, k, d);
    let (n, lrs, wds, etas) = if multi {
        a.check_known(
            name,
            &["lrs", "beta1", "beta2", "epsilon", "wds", "etas", "clip_gradient", "num_weights", "num_args"],
        )?;
        (
            num_weights(a, name, "num_weights", 1)?,
            float_tuple(a, name, "lrs")?,
            float_tuple(a, name, "wds")?,
            float_tuple(a, name, "etas")?,
        )
    } else {
        a.check_known(name, &["lr", "beta1", "beta2", "epsilon", "wd", "eta", "clip_gradient"])?;
        (1, vec![f("lr", None)?], vec![f("wd", Some(0.0))?], vec![f("eta", None)?])
    };
    Ok(AdamW {
        name,
        mp,
        multi,
        n,
        lrs,
        wds,
        etas,
        beta1: f("beta1", Some(0.9))?,
        beta2: f("beta2", Some(0.999))?,
        eps: f("epsilon", Some(1e-8))?,
        clip: f("clip_gradient", Some(-1.0))?,
    })
}

pub(super) fn register(r: &mut Registry) {
    let one = params!(
        "lr" = None,
        "beta1" = Some("0.9"),
        "beta2" = Some("0.999"),
        "epsilon" = Some("1e-08"),
        "wd" = Some("0"),
        "eta" = None,
        "clip_gradient" = Some("-1")
    );
    let many = params!(
        "lrs" = None,
        "beta1" = Some("0.9"),
        "beta2" = Some("0.999"),
        "epsilon" = Some("1e-08"),
        "wds" = None,
        "etas" = None,
        "clip_gradient" = Some("-1"),
        "num_weights" = Some("1")
    );
    r.add(
        "_adamw_update",
        &["weight", "grad", "mean", "var", "rescale_grad"],
        one,
        "AdamW step (decoupled weight decay)",
        |a| Ok(Box::new(parse("_adamw_update", false, false, a)?)),
    );
    r.add(
        "_mp_adamw_update",
        &["weight", "grad", "mean", "var", "weight32", "rescale_grad"],
        one,
        "AdamW step on a float32 master weight",
        |a| Ok(Box::new(parse("_mp_adamw_update", true, false, a)?)),
    );
    r.add("_multi_adamw_update", &["*data"], many, "AdamW steps of several weights", |a| {
        Ok(Box::new(parse("_multi_adamw_update", false, true, a)?))
    });
    r.add("_multi_mp_adamw_update", &["*data"], many, "AdamW steps of several weights on float32 master copies", |a| {
        Ok(Box::new(parse("_multi_mp_adamw_update", true, true, a)?))
    });
    r.alias("_contrib_adamw_update", "_adamw_update");
    r.alias("_contrib_mp_adamw_update", "_mp_adamw_update");
    r.alias("_contrib_multi_adamw_update", "_multi_adamw_update");
    r.alias("_contrib_multi_mp_adamw_update", "_multi_mp_adamw_update");
}
