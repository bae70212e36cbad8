//! Dense float64 kernels on one row-major matrix: the BLAS 3 and LAPACK routines MXNet's
//! `linalg_*` ops call (trmm, trsm, syrk, potrf, potri, gelqf/orglq, getrf/getri), written out
//! as their textbook unblocked algorithms.
//!
//! The ops work on small matrices (a batch of them), so these loops are not blocked; float32
//! inputs are computed in float64 and rounded once. Where LAPACK has a convention that shows in
//! the result, these kernels follow it: the Householder reflectors of `gelqf` give `L` the
//! diagonal signs LAPACK's `dlarfg` gives, and `getrf` picks the first row of largest magnitude
//! as pivot.

/// A row-major `r x c` matrix of float64.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Mat {
    /// Rows.
    pub r: usize,
    /// Columns.
    pub c: usize,
    /// `r * c` elements, row by row.
    pub d: Vec<f64>,
}

impl Mat {
    /// A zero matrix.
    pub fn zeros(r: usize, c: usize) -> Mat {
        Mat { r, c, d: vec![0.0; r * c] }
    }

    /// The `n x n` identity.
    pub fn eye(n: usize) -> Mat {
        let mut m = Mat::zeros(n, n);
        for i in 0..n {
            m.d[i * n + i] = 1.0;
        }
        m
    }

    /// A matrix over `d` (`r * c` elements).
    pub fn from_vec(r: usize, c: usize, d: Vec<f64>) -> Mat {
        debug_assert_eq!(d.len(), r * c);
        Mat { r, c, d }
    }

    /// Element `(i, j)`.
    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.d[i * self.c + j]
    }

    /// Element `(i, j)`, mutably.
    #[inline(always)]
    pub fn at_mut(&mut self, i: usize, j: usize) -> &mut f64 {
        &mut self.d[i * self.c + j]
    }

    /// The transpose.
    pub fn t(&self) -> Mat {
        let mut o = Mat::zeros(self.c, self.r);
        for i in 0..self.r {
            for j in 0..self.c {
                o.d[j * self.r + i] = self.at(i, j);
            }
        }
        o
    }

    /// The transpose when `t`, else a copy.
    pub fn op(&self, t: bool) -> Mat {
        if t { self.t() } else { self.clone() }
    }

    /// Every element times `s`.
    pub fn scale(mut self, s: f64) -> Mat {
        self.d.iter_mut().for_each(|x| *x *= s);
        self
    }

    /// `self + other` (same shapes).
    pub fn add(mut self, other: &Mat) -> Mat {
        self.d.iter_mut().zip(&other.d).for_each(|(x, y)| *x += y);
        self
    }

    /// The lower (`lower`) or upper triangle, diagonal included; the rest zero.
    pub fn tri(&self, lower: bool) -> Mat {
        let mut o = self.clone();
        o.zero_triangle(!lower);
        o
    }

    /// Zero the strict lower (`lower`) or strict upper triangle.
    pub fn zero_triangle(&mut self, lower: bool) {
        for i in 0..self.r {
            for j in 0..self.c {
                if (lower && i > j) || (!lower && i < j) {
                    *self.at_mut(i, j) = 0.0;
                }
            }
        }
    }

    /// Make a square matrix symmetric from its lower (`from_lower`) or upper triangle.
    pub fn symmetrize(&mut self, from_lower: bool) {
        for i in 0..self.r {
            for j in 0..i {
                if from_lower {
                    *self.at_mut(j, i) = self.at(i, j);
                } else {
                    *self.at_mut(i, j) = self.at(j, i);
                }
            }
        }
    }
}

/// `alpha * op(a) * op(b)`, `op` transposing where `ta` / `tb`.
pub(super) fn gemm(a: &Mat, ta: bool, b: &Mat, tb: bool, alpha: f64) -> Mat {
    let (m, k) = if ta { (a.c, a.r) } else { (a.r, a.c) };
    let n = if tb { b.r } else { b.c };
    let ga = |i: usize, p: usize| if ta { a.at(p, i) } else { a.at(i, p) };
    let gb = |p: usize, j: usize| if tb { b.at(j, p) } else { b.at(p, j) };
    let mut o = Mat::zeros(m, n);
    for i in 0..m {
        for p in 0..k {
            let x = ga(i, p);
            if x == 0.0 {
                continue;
            }
            for j in 0..n {
                o.d[i * n + j] += x * gb(p, j);
            }
        }
    }
    if alpha != 1.0 { o.scale(alpha) } else { o }
}

