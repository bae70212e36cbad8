//! `ftml_update`, `lamb_update_phase1`, `lamb_update_phase2` and their mixed-precision forms
//! `mp_lamb_update_phase1`, `mp_lamb_update_phase2`.

use num_traits::Float;

use super::common::{clip, compute_is_f64, expect_count, f32_dtype, f32_param, float_dtype, load, same_shapes, store};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, OpCtx, Operator, TensorIn};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::{CpuStorage, StorageElement};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ftml,
    LambOne,
    LambTwo,
    MpLambOne,
    MpLambTwo,
}

/// Parsed parameters (float32-rounded), with MXNet's defaults.
#[derive(Clone, Copy, Debug, Default)]
struct Params {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: i64,
    wd: f64,
    rescale: f64,
    clip: f64,
    bias_correction: bool,
    lower: f64,
    upper: f64,
}

#[derive(Debug)]
struct Single {
    name: &'static str,
    kind: Kind,
    p: Params,
}

impl Single {
    fn num_inputs(&self) -> usize {
        match self.kind {
            Kind::Ftml | Kind::MpLambOne | Kind::MpLambTwo => 5,
            Kind::LambOne | Kind::LambTwo => 4,
        }
    }

    /// FTML over `T`: returns the new weight and the new d, v, z.
    fn ftml<T: Float + StorageElement>(&self, x: &[TensorIn<'_>]) -> Vec<Vec<T>> {
        let c = |v: f64| T::from(v).unwrap_or_else(T::nan);
        let p = &self.p;
        let (lr, b1, b2, eps, t) = (c(p.lr), c(p.beta1), c(p.beta2), c(p.eps), c(p.t as f64));
        let (wd, rescale, bound) = (c(p.wd), c(p.rescale), c(p.clip));
        let (w, g) = (load::<T>(&x[0]), load::<T>(&x[1]));
        let (mut d, mut v, mut z) = (load::<T>(&x[2]), load::<T>(&x[3]), load::<T>(&x[4]));
        let one = <T as num_traits::One>::one();
        let mut out = vec![<T as num_traits::Zero>::zero(); w.len()];
        for i in 0..w.len() {
            let gi = rescale * g[i] + wd * w[i];
            let gi = if bound >= <T as num_traits::Zero>::zero() { clip(gi, bound) } else { gi };
            v[i] = b2 * v[i] + (one - b2) * gi * gi;
            let d_t = (one - b1.powf(t)) / lr * ((v[i] / (one - b2.powf(t))).sqrt() + eps);
            z[i] = b1 * z[i] + (one - b1) * gi - (d_t - b1 * d[i]) * w[i];
            d[i] = d_t;
            out[i] = -z[i] / d_t;
        }
        vec![out, d, v, z]
    }

    /// LAMB phase 1 over `T` (weight `w` for the weight decay): returns g, mean, var.
    fn lamb_one<T: Float + StorageElement>(&self, w: &[T], gr: &[T], mean: &mut [T], var: &mut [T]) -> Vec<T> {
        let c = |v: f64| T::from(v).unwrap_or_else(T::nan);
        let p = &self.p;
        let (b1, b2, eps, wd, rescale, bound) = (c(p.beta1), c(p.beta2), c(p.eps), c(p.wd), c(p.rescale), c(p.clip));
        // `std::pow(float, int)` is computed in double, then stored in the compute type.
        let b1t = num_traits::ToPrimitive::to_f64(&c(p.beta1.powi(p.t as i32))).unwrap_or(f64::NAN);
        let b2t = c(p.beta2.powi(p.t as i32));
        let one = <T as num_traits::One>::one();
        let mut out = vec![<T as num_traits::Zero>::zero(); w.len()];
        for i in 0..w.len() {
            let g = super::common::scaled(gr[i], rescale, bound);
            mean[i] = b1 * mean[i] + (one - b1) * g;
            var[i] = b2 * var[i] + (one - b2) * g * g;
            out[i] = if p.bias_correction {
                // MXNet divides the mean by `1. - beta1_t` in double.
                let m_hat = c(num_traits::ToPrimitive::to_f64(&mean[i]).unwrap_or(f64::NAN) / (1.0 - b1t));
                let v_hat = var[i] / (one - b2t);
                m_hat / (v_hat.sqrt() + eps) + wd * w[i]
            } else {
                mean[i] / (var[i].sqrt() + eps) + wd * w[i]
            };
        }
        out
    }

    /// LAMB phase 2's learning rate from the norms r1 (of the weight) and r2 (of g).
    fn lamb_two_lr<T: Float>(&self, r1: T, r2: T) -> T {
        let c = |v: f64| T::from(v).unwrap_or_else(T::nan);
        let (lower, upper) = (c(self.p.lower), c(self.p.upper));
        let mut r1 = r1;
        if lower >= <T as num_traits::Zero>::zero() {
            r1 = r1.max(lower);
        }
        if upper >= <T as num_traits::Zero>::zero() {
            r1 = r1.min(upper);
        }
        let lr = c(self.p.lr);
        if r1 == <T as num_traits::Zero>::zero() || r2 == <T as num_traits::Zero>::zero() { lr } else { lr * r1 / r2 }
    }

    fn forward_typed<T: Float + StorageElement>(&self, x: &[TensorIn<'_>], out_dtype: DType) -> Vec<CpuStorage> {
        let state_dtype = x.get(2).map_or(out_dtype, |t| t.dtype());
        match self.kind {
            Kind::Ftml => self.ftml::<T>(x).into_iter().map(|v| store(v, out_dtype)).collect(),
            Kind::LambOne => {
                let (w, g) = (load::<T>(&x[0]), load::<T>(&x[1]));
                let (mut m, mut v) = (load::<T>(&x[2]), load::<T>(&x[3]));
                let out = self.lamb_one(&w, &g, &mut m, &mut v);
                vec![store(out, out_dtype), store(m, state_dtype), store(v, state_dtype)]
            }
            Kind::MpLambOne => {
                let (w32, g) = (load::<f32>(&x[4]), load::<f32>(&x[1]));
                let (mut m, mut v) = (load::<f32>(&x[2]), load::<f32>(&x[3]));
                let out = self.lamb_one(&w32, &g, &mut m, &mut v);
                vec![CpuStorage::F32(out.into()), CpuStorage::F32(m.into()), CpuStorage::F32(v.into())]
            }
            Kind::LambTwo | Kind::MpLambTwo => {
                // The mixed-precision form steps the float32 master weight (input 4), which it
                // does not write back (MXNet 1.9.1 lists it as mutated but never stores it).
                let w = if self.kind == Kind::MpLambTwo { load::<T>(&x[4]) } else { load::<T>(&x[0]) };
                let g = load::<T>(&x[1]);
                let (r1, r2) = (load::<T>(&x[2]), load::<T>(&x[3]));
                let lr = self.lamb_two_lr(r1[0], r2[0]);
                let out: Vec<T> = w.iter().zip(&g).map(|(&w, &g)| w - lr * g).collect();
                vec![store(out, out_dtype)]
            }
        }
    }
}

impl Operator for Single {
    fn name(&self) -> &str {
        self.name
    }
    fn infer_shape(&self, s: &[Shape]) -> Result<Vec<Shape>> {
        let n = self.num_inputs();
        expect_count(self.name, s.len(), n, "weight, grad and states")?;
        match self.kind {
            Kind::LambTwo | Kind::MpLambTwo => {
                let mut idx = vec![0, 1];
                if self.kind == Kind::MpLambTwo {
                    idx.push(4);
                }
                same_shapes(self.name, s, &idx, "weight, g and weight32 must have one shape")?;
                for (i, what) in [(2, "r1"), (3, "r2")] {
                    if s[i].first() != Some(&1) {
                        return Err(Error::shape(
                            self.name,
                            format!("{what} must have shape (1,), got {}", fmt_shape(&s[i])),
                        ));
                    }
                }
            }
            _ => same_shapes(self.name, s, &(0..n).collect::<Vec<_>>(), "every input must have the weight's shape")?,
        }
        Ok(vec![s[0].clone()])
    }
    fn infer_dtype(&self, d: &[DType]) -> Result<Vec<DType>> {
        expect_count(self.name, d.len(), self.num_inputs(), "weight, grad and states")?;
        float_dtype(self.name, d[0], "weight")?;
        match self.kind {
            Kind::Ftml | Kind::LambOne | Kind::LambTwo => {
                crate::op::same_dtype(self.name, d)?;
                Ok(vec![d[0]])
            }
            Kind::MpLambOne => {
                if d[1] != d[0] {
                    return Err(Error::dtype(self.name, d[1], format!("grad must have the weight's dtype {}", d[0])));
                }
                for (i, what) in [(2, "mean"), (3, "var"), (4, "weight32")] {
                    f32_dtype(self.name, d[i], what)?;
                }
                Ok(vec![DType::F32])
            }
            Kind::MpLambTwo => {
                for (i, what) in [(1, "g"), (2, "r1"), (3, "r2"), (4, "weight32")] {
                    f32_dtype(self.name, d[i], what)?;
                }
                Ok(vec![d[0]])
            }
        }
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        match self.kind {
            Kind::Ftml => vec![2, 3, 4],
            Kind::LambOne | Kind::MpLambOne => vec![2, 3],
            Kind::LambTwo | Kind::MpLambTwo => vec![],
        }
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let compute_f64 = match self.kind {
            Kind::MpLambOne | Kind::MpLambTwo => false,
            _ => compute_is_f64(x[0].dtype()),
        };
        Ok(if compute_f64 { self.forward_typed::<f64>(x, dt[0]) } else { self.forward_typed::<f32>(x, dt[0]) })
    }
}

fn parse(name: &'static str, kind: Kind, a: &Attrs) -> Result<Single> {
    let known: &[&str] = match kind {
        Kind::Ftml => &["lr", "beta1", "beta2", "epsilon", "t", "wd", "rescale_grad", "clip_grad"],
        Kind::LambOne | Kind::MpLambOne => {
            &["beta1", "beta2", "epsilon", "t", "bias_correction", "wd", "rescale_grad", "clip_gradient"]
        }
        Kind::LambTwo | Kind::MpLambTwo => &["lr", "lower_bound", "upper_bound"],
    };
    a.check_known(name, known)?;
    let f = |k: &str, d: Option<f64>| f32_param(a, name, k, d);
    let p = match kind {
        Kind::Ftml => Params {
            lr: f("lr", None)?,
            beta1: f("beta1", Some(0.6))?,
            beta2: f("beta2", Some(0.999))?,
            // A double in MXNet, cast to the compute type by the kernel.
            eps: a.float_or(name, "epsilon", 1e-8)?,
            t: a.int(name, "t")?,
            wd: f("wd", Some(0.0))?,
            rescale: f("rescale_grad", Some(1.0))?,
            clip: f("clip_grad", Some(-1.0))?,
            ..Params::default()
        },
        Kind::LambOne | Kind::MpLambOne => Params {
            beta1: f("beta1", Some(0.9))?,
            beta2: f("beta2", Some(0.999))?,
            eps: f("epsilon", Some(1e-6))?,
            t: a.int(name, "t")?,
            bias_correction: a.bool_or(name, "bias_correction", true)?,
            wd: f("wd", None)?,
            rescale: f("rescale_grad", Some(1.0))?,
            clip: f("clip_gradient", Some(-1.0))?,
            ..Params::default()
        },
        Kind::LambTwo | Kind::MpLambTwo => Params {
            lr: f("lr", None)?,
            lower: f("lower_bound", Some(-1.0))?,
            upper: f("upper_bound", Some(-1.0))?,
            ..Params::default()
        },
    };
    Ok(Single { name, kind, p })
}

pub(super) fn register(r: &mut Registry) {
    let lamb1 = params!(
        "beta1" = Some("0.9"),
        "beta2" = Some("0.999"),
        "epsilon" = Some("1e-06"),
        "t" = None,
        "bias_correction" = Some("True"),
        "wd" = None,
        "rescale_grad" = Some("1"),
        "clip_gradient" = Some("-1")
    );
    let lamb2 = params!("lr" = None, "lower_bound" = Some("-1"), "upper_bound" = Some("-1"));
    type Spec = (&'static str, &'static [&'static str], &'static [crate::op::ParamSpec], &'static str, Kind);
    let specs: [Spec; 5] = [
        (
            "ftml_update",
            &["weight", "grad", "d", "v", "z"],
            params!(
                "lr" = None,
                "beta1" = Some("0.6"),
                "beta2" = Some("0.999"),
                "epsilon" = Some("1e-08"),
                "t" = None,
                "wd" = Some("0"),
                "rescale_grad" = Some("1"),
                "clip_grad" = Some("-1")
            ),
            "FTML (Follow the Moving Leader) step",
            Kind::Ftml,
        ),
        (
            "lamb_update_phase1",
            &["weight", "grad", "mean", "var"],
            lamb1,
            "LAMB phase 1: the Adam direction plus weight decay (g)",
            Kind::LambOne,
        ),
        (
            "lamb_update_phase2",
            &["weight", "g", "r1", "r2"],
            lamb2,
            "LAMB phase 2: weight - lr * r1/r2 * g",
            Kind::LambTwo,
        ),
        (
            "mp_lamb_update_phase1",
            &["weight", "grad", "mean", "var", "weight32"],
            lamb1,
            "LAMB phase 1 on a float32 master weight",
            Kind::MpLambOne,
        ),
        (
            "mp_lamb_update_phase2",
            &["weight", "g", "r1", "r2", "weight32"],
            lamb2,
            "LAMB phase 2 on a float32 master weight",
            Kind::MpLambTwo,
        ),
    ];
    for (name, inputs, params, doc, kind) in specs {
        r.add(name, inputs, params, doc, move |a: &Attrs| Ok(Box::new(parse(name, kind, a)?)));
    }
}
