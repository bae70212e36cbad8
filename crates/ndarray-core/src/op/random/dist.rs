//! The distributions behind the sampling ops (`_random_*` with scalar parameters, `_sample_*`
//! with array parameters), drawn from a context's seeded generator ([`crate::op::rng`]).
//!
//! Gamma, exponential and Poisson draws come from `rand_distr` (Marsaglia-Tsang gamma, Knuth or
//! PTRS Poisson), already the workspace's normal sampler: the same seeded generator feeds
//! them, so `mx.random.seed(n)` reproduces every draw. The negative binomial distributions are
//! sampled as MXNet does, as a Poisson of a gamma-distributed rate. Uniform and normal draws
//! take an f32 uniform or normal variate, as the original `_random_uniform` and
//! `_random_normal` did, so their seeded streams are unchanged.

use rand::Rng as _;
use rand_distr::{Distribution, Exp, Gamma, Poisson, PoissonError, StandardNormal};

use crate::op::rng::Rng;

/// A distribution family with (up to) two real parameters, in MXNet's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `(low, high)`: uniform on [low, high).
    Uniform,
    /// `(loc, scale)`: mean and standard deviation.
    Normal,
    /// `(alpha, beta)`: shape and scale.
    Gamma,
    /// `(lam)`: rate.
    Exponential,
    /// `(lam)`: rate.
    Poisson,
    /// `(k, p)`: failures until `k` successes of probability `p` (numpy's convention; MXNet
    /// calls `p` the failure probability but samples this).
    NegBinomial,
    /// `(mu, alpha)`: mean and dispersion (`k = 1 / alpha`, `p = 1 / (1 + mu alpha)`).
    GenNegBinomial,
}

impl Family {
    /// MXNet's name of the distribution, for messages.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Family::Uniform => "uniform distribution",
            Family::Normal => "gaussian",
            Family::Gamma => "gamma distribution",
            Family::Exponential => "exponential distribution",
            Family::Poisson => "poisson distribution",
            Family::NegBinomial => "negative binomial distribution",
            Family::GenNegBinomial => "generalized negative binomial distribution",
        }
    }

    /// Why parameters `(a, b)` define no distribution of this family (`None`: they do). Uniform
    /// and normal parameters are always accepted here: `low > high` and a negative scale
    /// still give MXNet's `low + (high - low) u` and `loc + scale z`; the scalar ops check
    /// them as MXNet does. Other families reject what MXNet turns into garbage or an endless
    /// rejection loop (a non-positive gamma shape).
    pub(crate) fn invalid(self, a: f64, b: f64) -> Option<String> {
        let w = self.what();
        let bad = |name: &str, v: f64, cond: &str| Some(format!("{name} parameter in {w} has to be {cond}, got {v}"));
        // Both false for NaN, which is therefore rejected too.
        let (pos, nonneg) = (|v: f64| v > 0.0, |v: f64| v >= 0.0);
        match self {
            Family::Uniform | Family::Normal => None,
            Family::Gamma if !pos(a) => bad("alpha", a, "positive"),
            Family::Gamma if !pos(b) => bad("beta", b, "positive"),
            Family::Exponential if !pos(a) => bad("lambda", a, "positive"),
            Family::Poisson if !nonneg(a) => bad("lambda", a, "non-negative"),
            Family::NegBinomial if !nonneg(a) => bad("k", a, "non-negative"),
            Family::NegBinomial if !(pos(b) && b <= 1.0) => bad("p", b, "in (0, 1]"),
            Family::GenNegBinomial if !nonneg(a) => bad("mu", a, "non-negative"),
            Family::GenNegBinomial if !nonneg(b) => bad("alpha", b, "non-negative"),
            _ if !a.is_finite() || !b.is_finite() => {
                Some(format!("parameters of the {w} must be finite, got {a}, {b}"))
            }
            _ => None,
        }
    }

    /// Append `n` draws with parameters `(a, b)` to `out`; an error names the parameter values
    /// no distribution has (see [`Family::invalid`]) or that the sampler cannot handle.
    pub(crate) fn draw(self, a: f64, b: f64, n: usize, rng: &mut Rng, out: &mut Vec<f64>) -> Result<(), String> {
        if let Some(why) = self.invalid(a, b) {
            return Err(why);
        }
        let fail =
            |e: &dyn std::fmt::Display| format!("cannot sample the {} with parameters {a}, {b}: {e}", self.what());
        match self {
            Family::Uniform => out.extend((0..n).map(|_| a + (b - a) * rng.random::<f32>() as f64)),
            Family::Normal => out.extend((0..n).map(|_| {
                let z: f32 = StandardNormal.sample(rng);
                a + b * z as f64
            })),
            Family::Gamma => {
                let g = Gamma::new(a, b).map_err(|e| fail(&e))?;
                out.extend((0..n).map(|_| g.sample(rng)));
            }
            Family::Exponential => {
                let e = Exp::new(a).map_err(|e| fail(&e))?;
                out.extend((0..n).map(|_| e.sample(rng)));
            }
            Family::Poisson => {
                let p = poisson(a).map_err(|e| fail(&e))?;
                for _ in 0..n {
                    out.push(p.as_ref().map_or(0.0, |p| p.sample(rng)));
                }
            }
            Family::NegBinomial => {
                // A Poisson of a Gamma(k, (1 - p) / p) rate; k = 0 or p = 1 always give 0.
                let scale = (1.0 - b) / b;
                let g = if a > 0.0 && scale > 0.0 { Some(Gamma::new(a, scale).map_err(|e| fail(&e))?) } else { None };
                mixed_poisson(g, 0.0, n, rng, out).map_err(|e| fail(&e))?;
            }
            Family::GenNegBinomial => {
                // A Poisson of a Gamma(1 / alpha, alpha mu) rate; alpha = 0 is Poisson(mu).
                let g = if b > 0.0 && a > 0.0 { Some(Gamma::new(1.0 / b, a * b).map_err(|e| fail(&e))?) } else { None };
                mixed_poisson(g, if b == 0.0 { a } else { 0.0 }, n, rng, out).map_err(|e| fail(&e))?;
            }
        }
        Ok(())
    }
}

