//! The densities `_random_pdf_<family>(sample, params..., is_log)` and their gradients
//! `_backward_pdf_<family>`, with MXNet's formulas (`src/operator/random/pdf_op.h`).
//!
//! The parameters share one shape, the leading axes of `sample`'s: each parameter element
//! describes one distribution and the trailing axes of `sample` hold its samples. Dirichlet
//! parameters are vectors along the last axis, as are its samples (one density per vector).
//! Values are computed in f64 and rounded to the inputs' float dtype.

use crate::backend::cpu::elemwise::{digamma, ln_gamma};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs, shapes_of_inputs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs, same_dtype};
use crate::params;
use crate::shape::{Shape, fmt_shape, size_of};
use crate::storage::CpuStorage;

use super::common::{values, wrap_as};

/// A density family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pdf {
    Uniform,
    Normal,
    Gamma,
    Exponential,
    Poisson,
    NegBinomial,
    GenNegBinomial,
    Dirichlet,
}

const ALL: [Pdf; 8] = [
    Pdf::Uniform,
    Pdf::Normal,
    Pdf::Gamma,
    Pdf::Exponential,
    Pdf::Poisson,
    Pdf::NegBinomial,
    Pdf::GenNegBinomial,
    Pdf::Dirichlet,
];

impl Pdf {
    /// Forward name, alias, backward name, parameter names (after `sample`), description.
    fn names(self) -> (&'static str, &'static str, &'static str, &'static [&'static str], &'static str) {
        match self {
            Pdf::Uniform => (
                "_random_pdf_uniform",
                "random_pdf_uniform",
                "_backward_pdf_uniform",
                &["sample", "low", "high"],
                "density of uniform distributions on [low, high)",
            ),
            Pdf::Normal => (
                "_random_pdf_normal",
                "random_pdf_normal",
                "_backward_pdf_normal",
                &["sample", "mu", "sigma"],
                "density of normal distributions of mean mu and standard deviation sigma",
            ),
            Pdf::Gamma => (
                "_random_pdf_gamma",
                "random_pdf_gamma",
                "_backward_pdf_gamma",
                &["sample", "alpha", "beta"],
                "density of gamma distributions of shape alpha and rate beta",
            ),
            Pdf::Exponential => (
                "_random_pdf_exponential",
                "random_pdf_exponential",
                "_backward_pdf_exponential",
                &["sample", "lam"],
                "density of exponential distributions of rate lam",
            ),
            Pdf::Poisson => (
                "_random_pdf_poisson",
                "random_pdf_poisson",
                "_backward_pdf_poisson",
                &["sample", "lam"],
                "probability mass of Poisson distributions of rate lam",
            ),
            Pdf::NegBinomial => (
                "_random_pdf_negative_binomial",
                "random_pdf_negative_binomial",
                "_backward_pdf_negative_binomial",
                &["sample", "k", "p"],
                "probability mass of negative binomial distributions (k, p)",
            ),
            Pdf::GenNegBinomial => (
                "_random_pdf_generalized_negative_binomial",
                "random_pdf_generalized_negative_binomial",
                "_backward_pdf_generalized_negative_binomial",
                &["sample", "mu", "alpha"],
                "probability mass of generalized negative binomial distributions (mu, alpha)",
            ),
            Pdf::Dirichlet => (
                "_random_pdf_dirichlet",
                "random_pdf_dirichlet",
                "_backward_pdf_dirichlet",
                &["sample", "alpha"],
                "density of Dirichlet distributions of concentration alpha (vectors on the last axis)",
            ),
        }
    }

    fn name(self) -> &'static str {
        self.names().0
    }

    /// Number of parameter arrays.
    fn arity(self) -> usize {
        self.names().3.len() - 1
    }

