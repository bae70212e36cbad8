//! The fused gradient kernels `_backward_linalg_*` of the factorizations and triangular
//! products, with MXNet's formulas (`la_op-inl.h`; see arXiv:1710.08717 for their derivation).
//! Each takes the output gradients first, then the forward inputs and outputs it needs.
//!
//! Fused because no composition of registered ops exists for most of them: the formulas
//! symmetrize a matrix from one triangle (potrf, gelqf), keep one triangle (potri, trmm, trsm)
//! or stop the gradient of singular matrices (det, slogdet), none of which an op does. The
//! others (syrk, syevd, sumlogdiag, inverse) are fused alike, so that every gradient of this family
//! runs one float64 pass per matrix, as the forward ops do.

use super::batch::{P, Spec};
use super::dense::{self, Mat, gemm, trmm, trsm};
use crate::op::ParamSpec;
use crate::params;
use crate::shape::{Shape, fmt_shape};

type ShapeResult = std::result::Result<Vec<Shape>, String>;
type Compute = std::result::Result<Vec<Mat>, String>;

/// Check that input `g` (a gradient) has the shape of input `like`.
fn same(s: &[Shape], g: usize, like: usize) -> std::result::Result<(), String> {
    if s[g] != s[like] {
        return Err(format!(
            "the output gradient has shape {} but {} is expected",
            fmt_shape(&s[g]),
            fmt_shape(&s[like])
        ));
    }
    Ok(())
}

/// The gradient (input 0) has the shape of input 1, and so has the result.
fn sh_like1(s: &[Shape]) -> ShapeResult {
    same(s, 0, 1)?;
    Ok(vec![s[1].clone()])
}
fn sh_potrf(_: &P, s: &[Shape]) -> ShapeResult {
    sh_like1(s)
}
fn sh_potri(_: &P, s: &[Shape]) -> ShapeResult {
    same(s, 0, 2)?;
    Ok(vec![s[1].clone()])
}
fn sh_inverse(_: &P, s: &[Shape]) -> ShapeResult {
    sh_like1(s)
}
/// `(ograd, det, A)`: the gradient of A.
fn sh_det(_: &P, s: &[Shape]) -> ShapeResult {
    same(s, 0, 1)?;
    Ok(vec![s[2].clone()])
}
fn sh_sumlogdiag(_: &P, s: &[Shape]) -> ShapeResult {
    Ok(vec![s[1].clone()])
}
fn sh_syrk(_: &P, s: &[Shape]) -> ShapeResult {
    Ok(vec![s[1].clone()])
}
fn sh_gelqf(_: &P, s: &[Shape]) -> ShapeResult {
    same(s, 0, 2)?;
    same(s, 1, 3)?;
    Ok(vec![s[2].clone()])
}
fn sh_two(_: &P, s: &[Shape]) -> ShapeResult {
    Ok(vec![s[1].clone(), s[2].clone()])
}

/// `dA = 0.5 * B^T * copyLTU(B^T * dB) * B^-1` (lower; the upper case by transposition).
fn potrf(p: &P, m: &[Mat]) -> Compute {
    let (db, b, lower) = (&m[0], &m[1], p.lower);
    let mut da = trmm(b, db, 1.0, !lower, lower, true);
    da.symmetrize(lower);
    let da = trsm(b, &da, 1.0, false, lower, lower);
    Ok(vec![trsm(b, &da, 0.5, true, lower, !lower)])
}

/// `dB = -tril(A * (dA + dA^T) * B^-T)` (lower; the upper case by transposition).
fn potri(p: &P, m: &[Mat]) -> Compute {
    let (da, b, a, lower) = (&m[0], &m[1], &m[2], p.lower);
    let db = if lower {
        gemm(a, false, da, false, 1.0).add(&gemm(a, false, da, true, 1.0))
    } else {
        gemm(da, false, a, false, 1.0).add(&gemm(da, true, a, false, 1.0))
    };
    let mut db = trsm(b, &db, -1.0, lower, lower, true);
    db.zero_triangle(!lower);
    Ok(vec![db])
}

