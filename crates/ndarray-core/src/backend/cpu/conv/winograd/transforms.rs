//! The transforms of F(2x2, 3x3) and F(4x4, 3x3), written once for scalars and vectors alike.
//!
//! Every transform of a variant is a 1-D transform applied down the columns of a square patch
//! and then along its rows ([`two_d`]): `B^T d B` of an input patch, `A^T M A` of a product
//! tile, `G g G^T` of a filter, `A dy A^T` of an output gradient tile and `G^T dU G` of a
//! filter's gradient. The matrices are Lavin and Gray's, with interpolation points 0, 1, -1
//! (and 2, -2 for F(4x4, 3x3)) and infinity.

/// The arithmetic a transform needs, on scalars or on vectors of lanes.
pub(super) trait Arith<V: Copy> {
    /// `a + b`.
    fn add(&self, a: V, b: V) -> V;
    /// `a - b`.
    fn sub(&self, a: V, b: V) -> V;
    /// `a * c` (`c` rounded to the lanes' type).
    fn mul(&self, a: V, c: f64) -> V;
    /// `a * c + b`.
    fn mac(&self, a: V, c: f64, b: V) -> V;
}

/// Scalar arithmetic: float32 for the kernels, float64 for checks in (nearly) exact
/// arithmetic.
pub(super) struct Scalar;

macro_rules! scalar_arith {
    ($($t:ty),*) => {$(
        impl Arith<$t> for Scalar {
            fn add(&self, a: $t, b: $t) -> $t {
                a + b
            }
            fn sub(&self, a: $t, b: $t) -> $t {
                a - b
            }
            fn mul(&self, a: $t, c: f64) -> $t {
                a * c as $t
            }
            fn mac(&self, a: $t, c: f64, b: $t) -> $t {
                a * c as $t + b
            }
        }
    )*};
}

scalar_arith!(f32, f64);

/// `$f` (a 1-D transform, `fn(&impl Arith<V>, [V; N]) -> [V; O]`) applied down every column of
/// the `N x N` patch `$d(i, j)` and then along every row of the result, `F d F^T` for the
/// matrix `F` (`O x N`) that `$f` multiplies by; each value goes to `$emit(i * O + j, value)`.
///
/// A macro over `#[inline(always)]` functions, so that nothing of a transform is left out of
/// line in the vector kernels (closures and `std::array::from_fn` were).
macro_rules! two_d {
    ($n:literal, $o:literal, $d:expr, $f:ident, $ar:expr, $emit:expr) => {{
        let (d, ar, mut emit) = ($d, $ar, $emit);
        let mut col = [d(0, 0); $n];
        for (i, e) in col.iter_mut().enumerate().skip(1) {
            *e = d(i, 0);
        }
        let mut cols = [$f(ar, col); $n];
        for (j, c) in cols.iter_mut().enumerate().skip(1) {
            for (i, e) in col.iter_mut().enumerate() {
                *e = d(i, j);
            }
            *c = $f(ar, col);
        }
        for i in 0..$o {
            let mut r = [cols[0][i]; $n];
            for (j, e) in r.iter_mut().enumerate().skip(1) {
                *e = cols[j][i];
            }
            for (j, v) in $f(ar, r).into_iter().enumerate() {
                emit(i * $o + j, v);
            }
        }
    }};
}

/// One Winograd variant, F(m x m, 3x3): `m x m` outputs from `(m + 2) x (m + 2)` inputs.
///
/// Every transform reads its patch through `d(i, j)` and hands each value to `emit` with its
/// row-major index in the transformed patch.
pub(super) trait Variant {
    /// Outputs down and across one tile.
    const M: usize;
    /// Inputs down and across one tile, `M + 2`; the transformed planes number `A * A`.
    const A: usize = Self::M + 2;
    /// `B^T d B` of an `A x A` input patch.
    fn input<V: Copy>(d: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V));
    /// `A^T m A` (`M x M`) of an `A x A` tile of products.
    fn output<V: Copy>(m: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V));
    /// `G g G^T` (`A x A`) of a 3x3 filter.
    fn filter<V: Copy>(g: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V));
    /// `A dy A^T` (`A x A`) of an `M x M` tile of the output gradient.
    fn grad<V: Copy>(dy: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V));
    /// `G^T du G` (3x3) of an `A x A` filter gradient in the transformed space.
    fn untransform<V: Copy>(du: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V));
}

/// F(2x2, 3x3): 16 products for 4 outputs, where the direct sums take 36.
pub(super) struct F2;

