//! Samplers with array parameters: `_sample_uniform`, `_sample_normal`, `_sample_gamma`,
//! `_sample_exponential`, `_sample_poisson`, `_sample_negative_binomial`,
//! `_sample_generalized_negative_binomial` (one distribution per parameter element, `shape`
//! samples of each), `_sample_multinomial` with its gradient, and `_sample_unique_zipfian`.

use super::common::{real_dtype, sample_dtype, values, wrap_as};
use super::dist::Family;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::Grads;
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, assign_shapes, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape, size_of};
use crate::storage::CpuStorage;

/// `_sample_<family>(p1[, p2], shape, dtype)`: output `p.shape + shape`, holding `shape`
/// samples of the distribution of each parameter element.
#[derive(Debug)]
struct MultiSample {
    name: &'static str,
    family: Family,
    arity: usize,
    shape: Shape,
    dtype: DType,
}

impl MultiSample {
    fn check_params(&self, inputs: &[Shape]) -> Result<()> {
        expect_inputs(self.name, inputs.len(), self.arity)?;
        if let Some(other) = inputs.iter().find(|s| **s != inputs[0]) {
            return Err(Error::shape(
                self.name,
                format!(
                    "parameter arrays must have the same shape, got {} and {}",
                    fmt_shape(&inputs[0]),
                    fmt_shape(other)
                ),
            ));
        }
        Ok(())
    }
}

