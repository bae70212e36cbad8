//! `_contrib_hawkesll`: the log likelihood of a marked self-exciting Hawkes process with
//! exponential decay, and its gradient op `_contrib_backward_hawkesll`, transcribed from MXNet
//! 1.9.1's `src/operator/contrib/hawkes_ll-inl.h`.
//!
//! Inputs: `lda` (background intensities `mu`, `(N, K)`), `alpha` and `beta` (`(K,)`),
//! `state` (`(N, K)`), `lags` and `marks` (`(N, T)`), `valid_length` and `max_time` (`(N,)`).
//! Outputs: the log likelihood `(N,)` and the process states at `max_time` `(N, K)`. The
//! gradient reaches `lda`, `alpha` and `beta` only (MXNet computes no other), from the log
//! likelihood's output gradient (the states' gradient is not used, as in MXNet).

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, shape_err};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

const NAME: &str = "_contrib_hawkesll";
const BACK: &str = "_contrib_backward_hawkesll";
const INPUTS: &[&str] = &["lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time"];
const BACK_INPUTS: &[&str] =
    &["out_grad_ll", "out_grad_states", "lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time"];

/// The forward op (`back == false`) or its gradient (`back == true`).
#[derive(Debug)]
struct Hawkes {
    back: bool,
}

/// `(N, T, K)` from the eight forward input shapes, checked as MXNet checks them.
fn dims(op: &str, x: &[Shape]) -> Result<(usize, usize, usize)> {
    let named: Vec<(&str, &[usize])> = INPUTS.iter().zip(x).map(|(n, s)| (*n, s.as_slice())).collect();
    let nd = [2, 1, 1, 2, 2, 2, 1, 1];
    if x.iter().zip(nd).any(|(s, n)| s.len() != n) {
        return Err(shape_err(
            op,
            "expects lda, state (N, K), alpha, beta (K,), lags, marks (N, T), valid_length, max_time (N,)",
            &named,
        ));
    }
    let (n, t, k) = (x[4][0], x[4][1], x[0][1]);
    let ok = x[0][0] == n
        && x[1][0] == k
        && x[2][0] == k
        && x[3] == [n, k]
        && x[5] == [n, t]
        && x[6][0] == n
        && x[7][0] == n;
    if !ok {
        return Err(shape_err(
            op,
            "expects lda, state (N, K), alpha, beta (K,), lags, marks (N, T), valid_length, max_time (N,)",
            &named,
        ));
    }
    Ok((n, t, k))
}

