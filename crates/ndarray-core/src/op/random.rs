//! Random sampling ops, drawing from their context's generator ([`super::rng`]).

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use super::registry::Registry;
use super::{Attrs, OpCtx, Operator, TensorIn, expect_inputs, same_shape_unary};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::shape::{Shape, size_of};
use crate::storage::{CpuStorage, StorageElement};
use crate::{dispatch, params};

#[derive(Debug, Clone, Copy)]
enum Dist {
    Uniform(f64, f64),
    Normal(f64, f64),
    RandInt(i64, i64),
}

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
        Ok(vec![dispatch!(dtype self.dtype => T, {
            let v: Vec<T> = match self.dist {
                Dist::Uniform(lo, hi) => {
                    (0..n).map(|_| T::from_f64(lo + (hi - lo) * rng.random::<f32>() as f64)).collect()
                }
                Dist::Normal(_, scale) if scale < 0.0 => {
                    // Checked at run time, as MXNet does: the error surfaces at the next sync.
                    return Err(Error::param(
                        self.name,
                        format!("scale parameter in gaussian has to be positive, got {scale}"),
                    ));
                }
                Dist::Normal(loc, scale) => (0..n)
                    .map(|_| {
                        let z: f32 = StandardNormal.sample(rng);
                        T::from_f64(loc + scale * z as f64)
                    })
                    .collect(),
                Dist::RandInt(lo, hi) => (0..n).map(|_| T::from_f64(rng.random_range(lo..hi) as f64)).collect(),
            };
            T::wrap(v)
        })])
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

fn sample(name: &'static str, a: &Attrs, dist: Dist, default_dtype: DType) -> Result<Box<dyn Operator>> {
    a.check_known(name, &["low", "high", "loc", "scale", "shape", "dtype", "ctx"])?;
    let dtype = a.opt_dtype(name, "dtype")?.unwrap_or(default_dtype);
    let shape = a.shape(name, "shape")?;
    // MXNet's samplers default to one value of shape (1,).
    let shape = if shape.is_empty() { vec![1] } else { shape };
    if name == "_random_randint" && !matches!(dtype, DType::I32 | DType::I64) {
        return Err(Error::dtype(name, dtype, "randint produces int32 or int64"));
    }
    Ok(Box::new(Sample { name, dist, shape, dtype }))
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "_random_uniform",
        &[],
        params!("low" = Some("0"), "high" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        "uniform samples in [low, high)",
        |a: &Attrs| {
            let (lo, hi) = (a.float_or("_random_uniform", "low", 0.0)?, a.float_or("_random_uniform", "high", 1.0)?);
            if hi < lo {
                return Err(Error::param("_random_uniform", format!("low ({lo}) must not exceed high ({hi})")));
            }
            sample("_random_uniform", a, Dist::Uniform(lo, hi), DType::F32)
        },
    );
    r.alias("uniform", "_random_uniform");
    r.alias("random_uniform", "_random_uniform");
    r.add(
        "_random_normal",
        &[],
        params!("loc" = Some("0"), "scale" = Some("1"), "shape" = Some("()"), "dtype" = Some("'None'")),
        "normal samples",
        |a: &Attrs| {
            let (loc, scale) = (a.float_or("_random_normal", "loc", 0.0)?, a.float_or("_random_normal", "scale", 1.0)?);
            sample("_random_normal", a, Dist::Normal(loc, scale), DType::F32)
        },
    );
    r.alias("normal", "_random_normal");
    r.alias("random_normal", "_random_normal");
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
            sample("_random_randint", a, Dist::RandInt(lo, hi), DType::I32)
        },
    );
    r.add("_shuffle", &["data"], params!(), "shuffle along the first axis", |_: &Attrs| Ok(Box::new(Shuffle)));
    r.alias("shuffle", "_shuffle");
}
