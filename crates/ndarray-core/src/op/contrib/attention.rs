//! The interleaved multi-head attention products of MXNet 1.9.1 (`transformer.cc`):
//! `_contrib_interleaved_matmul_selfatt_qk` / `_valatt` over projections laid out as
//! `(seq, batch, heads * 3 * head_dim)` (each head's query, key and value side by side), the
//! encoder-decoder pair `_encdec_qk` / `_encdec_valatt` (queries apart, keys and values
//! interleaved), their backward ops, and `_contrib_div_sqrt_dim`.

use super::super::grad::Grads;
use super::super::registry::Registry;
use super::super::{Attrs, GradBuilder, NodeEntry};
use super::{In, Kernel, add, shape_err};
use crate::error::{Error, Result};
use crate::params;
use crate::shape::Shape;

/// Where element `(a, r, c)` of a batch of matrices lies in a flat buffer.
#[derive(Clone, Copy, Debug)]
struct View {
    off: usize,
    row: usize,
    col: usize,
    batch: usize,
}

impl View {
    fn at(self, a: usize, r: usize, c: usize) -> usize {
        self.off + a * self.batch + r * self.row + c * self.col
    }
    fn t(self) -> View {
        View { row: self.col, col: self.row, ..self }
    }
    /// Interleaved projections: element `(a, s, d)` of part `part` of `parts` per head.
    fn inter(attn: usize, hd: usize, parts: usize, part: usize) -> View {
        View { off: part * hd, row: attn * parts * hd, col: 1, batch: parts * hd }
    }
    /// A dense batch of `m x n` matrices.
    fn dense(m: usize, n: usize) -> View {
        View { off: 0, row: n, col: 1, batch: m * n }
    }
}

/// `out(a, i, j) += alpha * sum_l x(a, i, l) * y(a, l, j)` for `a < na`, `i < m`, `j < n`,
/// `l < k`.
#[allow(clippy::too_many_arguments)]
fn bmm(out: &mut [f64], ov: View, x: &[f64], xv: View, y: &[f64], yv: View, dims: [usize; 4], alpha: f64) {
    let [na, m, n, k] = dims;
    for a in 0..na {
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|l| x[xv.at(a, i, l)] * y[yv.at(a, l, j)]).sum();
                out[ov.at(a, i, j)] += alpha * s;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    SelfQk,
    SelfValAtt,
    EncDecQk,
    EncDecValAtt,
}

impl Kind {
    /// (op, backward op, forward inputs, backward inputs).
    fn names(self) -> (&'static str, &'static str, &'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::SelfQk => (
                "_contrib_interleaved_matmul_selfatt_qk",
                "_backward_interleaved_matmul_selfatt_qk",
                &["queries_keys_values"],
                &["out_grad", "queries_keys_values"],
            ),
            Kind::SelfValAtt => (
                "_contrib_interleaved_matmul_selfatt_valatt",
                "_backward_interleaved_matmul_selfatt_valatt",
                &["queries_keys_values", "attention"],
                &["out_grad", "queries_keys_values", "attention"],
            ),
            Kind::EncDecQk => (
                "_contrib_interleaved_matmul_encdec_qk",
                "_backward_interleaved_matmul_encdec_qk",
                &["queries", "keys_values"],
                &["out_grad", "queries", "keys_values"],
            ),
            Kind::EncDecValAtt => (
                "_contrib_interleaved_matmul_encdec_valatt",
                "_backward_interleaved_matmul_encdec_valatt",
                &["keys_values", "attention"],
                &["out_grad", "keys_values", "attention"],
            ),
        }
    }
    fn inputs(self) -> usize {
        if self == Kind::SelfQk { 1 } else { 2 }
    }
}

/// One of the four products, or its backward (inputs: `out_grad`, then the forward inputs;
/// outputs: one gradient per forward input).
#[derive(Debug)]
struct Interleaved {
    kind: Kind,
    heads: usize,
    backward: bool,
}