/// One sequence's events: `(mark, inter-arrival time)`, checked.
fn events<'a>(x: &'a [In<'_>], i: usize, t: usize, k: usize) -> Result<impl Iterator<Item = (usize, f64)> + 'a> {
    let (lags, marks, vl) = (&x[4].v, &x[5].v, x[6].v[i]);
    let len = vl.max(0.0).ceil() as usize;
    if len > t {
        return Err(Error::msg(format!("{NAME}: valid_length {vl} of sample {i} exceeds the sequence length {t}")));
    }
    for &m in &marks[i * t..i * t + len] {
        if m < 0.0 || m as usize >= k {
            return Err(Error::msg(format!("{NAME}: mark {m} of sample {i} is out of range for {k} processes")));
        }
    }
    Ok((0..len).map(move |j| (marks[i * t + j] as usize, lags[i * t + j])))
}

/// The log likelihoods `(N,)` and final states `(N, K)`.
fn forward(x: &[In<'_>], n: usize, t: usize, k: usize) -> Result<Vec<Vec<f64>>> {
    let (mu, alpha, beta, max_time) = (&x[0].v, &x[1].v, &x[2].v, &x[7].v);
    let mut ll = vec![0.0; n];
    let mut state = x[3].v.clone();
    for i in 0..n {
        let mut last = vec![0.0; k];
        let (mut now, mut acc) = (0.0, 0.0);
        let st = &mut state[i * k..(i + 1) * k];
        for (c, lag) in events(x, i, t, k)? {
            now += lag;
            let d = now - last[c];
            let ed = (-beta[c] * d).exp();
            let lda = mu[i * k + c] + alpha[c] * beta[c] * st[c] * ed;
            let comp = mu[i * k + c] * d + alpha[c] * st[c] * (1.0 - ed);
            acc += lda.ln() - comp;
            st[c] = 1.0 + st[c] * ed;
            last[c] = now;
        }
        for m in 0..k {
            let d = max_time[i] - last[m];
            let ed = (-beta[m] * d).exp();
            acc -= mu[i * k + m] * d + alpha[m] * st[m] * (1.0 - ed);
            st[m] *= ed;
        }
        ll[i] = acc;
    }
    Ok(vec![ll, state])
}

/// The gradients of `(lda, alpha, beta)` scaled by the log likelihood's output gradient `og`,
/// then zeros for the other five inputs.
fn backward(og: &[f64], x: &[In<'_>], n: usize, t: usize, k: usize) -> Result<Vec<Vec<f64>>> {
    let (mu, alpha, beta, max_time) = (&x[0].v, &x[1].v, &x[2].v, &x[7].v);
    let mut gmu = vec![0.0; n * k];
    let (mut galpha, mut gbeta) = (vec![0.0; k], vec![0.0; k]);
    for i in 0..n {
        let mut last = vec![0.0; k];
        let mut phi = x[3].v[i * k..(i + 1) * k].to_vec();
        let mut dphi = vec![0.0; k];
        let (mut ga, mut gb) = (vec![0.0; k], vec![0.0; k]);
        let gm = &mut gmu[i * k..(i + 1) * k];
        let mut now = 0.0;
        for (c, lag) in events(x, i, t, k)? {
            now += lag;
            let d = now - last[c];
            let ed = (-beta[c] * d).exp();
            let lda = mu[i * k + c] + alpha[c] * beta[c] * phi[c] * ed;
            gm[c] += 1.0 / lda - d;
            ga[c] += beta[c] * phi[c] * ed / lda - phi[c] * (1.0 - ed);
            gb[c] += alpha[c] * ed * (phi[c] * (1.0 - beta[c] * d) + beta[c] * dphi[c]) / lda
                - alpha[c] * (dphi[c] * (1.0 - ed) + phi[c] * d * ed);
            dphi[c] = ed * (-d * phi[c] + dphi[c]);
            phi[c] = 1.0 + phi[c] * ed;
            last[c] = now;
        }
        for m in 0..k {
            let d = max_time[i] - last[m];
            let ed = (-beta[m] * d).exp();
            gm[m] = og[i] * (gm[m] - d);
            galpha[m] += og[i] * (ga[m] - phi[m] * (1.0 - ed));
            gbeta[m] += og[i] * (gb[m] - alpha[m] * (dphi[m] * (1.0 - ed) + phi[m] * d * ed));
        }
    }
    let mut out = vec![gmu, galpha, gbeta];
    out.extend(x[3..].iter().map(|a| vec![0.0; a.v.len()]));
    Ok(out)
}

impl Kernel for Hawkes {
    fn name(&self) -> &'static str {
        if self.back { BACK } else { NAME }
    }
    fn num_outputs(&self) -> usize {
        if self.back { 8 } else { 2 }
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if self.back {
            let (n, _, k) = dims(BACK, &x[2..])?;
            if x[0] != [n] || x[1] != [n, k] {
                let what = "out_grad_ll must be (N,) and out_grad_states (N, K)";
                return Err(shape_err(
                    BACK,
                    what,
                    &[("out_grad_ll", &x[0]), ("out_grad_states", &x[1]), ("lda", &x[2])],
                ));
            }
            return Ok(x[2..].to_vec());
        }
        let (n, _, k) = dims(NAME, x)?;
        Ok(vec![vec![n], vec![n, k]])
    }
    fn dtypes(&self, x: &[DType]) -> Result<Vec<DType>> {
        let (op, first) = if self.back { (BACK, 2) } else { (NAME, 0) };
        let d = x[first];
        if !d.is_float() {
            return Err(Error::dtype(op, d, format!("{op} needs floating-point lda, got {d}")));
        }
        if self.back {
            let mut out = vec![d; 8];
            out[5] = x[7];
            return Ok(out);
        }
        Ok(vec![d; 2])
    }
    fn dtype_source(&self) -> Option<usize> {
        Some(if self.back { 2 } else { 0 })
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        if self.back {
            let shapes: Vec<Shape> = x[2..].iter().map(|a| a.s.to_vec()).collect();
            let (n, t, k) = dims(BACK, &shapes)?;
            return backward(&x[0].v, &x[2..], n, t, k);
        }
        let shapes: Vec<Shape> = x.iter().map(|a| a.s.to_vec()).collect();
        let (n, t, k) = dims(NAME, &shapes)?;
        forward(x, n, t, k)
    }
}

fn grad(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let ins: Vec<NodeEntry> = [g[0], g[1]].into_iter().chain(x.iter().copied()).collect();
    let outs = b.op(BACK, &ins, Attrs::default())?;
    Ok(outs.into_iter().map(Some).collect())
}

pub(super) fn register(r: &mut Registry) {
    let doc = "the log likelihood of a marked Hawkes process with exponential decay, and its final states";
    add(r, NAME, INPUTS, params!(), doc, |a| {
        a.check_known(NAME, &[])?;
        Ok(Hawkes { back: false })
    });
    r.set_gradient(NAME, grad);
    let doc = "the gradient of hawkesll: d lda, d alpha, d beta, then zeros for the other inputs";
    add(r, BACK, BACK_INPUTS, params!(), doc, |a| {
        a.check_known(BACK, &[])?;
        Ok(Hawkes { back: true })
    });
}