    /// The density (or its log) of scalar `x` under parameters `(a, b)`, as MXNet computes it.
    fn value(self, x: f64, a: f64, b: f64, is_log: bool) -> f64 {
        let from_log = |l: f64| if is_log { l } else { l.exp() };
        match self {
            Pdf::Uniform => {
                if is_log {
                    -(b - a).ln()
                } else {
                    1.0 / (b - a)
                }
            }
            Pdf::Normal => {
                let e = -0.5 * (x - a) * (x - a) / (b * b);
                let norm = (2.0 * std::f64::consts::PI).sqrt() * b;
                if is_log { e - norm.ln() } else { e.exp() / norm }
            }
            Pdf::Gamma => from_log(a * b.ln() + (a - 1.0) * x.ln() - b * x - ln_gamma(a)),
            Pdf::Exponential => {
                if is_log {
                    a.ln() - a * x
                } else {
                    a * (-a * x).exp()
                }
            }
            Pdf::Poisson => from_log(x * a.ln() - ln_gamma(x + 1.0) - a),
            Pdf::NegBinomial => from_log(nb_log(x, a, b)),
            Pdf::GenNegBinomial => {
                let (l, p) = gnb_to_nb(a, b);
                from_log(nb_log(x, l, p))
            }
            Pdf::Dirichlet => unreachable!("dirichlet densities are of vectors"),
        }
    }

    /// The derivatives of the log density by `(x, a, b)` (MXNet's formulas).
    fn grad_log(self, x: f64, a: f64, b: f64) -> [f64; 3] {
        match self {
            Pdf::Uniform => [0.0, 1.0 / (b - a), 1.0 / (a - b)],
            Pdf::Normal => {
                let s2 = b * b;
                [(a - x) / s2, (x - a) / s2, ((x - a) * (x - a) - s2) / (s2 * b)]
            }
            Pdf::Gamma => [(a - 1.0) / x - b, b.ln() + x.ln() - digamma(a), a / b - x],
            Pdf::Exponential => [-a, 1.0 / a - x, 0.0],
            Pdf::Poisson => [0.0, x / a - 1.0, 0.0],
            Pdf::NegBinomial => {
                let (gl, gp) = nb_grad(x, a, b);
                [0.0, gl, gp]
            }
            Pdf::GenNegBinomial => {
                let (l, p) = gnb_to_nb(a, b);
                let (gl, gp) = nb_grad(x, l, p);
                let den = a * b + 1.0;
                [0.0, -gp * b / (den * den), -gl / (b * b) - gp * a / (den * den)]
            }
            Pdf::Dirichlet => unreachable!("dirichlet densities are of vectors"),
        }
    }
}

/// The negative binomial log mass (MXNet's `LPDF`).
fn nb_log(x: f64, l: f64, p: f64) -> f64 {
    ln_gamma(x + l) - ln_gamma(x + 1.0) - ln_gamma(l) + l * p.ln() + x * (1.0 - p).ln()
}

/// Its derivatives by `l` and `p`.
fn nb_grad(x: f64, l: f64, p: f64) -> (f64, f64) {
    (digamma(x + l) - digamma(l) + p.ln(), l / p - x / (1.0 - p))
}

/// `(k, p)` of the generalized negative binomial `(mu, alpha)`.
fn gnb_to_nb(mu: f64, alpha: f64) -> (f64, f64) {
    (1.0 / alpha, 1.0 / (mu * alpha + 1.0))
}

/// How samples map to distributions: `dists` distributions of `k` components (1 for scalar
/// families), each with `per` samples; `out` is the density's shape.
struct Layout {
    dists: usize,
    k: usize,
    per: usize,
    out: Shape,
}

