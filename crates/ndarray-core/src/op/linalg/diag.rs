//! `linalg_extractdiag`, `linalg_makediag`, `linalg_extracttrian` and `linalg_maketrian`:
//! copies between a diagonal (or triangle) of square matrices and a vector, each the gradient
//! of its partner.
//!
//! A triangle is stored as MXNet's `CopyTrian` kernel orders it: for `offset < 0`, or `offset
//! == 0` and `lower`, the lower triangle (below diagonal `offset`) row by row; otherwise the
//! upper triangle column by column (the transposed lower triangle, row by row).

use super::batch::{P, Spec, square};
use super::dense::Mat;
use crate::op::grad::{Grads, pick_attrs};
use crate::op::{Attrs, GradBuilder, NodeEntry, ParamSpec};
use crate::params;
use crate::shape::{Shape, fmt_shape};

type ShapeResult = std::result::Result<Vec<Shape>, String>;
type Compute = std::result::Result<Vec<Mat>, String>;

/// The side `n - |offset|` of what is extracted from `n x n` matrices; it must be positive.
fn extracted(s: &[usize], offset: i64) -> std::result::Result<(&[usize], usize), String> {
    let (l, n) = square("A", s)?;
    let k = offset.unsigned_abs() as usize;
    if n <= k {
        return Err(format!(
            "illegal offset {offset} for the diagonal or triangle of matrices of shape {}",
            fmt_shape(s)
        ));
    }
    Ok((l, n - k))
}

/// The batch axes and the length of a batch of vectors (at least one axis).
fn vectors(s: &[usize]) -> std::result::Result<(&[usize], usize), String> {
    match s.split_last() {
        Some((&n, l)) => Ok((l, n)),
        None => Err("A must be a tensor of vectors (at least 1 axis), got a scalar".to_string()),
    }
}

fn sh_extractdiag(p: &P, s: &[Shape]) -> ShapeResult {
    let (l, m) = extracted(&s[0], p.offset)?;
    Ok(vec![l.iter().copied().chain([m]).collect()])
}

fn sh_makediag(p: &P, s: &[Shape]) -> ShapeResult {
    let (l, n) = vectors(&s[0])?;
    let m = n + p.offset.unsigned_abs() as usize;
    Ok(vec![l.iter().copied().chain([m, m]).collect()])
}

fn sh_extracttrian(p: &P, s: &[Shape]) -> ShapeResult {
    let (l, m) = extracted(&s[0], p.offset)?;
    Ok(vec![l.iter().copied().chain([m * (m + 1) / 2]).collect()])
}

fn sh_maketrian(p: &P, s: &[Shape]) -> ShapeResult {
    let (l, n) = vectors(&s[0])?;
    let m = ((((8 * n + 1) as f64).sqrt() - 1.0) * 0.5 + 0.5).floor() as usize;
    if m * (m + 1) / 2 != n {
        return Err(format!(
            "the last axis of {} must hold a triangle (a length m * (m + 1) / 2), got {n}",
            fmt_shape(&s[0])
        ));
    }
    let side = m + p.offset.unsigned_abs() as usize;
    Ok(vec![l.iter().copied().chain([side, side]).collect()])
}

/// `(row, col)` of the `i`-th element of diagonal `offset`.
fn diag_at(i: usize, offset: i64) -> (usize, usize) {
    let k = offset.unsigned_abs() as usize;
    if offset < 0 { (i + k, i) } else { (i, i + k) }
}

/// Where element `(row, col)` of an `n x n` matrix goes in the packed triangle, if it is in it.
fn trian_index(row: usize, col: usize, p: &P) -> Option<usize> {
    let upper = p.offset > 0 || (p.offset == 0 && !p.lower);
    let (r, c) = if upper { (col, row) } else { (row, col) };
    let r = r.checked_sub(p.offset.unsigned_abs() as usize)?;
    (r >= c).then(|| r * (r + 1) / 2 + c)
}

fn extractdiag(p: &P, m: &[Mat]) -> Compute {
    let a = &m[0];
    let len = a.r - p.offset.unsigned_abs() as usize;
    let d = (0..len).map(|i| diag_at(i, p.offset)).map(|(r, c)| a.at(r, c)).collect();
    Ok(vec![Mat::from_vec(1, len, d)])
}

