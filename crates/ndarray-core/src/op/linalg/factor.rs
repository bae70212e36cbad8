//! `linalg_potrf`, `potri`, `trmm`, `trsm`, `syrk`, `gelqf`, `syevd`, `sumlogdiag`, `inverse`,
//! `det` and `slogdet`: their shapes, their computation on one matrix, and their gradients through
//! the fused kernels of [`super::backward`].

use super::batch::{P, Spec, join, lead, same_batch, scalar_shape, square};
use super::dense::{self, Mat};
use crate::op::grad::Grads;
use crate::op::{Attrs, GradBuilder, NodeEntry};
use crate::params;
use crate::shape::{Shape, fmt_shape};

type ShapeResult = std::result::Result<Vec<Shape>, String>;
type Compute = std::result::Result<Vec<Mat>, String>;

fn sh_square(_: &P, s: &[Shape]) -> ShapeResult {
    square("A", &s[0])?;
    Ok(vec![s[0].clone()])
}

fn sh_scalar(_: &P, s: &[Shape]) -> ShapeResult {
    Ok(vec![scalar_shape(square("A", &s[0])?.0)])
}

fn sh_slogdet(p: &P, s: &[Shape]) -> ShapeResult {
    let one = sh_scalar(p, s)?.remove(0);
    Ok(vec![one.clone(), one])
}

fn sh_syrk(p: &P, s: &[Shape]) -> ShapeResult {
    let l = lead("A", &s[0])?;
    let nd = s[0].len();
    let k = if p.transpose { s[0][nd - 1] } else { s[0][nd - 2] };
    Ok(vec![join(l, &[k, k])])
}

fn sh_gelqf(_: &P, s: &[Shape]) -> ShapeResult {
    let l = lead("A", &s[0])?;
    let (m, n) = (s[0][s[0].len() - 2], s[0][s[0].len() - 1]);
    if m > n {
        return Err(format!(
            "A must have at most as many rows as columns (m <= n) for an LQ factorization, got shape {}",
            fmt_shape(&s[0])
        ));
    }
    Ok(vec![s[0].clone(), join(l, &[m, m])])
}

/// `trmm` and `trsm`: A square (triangular), B with the same batch axes.
fn sh_triangular(p: &P, s: &[Shape]) -> ShapeResult {
    let (la, n) = square("A", &s[0])?;
    let lb = lead("B", &s[1])?;
    same_batch(la, lb, &s[0], &s[1])?;
    let (r, c) = (s[1][s[1].len() - 2], s[1][s[1].len() - 1]);
    let fits = if p.rightside { c == n } else { r == n };
    if !fits {
        let side = if p.rightside { "B * A: B's columns" } else { "A * B: B's rows" };
        return Err(format!(
            "incompatible matrix dimensions for {side} must equal A's size {n}, got A {} and B {}",
            fmt_shape(&s[0]),
            fmt_shape(&s[1])
        ));
    }
    Ok(vec![s[1].clone()])
}

fn sh_syevd(_: &P, s: &[Shape]) -> ShapeResult {
    let (l, n) = square("A", &s[0])?;
    Ok(vec![s[0].clone(), join(l, &[n])])
}

fn one(v: f64) -> Mat {
    Mat::from_vec(1, 1, vec![v])
}

fn potrf(p: &P, m: &[Mat]) -> Compute {
    dense::potrf(&m[0], p.lower).map(|l| vec![l]).map_err(|j| {
        format!("the matrix is not symmetric positive definite (its leading minor of order {} is not positive)", j + 1)
    })
}

fn potri(p: &P, m: &[Mat]) -> Compute {
    dense::potri(&m[0], p.lower)
        .map(|a| vec![a])
        .map_err(|j| format!("the input is not a Cholesky factor (diagonal element {j} is zero)"))
}

fn trmm(p: &P, m: &[Mat]) -> Compute {
    Ok(vec![dense::trmm(&m[0], &m[1], p.alpha, p.rightside, p.lower, p.transpose)])
}

fn trsm(p: &P, m: &[Mat]) -> Compute {
    Ok(vec![dense::trsm(&m[0], &m[1], p.alpha, p.rightside, p.lower, p.transpose)])
}

fn syrk(p: &P, m: &[Mat]) -> Compute {
    Ok(vec![dense::syrk(&m[0], p.alpha, p.transpose)])
}

fn gelqf(_: &P, m: &[Mat]) -> Compute {
    let (q, l) = dense::gelqf(&m[0]);
    Ok(vec![q, l])
}

fn syevd(_: &P, m: &[Mat]) -> Compute {
    let (u, l) = dense::syevd(&m[0]);
    Ok(vec![u, Mat::from_vec(1, l.len(), l)])
}

fn sumlogdiag(_: &P, m: &[Mat]) -> Compute {
    Ok(vec![one((0..m[0].r).map(|i| m[0].at(i, i).ln()).sum())])
}

fn inverse(_: &P, m: &[Mat]) -> Compute {
    dense::inverse(&m[0]).map(|x| vec![x]).ok_or_else(|| "the matrix is singular".to_string())
}

fn det(_: &P, m: &[Mat]) -> Compute {
    let (s, l) = dense::slogdet(&m[0]);
    Ok(vec![one(s * l.exp())])
}

fn slogdet(_: &P, m: &[Mat]) -> Compute {
    let (s, l) = dense::slogdet(&m[0]);
    Ok(vec![one(s), one(l)])
}