/// Of `C = alpha * op(A) * B` (or `B * op(A)`): dA restricted to A's triangle, and dB.
fn trmm_grad(p: &P, m: &[Mat]) -> Compute {
    let (dc, a, b) = (&m[0], &m[1], &m[2]);
    let t = p.transpose;
    let mut da = if p.rightside == t { gemm(dc, t, b, !t, p.alpha) } else { gemm(b, !t, dc, t, p.alpha) };
    da.zero_triangle(!p.lower);
    Ok(vec![da, trmm(a, dc, p.alpha, p.rightside, p.lower, !t)])
}

/// Of `C = alpha * op(A)^-1 * B` (or `B * op(A)^-1`): dA restricted to A's triangle, and dB.
fn trsm_grad(p: &P, m: &[Mat]) -> Compute {
    let (dc, a, c) = (&m[0], &m[1], &m[3]);
    let t = p.transpose;
    let db = trsm(a, dc, p.alpha, p.rightside, p.lower, !t);
    let scale = -1.0 / p.alpha;
    let mut da = if p.rightside == t { gemm(&db, t, c, !t, scale) } else { gemm(c, !t, &db, t, scale) };
    da.zero_triangle(!p.lower);
    Ok(vec![da, db])
}

/// `dA = alpha * (dB + dB^T) * A` (or `A * (dB + dB^T)` when transposed).
fn syrk(p: &P, m: &[Mat]) -> Compute {
    let (db, a) = (&m[0], &m[1]);
    let da = if p.transpose {
        gemm(a, false, db, false, p.alpha).add(&gemm(a, false, db, true, p.alpha))
    } else {
        gemm(db, false, a, false, p.alpha).add(&gemm(db, true, a, false, p.alpha))
    };
    Ok(vec![da])
}

/// `dA = L^-T * (dQ + copyLTU(M) * Q)` with `M = L^T * dL - dQ * Q^T`.
fn gelqf(_: &P, m: &[Mat]) -> Compute {
    let (dq, dl, q, l) = (&m[0], &m[1], &m[2], &m[3]);
    let mut mm = trmm(l, dl, 1.0, false, true, true).add(&gemm(dq, false, q, true, -1.0));
    mm.symmetrize(true);
    let da = dq.clone().add(&gemm(&mm, false, q, false, 1.0));
    Ok(vec![trsm(l, &da, 1.0, false, true, true)])
}

/// `dA = U^T * Y * U` with `Y` symmetric: off the diagonal `(X[i][j] - X[j][i]) / (2 * (l[i] -
/// l[j]))` (the gap at least 1e-100) for `X = dU * U^T`, `dL` on the diagonal.
fn syevd(_: &P, m: &[Mat]) -> Compute {
    let (du, dl, u, l) = (&m[0], &m[1].d, &m[2], &m[3].d);
    let x = gemm(du, false, u, true, 1.0);
    let n = u.r;
    let mut y = Mat::zeros(n, n);
    for i in 0..n {
        for j in 0..i {
            let gap = 2.0 * (l[i] - l[j]).max(1e-100);
            let e = (x.at(i, j) - x.at(j, i)) / gap;
            *y.at_mut(i, j) = e;
            *y.at_mut(j, i) = e;
        }
        *y.at_mut(i, i) = dl[i];
    }
    Ok(vec![gemm(&gemm(u, true, &y, false, 1.0), false, u, false, 1.0)])
}

/// `dA = diag(dB / diag(A))`.
fn sumlogdiag(_: &P, m: &[Mat]) -> Compute {
    let (g, a) = (m[0].d[0], &m[1]);
    let mut da = Mat::zeros(a.r, a.c);
    for i in 0..a.r {
        *da.at_mut(i, i) = g / a.at(i, i);
    }
    Ok(vec![da])
}

/// `dB = -A^T * dA * A^T` for `A = inverse(B)`.
fn inverse(_: &P, m: &[Mat]) -> Compute {
    let (da, a) = (&m[0], &m[1]);
    Ok(vec![gemm(a, true, &gemm(da, false, a, true, 1.0), false, -1.0)])
}