/// `B^T x`, `B^T` = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
#[inline(always)]
fn bt2<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3]: [V; 4]) -> [V; 4] {
    [ar.sub(x0, x2), ar.add(x1, x2), ar.sub(x2, x1), ar.sub(x1, x3)]
}

/// `A^T x`, `A^T` = [[1, 1, 1, 0], [0, 1, -1, -1]].
#[inline(always)]
fn at2<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3]: [V; 4]) -> [V; 2] {
    [ar.add(ar.add(x0, x1), x2), ar.sub(ar.sub(x1, x2), x3)]
}

/// `G x`, `G` = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
#[inline(always)]
fn g2<V: Copy>(ar: &impl Arith<V>, [x, y, z]: [V; 3]) -> [V; 4] {
    let s = ar.add(x, z);
    [x, ar.mul(ar.add(s, y), 0.5), ar.mul(ar.sub(s, y), 0.5), z]
}

/// `A x`, `A` = [[1, 0], [1, 1], [1, -1], [0, -1]].
#[inline(always)]
fn a2<V: Copy>(ar: &impl Arith<V>, [x, y]: [V; 2]) -> [V; 4] {
    [x, ar.add(x, y), ar.sub(x, y), ar.mul(y, -1.0)]
}

/// `G^T x`, `G^T` = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]].
#[inline(always)]
fn gt2<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3]: [V; 4]) -> [V; 3] {
    let (s, d) = (ar.mul(ar.add(x1, x2), 0.5), ar.mul(ar.sub(x1, x2), 0.5));
    [ar.add(x0, s), d, ar.add(s, x3)]
}

/// F(4x4, 3x3): 36 products for 16 outputs, where the direct sums take 144.
pub(super) struct F4;

/// `B^T x`, `B^T` = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
/// [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]].
#[inline(always)]
fn bt4<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3, x4, x5]: [V; 6]) -> [V; 6] {
    let (a, b) = (ar.mac(x2, -4.0, x4), ar.mac(x1, -4.0, x3));
    let (c, e) = (ar.sub(x4, x2), ar.mul(ar.sub(x3, x1), 2.0));
    [
        ar.mac(x0, 4.0, ar.mac(x2, -5.0, x4)),
        ar.add(a, b),
        ar.sub(a, b),
        ar.add(c, e),
        ar.sub(c, e),
        ar.mac(x1, 4.0, ar.mac(x3, -5.0, x5)),
    ]
}

/// `A^T x`, `A^T` = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
/// [0, 1, -1, 8, -8, 1]].
#[inline(always)]
fn at4<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3, x4, x5]: [V; 6]) -> [V; 4] {
    let (s1, d1, s2, d2) = (ar.add(x1, x2), ar.sub(x1, x2), ar.add(x3, x4), ar.sub(x3, x4));
    [ar.add(ar.add(x0, s1), s2), ar.mac(d2, 2.0, d1), ar.mac(s2, 4.0, s1), ar.add(ar.mac(d2, 8.0, d1), x5)]
}

/// `G x`, `G` = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6],
/// [1/24, -1/12, 1/6], [0, 0, 1]].
#[inline(always)]
fn g4<V: Copy>(ar: &impl Arith<V>, [x, y, z]: [V; 3]) -> [V; 6] {
    let s = ar.add(x, z);
    let t = ar.mac(x, 1.0 / 24.0, ar.mul(z, 1.0 / 6.0));
    [
        ar.mul(x, 0.25),
        ar.mul(ar.add(s, y), -1.0 / 6.0),
        ar.mul(ar.sub(s, y), -1.0 / 6.0),
        ar.mac(y, 1.0 / 12.0, t),
        ar.mac(y, -1.0 / 12.0, t),
        z,
    ]
}

/// `A x`, `A` = [[1, 0, 0, 0], [1, 1, 1, 1], [1, -1, 1, -1], [1, 2, 4, 8], [1, -2, 4, -8],
/// [0, 0, 0, 1]].
#[inline(always)]
fn a4<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3]: [V; 4]) -> [V; 6] {
    let (s, t) = (ar.add(x0, x2), ar.add(x1, x3));
    let (s4, t8) = (ar.mac(x2, 4.0, x0), ar.mac(x3, 8.0, ar.mul(x1, 2.0)));
    [x0, ar.add(s, t), ar.sub(s, t), ar.add(s4, t8), ar.sub(s4, t8), x3]
}