/// Check the shapes of `sample` and the parameters; the layout they describe.
fn layout(pdf: Pdf, inputs: &[Shape]) -> Result<Layout> {
    let name = pdf.name();
    expect_inputs(name, inputs.len(), pdf.arity() + 1)?;
    let (s, p) = (&inputs[0], &inputs[1]);
    if let Some(other) = inputs[2..].iter().find(|q| *q != p) {
        return Err(Error::shape(
            name,
            format!("parameters must have the same shape, got {} and {}", fmt_shape(p), fmt_shape(other)),
        ));
    }
    if p.len() > s.len() || p.is_empty() {
        return Err(Error::shape(
            name,
            format!(
                "dimension of input samples ({}) must be at least dimension of distribution parameters ({}), which must be at least 1",
                s.len(),
                p.len()
            ),
        ));
    }
    let mut want = s[..p.len()].to_vec();
    let vector = pdf == Pdf::Dirichlet;
    if vector {
        *want.last_mut().expect("p is not empty") = s[s.len() - 1];
    }
    if *p != want {
        return Err(Error::shape(
            name,
            format!(
                "parameters {} must match the leading axes of sample {} (expected {})",
                fmt_shape(p),
                fmt_shape(s),
                fmt_shape(&want)
            ),
        ));
    }
    let out = match (vector, s.len()) {
        (true, 1) => vec![1],
        (true, n) => s[..n - 1].to_vec(),
        (false, _) => s.clone(),
    };
    let k = if vector { s[s.len() - 1] } else { 1 };
    if k == 0 {
        return Err(Error::shape(name, format!("sample {} has no components on its last axis", fmt_shape(s))));
    }
    let dists = size_of(p).checked_div(k).unwrap_or(0);
    let per = size_of(&out).checked_div(dists).unwrap_or(0);
    Ok(Layout { dists, k, per, out })
}

fn float_inputs(name: &str, inputs: &[DType]) -> Result<DType> {
    let d = same_dtype(name, inputs)?;
    if !d.is_float() {
        return Err(Error::dtype(name, d, "this operation only supports floating point types"));
    }
    Ok(d)
}

/// `_random_pdf_<family>(sample, params...)`.
#[derive(Debug)]
struct PdfOp {
    pdf: Pdf,
    is_log: bool,
}

impl Operator for PdfOp {
    fn name(&self) -> &str {
        self.pdf.name()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![layout(self.pdf, inputs)?.out])
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![float_inputs(self.name(), inputs)?])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let shapes: Vec<Shape> = x.iter().map(|t| t.shape.to_vec()).collect();
        let l = layout(self.pdf, &shapes)?;
        let s = values(&x[0]);
        let a = values(&x[1]);
        let out: Vec<f64> = if self.pdf == Pdf::Dirichlet {
            (0..l.dists * l.per)
                .map(|i| {
                    let (xs, al) = (&s[i * l.k..(i + 1) * l.k], &a[(i / l.per) * l.k..(i / l.per + 1) * l.k]);
                    let lp = dirichlet_log(xs, al);
                    if self.is_log { lp } else { lp.exp() }
                })
                .collect()
        } else {
            let b = if x.len() > 2 { values(&x[2]) } else { vec![0.0; a.len()] };
            s.iter().enumerate().map(|(i, &v)| self.pdf.value(v, a[i / l.per], b[i / l.per], self.is_log)).collect()
        };
        Ok(vec![wrap_as(dt[0], out)])
    }
}

/// The Dirichlet log density of `x` under concentrations `alpha`.
fn dirichlet_log(x: &[f64], alpha: &[f64]) -> f64 {
    let sum: f64 = alpha.iter().sum();
    let terms: f64 = x.iter().zip(alpha).map(|(&x, &a)| (a - 1.0) * x.ln() - ln_gamma(a)).sum();
    terms + ln_gamma(sum)
}

/// `_backward_pdf_<family>(ograd, sample, params..., out)`: the gradients of `sample` and of
/// each parameter (summed over the parameter's samples).
#[derive(Debug)]
struct PdfBackward {
    pdf: Pdf,
    is_log: bool,
}