/// Solve `m * x = b` for `x`, `m` square and triangular: only its lower (`lower`) or upper
/// triangle is read. A zero on the diagonal gives infinities, as BLAS's `trsm` does.
fn solve_tri(m: &Mat, lower: bool, b: &Mat) -> Mat {
    let n = m.r;
    let mut x = b.clone();
    let rows: Box<dyn Iterator<Item = usize>> = if lower { Box::new(0..n) } else { Box::new((0..n).rev()) };
    for i in rows {
        let ks = if lower { 0..i } else { i + 1..n };
        sub_rows(&mut x, i, ks.map(|k| (k, m.at(i, k))));
        let d = m.at(i, i);
        x.d[i * x.c..(i + 1) * x.c].iter_mut().for_each(|v| *v /= d);
    }
    x
}

/// `x[i] -= f * x[k]` for each `(k, f)`, whole rows at a time (`k != i`).
fn sub_rows(x: &mut Mat, i: usize, terms: impl Iterator<Item = (usize, f64)>) {
    let c = x.c;
    for (k, f) in terms {
        if f == 0.0 {
            continue;
        }
        let (row_i, row_k) = if k < i {
            let (lo, hi) = x.d.split_at_mut(i * c);
            (&mut hi[..c], &lo[k * c..(k + 1) * c])
        } else {
            let (lo, hi) = x.d.split_at_mut(k * c);
            (&mut lo[i * c..(i + 1) * c], &hi[..c])
        };
        row_i.iter_mut().zip(row_k).for_each(|(a, b)| *a -= f * b);
    }
}

/// BLAS `trmm`: `alpha * op(tri(a)) * b`, or `alpha * b * op(tri(a))` when `right`.
pub(super) fn trmm(a: &Mat, b: &Mat, alpha: f64, right: bool, lower: bool, trans: bool) -> Mat {
    let t = a.tri(lower);
    if right { gemm(b, false, &t, trans, alpha) } else { gemm(&t, trans, b, false, alpha) }
}

/// BLAS `trsm`: `alpha * op(tri(a))^-1 * b`, or `alpha * b * op(tri(a))^-1` when `right`.
pub(super) fn trsm(a: &Mat, b: &Mat, alpha: f64, right: bool, lower: bool, trans: bool) -> Mat {
    // op(tri(a)) is lower triangular when exactly one of `lower` and `trans` holds.
    let t = a.op(trans);
    let t_lower = lower != trans;
    if right {
        // x * T = b  <=>  T^T * x^T = b^T.
        solve_tri(&t.t(), !t_lower, &b.t()).t().scale(alpha)
    } else {
        solve_tri(&t, t_lower, b).scale(alpha)
    }
}

/// BLAS `syrk` as MXNet uses it: `alpha * a * a^T`, or `alpha * a^T * a` when `trans`.
pub(super) fn syrk(a: &Mat, alpha: f64, trans: bool) -> Mat {
    if trans { gemm(a, true, a, false, alpha) } else { gemm(a, false, a, true, alpha) }
}

/// LAPACK `potrf`: the Cholesky factor of a symmetric positive-definite `a`, lower (`a = l *
/// l^T`, from `a`'s lower triangle) or upper (`a = u^T * u`, from its upper triangle); the other
/// triangle of the result is zero. `Err(j)`: the leading minor of order `j + 1` is not positive.
pub(super) fn potrf(a: &Mat, lower: bool) -> Result<Mat, usize> {
    let src = if lower { a.clone() } else { a.t() };
    let n = a.r;
    let mut l = Mat::zeros(n, n);
    for j in 0..n {
        let lj = l.d[j * n..j * n + j].to_vec();
        let s = src.at(j, j) - dot(&lj, &lj);
        if s.is_nan() || s <= 0.0 {
            return Err(j);
        }
        let djj = s.sqrt();
        *l.at_mut(j, j) = djj;
        for i in j + 1..n {
            let s = src.at(i, j) - dot(&l.d[i * n..i * n + j], &lj);
            *l.at_mut(i, j) = s / djj;
        }
    }
    Ok(if lower { l } else { l.t() })
}