impl Interleaved {
    fn parse(a: &Attrs, kind: Kind, backward: bool) -> Result<Interleaved> {
        let (f, b, _, _) = kind.names();
        let op = if backward { b } else { f };
        a.check_known(op, &["heads"])?;
        let heads = a.int(op, "heads")?;
        if heads < 1 {
            return Err(Error::param(op, format!("heads must be positive, got {heads}")));
        }
        Ok(Interleaved { kind, heads: heads as usize, backward })
    }

    /// Checks the forward inputs' shapes; returns the forward output's shape.
    fn forward_shape(&self, x: &[Shape]) -> Result<Shape> {
        let (op, _, names, _) = self.kind.names();
        let named: Vec<(&str, &[usize])> = x.iter().zip(names).map(|(s, n)| (*n, s.as_slice())).collect();
        let fail = |what: &str| Err(shape_err(op, what, &named));
        if x.iter().any(|s| s.len() != 3) {
            return fail("inputs must be 3-D");
        }
        let h = self.heads;
        if h > x[0][2] {
            return fail("heads must not exceed the projection size");
        }
        match self.kind {
            Kind::SelfQk | Kind::SelfValAtt => {
                let q = &x[0];
                if !q[2].is_multiple_of(3 * h) {
                    return fail("queries_keys_values.shape[2] must be a multiple of 3 * heads");
                }
                if self.kind == Kind::SelfQk {
                    return Ok(vec![h * q[1], q[0], q[0]]);
                }
                if x[1] != [h * q[1], q[0], q[0]] {
                    return fail("attention must be (batch * heads, seq_length, seq_length)");
                }
                Ok(vec![q[0], q[1], q[2] / 3])
            }
            Kind::EncDecQk => {
                let (q, kv) = (&x[0], &x[1]);
                if !q[2].is_multiple_of(h) || kv[2] != 2 * q[2] || kv[1] != q[1] {
                    return fail("keys_values must be (kv_seq, batch, 2 * proj_dim) and proj_dim a multiple of heads");
                }
                Ok(vec![h * q[1], q[0], kv[0]])
            }
            Kind::EncDecValAtt => {
                let (kv, att) = (&x[0], &x[1]);
                if !kv[2].is_multiple_of(2 * h) || att[0] != kv[1] * h || att[2] != kv[0] {
                    return fail(
                        "attention must be (batch * heads, q_seq, kv_seq) and keys_values.shape[2] a multiple of 2 * heads",
                    );
                }
                Ok(vec![att[1], kv[1], kv[2] / 2])
            }
        }
    }