impl Operator for PdfBackward {
    fn name(&self) -> &str {
        self.pdf.names().2
    }
    fn num_outputs(&self) -> usize {
        self.pdf.arity() + 1
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let n = self.pdf.arity();
        expect_inputs(self.name(), inputs.len(), n + 3)?;
        layout(self.pdf, &inputs[1..n + 2])?;
        Ok(inputs[1..n + 2].to_vec())
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        let srcs: Vec<usize> = (1..=self.pdf.arity() + 1).collect();
        shapes_of_inputs(self, &srcs, inputs, outputs)
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        Ok(vec![float_inputs(self.name(), inputs)?; self.num_outputs()])
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let n = self.pdf.arity();
        let shapes: Vec<Shape> = x[1..n + 2].iter().map(|t| t.shape.to_vec()).collect();
        let l = layout(self.pdf, &shapes)?;
        let (g, s, a, out) = (values(&x[0]), values(&x[1]), values(&x[2]), values(&x[n + 2]));
        // MXNet scales by the density itself unless it is the log density.
        let scale = |i: usize| if self.is_log { g[i] } else { g[i] * out[i] };
        let mut gs = vec![0.0; s.len()];
        let mut ga = vec![0.0; a.len()];
        if self.pdf == Pdf::Dirichlet {
            for i in 0..l.dists * l.per {
                let d = i / l.per;
                let (xs, al) = (&s[i * l.k..(i + 1) * l.k], &a[d * l.k..(d + 1) * l.k]);
                let psi_sum = digamma(al.iter().sum());
                let sc = scale(i);
                for j in 0..l.k {
                    ga[d * l.k + j] += sc * (xs[j].ln() + psi_sum - digamma(al[j]));
                    gs[i * l.k + j] = sc * (al[j] - 1.0) / xs[j];
                }
            }
            return Ok(vec![wrap_as(dt[0], gs), wrap_as(dt[0], ga)]);
        }
        let b = if n == 2 { values(&x[3]) } else { vec![0.0; a.len()] };
        let mut gb = vec![0.0; b.len()];
        for (i, &v) in s.iter().enumerate() {
            let d = i / l.per;
            let [dx, da, db] = self.pdf.grad_log(v, a[d], b[d]);
            let sc = scale(i);
            gs[i] = sc * dx;
            ga[d] += sc * da;
            gb[d] += sc * db;
        }
        let mut outs = vec![wrap_as(dt[0], gs), wrap_as(dt[0], ga)];
        if n == 2 {
            outs.push(wrap_as(dt[0], gb));
        }
        Ok(outs)
    }
}

fn create(pdf: Pdf, a: &Attrs, backward: bool) -> Result<Box<dyn Operator>> {
    let name = if backward { pdf.names().2 } else { pdf.name() };
    a.check_known(name, &["is_log"])?;
    let is_log = a.bool_or(name, "is_log", false)?;
    Ok(if backward { Box::new(PdfBackward { pdf, is_log }) } else { Box::new(PdfOp { pdf, is_log }) })
}

pub(super) fn register(r: &mut Registry) {
    for pdf in ALL {
        let (name, alias, backward, inputs, doc) = pdf.names();
        r.add(name, inputs, params!("is_log" = Some("False")), doc, move |a: &Attrs| create(pdf, a, false));
        r.alias(alias, name);
        let grad_inputs: &[&str] = if pdf.arity() == 1 {
            &["ograd", "sample", "param", "output"]
        } else {
            &["ograd", "sample", "param1", "param2", "output"]
        };
        r.add(backward, grad_inputs, params!("is_log" = Some("False")), "gradient of a density", move |a: &Attrs| {
            create(pdf, a, true)
        });
    }
    r.set_gradient("_random_pdf_uniform", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::Uniform));
    r.set_gradient("_random_pdf_normal", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::Normal));
    r.set_gradient("_random_pdf_gamma", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::Gamma));
    r.set_gradient("_random_pdf_exponential", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::Exponential));
    r.set_gradient("_random_pdf_poisson", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::Poisson));
    r.set_gradient("_random_pdf_negative_binomial", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::NegBinomial));
    r.set_gradient("_random_pdf_generalized_negative_binomial", |b, a, x, y, g| {
        grad_named(b, a, x, y, g, Pdf::GenNegBinomial)
    });
    r.set_gradient("_random_pdf_dirichlet", |b, a, x, y, g| grad_named(b, a, x, y, g, Pdf::Dirichlet));
}

