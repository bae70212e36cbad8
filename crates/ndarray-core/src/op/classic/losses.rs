//! The old loss heads: `softmax_cross_entropy` (with its fused `_backward_softmax_cross_entropy`),
//! `SVMOutput` (with `_backward_SVMOutput`) and `IdentityAttachKLSparseReg`.

use super::common::{prod, storage_of, values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::grad::{Grads, pick_attrs, shapes_of_inputs};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::params;
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// The softmax of each row of `v` (rows of `k`).
fn softmax_rows(v: &[f64], k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    for row in v.chunks(k) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|a| (a - m).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.into_iter().map(|a| a / s));
    }
    out
}

/// The labels as row positions in `0..k`.
fn labels(op: &str, t: &TensorIn<'_>, k: usize) -> Result<Vec<usize>> {
    values(t)
        .into_iter()
        .map(|l| {
            let j = l as i64;
            if (0..k as i64).contains(&j) {
                Ok(j as usize)
            } else {
                Err(Error::Index(format!("{op}: label {l} is out of range for {k} classes")))
            }
        })
        .collect()
}

/// `softmax_cross_entropy(data, label)` (`backward = false`): the summed cross-entropy of the
/// rows' softmax, shape (1,). `_backward_softmax_cross_entropy(ograd, data, label)`: data's
/// gradient, `ograd * (softmax - one_hot(label))`. Fused: the composition needs the class
/// count as `one_hot`'s depth, a shape unknown when the gradient is built.
#[derive(Debug)]
struct SoftmaxCE {
    backward: bool,
}

impl SoftmaxCE {
    fn op(&self) -> &'static str {
        if self.backward { "_backward_softmax_cross_entropy" } else { "softmax_cross_entropy" }
    }
}

impl Operator for SoftmaxCE {
    fn name(&self) -> &str {
        self.op()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.op(), inputs.len(), if self.backward { 3 } else { 2 })?;
        let s = &inputs[inputs.len() - 2..];
        let (d, l) = (&s[0], &s[1]);
        if d.len() != 2 || l.len() != 1 || d[0] != l[0] {
            return Err(Error::shape(
                self.op(),
                format!(
                    "needs 2-D data and 1-D label of its rows; got data {} and label {}",
                    fmt_shape(d),
                    fmt_shape(l)
                ),
            ));
        }
        if self.backward && prod(&inputs[0]) != 1 {
            return Err(Error::shape(self.op(), format!("ograd {} must hold one value", fmt_shape(&inputs[0]))));
        }
        Ok(vec![if self.backward { d.clone() } else { vec![1] }])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if self.backward {
            return shapes_of_inputs(self, &[1], inputs, outputs);
        }
        crate::op::assign_shapes(self.op(), outputs, &[vec![1]])?;
        match (inputs[0].clone(), inputs[1].clone()) {
            (Some(d), None) if d.len() == 2 => inputs[1] = Some(vec![d[0]]),
            (Some(d), Some(l)) => {
                self.infer_shape(&[d, l])?;
            }
            _ => {}
        }
        Ok(())
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let (d, l) = (&x[x.len() - 2], &x[x.len() - 1]);
        let k = d.shape[1];
        let p = softmax_rows(&values(d), k);
        let lab = labels(self.op(), l, k)?;
        if !self.backward {
            let loss: f64 = lab.iter().enumerate().map(|(i, &j)| -p[i * k + j].max(1e-8).ln()).sum();
            return Ok(vec![storage_of(dt[0], vec![loss])]);
        }
        let scale = values(&x[0])[0];
        let mut g = p;
        for (i, &j) in lab.iter().enumerate() {
            g[i * k + j] -= 1.0;
        }
        Ok(vec![storage_of(dt[0], g.into_iter().map(|v| v * scale).collect())])
    }
}

fn grad_softmax_ce(b: &mut dyn GradBuilder, _: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.apply("_backward_softmax_cross_entropy", &[g[0], x[0], x[1]], Attrs::default())?), None])
}