/// The Poisson distribution of rate `lam`, `None` for the point mass at 0 (`lam = 0`, which
/// `rand_distr` rejects).
fn poisson(lam: f64) -> Result<Option<Poisson<f64>>, PoissonError> {
    if lam == 0.0 { Ok(None) } else { Poisson::new(lam).map(Some) }
}

/// `n` Poisson draws whose rates are drawn from `rate` (or are `fixed` without one).
fn mixed_poisson(
    rate: Option<Gamma<f64>>,
    fixed: f64,
    n: usize,
    rng: &mut Rng,
    out: &mut Vec<f64>,
) -> Result<(), PoissonError> {
    let fixed = poisson(fixed)?;
    for _ in 0..n {
        let v = match &rate {
            Some(g) => poisson(g.sample(rng))?.map_or(0.0, |p| p.sample(rng)),
            None => fixed.as_ref().map_or(0.0, |p| p.sample(rng)),
        };
        out.push(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn moments(f: Family, a: f64, b: f64) -> (f64, f64) {
        let mut rng = Rng::seed_from_u64(7);
        let mut v = Vec::new();
        f.draw(a, b, 200_000, &mut rng, &mut v).unwrap();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
        (m, var)
    }

    #[test]
    fn moments_match_theory() {
        let close = |got: f64, want: f64| (got - want).abs() <= 0.03 * want.abs().max(1.0);
        let cases = [
            (Family::Uniform, 1.0, 3.0, 2.0, 1.0 / 3.0),
            (Family::Normal, 1.0, 2.0, 1.0, 4.0),
            (Family::Gamma, 2.5, 2.0, 5.0, 10.0),
            (Family::Gamma, 0.5, 1.0, 0.5, 0.5),
            (Family::Exponential, 4.0, 0.0, 0.25, 0.0625),
            (Family::Poisson, 3.0, 0.0, 3.0, 3.0),
            (Family::Poisson, 40.0, 0.0, 40.0, 40.0),
            (Family::NegBinomial, 3.0, 0.4, 4.5, 11.25),
            (Family::GenNegBinomial, 2.0, 0.3, 2.0, 3.2),
            (Family::GenNegBinomial, 2.0, 0.0, 2.0, 2.0),
        ];
        for (f, a, b, mean, var) in cases {
            let (m, v) = moments(f, a, b);
            assert!(close(m, mean) && close(v, var), "{f:?}({a}, {b}): mean {m} var {v}, want {mean} {var}");
        }
    }

    #[test]
    fn degenerate_and_invalid_parameters() {
        let mut rng = Rng::seed_from_u64(1);
        let mut v = Vec::new();
        Family::Poisson.draw(0.0, 0.0, 3, &mut rng, &mut v).unwrap();
        Family::NegBinomial.draw(0.0, 0.5, 3, &mut rng, &mut v).unwrap();
        Family::NegBinomial.draw(2.0, 1.0, 3, &mut rng, &mut v).unwrap();
        Family::GenNegBinomial.draw(0.0, 0.5, 3, &mut rng, &mut v).unwrap();
        assert_eq!(v, vec![0.0; 12]);
        for (f, a, b) in [
            (Family::Gamma, 0.0, 1.0),
            (Family::Gamma, 1.0, -1.0),
            (Family::Exponential, 0.0, 0.0),
            (Family::Poisson, -1.0, 0.0),
            (Family::Poisson, 1e30, 0.0),
            (Family::NegBinomial, 1.0, 0.0),
            (Family::NegBinomial, 1.0, 1.5),
            (Family::GenNegBinomial, -1.0, 1.0),
            (Family::Gamma, f64::NAN, 1.0),
        ] {
            assert!(f.draw(a, b, 1, &mut rng, &mut Vec::new()).is_err(), "{f:?}({a}, {b})");
        }
    }
}