/// Add the fused gradient kernel `back` on `ins`; its outputs are the gradients of the first
/// `n` inputs.
fn fused(b: &mut dyn GradBuilder, back: &str, a: &Attrs, ins: &[NodeEntry], n: usize) -> Grads {
    let r = b.op(back, ins, a.clone())?;
    Ok(r.into_iter().take(n).map(Some).collect())
}

fn g_potrf(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_potrf", a, &[g[0], y[0]], 1)
}
fn g_potri(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_potri", a, &[g[0], x[0], y[0]], 1)
}
fn g_trmm(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_trmm", a, &[g[0], x[0], x[1]], 2)
}
fn g_trsm(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_trsm", a, &[g[0], x[0], x[1], y[0]], 2)
}
fn g_syrk(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_syrk", a, &[g[0], x[0]], 1)
}
fn g_gelqf(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_gelqf", a, &[g[0], g[1], y[0], y[1]], 1)
}
fn g_syevd(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_syevd", a, &[g[0], g[1], y[0], y[1]], 1)
}
fn g_sumlogdiag(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_sumlogdiag", a, &[g[0], x[0]], 1)
}
fn g_inverse(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_inverse", a, &[g[0], y[0]], 1)
}
fn g_det(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_det", a, &[g[0], y[0], x[0]], 1)
}
/// The sign output has no gradient (as in MXNet): only `logabsdet`'s is used.
fn g_slogdet(b: &mut dyn GradBuilder, a: &Attrs, x: &[NodeEntry], y: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    fused(b, "_backward_linalg_slogdet", a, &[g[1], y[1], x[0]], 1)
}

const A: &[&str] = &["A"];
const M1: &[bool] = &[true];
const LOWER: &[crate::op::ParamSpec] = params!("lower" = Some("True"));
const TRIANG: &[crate::op::ParamSpec] =
    params!("transpose" = Some("False"), "rightside" = Some("False"), "lower" = Some("True"), "alpha" = Some("1.0"));
const NONE: &[crate::op::ParamSpec] = &[];

macro_rules! spec {
    ($name:literal, $alias:literal, $ins:expr, $mats:expr, $params:expr, $doc:literal, $outs:literal,
     $shape:expr, $compute:expr, $grad:expr) => {
        Spec {
            name: $name,
            alias: $alias,
            inputs: $ins,
            matrix_inputs: $mats,
            batch_of: (0, 2),
            params: $params,
            doc: $doc,
            outputs: $outs,
            shape: $shape,
            compute: $compute,
            grad: Some($grad),
        }
    };
}

/// The forward ops, then their gradient kernels.
pub(super) static SPECS: &[Spec] = &[
    spec!(
        "_linalg_potrf",
        "linalg_potrf",
        A,
        M1,
        LOWER,
        "Cholesky factorization of symmetric positive-definite matrices",
        1,
        sh_square,
        potrf,
        g_potrf
    ),
    spec!(
        "_linalg_potri",
        "linalg_potri",
        A,
        M1,
        LOWER,
        "inverse of a symmetric positive-definite matrix from its Cholesky factor",
        1,
        sh_square,
        potri,
        g_potri
    ),
    spec!(
        "_linalg_trmm",
        "linalg_trmm",
        &["A", "B"],
        &[true, true],
        TRIANG,
        "product with a triangular matrix",
        1,
        sh_triangular,
        trmm,
        g_trmm
    ),
    spec!(
        "_linalg_trsm",
        "linalg_trsm",
        &["A", "B"],
        &[true, true],
        TRIANG,
        "solve a triangular system of equations",
        1,
        sh_triangular,
        trsm,
        g_trsm
    ),
    spec!(
        "_linalg_syrk",
        "linalg_syrk",
        A,
        M1,
        params!("transpose" = Some("False"), "alpha" = Some("1.0")),
        "product of a matrix and its transpose",
        1,
        sh_syrk,
        syrk,
        g_syrk
    ),
    spec!(
        "_linalg_gelqf",
        "linalg_gelqf",
        A,
        M1,
        NONE,
        "LQ factorization of matrices with at most as many rows as columns",
        2,
        sh_gelqf,
        gelqf,
        g_gelqf
    ),
    spec!(
        "_linalg_syevd",
        "",
        A,
        M1,
        NONE,
        "eigendecomposition of symmetric matrices (eigenvectors as rows, eigenvalues ascending)",
        2,
        sh_syevd,
        syevd,
        g_syevd
    ),
    spec!(
        "_linalg_sumlogdiag",
        "linalg_sumlogdiag",
        A,
        M1,
        NONE,
        "sum of the logarithms of the diagonal of square matrices",
        1,
        sh_scalar,
        sumlogdiag,
        g_sumlogdiag
    ),
    spec!(
        "_linalg_inverse",
        "linalg_inverse",
        A,
        M1,
        NONE,
        "inverse of square matrices",
        1,
        sh_square,
        inverse,
        g_inverse
    ),
    spec!("_linalg_det", "linalg_det", A, M1, NONE, "determinant of square matrices", 1, sh_scalar, det, g_det),
    spec!(
        "_linalg_slogdet",
        "linalg_slogdet",
        A,
        M1,
        NONE,
        "sign and log of the absolute value of the determinant of square matrices",
        2,
        sh_slogdet,
        slogdet,
        g_slogdet
    ),
    // Gradient kernels.
    super::backward::POTRF,
    super::backward::POTRI,
    super::backward::TRMM,
    super::backward::TRSM,
    super::backward::SYRK,
    super::backward::GELQF,
    super::backward::SYEVD,
    super::backward::SUMLOGDIAG,
    super::backward::INVERSE,
    super::backward::DET,
    super::backward::SLOGDET,
];