/// `SVMOutput(data, label)`: the identity, whose data gradient (whatever the output's) is the
/// L2-SVM's, or the L1-SVM's with `use_linear`, scaled by `regularization_coefficient`.
/// `_backward_SVMOutput(data, label)` computes that gradient (no composition: which class is
/// the label's is a per-row choice by value).
#[derive(Debug)]
struct Svm {
    backward: bool,
    margin: f64,
    reg: f64,
    linear: bool,
}

impl Svm {
    fn op(&self) -> &'static str {
        if self.backward { "_backward_SVMOutput" } else { "SVMOutput" }
    }
    fn parse(backward: bool, a: &Attrs) -> Result<Svm> {
        let n = if backward { "_backward_SVMOutput" } else { "SVMOutput" };
        a.check_known(n, &["margin", "regularization_coefficient", "use_linear"])?;
        Ok(Svm {
            backward,
            margin: a.float_or(n, "margin", 1.0)?,
            reg: a.float_or(n, "regularization_coefficient", 1.0)?,
            linear: a.bool_or(n, "use_linear", false)?,
        })
    }
    /// The data gradient of rows of `k` scores.
    fn gradient(&self, v: &[f64], lab: &[f64], k: usize) -> Vec<f64> {
        let (m, c) = (self.margin, self.reg);
        let mut g = Vec::with_capacity(v.len());
        for (y, row) in v.chunks(k).enumerate() {
            let label = lab[y] as i64;
            for (x, &s) in row.iter().enumerate() {
                let own = x as i64 == label;
                g.push(match (self.linear, own) {
                    (true, true) => -f64::from(u8::from(m > s)) * c,
                    (true, false) => f64::from(u8::from(m > -s)) * c,
                    (false, true) => -c * if m > s { 2.0 * (m - s) } else { 0.0 },
                    (false, false) => -c * if m > -s { -2.0 * (m + s) } else { 0.0 },
                });
            }
        }
        g
    }
}

impl Operator for Svm {
    fn name(&self) -> &str {
        self.op()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.op(), inputs.len(), 2)?;
        let (d, l) = (&inputs[0], &inputs[1]);
        if d.len() < 2 || l[..] != d[..d.len() - 1] {
            return Err(Error::shape(
                self.op(),
                format!(
                    "label {} must have data's shape {} without its last axis (data at least 2-D)",
                    fmt_shape(l),
                    fmt_shape(d)
                ),
            ));
        }
        Ok(vec![d.clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if let (Some(d), None) = (&inputs[0], &inputs[1])
            && d.len() >= 2
        {
            inputs[1] = Some(d[..d.len() - 1].to_vec());
        }
        shapes_of_inputs(self, &[0], inputs, outputs)
    }
    fn forward(&self, _: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        if !self.backward {
            return Ok(vec![x[0].to_storage()]);
        }
        let k = x[0].len() / x[0].shape[0].max(1);
        Ok(vec![storage_of(dt[0], self.gradient(&values(&x[0]), &values(&x[1]), k))])
    }
}

fn grad_svm(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], _: &[NodeEntry]) -> Grads {
    let at = pick_attrs(a, &["margin", "regularization_coefficient", "use_linear"]);
    Ok(vec![Some(b.apply("_backward_SVMOutput", &[x[0], x[1]], at)?), None])
}

/// `IdentityAttachKLSparseReg(data, moving_avg)`: the identity on 2-D data (batch, units),
/// whose gradient adds the penalty of the KL divergence between `sparseness_target` and
/// each unit's running mean activation `moving_avg`. MXNet updates `moving_avg` in its
/// backward pass; here a training forward pass updates it (the gradient then reads the
/// updated average), so forward and backward together give MXNet's state and gradient.
#[derive(Debug)]
struct KlSparseReg {
    momentum: f64,
}