fn makediag(p: &P, m: &[Mat]) -> Compute {
    let v = &m[0].d;
    let n = v.len() + p.offset.unsigned_abs() as usize;
    let mut a = Mat::zeros(n, n);
    for (i, &x) in v.iter().enumerate() {
        let (r, c) = diag_at(i, p.offset);
        *a.at_mut(r, c) = x;
    }
    Ok(vec![a])
}

fn extracttrian(p: &P, m: &[Mat]) -> Compute {
    let a = &m[0];
    let side = a.r - p.offset.unsigned_abs() as usize;
    let mut v = vec![0.0; side * (side + 1) / 2];
    for r in 0..a.r {
        for c in 0..a.c {
            if let Some(i) = trian_index(r, c, p) {
                v[i] = a.at(r, c);
            }
        }
    }
    Ok(vec![Mat::from_vec(1, v.len(), v)])
}

fn maketrian(p: &P, m: &[Mat]) -> Compute {
    let v = &m[0].d;
    let tri = ((((8 * v.len() + 1) as f64).sqrt() - 1.0) * 0.5 + 0.5).floor() as usize;
    let n = tri + p.offset.unsigned_abs() as usize;
    let mut a = Mat::zeros(n, n);
    for r in 0..n {
        for c in 0..n {
            if let Some(i) = trian_index(r, c, p) {
                *a.at_mut(r, c) = v[i];
            }
        }
    }
    Ok(vec![a])
}

/// The gradient of a copy is the reverse copy, with the same attributes.
fn reverse(b: &mut dyn GradBuilder, op: &str, a: &Attrs, g: NodeEntry) -> Grads {
    Ok(vec![Some(b.apply(op, &[g], pick_attrs(a, &["offset", "lower"]))?)])
}
fn g_extractdiag(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    reverse(b, "_linalg_makediag", a, g[0])
}
fn g_makediag(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    reverse(b, "_linalg_extractdiag", a, g[0])
}
fn g_extracttrian(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    reverse(b, "_linalg_maketrian", a, g[0])
}
fn g_maketrian(b: &mut dyn GradBuilder, a: &Attrs, _: &[NodeEntry], _: &[NodeEntry], g: &[NodeEntry]) -> Grads {
    reverse(b, "_linalg_extracttrian", a, g[0])
}

const OFFSET: &[ParamSpec] = params!("offset" = Some("0"));
const TRIAN: &[ParamSpec] = params!("offset" = Some("0"), "lower" = Some("True"));

pub(super) static SPECS: &[Spec] = &[
    Spec {
        name: "_linalg_extractdiag",
        alias: "linalg_extractdiag",
        inputs: &["A"],
        matrix_inputs: &[true],
        batch_of: (0, 2),
        params: OFFSET,
        doc: "extract a diagonal of square matrices",
        outputs: 1,
        shape: sh_extractdiag,
        compute: extractdiag,
        grad: Some(g_extractdiag),
    },
    Spec {
        name: "_linalg_makediag",
        alias: "linalg_makediag",
        inputs: &["A"],
        matrix_inputs: &[false],
        batch_of: (0, 1),
        params: OFFSET,
        doc: "square matrices with the given vectors as a diagonal",
        outputs: 1,
        shape: sh_makediag,
        compute: makediag,
        grad: Some(g_makediag),
    },
    Spec {
        name: "_linalg_extracttrian",
        alias: "linalg_extracttrian",
        inputs: &["A"],
        matrix_inputs: &[true],
        batch_of: (0, 2),
        params: TRIAN,
        doc: "extract a triangle of square matrices",
        outputs: 1,
        shape: sh_extracttrian,
        compute: extracttrian,
        grad: Some(g_extracttrian),
    },
    Spec {
        name: "_linalg_maketrian",
        alias: "linalg_maketrian",
        inputs: &["A"],
        matrix_inputs: &[false],
        batch_of: (0, 1),
        params: TRIAN,
        doc: "square matrices with the given vectors as a triangle",
        outputs: 1,
        shape: sh_maketrian,
        compute: maketrian,
        grad: Some(g_maketrian),
    },
];