/// `G^T x`, `G^T` = [[1/4, -1/6, -1/6, 1/24, 1/24, 0], [0, -1/6, 1/6, 1/12, -1/12, 0],
/// [0, -1/6, -1/6, 1/6, 1/6, 1]].
#[inline(always)]
fn gt4<V: Copy>(ar: &impl Arith<V>, [x0, x1, x2, x3, x4, x5]: [V; 6]) -> [V; 3] {
    let (s1, d1, s2, d2) = (ar.add(x1, x2), ar.sub(x1, x2), ar.add(x3, x4), ar.sub(x3, x4));
    [
        ar.mac(x0, 0.25, ar.mac(s1, -1.0 / 6.0, ar.mul(s2, 1.0 / 24.0))),
        ar.mac(d1, -1.0 / 6.0, ar.mul(d2, 1.0 / 12.0)),
        ar.add(ar.mul(ar.sub(s2, s1), 1.0 / 6.0), x5),
    ]
}

/// `impl Variant for $name` (tiles of `$m x $m` outputs from `$a x $a` inputs) from its five
/// 1-D transforms: `B^T`, `A^T`, `G`, `A` and `G^T`.
macro_rules! variant {
    ($name:ident, $m:literal, $a:literal, $bt:ident, $at:ident, $g:ident, $ad:ident, $gt:ident) => {
        impl Variant for $name {
            const M: usize = $m;

            #[inline(always)]
            fn input<V: Copy>(d: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V)) {
                two_d!($a, $a, d, $bt, ar, emit)
            }
            #[inline(always)]
            fn output<V: Copy>(m: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V)) {
                two_d!($a, $m, m, $at, ar, emit)
            }
            #[inline(always)]
            fn filter<V: Copy>(g: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V)) {
                two_d!(3, $a, g, $g, ar, emit)
            }
            #[inline(always)]
            fn grad<V: Copy>(dy: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V)) {
                two_d!($m, $a, dy, $ad, ar, emit)
            }
            #[inline(always)]
            fn untransform<V: Copy>(du: impl Fn(usize, usize) -> V, ar: &impl Arith<V>, emit: impl FnMut(usize, V)) {
                two_d!($a, 3, du, $gt, ar, emit)
            }
        }
    };
}

variant!(F2, 2, 4, bt2, at2, g2, a2, gt2);
variant!(F4, 4, 6, bt4, at4, g4, a4, gt4);

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-1, 1) from `seed`.
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    /// In exact arithmetic (float64 here), `A^T [(G g G^T) . (B^T d B)] A` is the correlation
    /// of the patch `d` with the filter `g`, and `G^T [(A dy A^T) . (B^T d B)] G` is the
    /// filter gradient `sum dy(r, q) d(r + a, q + b)`: the forward pass and the weight
    /// gradient that the five transforms make.
    fn check<W: Variant>(seed: u64) {
        let (m, a) = (W::M, W::A);
        let ar = Scalar;
        let (d, g, dy) = (values(a * a, seed), values(9, seed + 1), values(m * m, seed + 2));
        let (mut v, mut u, mut e) = (vec![0.0; a * a], vec![0.0; a * a], vec![0.0; a * a]);
        W::input(|i, j| d[i * a + j], &ar, |x, val| v[x] = val);
        W::filter(|i, j| g[i * 3 + j], &ar, |x, val| u[x] = val);
        W::grad(|i, j| dy[i * m + j], &ar, |x, val| e[x] = val);
        let mut y = vec![f64::NAN; m * m];
        W::output(|i, j| u[i * a + j] * v[i * a + j], &ar, |x, val| y[x] = val);
        let mut dg = [f64::NAN; 9];
        W::untransform(|i, j| e[i * a + j] * v[i * a + j], &ar, |x, val| dg[x] = val);
        for r in 0..m {
            for q in 0..m {
                let want: f64 = (0..9).map(|t| g[t] * d[(r + t / 3) * a + q + t % 3]).sum();
                assert!((y[r * m + q] - want).abs() < 1e-12, "F({m}): output ({r}, {q}) {} vs {want}", y[r * m + q]);
            }
        }
        for t in 0..9 {
            let want: f64 = (0..m * m).map(|o| dy[o] * d[(o / m + t / 3) * a + o % m + t % 3]).sum();
            assert!((dg[t] - want).abs() < 1e-12, "F({m}): filter gradient {t}: {} vs {want}", dg[t]);
        }
    }

    #[test]
    fn transforms_compute_correlations() {
        for seed in 0..4 {
            check::<F2>(seed * 3);
            check::<F4>(seed * 3);
        }
    }
}