impl Operator for KlSparseReg {
    fn name(&self) -> &str {
        "IdentityAttachKLSparseReg"
    }
    fn num_aux(&self) -> usize {
        1
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        vec![1]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(self.name(), inputs.len(), 2)?;
        let (d, m) = (&inputs[0], &inputs[1]);
        if d.len() != 2 || *m != [d[1]] {
            return Err(Error::shape(
                self.name(),
                format!(
                    "needs 2-D data (batch, units) and moving_avg (units,); got {} and {}",
                    fmt_shape(d),
                    fmt_shape(m)
                ),
            ));
        }
        Ok(vec![d.clone()])
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        if let (Some(d), None) = (&inputs[0], &inputs[1])
            && d.len() == 2
        {
            inputs[1] = Some(vec![d[1]]);
        }
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        crate::op::assign_shapes(self.name(), outputs, &self.infer_shape(&known)?)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], _: &[DType]) -> Result<Vec<CpuStorage>> {
        let (n, u) = (x[0].shape[0], x[0].shape[1]);
        let mut avg = values(&x[1]);
        if ctx.is_train && n > 0 {
            let v = values(&x[0]);
            for (j, a) in avg.iter_mut().enumerate() {
                let mean = (0..n).map(|i| v[i * u + j]).sum::<f64>() / n as f64;
                *a = self.momentum * *a + (1.0 - self.momentum) * mean;
            }
        }
        Ok(vec![x[0].to_storage(), storage_of(x[1].dtype(), avg)])
    }
}

/// IdentityAttachKLSparseReg: `g + penalty * (-t / m + (1 - t) / (1 - m))` per unit, with the
/// (updated) running average `m`; the average gets none.
fn grad_kl(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let n = "IdentityAttachKLSparseReg";
    let t = a.float_or(n, "sparseness_target", 0.1)?;
    let penalty = a.float_or(n, "penalty", 0.001)?;
    let m = x[1];
    let p1 = b.scalar_op("_rdiv_scalar", m, -t)?;
    let one_minus = b.scalar_op("_rminus_scalar", m, 1.0)?;
    let p2 = b.scalar_op("_rdiv_scalar", one_minus, 1.0 - t)?;
    let reg = b.binary("elemwise_add", p1, p2)?;
    let reg = b.scalar_op("_mul_scalar", reg, penalty)?;
    let row = b.apply("reshape", &[reg], Attrs::from_pairs([("shape", "(1, -1)")]))?;
    Ok(vec![Some(b.binary("broadcast_add", g[0], row)?), None])
}

fn kl(a: &Attrs) -> Result<Box<dyn Operator>> {
    let n = "IdentityAttachKLSparseReg";
    a.check_known(n, &["sparseness_target", "penalty", "momentum"])?;
    let t = a.float_or(n, "sparseness_target", 0.1)?;
    let momentum = a.float_or(n, "momentum", 0.9)?;
    a.float_or(n, "penalty", 0.001)?;
    if !(0.0..=1.0).contains(&t) || !(0.0..=1.0).contains(&momentum) {
        return Err(Error::param(n, format!("sparseness_target {t} and momentum {momentum} must be in [0, 1]")));
    }
    Ok(Box::new(KlSparseReg { momentum }))
}

pub(super) fn register(r: &mut Registry) {
    r.add("softmax_cross_entropy", &["data", "label"], params!(), "summed softmax cross-entropy", |a: &Attrs| {
        a.check_known("softmax_cross_entropy", &[])?;
        Ok(Box::new(SoftmaxCE { backward: false }))
    });
    r.add(
        "_backward_softmax_cross_entropy",
        &["ograd", "data", "label"],
        params!(),
        "data gradient of softmax_cross_entropy",
        |_: &Attrs| Ok(Box::new(SoftmaxCE { backward: true })),
    );
    r.set_gradient("softmax_cross_entropy", grad_softmax_ce);
    let sp = params!("margin" = Some("1.0"), "regularization_coefficient" = Some("1.0"), "use_linear" = Some("False"));
    r.add("SVMOutput", &["data", "label"], sp, "identity with a support-vector-machine gradient", |a: &Attrs| {
        Ok(Box::new(Svm::parse(false, a)?))
    });
    r.add("_backward_SVMOutput", &["data", "label"], sp, "data gradient of SVMOutput", |a: &Attrs| {
        Ok(Box::new(Svm::parse(true, a)?))
    });
    r.set_gradient("SVMOutput", grad_svm);
    r.add(
        "IdentityAttachKLSparseReg",
        &["data", "moving_avg"],
        params!("sparseness_target" = Some("0.1"), "penalty" = Some("0.001"), "momentum" = Some("0.9")),
        "identity adding a KL sparseness penalty to the gradient",
        kl,
    );
    r.set_gradient("IdentityAttachKLSparseReg", grad_kl);
}