    /// Forward: the product. Backward (`g` given): the gradients of the inputs.
    fn compute(&self, x: &[In<'_>], g: Option<&[f64]>) -> Vec<Vec<f64>> {
        let s0 = x[0].s;
        let na = s0[1] * self.heads;
        let zeros = |i: usize| vec![0.0; x[i].v.len()];
        match self.kind {
            Kind::SelfQk | Kind::SelfValAtt => {
                let (sq, hd) = (s0[0], s0[2] / 3 / self.heads);
                let (q, k, v) = (View::inter(na, hd, 3, 0), View::inter(na, hd, 3, 1), View::inter(na, hd, 3, 2));
                let (att, o) = (View::dense(sq, sq), View::inter(na, hd, 1, 0));
                let qkv = &x[0].v;
                let scale = f64::from(1.0 / (hd as f32).sqrt());
                match (self.kind, g) {
                    (Kind::SelfQk, None) => {
                        let mut out = vec![0.0; na * sq * sq];
                        bmm(&mut out, att, qkv, q, qkv, k.t(), [na, sq, sq, hd], scale);
                        vec![out]
                    }
                    (Kind::SelfQk, Some(g)) => {
                        let mut d = zeros(0);
                        bmm(&mut d, q, g, att, qkv, k, [na, sq, hd, sq], scale);
                        bmm(&mut d, k, g, att.t(), qkv, q, [na, sq, hd, sq], scale);
                        vec![d]
                    }
                    (_, None) => {
                        let mut out = vec![0.0; sq * na * hd];
                        bmm(&mut out, o, &x[1].v, att, qkv, v, [na, sq, hd, sq], 1.0);
                        vec![out]
                    }
                    (_, Some(g)) => {
                        let (mut d, mut datt) = (zeros(0), zeros(1));
                        bmm(&mut datt, att, g, o, qkv, v.t(), [na, sq, sq, hd], 1.0);
                        bmm(&mut d, v, &x[1].v, att.t(), g, o, [na, sq, hd, sq], 1.0);
                        vec![d, datt]
                    }
                }
            }
            Kind::EncDecQk => {
                let (sq, sk, hd) = (s0[0], x[1].s[0], s0[2] / self.heads);
                let (q, k, att) = (View::inter(na, hd, 1, 0), View::inter(na, hd, 2, 0), View::dense(sq, sk));
                let (qv, kv) = (&x[0].v, &x[1].v);
                let scale = f64::from(1.0 / (hd as f32).sqrt());
                match g {
                    None => {
                        let mut out = vec![0.0; na * sq * sk];
                        bmm(&mut out, att, qv, q, kv, k.t(), [na, sq, sk, hd], scale);
                        vec![out]
                    }
                    Some(g) => {
                        let (mut dq, mut dkv) = (zeros(0), zeros(1));
                        bmm(&mut dq, q, g, att, kv, k, [na, sq, hd, sk], scale);
                        bmm(&mut dkv, k, g, att.t(), qv, q, [na, sk, hd, sq], scale);
                        vec![dq, dkv]
                    }
                }
            }
            Kind::EncDecValAtt => {
                let (sk, hd, sq) = (s0[0], s0[2] / 2 / self.heads, x[1].s[1]);
                let (v, att, o) = (View::inter(na, hd, 2, 1), View::dense(sq, sk), View::inter(na, hd, 1, 0));
                let (kv, a) = (&x[0].v, &x[1].v);
                match g {
                    None => {
                        let mut out = vec![0.0; sq * na * hd];
                        bmm(&mut out, o, a, att, kv, v, [na, sq, hd, sk], 1.0);
                        vec![out]
                    }
                    Some(g) => {
                        let (mut dkv, mut datt) = (zeros(0), zeros(1));
                        bmm(&mut datt, att, g, o, kv, v.t(), [na, sq, sk, hd], 1.0);
                        bmm(&mut dkv, v, a, att.t(), g, o, [na, sk, hd, sq], 1.0);
                        vec![dkv, datt]
                    }
                }
            }
        }
    }
}

impl Kernel for Interleaved {
    fn name(&self) -> &'static str {
        let (f, b, _, _) = self.kind.names();
        if self.backward { b } else { f }
    }
    fn num_outputs(&self) -> usize {
        if self.backward { self.kind.inputs() } else { 1 }
    }
    fn input_names(&self) -> Option<Vec<String>> {
        let (_, _, fwd, bwd) = self.kind.names();
        Some(if self.backward { bwd } else { fwd }.iter().map(|s| s.to_string()).collect())
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if !self.backward {
            return Ok(vec![self.forward_shape(x)?]);
        }
        let out = self.forward_shape(&x[1..])?;
        if x[0] != out {
            return Err(shape_err(
                self.name(),
                "out_grad must have the forward output's shape",
                &[("out_grad", &x[0]), ("output", &out)],
            ));
        }
        Ok(x[1..].to_vec())
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        Ok(if self.backward { self.compute(&x[1..], Some(&x[0].v)) } else { self.compute(x, None) })
    }
}

/// The gradients of an interleaved product: its backward op on `(out_grad, inputs...)`.
fn grad_with(b: &mut dyn GradBuilder, bwd: &str, a: &Attrs, x: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    let ins: Vec<NodeEntry> = std::iter::once(g[0]).chain(x.iter().copied()).collect();
    Ok(b.op(bwd, &ins, a.clone())?.into_iter().map(Some).collect())
}

