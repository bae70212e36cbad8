//! Random sampling ops, drawing from their context's generator ([`super::rng`]): the
//! `_random_*` samplers with scalar parameters (here), the `_sample_*` samplers with array
//! parameters ([`multi`]), the densities `_random_pdf_*` ([`pdf`]) and `_shuffle`.

mod common;
mod dist;
mod multi;
mod pdf;

use rand::Rng as _;

use self::common::{real_dtype, sample_dtype, wrap_as};
use self::dist::Family;
use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, expect_inputs, same_shape_unary};
use crate::backend::device::{self, DeviceDist, DeviceStorage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::DevIn;
use crate::shape::{Shape, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

#[derive(Debug, Clone, Copy)]
enum Dist {
    /// A real-valued family with its two parameters (the second unused by one-parameter ones).
    Real(Family, f64, f64),
    RandInt(i64, i64),
}

/// A `_random_*` op: samples of one distribution with scalar parameters, of the given shape
/// and dtype, or (`_random_*_like`) of the shape and dtype of its one input.
#[derive(Debug)]
struct Sample {
    name: &'static str,
    dist: Dist,
    shape: Shape,
    dtype: DType,
    like: bool,
}

impl Operator for Sample {
    fn name(&self) -> &str {
        self.name
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), self.like as usize)?;
        Ok(vec![if self.like { inputs[0].clone() } else { self.shape.clone() }])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.like {
            return super::same_shape_partial(self.name, inputs, outputs);
        }
        expect_inputs(self.name, inputs.len(), 0)?;
        super::assign_declared_shape(self.name, outputs, &self.shape)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        if !self.like {
            return Ok(vec![self.dtype]);
        }
        expect_inputs(self.name, inputs.len(), 1)?;
        if !matches!(inputs[0], DType::F16 | DType::F32 | DType::F64) {
            return Err(Error::dtype(self.name, inputs[0], "the input must be float16, float32 or float64"));
        }
        Ok(vec![inputs[0]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        if self.like {
            if let Some(d) = inputs[0] {
                self.infer_dtype(&[d])?;
            }
            return super::grad::dtype_of_input(self.name, 0, inputs, outputs);
        }
        outputs[0] = Some(self.dtype);
        Ok(())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, _: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: sampling op without a generator"))?;
        let n = size_of(&out[0]);
        let values: Vec<f64> = match self.dist {
            Dist::Real(Family::Normal, _, scale) if scale.is_nan() || scale <= 0.0 => {
                // Checked at run time, as MXNet does: the error surfaces at the next sync.
                return Err(Error::param(
                    self.name,
                    format!("scale parameter in gaussian has to be positive, got {scale}"),
                ));
            }
            Dist::Real(family, a, b) => {
                let mut v = Vec::with_capacity(n);
                family.draw(a, b, n, rng, &mut v).map_err(|why| Error::param(self.name, why))?;
                v
            }
            Dist::RandInt(lo, hi) => (0..n).map(|_| rng.random_range(lo..hi) as f64).collect(),
        };
        Ok(vec![wrap_as(dt[0], values)])
    }
    fn forward_device(
        &self,
        ctx: &mut OpCtx<'_>,
        _: &[DevIn<'_>],
        out: &[Shape],
        dt: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        let dist = match self.dist {
            Dist::Real(Family::Uniform, lo, hi) => DeviceDist::Uniform(lo, hi),
            Dist::Real(Family::Normal, loc, scale) if scale > 0.0 => DeviceDist::Normal(loc, scale),
            _ => return Ok(None),
        };
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: sampling op without a generator"))?;
        // A fresh Philox key per draw from the device's generator: seeding reproduces draws.
        let key: u64 = rng.random();
        Ok(device::random(ctx.ctx.dev_id, dt[0], size_of(&out[0]), dist, key, 0)?.map(|o| vec![o]))
    }
}

/// `_shuffle`: permute along the first axis.
#[derive(Debug)]
struct Shuffle;

impl Operator for Shuffle {
    fn name(&self) -> &str {
        "_shuffle"
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        same_shape_unary("_shuffle", inputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: shuffle without a generator"))?;
        let s = x[0].shape;
        let rows = s.first().copied().unwrap_or(1);
        let row = x[0].len().checked_div(rows).unwrap_or(0);
        let mut perm: Vec<usize> = (0..rows).collect();
        for i in (1..rows).rev() {
            let j = rng.random_range(0..=i);
            perm.swap(i, j);
        }
        let src = x[0].storage();
        Ok(vec![dispatch!(storage &*src => v: T, {
            let mut o: Vec<T> = Vec::with_capacity(v.len());
            for &p in &perm {
                o.extend_from_slice(&v[p * row..(p + 1) * row]);
            }
            T::wrap(o)
        })])
    }
}

fn sample(name: &'static str, a: &Attrs, dist: Dist) -> Result<Box<dyn Operator>> {
    a.check_known(
        name,
        &["low", "high", "loc", "scale", "alpha", "beta", "lam", "k", "p", "mu", "shape", "dtype", "ctx"],
    )?;
    let dtype = match dist {
        Dist::Real(..) => real_dtype(name, a)?,
        Dist::RandInt(..) => {
            let dtype = sample_dtype(name, a)?.unwrap_or(DType::I32);
            if !matches!(dtype, DType::I32 | DType::I64) {
                return Err(Error::dtype(name, dtype, "randint produces int32 or int64"));
            }
            dtype
        }
    };
    let shape = a.shape(name, "shape")?;
    // MXNet's samplers default to one value of shape (1,).
    let shape = if shape.is_empty() { vec![1] } else { shape };
    Ok(Box::new(Sample { name, dist, shape, dtype, like: false }))
}

/// A `_random_*` op of a real family: its name, that of its `_like` variant, the family,
/// the parameter specs of both, the names and defaults of the (up to) two distribution
/// parameters (`""`: none) and the aliases.
type RealSpec = (
    &'static str,
    &'static str,
    Family,
    &'static [super::ParamSpec],
    &'static [super::ParamSpec],
    [(&'static str, f64); 2],
    &'static [&'static str],
);

/// The distribution parameters of a `_random_*` op from its attributes.
fn real_params(name: &str, family: Family, [(p1, d1), (p2, d2)]: [(&str, f64); 2], a: &Attrs) -> Result<Dist> {
    let x =
        if family == Family::NegBinomial { a.int_or(name, p1, d1 as i64)? as f64 } else { a.float_or(name, p1, d1)? };
    let y = if p2.is_empty() { 0.0 } else { a.float_or(name, p2, d2)? };
    if family == Family::Uniform && y < x {
        return Err(Error::param(name, format!("low ({x}) must not exceed high ({y})")));
    }
    Ok(Dist::Real(family, x, y))
}

/// Register a `_random_*` op, its `_random_*_like` variant and its aliases.
fn add_real(r: &mut Registry, (name, like, family, params, like_params, ps, aliases): RealSpec) {
    let doc = match family {
        Family::Uniform => "uniform samples in [low, high)",
        Family::Normal => "normal samples of mean loc and standard deviation scale",
        Family::Gamma => "gamma samples of shape alpha and scale beta",
        Family::Exponential => "exponential samples of rate lam",
        Family::Poisson => "Poisson samples of rate lam",
        Family::NegBinomial => "negative binomial samples: failures before k successes of probability p",
        Family::GenNegBinomial => "generalized negative binomial samples of mean mu and dispersion alpha",
    };
    r.add(name, &[], params, doc, move |a: &Attrs| sample(name, a, real_params(name, family, ps, a)?));
    for &alias in aliases {
        r.alias(alias, name);
    }
    r.add(like, &["data"], like_params, doc, move |a: &Attrs| {
        a.check_known(like, &[ps[0].0, ps[1].0])?;
        let dist = real_params(like, family, ps, a)?;
        Ok(Box::new(Sample { name: like, dist, shape: Shape::new(), dtype: DType::F32, like: true }))
    });
    r.set_gradient(like, |b, _, x, _, _| b.zeros_like_each(x));
}

pub(super) fn register(r: &mut Registry) {
    const ONE: f64 = 1.0;
    let specs: [RealSpec; 7] = [
        (
            "_random_uniform",
            "_random_uniform_like",
            Family::Uniform,
            params!("low" = Some("0"), "high" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("low" = Some("0"), "high" = Some("1")),
            [("low", 0.0), ("high", ONE)],
            &["uniform", "random_uniform"],
        ),
        (
            "_random_normal",
            "_random_normal_like",
            Family::Normal,
            params!("loc" = Some("0"), "scale" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("loc" = Some("0"), "scale" = Some("1")),
            [("loc", 0.0), ("scale", ONE)],
            &["normal", "random_normal"],
        ),
        (
            "_random_gamma",
            "_random_gamma_like",
            Family::Gamma,
            params!("alpha" = Some("1"), "beta" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("alpha" = Some("1"), "beta" = Some("1")),
            [("alpha", ONE), ("beta", ONE)],
            &["random_gamma"],
        ),
        (
            "_random_exponential",
            "_random_exponential_like",
            Family::Exponential,
            params!("lam" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("lam" = Some("1")),
            [("lam", ONE), ("", 0.0)],
            &["random_exponential"],
        ),
        (
            "_random_poisson",
            "_random_poisson_like",
            Family::Poisson,
            params!("lam" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("lam" = Some("1")),
            [("lam", ONE), ("", 0.0)],
            &["random_poisson"],
        ),
        (
            "_random_negative_binomial",
            "_random_negative_binomial_like",
            Family::NegBinomial,
            params!("k" = Some("1"), "p" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("k" = Some("1"), "p" = Some("1")),
            [("k", ONE), ("p", ONE)],
            &["random_negative_binomial"],
        ),
        (
            "_random_generalized_negative_binomial",
            "_random_generalized_negative_binomial_like",
            Family::GenNegBinomial,
            params!("mu" = Some("1"), "alpha" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
            params!("mu" = Some("1"), "alpha" = Some("1")),
            [("mu", ONE), ("alpha", ONE)],
            &["random_generalized_negative_binomial"],
        ),
    ];
    for spec in specs {
        add_real(r, spec);
    }
    r.add(
        "_random_randint",
        &[],
        params!("low" = None, "high" = None, "shape" = Some("()"), "dtype" = Some("'None'")),
        "integers in [low, high)",
        |a: &Attrs| {
            let (lo, hi) = (a.int("_random_randint", "low")?, a.int("_random_randint", "high")?);
            if hi <= lo {
                return Err(Error::param("_random_randint", format!("low ({lo}) must be less than high ({hi})")));
            }
            sample("_random_randint", a, Dist::RandInt(lo, hi))
        },
    );
    r.alias("random_randint", "_random_randint");
    r.add("_shuffle", &["data"], params!(), "shuffle along the first axis", |_: &Attrs| Ok(Box::new(Shuffle)));
    r.alias("shuffle", "_shuffle");
    multi::register(r);
    pdf::register(r);
}
