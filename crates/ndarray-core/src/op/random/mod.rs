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
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Shape, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

#[derive(Debug, Clone, Copy)]
enum Dist {
    /// A real-valued family with its two parameters (the second unused by one-parameter ones).
    Real(Family, f64, f64),
    RandInt(i64, i64),
}

/// A `_random_*` op: samples of one distribution with scalar parameters.
#[derive(Debug)]
struct Sample {
    name: &'static str,
    dist: Dist,
    shape: Shape,
    dtype: DType,
}

impl Operator for Sample {
    fn name(&self) -> &str {
        self.name
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name, inputs.len(), 0)?;
        Ok(vec![self.shape.clone()])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![self.dtype])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, _: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
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
        Ok(vec![wrap_as(self.dtype, values)])
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
    Ok(Box::new(Sample { name, dist, shape, dtype }))
}

/// Register a `_random_*` op of a real family with parameters `(p1, p2)` (defaults `d1`,
/// `d2`), its public alias `random_*` and any further `aliases`.
fn add_real(
    r: &mut Registry,
    name: &'static str,
    family: Family,
    params: &'static [super::ParamSpec],
    (p1, d1): (&'static str, f64),
    (p2, d2): (&'static str, f64),
    aliases: &[&'static str],
) {
    let doc = match family {
        Family::Uniform => "uniform samples in [low, high)",
        Family::Normal => "normal samples of mean loc and standard deviation scale",
        Family::Gamma => "gamma samples of shape alpha and scale beta",
        Family::Exponential => "exponential samples of rate lam",
        Family::Poisson => "Poisson samples of rate lam",
        Family::NegBinomial => "negative binomial samples: failures before k successes of probability p",
        Family::GenNegBinomial => "generalized negative binomial samples of mean mu and dispersion alpha",
    };
    r.add(name, &[], params, doc, move |a: &Attrs| {
        let x = if family == Family::NegBinomial {
            a.int_or(name, p1, d1 as i64)? as f64
        } else {
            a.float_or(name, p1, d1)?
        };
        let y = if p2.is_empty() { 0.0 } else { a.float_or(name, p2, d2)? };
        if family == Family::Uniform && y < x {
            return Err(Error::param(name, format!("low ({x}) must not exceed high ({y})")));
        }
        sample(name, a, Dist::Real(family, x, y))
    });
    for &alias in aliases {
        r.alias(alias, name);
    }
}

pub(super) fn register(r: &mut Registry) {
    let none = ("", 0.0);
    let sd = |p: &'static str| -> (&'static str, f64) { (p, 1.0) };
    add_real(
        r,
        "_random_uniform",
        Family::Uniform,
        params!("low" = Some("0"), "high" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        ("low", 0.0),
        ("high", 1.0),
        &["uniform", "random_uniform"],
    );
    add_real(
        r,
        "_random_normal",
        Family::Normal,
        params!("loc" = Some("0"), "scale" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        ("loc", 0.0),
        sd("scale"),
        &["normal", "random_normal"],
    );
    add_real(
        r,
        "_random_gamma",
        Family::Gamma,
        params!("alpha" = Some("1"), "beta" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        sd("alpha"),
        sd("beta"),
        &["random_gamma"],
    );
    add_real(
        r,
        "_random_exponential",
        Family::Exponential,
        params!("lam" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        sd("lam"),
        none,
        &["random_exponential"],
    );
    add_real(
        r,
        "_random_poisson",
        Family::Poisson,
        params!("lam" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        sd("lam"),
        none,
        &["random_poisson"],
    );
    add_real(
        r,
        "_random_negative_binomial",
        Family::NegBinomial,
        params!("k" = Some("1"), "p" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        sd("k"),
        sd("p"),
        &["random_negative_binomial"],
    );
    add_real(
        r,
        "_random_generalized_negative_binomial",
        Family::GenNegBinomial,
        params!("mu" = Some("1"), "alpha" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        sd("mu"),
        sd("alpha"),
        &["random_generalized_negative_binomial"],
    );
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
