//! `CTCLoss` (aliases `ctc_loss`, `_contrib_CTCLoss`, `_contrib_ctc_loss`): connectionist
//! temporal classification loss of unnormalised activations `(T, N, C)` against padded label
//! sequences `(N, L)`, by the forward-backward algorithm in log space.
//!
//! The loss is `-log p(label | data)` per sample. A hidden output keeps the gradient of each
//! loss with respect to the activations (`softmax - posterior occupancy`); the registered
//! gradient scales it by the loss's output gradient (`broadcast_mul`), as MXNet does.

use super::{Real, expect_shape, fill_shape, float_dtype};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn};
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;
use crate::{dispatch, params};

const NAME: &str = "CTCLoss";

#[derive(Debug, Clone)]
struct Ctc {
    use_data_lengths: bool,
    use_label_lengths: bool,
    blank_first: bool,
}

fn lse(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

fn values(t: &TensorIn<'_>) -> Vec<f64> {
    dispatch!(storage t.data => v: T, { v[t.offset..t.offset + t.len()].iter().map(|x| x.to_f64()).collect() })
}

/// Loss and activation gradient `(T, C)` of one sample from its log-softmax `lp` `(T, C)`
/// (rows past `t_len` are ignored and get no gradient).
fn ctc_sample(lp: &[f64], c: usize, t_len: usize, label: &[usize], blank: usize) -> (f64, Vec<f64>) {
    let s_len = 2 * label.len() + 1;
    let ext: Vec<usize> = (0..s_len).map(|s| if s % 2 == 0 { blank } else { label[s / 2] }).collect();
    let ninf = f64::NEG_INFINITY;
    let mut grad = vec![0f64; lp.len()];
    if t_len == 0 {
        return (if label.is_empty() { 0.0 } else { f64::INFINITY }, grad);
    }
    let skip = |s: usize| s >= 2 && ext[s] != blank && ext[s] != ext[s - 2];
    let mut alpha = vec![ninf; t_len * s_len];
    alpha[0] = lp[blank];
    if s_len > 1 {
        alpha[1] = lp[ext[1]];
    }
    for t in 1..t_len {
        for s in 0..s_len {
            let prev = &alpha[(t - 1) * s_len..t * s_len];
            let mut a = prev[s];
            if s >= 1 {
                a = lse(a, prev[s - 1]);
            }
            if skip(s) {
                a = lse(a, prev[s - 2]);
            }
            alpha[t * s_len + s] = a + lp[t * c + ext[s]];
        }
    }
    let mut beta = vec![ninf; t_len * s_len];
    let last = (t_len - 1) * s_len;
    beta[last + s_len - 1] = lp[(t_len - 1) * c + blank];
    if s_len > 1 {
        beta[last + s_len - 2] = lp[(t_len - 1) * c + ext[s_len - 2]];
    }
    for t in (0..t_len - 1).rev() {
        for s in 0..s_len {
            let next = &beta[(t + 1) * s_len..(t + 2) * s_len];
            let mut b = next[s];
            if s + 1 < s_len {
                b = lse(b, next[s + 1]);
            }
            if s + 2 < s_len && skip(s + 2) {
                b = lse(b, next[s + 2]);
            }
            beta[t * s_len + s] = b + lp[t * c + ext[s]];
        }
    }
    let mut logp = alpha[last + s_len - 1];
    if s_len > 1 {
        logp = lse(logp, alpha[last + s_len - 2]);
    }
    if logp == ninf {
        return (f64::INFINITY, grad);
    }
    for t in 0..t_len {
        let mut occ = vec![ninf; c];
        for s in 0..s_len {
            let k = ext[s];
            occ[k] = lse(occ[k], alpha[t * s_len + s] + beta[t * s_len + s]);
        }
        for k in 0..c {
            let y = lp[t * c + k].exp();
            let post = if occ[k] == ninf { 0.0 } else { (occ[k] - lp[t * c + k] - logp).exp() };
            grad[t * c + k] = y - post;
        }
    }
    (-logp, grad)
}

impl Ctc {
    fn parse(a: &Attrs) -> Result<Ctc> {
        a.check_known(NAME, &["use_data_lengths", "use_label_lengths", "blank_label"])?;
        let blank_first = match a.str_or("blank_label", "first") {
            "first" => true,
            "last" => false,
            b => return Err(Error::param(NAME, format!("blank_label must be 'first' or 'last', got '{b}'"))),
        };
        Ok(Ctc {
            use_data_lengths: a.bool_or(NAME, "use_data_lengths", false)?,
            use_label_lengths: a.bool_or(NAME, "use_label_lengths", false)?,
            blank_first,
        })
    }

    fn n_inputs(&self) -> usize {
        2 + self.use_data_lengths as usize + self.use_label_lengths as usize
    }

    /// Label sequence of sample `b`, checked against the alphabet.
    fn label(&self, labels: &[f64], width: usize, b: usize, len: Option<f64>, c: usize) -> Result<Vec<usize>> {
        let row = &labels[b * width..(b + 1) * width];
        let pad = if self.blank_first { 0.0 } else { -1.0 };
        let n = match len {
            Some(l) => (l.max(0.0) as usize).min(width),
            None => row.iter().position(|&v| v == pad).unwrap_or(width),
        };
        let blank = if self.blank_first { 0 } else { c - 1 };
        row[..n]
            .iter()
            .map(|&v| {
                let k = v as i64;
                if k < 0 || k as usize >= c || k as usize == blank {
                    Err(Error::param(NAME, format!("label {v} of sample {b} is out of range or the blank ({blank})")))
                } else {
                    Ok(k as usize)
                }
            })
            .collect()
    }

    fn run<T: Real>(&self, x: &[TensorIn<'_>]) -> Result<Vec<CpuStorage>> {
        let (t_max, n, c) = (x[0].shape[0], x[0].shape[1], x[0].shape[2]);
        let data = x[0].typed::<T>();
        let labels = values(&x[1]);
        let width = x[1].shape[1];
        let dlen = if self.use_data_lengths { Some(values(&x[2])) } else { None };
        let llen = if self.use_label_lengths { Some(values(&x[x.len() - 1])) } else { None };
        let blank = if self.blank_first { 0 } else { c - 1 };
        let mut loss = vec![<T as Element>::zero(); n];
        let mut grad = vec![<T as Element>::zero(); t_max * n * c];
        for b in 0..n {
            let t_len = dlen.as_ref().map_or(t_max, |d| (d[b].max(0.0) as usize).min(t_max));
            let label = self.label(&labels, width, b, llen.as_ref().map(|l| l[b]), c)?;
            let mut lp = vec![0f64; t_len * c];
            for t in 0..t_len {
                let row = &data[(t * n + b) * c..(t * n + b + 1) * c];
                let m = row.iter().map(|v| <T as Element>::to_f64(*v)).fold(f64::NEG_INFINITY, f64::max);
                let z = m + row.iter().map(|v| (<T as Element>::to_f64(*v) - m).exp()).sum::<f64>().ln();
                for k in 0..c {
                    lp[t * c + k] = row[k].to_f64() - z;
                }
            }
            let (l, g) = ctc_sample(&lp, c, t_len, &label, blank);
            loss[b] = super::c(l);
            for t in 0..t_len {
                for k in 0..c {
                    grad[(t * n + b) * c + k] = super::c(g[t * c + k]);
                }
            }
        }
        Ok(vec![T::wrap(loss), T::wrap(grad)])
    }
}

impl Operator for Ctc {
    fn name(&self) -> &str {
        NAME
    }
    fn num_outputs(&self) -> usize {
        2
    }
    fn num_visible_outputs(&self) -> usize {
        1
    }
    fn output_names(&self) -> Vec<String> {
        vec!["output".into(), "grad".into()]
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let mut v = vec!["data".to_string(), "label".to_string()];
        if self.use_data_lengths {
            v.push("data_lengths".into());
        }
        if self.use_label_lengths {
            v.push("label_lengths".into());
        }
        Some(v)
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        crate::op::expect_inputs(NAME, inputs.len(), self.n_inputs())?;
        let d = &inputs[0];
        if d.len() != 3 || d[2] < 2 {
            return Err(Error::shape(NAME, format!("data must be (T, N, C) with C >= 2, got {}", fmt_shape(d))));
        }
        if inputs[1].len() != 2 || inputs[1][0] != d[1] {
            return Err(Error::shape(
                NAME,
                format!("label must be (N, L) with N = {}, got {}", d[1], fmt_shape(&inputs[1])),
            ));
        }
        for (i, what) in inputs[2..].iter().zip(["data_lengths", "label_lengths"]) {
            expect_shape(NAME, what, i, &[d[1]])?;
        }
        Ok(vec![vec![d[1]], d.clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        crate::op::expect_inputs(NAME, inputs.len(), self.n_inputs())?;
        let Some(d) = inputs[0].clone() else { return Ok(()) };
        if let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() {
            let inferred = self.infer_shape(&known)?;
            return crate::op::assign_shapes(NAME, outputs, &inferred);
        }
        if d.len() == 3 {
            for slot in inputs[2..].iter_mut() {
                fill_shape(NAME, "lengths", slot, &[d[1]])?;
            }
            fill_shape(NAME, "output", &mut outputs[0], &[d[1]])?;
            fill_shape(NAME, "grad", &mut outputs[1], &d)?;
        }
        Ok(())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = float_dtype(NAME, inputs[0])?;
        Ok(vec![d, d])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        crate::op::grad::dtype_of_input(NAME, 0, inputs, outputs)?;
        if let Some(d) = inputs[0] {
            outputs[1] = Some(d);
            for slot in inputs[1..].iter_mut() {
                slot.get_or_insert(d);
            }
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        dispatch!(float NAME, dt[0] => T, { self.run::<T>(x) })
    }
}

/// Gradient of CTCLoss: the kept activation gradient times the loss's output gradient per
/// sample; labels and lengths get none.
fn grad_ctc(
    b: &mut dyn GradBuilder,
    _: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let og = b.apply("Reshape", &[g[0]], Attrs::from_pairs([("shape", "(1, -1, 1)")]))?;
    let dx = b.binary("broadcast_mul", y[1], og)?;
    let mut out = vec![Some(dx)];
    out.extend(x[1..].iter().map(|_| None));
    Ok(out)
}

pub(in crate::op) fn register(r: &mut Registry) {
    let p = params!(
        "use_data_lengths" = Some("False"),
        "use_label_lengths" = Some("False"),
        "blank_label" = Some("'first'")
    );
    r.add(
        NAME,
        &["data", "label", "data_lengths", "label_lengths"],
        p,
        "connectionist temporal classification loss",
        |a: &Attrs| Ok(Box::new(Ctc::parse(a)?)),
    );
    r.set_gradient(NAME, grad_ctc);
    for alias in ["ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"] {
        r.alias(alias, NAME);
    }
}

#[cfg(test)]
mod tests {
    use super::ctc_sample;

    /// With two frames, alphabet {blank, a} and label "a", the paths are "a-", "-a", "aa".
    #[test]
    fn ctc_sums_the_three_paths() {
        let p = [[0.6, 0.4], [0.3, 0.7]];
        let lp: Vec<f64> = p.iter().flatten().map(|v: &f64| v.ln()).collect();
        let (loss, grad) = ctc_sample(&lp, 2, 2, &[1], 0);
        let want = 0.4 * 0.3 + 0.6 * 0.7 + 0.4 * 0.7;
        assert!((loss + f64::ln(want)).abs() < 1e-12);
        // The gradient of each frame sums to zero over the alphabet (softmax minus a posterior).
        assert!((grad[0] + grad[1]).abs() < 1e-12 && (grad[2] + grad[3]).abs() < 1e-12);
    }
}