impl Operator for MultiSample {
    fn name(&self) -> &str {
        self.name
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        self.check_params(inputs)?;
        Ok(vec![[inputs[0].as_slice(), &self.shape].concat()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        // Every parameter has one shape; the output's leading axes give it too.
        let from_out = outputs[0]
            .as_ref()
            .filter(|o| o.len() >= self.shape.len() && o.ends_with(&self.shape))
            .map(|o| o[..o.len() - self.shape.len()].to_vec());
        let Some(p) = inputs.iter().flatten().next().cloned().or(from_out) else { return Ok(()) };
        for slot in inputs.iter_mut() {
            slot.get_or_insert_with(|| p.clone());
        }
        let known: Vec<Shape> = inputs.iter().flatten().cloned().collect();
        let out = self.infer_shape(&known)?;
        assign_shapes(self.name, outputs, &out)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        crate::op::same_dtype(self.name, inputs)?;
        Ok(vec![self.dtype])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        // The parameters share a dtype (any); the output's is the `dtype` attribute's.
        if let Some(d) = inputs.iter().flatten().next().copied() {
            for slot in inputs.iter_mut() {
                match slot {
                    Some(o) if *o != d => {
                        return Err(Error::dtype(
                            self.name,
                            *o,
                            format!("parameters must share one dtype, got {d} and {o}"),
                        ));
                    }
                    _ => *slot = Some(d),
                }
            }
        }
        match outputs[0] {
            Some(o) if o != self.dtype => {
                Err(Error::dtype(self.name, o, format!("output dtype {o} does not match the requested {}", self.dtype)))
            }
            _ => {
                outputs[0] = Some(self.dtype);
                Ok(())
            }
        }
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: sampling op without a generator"))?;
        let a = values(&x[0]);
        let b = if self.arity == 2 { values(&x[1]) } else { vec![0.0; a.len()] };
        let per = size_of(&self.shape);
        let mut v = Vec::with_capacity(size_of(&out[0]));
        for (i, (&pa, &pb)) in a.iter().zip(&b).enumerate() {
            self.family
                .draw(pa, pb, per, rng, &mut v)
                .map_err(|why| Error::param(self.name, format!("{why} (at parameter index {i})")))?;
        }
        Ok(vec![wrap_as(self.dtype, v)])
    }
}

/// `_sample_multinomial(data, shape, get_prob, dtype)`: indices drawn from the categorical
/// distributions along `data`'s last axis, and with `get_prob` their log-probabilities.
#[derive(Debug)]
struct Multinomial {
    shape: Shape,
    get_prob: bool,
    dtype: DType,
}

const MULTINOMIAL: &str = "_sample_multinomial";

impl Operator for Multinomial {
    fn name(&self) -> &str {
        MULTINOMIAL
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn num_outputs(&self) -> usize {
        1 + self.get_prob as usize
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(MULTINOMIAL, inputs.len(), 1)?;
        let d = &inputs[0];
        let out = match d.len() {
            0 => return Err(Error::shape(MULTINOMIAL, "data must have at least one axis (the outcomes)")),
            1 if self.shape.is_empty() => vec![1],
            1 => self.shape.clone(),
            n => [&d[..n - 1], self.shape.as_slice()].concat(),
        };
        if d[d.len() - 1] == 0 && size_of(&out) > 0 {
            return Err(Error::shape(MULTINOMIAL, format!("data {} has no outcomes to sample", fmt_shape(d))));
        }
        Ok(vec![out; self.num_outputs()])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs(MULTINOMIAL, inputs.len(), 1)?;
        if !inputs[0].is_float() {
            return Err(Error::dtype(MULTINOMIAL, inputs[0], "probabilities must be floating point"));
        }
        Ok([self.dtype, inputs[0]][..self.num_outputs()].to_vec())
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        outputs[0] = Some(self.dtype);
        if let Some(d) = inputs[0] {
            let inferred = self.infer_dtype(&[d])?;
            outputs.copy_from_slice(&inferred.into_iter().map(Some).collect::<Vec<_>>());
        }
        Ok(())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], out: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        use rand::Rng as _;
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: sampling op without a generator"))?;
        let p = values(&x[0]);
        let k = *x[0].shape.last().unwrap_or(&1);
        let n = p.len().checked_div(k).unwrap_or(0);
        let m = size_of(&out[0]).checked_div(n).unwrap_or(0);
        let (mut idx, mut logp) = (Vec::with_capacity(n * m), Vec::with_capacity(n * m));
        for row in p.chunks(k.max(1)).take(n) {
            // MXNet's float32 table of cumulative probabilities, searched for the first entry
            // not below a float32 uniform; a row summing below it gives its last outcome.
            let mut acc = 0.0f64;
            let cum: Vec<f32> = row
                .iter()
                .map(|&v| {
                    acc += v;
                    acc as f32
                })
                .collect();
            for _ in 0..m {
                let u: f32 = rng.random();
                let j = cum.partition_point(|&c| c < u).min(k - 1);
                idx.push(j as f64);
                logp.push(row[j].ln());
            }
        }
        let mut outs = vec![wrap_as(dt[0], idx)];
        if self.get_prob {
            outs.push(wrap_as(dt[1], logp));
        }
        Ok(outs)
    }
}

/// `_backward_sample_multinomial(ograd, data, sample)`: the gradient of the log-probability
/// output, `ograd / p` added at each drawn outcome.
#[derive(Debug)]
struct MultinomialBackward;

impl Operator for MultinomialBackward {
    fn name(&self) -> &str {
        "_backward_sample_multinomial"
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        Ok(vec![inputs[1].clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        crate::op::grad::shapes_of_inputs(self, &[1], inputs, outputs)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        expect_inputs(self.name(), inputs.len(), 3)?;
        Ok(vec![inputs[1]])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        crate::op::grad::dtype_of_input(self.name(), 1, inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (g, p, s) = (values(&x[0]), values(&x[1]), values(&x[2]));
        let k = *x[1].shape.last().unwrap_or(&1);
        let n = p.len().checked_div(k).unwrap_or(0);
        let m = s.len().checked_div(n).unwrap_or(0);
        let mut grad = vec![0.0; p.len()];
        for i in 0..n {
            for j in 0..m {
                let o = s[i * m + j];
                if o >= 0.0 && (o as usize) < k {
                    let c = i * k + o as usize;
                    grad[c] += g[i * m + j] / p[c];
                }
            }
        }
        Ok(vec![wrap_as(dt[0], grad)])
    }
}

/// `_sample_unique_zipfian(range_max, shape=(batch, num_sampled))`: per batch row,
/// `num_sampled` distinct classes of [0, range_max) drawn from the approximately log-uniform
/// distribution `P(c) = ln((c + 2) / (c + 1)) / ln(range_max + 1)` (MXNet's
/// `round(exp(u ln range_max)) - 1` for uniform `u`), and the number of draws each row took.
#[derive(Debug)]
struct UniqueZipfian {
    range_max: u64,
    batch: usize,
    num_sampled: usize,
}

const ZIPFIAN: &str = "_sample_unique_zipfian";

impl Operator for UniqueZipfian {
    fn name(&self) -> &str {
        ZIPFIAN
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(ZIPFIAN, inputs.len(), 0)?;
        Ok(vec![vec![self.batch, self.num_sampled], vec![self.batch]])
    }
    fn infer_dtype(&self, _: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![DType::I64, DType::I64])
    }
    fn infer_dtype_partial(&self, _: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        outputs.fill(Some(DType::I64));
        Ok(())
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, _: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        use rand::Rng as _;
        let rng = ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: sampling op without a generator"))?;
        let log_range = (self.range_max as f64).ln();
        let mut samples = Vec::with_capacity(self.batch * self.num_sampled);
        let mut tries = Vec::with_capacity(self.batch);
        let mut seen = std::collections::HashSet::with_capacity(self.num_sampled);
        for _ in 0..self.batch {
            seen.clear();
            let mut n = 0i64;
            while seen.len() < self.num_sampled {
                let u: f64 = rng.random();
                let v = ((u * log_range).exp().round() as i64 - 1).clamp(0, self.range_max as i64 - 1);
                if seen.insert(v) {
                    samples.push(v);
                }
                n += 1;
            }
            tries.push(n);
        }
        Ok(vec![CpuStorage::I64(samples.into()), CpuStorage::I64(tries.into())])
    }
}

fn unique_zipfian(a: &Attrs) -> Result<Box<dyn Operator>> {
    a.check_known(ZIPFIAN, &["range_max", "shape"])?;
    let range_max = a.int(ZIPFIAN, "range_max")?;
    let shape = a.shape(ZIPFIAN, "shape")?;
    let &[batch, num_sampled] = shape.as_slice() else {
        return Err(Error::param(
            ZIPFIAN,
            format!("shape must be 2-D (batch_size, num_sampled), got {}", fmt_shape(&shape)),
        ));
    };
    if range_max <= 0 || num_sampled as i64 > range_max {
        return Err(Error::param(
            ZIPFIAN,
            format!(
                "number of samples ({num_sampled}) cannot exceed the number of possible classes ({range_max}), which must be positive"
            ),
        ));
    }
    Ok(Box::new(UniqueZipfian { range_max: range_max as u64, batch, num_sampled }))
}

/// The sampled indices get no gradient; with `get_prob` the log-probabilities give `data` one.
fn grad_multinomial(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    if a.bool_or(MULTINOMIAL, "get_prob", false)? {
        Ok(vec![Some(b.apply("_backward_sample_multinomial", &[g[1], x[0], y[0]], Attrs::default())?)])
    } else {
        b.zeros_like_each(x)
    }
}

/// Sampling has no gradient: MXNet gives the parameters zeros.
fn grad_zero(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    b.zeros_like_each(x)
}

fn multi_sample(name: &'static str, family: Family, arity: usize, a: &Attrs) -> Result<Box<dyn Operator>> {
    a.check_known(name, &["shape", "dtype"])?;
    let shape = a.shape(name, "shape")?;
    if shape.contains(&0) {
        return Err(Error::param(name, format!("shape {} must be non-zero within each dimension", fmt_shape(&shape))));
    }
    Ok(Box::new(MultiSample { name, family, arity, shape, dtype: real_dtype(name, a)? }))
}

fn multinomial(a: &Attrs) -> Result<Box<dyn Operator>> {
    a.check_known(MULTINOMIAL, &["shape", "get_prob", "dtype"])?;
    let dtype = sample_dtype(MULTINOMIAL, a)?.unwrap_or(DType::I32);
    if !matches!(dtype, DType::U8 | DType::I32 | DType::F16 | DType::F32 | DType::F64) {
        return Err(Error::dtype(MULTINOMIAL, dtype, "dtype must be uint8, int32, float16, float32 or float64"));
    }
    let shape = a.shape(MULTINOMIAL, "shape")?;
    Ok(Box::new(Multinomial { shape, get_prob: a.bool_or(MULTINOMIAL, "get_prob", false)?, dtype }))
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("shape" = Some("[]"), "dtype" = Some("'None'"));
    type Spec = (&'static str, &'static str, Family, &'static [&'static str], &'static str);
    let specs: [Spec; 7] = [
        (
            "_sample_uniform",
            "sample_uniform",
            Family::Uniform,
            &["low", "high"],
            "uniform samples per [low, high) pair",
        ),
        ("_sample_normal", "sample_normal", Family::Normal, &["mu", "sigma"], "normal samples per (mu, sigma) pair"),
        (
            "_sample_gamma",
            "sample_gamma",
            Family::Gamma,
            &["alpha", "beta"],
            "gamma samples per (shape alpha, scale beta) pair",
        ),
        (
            "_sample_exponential",
            "sample_exponential",
            Family::Exponential,
            &["lam"],
            "exponential samples per rate lam",
        ),
        ("_sample_poisson", "sample_poisson", Family::Poisson, &["lam"], "Poisson samples per rate lam"),
        (
            "_sample_negative_binomial",
            "sample_negative_binomial",
            Family::NegBinomial,
            &["k", "p"],
            "negative binomial samples per (k, p) pair",
        ),
        (
            "_sample_generalized_negative_binomial",
            "sample_generalized_negative_binomial",
            Family::GenNegBinomial,
            &["mu", "alpha"],
            "generalized negative binomial samples per (mu, alpha) pair",
        ),
    ];
    for (name, alias, family, inputs, doc) in specs {
        r.add(name, inputs, p, doc, move |a: &Attrs| multi_sample(name, family, inputs.len(), a));
        r.alias(alias, name);
        r.set_gradient(name, grad_zero);
    }
    r.add(
        MULTINOMIAL,
        &["data"],
        params!("shape" = Some("[]"), "get_prob" = Some("False"), "dtype" = Some("'int32'")),
        "samples of the categorical distributions along data's last axis",
        multinomial,
    );
    r.alias("sample_multinomial", MULTINOMIAL);
    r.set_gradient(MULTINOMIAL, grad_multinomial);
    r.add(
        ZIPFIAN,
        &[],
        params!("range_max" = None, "shape" = Some("[]")),
        "distinct approximately log-uniform (Zipfian) classes per batch row, and the draws taken",
        unique_zipfian,
    );
    r.add(
        "_backward_sample_multinomial",
        &["ograd", "data", "sample"],
        params!(),
        "gradient of sample_multinomial's log-probabilities",
        |_: &Attrs| Ok(Box::new(MultinomialBackward)),
    );
}