/// `scale * A^-T`, zero where A is singular (MXNet stops these gradients there).
fn inv_t_scaled(a: &Mat, scale: f64, singular: bool) -> Mat {
    match dense::inverse(a) {
        Some(inv) if !singular => inv.t().scale(scale),
        _ => Mat::zeros(a.r, a.c),
    }
}

/// `dA = ddet * det * A^-T` (Jacobi's formula).
fn det(_: &P, m: &[Mat]) -> Compute {
    let (g, d) = (m[0].d[0], m[1].d[0]);
    Ok(vec![inv_t_scaled(&m[2], g * d, d == 0.0)])
}

/// `dA = dlogabsdet * A^-T`.
fn slogdet(_: &P, m: &[Mat]) -> Compute {
    let (g, l) = (m[0].d[0], m[1].d[0]);
    Ok(vec![inv_t_scaled(&m[2], g, l == f64::NEG_INFINITY)])
}

const LOWER: &[ParamSpec] = params!("lower" = Some("True"));
const TRIANG: &[ParamSpec] =
    params!("transpose" = Some("False"), "rightside" = Some("False"), "lower" = Some("True"), "alpha" = Some("1.0"));
const DOC: &str = "fused gradient of a linalg op";

macro_rules! back {
    ($name:literal, $ins:expr, $mats:expr, $batch:expr, $params:expr, $outs:literal, $shape:expr, $compute:expr) => {
        Spec {
            name: $name,
            alias: "",
            inputs: $ins,
            matrix_inputs: $mats,
            batch_of: ($batch, 2),
            params: $params,
            doc: DOC,
            outputs: $outs,
            shape: $shape,
            compute: $compute,
            grad: None,
        }
    };
}

pub(super) const POTRF: Spec =
    back!("_backward_linalg_potrf", &["dB", "B"], &[true, true], 1, LOWER, 1, sh_potrf, potrf);
pub(super) const POTRI: Spec =
    back!("_backward_linalg_potri", &["dA", "B", "A"], &[true, true, true], 1, LOWER, 1, sh_potri, potri);
pub(super) const TRMM: Spec =
    back!("_backward_linalg_trmm", &["dC", "A", "B"], &[true, true, true], 1, TRIANG, 2, sh_two, trmm_grad);
pub(super) const TRSM: Spec =
    back!("_backward_linalg_trsm", &["dC", "A", "B", "C"], &[true, true, true, true], 1, TRIANG, 2, sh_two, trsm_grad);
pub(super) const SYRK: Spec = back!(
    "_backward_linalg_syrk",
    &["dB", "A"],
    &[true, true],
    1,
    params!("transpose" = Some("False"), "alpha" = Some("1.0")),
    1,
    sh_syrk,
    syrk
);
pub(super) const GELQF: Spec =
    back!("_backward_linalg_gelqf", &["dQ", "dL", "Q", "L"], &[true, true, true, true], 2, &[], 1, sh_gelqf, gelqf);
pub(super) const SYEVD: Spec =
    back!("_backward_linalg_syevd", &["dU", "dL", "U", "L"], &[true, false, true, false], 2, &[], 1, sh_gelqf, syevd);
pub(super) const SUMLOGDIAG: Spec =
    back!("_backward_linalg_sumlogdiag", &["dB", "A"], &[false, true], 1, &[], 1, sh_sumlogdiag, sumlogdiag);
pub(super) const INVERSE: Spec =
    back!("_backward_linalg_inverse", &["dA", "A"], &[true, true], 1, &[], 1, sh_inverse, inverse);
pub(super) const DET: Spec =
    back!("_backward_linalg_det", &["ddet", "det", "A"], &[false, false, true], 2, &[], 1, sh_det, det);
pub(super) const SLOGDET: Spec = back!(
    "_backward_linalg_slogdet",
    &["dlogabsdet", "logabsdet", "A"],
    &[false, false, true],
    2,
    &[],
    1,
    sh_det,
    slogdet
);