/// The dot product of two equal-length slices.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `row_i[from..] -= f * row_k[from..]` in a row-major matrix with `n` columns (`i > k`).
fn axpy_row(d: &mut [f64], n: usize, i: usize, k: usize, f: f64, from: usize) {
    let (lo, hi) = d.split_at_mut(i * n);
    let (ri, rk) = (&mut hi[from..n], &lo[k * n + from..(k + 1) * n]);
    ri.iter_mut().zip(rk).for_each(|(a, b)| *a -= f * b);
}

/// LAPACK `potri` (with MXNet's symmetrisation): `(b * b^T)^-1` for a lower Cholesky factor
/// `b`, `(b^T * b)^-1` for an upper one, reading only that triangle. `Err(j)`: `b[j][j]` is 0.
pub(super) fn potri(b: &Mat, lower: bool) -> Result<Mat, usize> {
    if let Some(j) = (0..b.r).find(|&j| b.at(j, j) == 0.0) {
        return Err(j);
    }
    let inv = solve_tri(b, lower, &Mat::eye(b.r));
    Ok(if lower { gemm(&inv, true, &inv, false, 1.0) } else { gemm(&inv, false, &inv, true, 1.0) })
}

/// LAPACK `gelqf` then `orglq`: `a = l * q` for an `m x n` matrix `a` with `m <= n`; `q` is
/// `m x n` with orthonormal rows, `l` is `m x m` lower triangular.
pub(super) fn gelqf(a: &Mat) -> (Mat, Mat) {
    let (m, n) = (a.r, a.c);
    let mut w = a.clone();
    let mut reflectors: Vec<(f64, Vec<f64>)> = Vec::with_capacity(m);
    for i in 0..m {
        // dlarfg on (w[i][i], w[i][i+1..]): H = I - tau * v * v^T maps the row to (beta, 0...).
        let alpha = w.at(i, i);
        let xnorm = (i + 1..n).map(|j| w.at(i, j).powi(2)).sum::<f64>().sqrt();
        let mut v = vec![0.0; n - i];
        v[0] = 1.0;
        let tau = if xnorm == 0.0 {
            0.0
        } else {
            let beta = -alpha.signum() * alpha.hypot(xnorm);
            for (j, vj) in v.iter_mut().enumerate().skip(1) {
                *vj = w.at(i, i + j) / (alpha - beta);
            }
            *w.at_mut(i, i) = beta;
            (beta - alpha) / beta
        };
        for j in i + 1..n {
            *w.at_mut(i, j) = 0.0;
        }
        // Apply H from the right to the rows below.
        for r in i + 1..m {
            reflect(&mut w.d[r * n + i..(r + 1) * n], &v, tau);
        }
        reflectors.push((tau, v));
    }
    let mut l = Mat::zeros(m, m);
    for i in 0..m {
        for j in 0..=i {
            *l.at_mut(i, j) = w.at(i, j);
        }
    }
    // q = [I 0] * H(m-1) * ... * H(0).
    let mut q = Mat::zeros(m, n);
    for i in 0..m {
        *q.at_mut(i, i) = 1.0;
    }
    for (i, (tau, v)) in reflectors.iter().enumerate().rev() {
        for r in 0..m {
            reflect(&mut q.d[r * n + i..(r + 1) * n], v, *tau);
        }
    }
    (q, l)
}

/// `row * (I - tau * v * v^T)`: a row times a Householder reflector.
fn reflect(row: &mut [f64], v: &[f64], tau: f64) {
    if tau == 0.0 {
        return;
    }
    let dot: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
    let f = tau * dot;
    row.iter_mut().zip(v).for_each(|(a, b)| *a -= f * b);
}

/// LAPACK `getrf`: `a = p * l * u` with partial pivoting (the first row of largest magnitude).
/// Returns the packed `l` (unit diagonal, below) and `u` (on and above the diagonal), and
/// whether the row permutation is odd.
pub(super) fn getrf(a: &Mat) -> (Mat, bool) {
    let n = a.r;
    let mut lu = a.clone();
    let mut odd = false;
    for k in 0..n {
        let mut p = k;
        for i in k + 1..n {
            if lu.at(i, k).abs() > lu.at(p, k).abs() {
                p = i;
            }
        }
        if p != k {
            odd = !odd;
            for j in 0..n {
                lu.d.swap(k * n + j, p * n + j);
            }
        }
        let piv = lu.at(k, k);
        if piv == 0.0 {
            continue;
        }
        for i in k + 1..n {
            let f = lu.at(i, k) / piv;
            *lu.at_mut(i, k) = f;
            if f != 0.0 {
                axpy_row(&mut lu.d, n, i, k, f, k + 1);
            }
        }
    }
    (lu, odd)
}