/// The gradient of `_random_pdf_<family>`: its backward op on (ograd, sample, params, density).
fn grad_named(
    b: &mut dyn GradBuilder,
    a: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
    pdf: Pdf,
) -> Grads {
    let mut ins = vec![g[0]];
    ins.extend_from_slice(x);
    ins.push(y[0]);
    Ok(b.op(pdf.names().2, &ins, pick_attrs(a, &["is_log"]))?.into_iter().map(Some).collect())
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::testing::{arr_map, check, pos, vals};

    #[test]
    fn pdf_gradients_match_finite_differences() {
        for is_log in ["False", "True"] {
            let at = [("is_log", is_log)];
            // Two distributions with three samples each.
            let x = |seed| arr_map(&[2, 3], seed, |v| 0.3 * v);
            check("_random_pdf_normal", &at, &[x(1), vals(&[2], &[0.1, -0.2]), pos(&[2], 3)], &[0, 1, 2]);
            check("_random_pdf_uniform", &at, &[x(1), vals(&[2], &[-1.0, -0.5]), pos(&[2], 4)], &[1, 2]);
            check("_random_pdf_gamma", &at, &[pos(&[2, 3], 5), pos(&[2], 6), pos(&[2], 7)], &[0, 1, 2]);
            check("_random_pdf_exponential", &at, &[pos(&[2, 3], 8), pos(&[2], 9)], &[0, 1]);
            let counts = vals(&[2, 3], &[0.0, 1.0, 3.0, 2.0, 5.0, 1.0]);
            check("_random_pdf_poisson", &at, &[counts.clone(), pos(&[2], 10)], &[1]);
            let p = vals(&[2], &[0.3, 0.6]);
            check("_random_pdf_negative_binomial", &at, &[counts.clone(), pos(&[2], 11), p], &[1, 2]);
            check("_random_pdf_generalized_negative_binomial", &at, &[counts, pos(&[2], 12), pos(&[2], 13)], &[1, 2]);
            let simplex = vals(&[2, 2, 3], &[0.2, 0.3, 0.5, 0.6, 0.1, 0.3, 0.4, 0.4, 0.2, 0.1, 0.8, 0.1]);
            check("_random_pdf_dirichlet", &at, &[simplex, pos(&[2, 3], 14)], &[0, 1]);
        }
    }

    #[test]
    fn pdf_shapes() {
        use crate::op::{Attrs, registry};
        let shape = |op: &str, ins: &[&[usize]]| {
            let o = (registry().get(op).unwrap().create)(&Attrs::default()).unwrap();
            o.infer_shape(&ins.iter().map(|s| s.to_vec()).collect::<Vec<_>>())
        };
        assert_eq!(shape("_random_pdf_normal", &[&[2, 3], &[2], &[2]]).unwrap(), [vec![2, 3]]);
        assert_eq!(shape("_random_pdf_dirichlet", &[&[2], &[2]]).unwrap(), [vec![1]]);
        assert_eq!(shape("_random_pdf_dirichlet", &[&[4, 3], &[3]]).unwrap(), [vec![4]]);
        assert_eq!(shape("_random_pdf_dirichlet", &[&[2, 4, 3], &[2, 3]]).unwrap(), [vec![2, 4]]);
        assert!(shape("_random_pdf_normal", &[&[2, 3], &[3], &[3]]).is_err());
        assert!(shape("_random_pdf_normal", &[&[2, 3], &[2], &[1]]).is_err());
        assert!(shape("_random_pdf_normal", &[&[2], &[2, 1], &[2, 1]]).is_err());
        assert!(shape("_random_pdf_dirichlet", &[&[2, 4, 3], &[2, 2]]).is_err());
        assert!(shape("_random_pdf_dirichlet", &[&[3, 0], &[0]]).is_err());
    }
}