macro_rules! interleaved_grad {
    ($f:ident, $bwd:literal) => {
        fn $f(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
            grad_with(b, $bwd, a, x, g)
        }
    };
}
interleaved_grad!(grad_self_qk, "_backward_interleaved_matmul_selfatt_qk");
interleaved_grad!(grad_self_valatt, "_backward_interleaved_matmul_selfatt_valatt");
interleaved_grad!(grad_encdec_qk, "_backward_interleaved_matmul_encdec_qk");
interleaved_grad!(grad_encdec_valatt, "_backward_interleaved_matmul_encdec_valatt");

/// `div_sqrt_dim(data)`: `data / sqrt(data.shape[-1])`.
#[derive(Debug)]
struct DivSqrtDim;

impl Kernel for DivSqrtDim {
    fn name(&self) -> &'static str {
        "_contrib_div_sqrt_dim"
    }
    fn shapes(&self, x: &[Shape]) -> Result<Vec<Shape>> {
        if x[0].is_empty() {
            return Err(shape_err(self.name(), "data must have at least 1 dimension", &[("data", &x[0])]));
        }
        Ok(vec![x[0].clone()])
    }
    fn run(&self, x: &[In<'_>], _: &[Shape]) -> Result<Vec<Vec<f64>>> {
        let d = *x[0].s.last().expect("checked") as f64;
        let s = f64::from((d as f32).sqrt());
        Ok(vec![x[0].v.iter().map(|v| v / s).collect()])
    }
}

fn grad_div_sqrt_dim(b: &mut dyn GradBuilder, _: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    Ok(vec![Some(b.unary("_contrib_div_sqrt_dim", g[0])?)])
}

pub(super) fn register(r: &mut Registry) {
    let p = params!("heads" = None);
    let kinds: [(Kind, &str, super::super::GradFn); 4] = [
        (Kind::SelfQk, "scaled query-key products of interleaved self-attention projections", grad_self_qk),
        (Kind::SelfValAtt, "attention-weighted values of interleaved self-attention projections", grad_self_valatt),
        (Kind::EncDecQk, "scaled query-key products of encoder-decoder attention", grad_encdec_qk),
        (Kind::EncDecValAtt, "attention-weighted values of encoder-decoder attention", grad_encdec_valatt),
    ];
    for (kind, doc, grad) in kinds {
        let (f, b, fwd, bwd) = kind.names();
        match kind {
            Kind::SelfQk => {
                add(r, f, fwd, p, doc, |a| Interleaved::parse(a, Kind::SelfQk, false));
                add(r, b, bwd, p, "gradient of interleaved_matmul_selfatt_qk", |a| {
                    Interleaved::parse(a, Kind::SelfQk, true)
                });
            }
            Kind::SelfValAtt => {
                add(r, f, fwd, p, doc, |a| Interleaved::parse(a, Kind::SelfValAtt, false));
                add(r, b, bwd, p, "gradient of interleaved_matmul_selfatt_valatt", |a| {
                    Interleaved::parse(a, Kind::SelfValAtt, true)
                });
            }
            Kind::EncDecQk => {
                add(r, f, fwd, p, doc, |a| Interleaved::parse(a, Kind::EncDecQk, false));
                add(r, b, bwd, p, "gradient of interleaved_matmul_encdec_qk", |a| {
                    Interleaved::parse(a, Kind::EncDecQk, true)
                });
            }
            Kind::EncDecValAtt => {
                add(r, f, fwd, p, doc, |a| Interleaved::parse(a, Kind::EncDecValAtt, false));
                add(r, b, bwd, p, "gradient of interleaved_matmul_encdec_valatt", |a| {
                    Interleaved::parse(a, Kind::EncDecValAtt, true)
                });
            }
        }
        r.set_gradient(f, grad);
    }
    add(
        r,
        "_contrib_div_sqrt_dim",
        &["data"],
        params!(),
        "data divided by the square root of its last dimension",
        |a| {
            a.check_known("_contrib_div_sqrt_dim", &[])?;
            Ok(DivSqrtDim)
        },
    );
    r.set_gradient("_contrib_div_sqrt_dim", grad_div_sqrt_dim);
}