/// The sign (-1, 0 or 1) and the log of the absolute value of `det(a)`, from [`getrf`] as
/// MXNet's `SignedLogDet` computes them.
pub(super) fn slogdet(a: &Mat) -> (f64, f64) {
    let (lu, odd) = getrf(a);
    let mut sign = if odd { -1.0 } else { 1.0 };
    let mut log = 0.0;
    for j in 0..a.r {
        let d = lu.at(j, j);
        sign *= if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        };
        log += d.abs().ln();
    }
    (sign, log)
}

/// The inverse of a square matrix (LU with partial pivoting); `None` when it is singular.
pub(super) fn inverse(a: &Mat) -> Option<Mat> {
    let n = a.r;
    let mut lu = a.clone();
    let mut perm: Vec<usize> = (0..n).collect();
    for k in 0..n {
        let p = (k..n).fold(k, |p, i| if lu.at(i, k).abs() > lu.at(p, k).abs() { i } else { p });
        if lu.at(p, k) == 0.0 || !lu.at(p, k).is_finite() {
            return None;
        }
        if p != k {
            perm.swap(k, p);
            for j in 0..n {
                lu.d.swap(k * n + j, p * n + j);
            }
        }
        for i in k + 1..n {
            let f = lu.at(i, k) / lu.at(k, k);
            *lu.at_mut(i, k) = f;
            axpy_row(&mut lu.d, n, i, k, f, k + 1);
        }
    }
    // Solve L U X = P I, whole rows at a time: forward with unit L, then back with U.
    let mut x = Mat::zeros(n, n);
    for (i, &pi) in perm.iter().enumerate() {
        *x.at_mut(i, pi) = 1.0;
    }
    for i in 0..n {
        sub_rows(&mut x, i, (0..i).map(|k| (k, lu.at(i, k))));
    }
    for i in (0..n).rev() {
        sub_rows(&mut x, i, (i + 1..n).map(|k| (k, lu.at(i, k))));
        let d = lu.at(i, i);
        x.d[i * n..(i + 1) * n].iter_mut().for_each(|v| *v /= d);
    }
    Some(x)
}

/// LAPACK `syevd` as MXNet returns it: `a = u^T * diag(l) * u` for a symmetric `a` (read from
/// its lower triangle), eigenvalues `l` ascending, eigenvectors the rows of `u`, each signed so
/// that its entry of largest magnitude (the first of equals) is positive. Cyclic Jacobi
/// rotations, to float64 precision.
pub(super) fn syevd(a: &Mat) -> (Mat, Vec<f64>) {
    let n = a.r;
    let mut w = a.clone();
    w.symmetrize(true);
    let mut v = Mat::eye(n);
    let norm: f64 = w.d.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..i).map(move |j| (i, j))).map(|(i, j)| w.at(i, j).powi(2)).sum();
        if off.sqrt() <= 1e-15 * norm || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = w.at(p, q);
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes w[p][q] (Golub & Van Loan, Algorithm 8.4.1).
                let theta = (w.at(q, q) - w.at(p, p)) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (wkp, wkq) = (w.at(k, p), w.at(k, q));
                    *w.at_mut(k, p) = c * wkp - s * wkq;
                    *w.at_mut(k, q) = s * wkp + c * wkq;
                }
                for k in 0..n {
                    let (wpk, wqk) = (w.at(p, k), w.at(q, k));
                    *w.at_mut(p, k) = c * wpk - s * wqk;
                    *w.at_mut(q, k) = s * wpk + c * wqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v.at(k, p), v.at(k, q));
                    *v.at_mut(k, p) = c * vkp - s * vkq;
                    *v.at_mut(k, q) = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| w.at(i, i).total_cmp(&w.at(j, j)));
    let mut u = Mat::zeros(n, n);
    for (row, &k) in order.iter().enumerate() {
        let vec: Vec<f64> = (0..n).map(|i| v.at(i, k)).collect();
        let big = (1..n).fold(0, |b, i| if vec[i].abs() > vec[b].abs() { i } else { b });
        let sign = if n > 0 && vec[big] < 0.0 { -1.0 } else { 1.0 };
        for (i, x) in vec.iter().enumerate() {
            *u.at_mut(row, i) = sign * x;
        }
    }
    (u, order.iter().map(|&k| w.at(k, k)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Mat, b: &Mat, tol: f64) {
        assert_eq!((a.r, a.c), (b.r, b.c));
        for (x, y) in a.d.iter().zip(&b.d) {
            assert!((x - y).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    fn spd() -> Mat {
        Mat::from_vec(3, 3, vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0])
    }

    #[test]
    fn cholesky_lower_and_upper_reconstruct() {
        let a = spd();
        let l = potrf(&a, true).unwrap();
        close(&gemm(&l, false, &l, true, 1.0), &a, 1e-12);
        let u = potrf(&a, false).unwrap();
        close(&gemm(&u, true, &u, false, 1.0), &a, 1e-12);
        assert_eq!(potrf(&Mat::from_vec(2, 2, vec![1.0, 2.0, 2.0, 1.0]), true), Err(1));
    }

    #[test]
    fn potri_inverts_from_the_factor() {
        let a = spd();
        for lower in [true, false] {
            let inv = potri(&potrf(&a, lower).unwrap(), lower).unwrap();
            close(&gemm(&inv, false, &a, false, 1.0), &Mat::eye(3), 1e-12);
        }
    }

    #[test]
    fn triangular_solve_undoes_multiply() {
        let a = Mat::from_vec(3, 3, vec![2.0, 9.0, 9.0, 0.5, 1.5, 9.0, -1.0, 0.3, 3.0]);
        let b = Mat::from_vec(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let bt = b.t();
        for lower in [true, false] {
            for trans in [true, false] {
                let c = trmm(&a, &b, 2.0, false, lower, trans);
                close(&trsm(&a, &c, 0.5, false, lower, trans), &b, 1e-12);
                let c = trmm(&a, &bt, 2.0, true, lower, trans);
                close(&trsm(&a, &c, 0.5, true, lower, trans), &bt, 1e-12);
            }
        }
    }

    #[test]
    fn lq_matches_lapack_signs() {
        // MXNet 1.9.1: gelqf([[1,2,3],[4,5,6]]) -> L = [[-3.7416575, 0], [-8.552359, 1.9639606]].
        let a = Mat::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let (q, l) = gelqf(&a);
        close(&l, &Mat::from_vec(2, 2, vec![-3.7416575, 0.0, -8.552359, 1.9639606]), 1e-6);
        close(&gemm(&l, false, &q, false, 1.0), &a, 1e-12);
        close(&gemm(&q, false, &q, true, 1.0), &Mat::eye(2), 1e-12);
    }

    #[test]
    fn symmetric_eigendecomposition() {
        // MXNet 1.9.1 on [[2, *], [1, 3]]: U = [[0.85065085, -0.52573115], [0.52573115, 0.85065085]].
        let (u, l) = syevd(&Mat::from_vec(2, 2, vec![2.0, 100.0, 1.0, 3.0]));
        close(&u, &Mat::from_vec(2, 2, vec![0.85065085, -0.52573115, 0.52573115, 0.85065085]), 1e-7);
        assert!((l[0] - 1.381966).abs() < 1e-6 && (l[1] - 3.618034).abs() < 1e-6, "{l:?}");
        let a = spd();
        let (u, l) = syevd(&a);
        let mut d = Mat::zeros(3, 3);
        (0..3).for_each(|i| *d.at_mut(i, i) = l[i]);
        close(&gemm(&gemm(&u, true, &d, false, 1.0), false, &u, false, 1.0), &a, 1e-12);
        assert!(l[0] <= l[1] && l[1] <= l[2]);
    }

    #[test]
    fn determinant_and_inverse() {
        let a = Mat::from_vec(3, 3, vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0]);
        let (s, l) = slogdet(&a);
        assert!((s * l.exp() + 5.0).abs() < 1e-12, "{s} {l}");
        close(&gemm(&inverse(&a).unwrap(), false, &a, false, 1.0), &Mat::eye(3), 1e-12);
        let sing = Mat::from_vec(2, 2, vec![1.0, 2.0, 2.0, 4.0]);
        assert!(inverse(&sing).is_none());
        assert_eq!(slogdet(&sing), (0.0, f64::NEG_INFINITY));
    }
}
