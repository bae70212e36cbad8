//! The transforms 16 filters or tiles at a time, in AVX-512 vectors: patches and filters are
//! gathered, transformed tiles stored in place, and output tiles scattered to their planes.

use std::arch::x86_64::{
    __m512, __m512i, __mmask16, _mm512_add_epi32, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_si512,
    _mm512_mask_i32gather_ps, _mm512_mask_i32scatter_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
    _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps, _mm512_sub_ps,
};

use super::super::super::SendPtr;
use super::super::super::vmath::avx512::mask;
use super::tiles::{Filters, Tiles};
use super::transforms::{Arith, Variant};

/// Lanes `0..n`, all 16 from `n = 16` up.
fn lanes(n: usize) -> __mmask16 {
    mask(n.min(16))
}

/// The transforms' arithmetic on vectors of 16 lanes. One exists only where AVX-512 runs: it is
/// made by [`zmm`] alone, whose callers have the feature.
struct Zmm(());

/// A [`Zmm`], in a kernel compiled for AVX-512.
#[target_feature(enable = "avx512f")]
fn zmm() -> Zmm {
    Zmm(())
}

// The methods are inlined into the transforms and those into the kernels (the intrinsics then
// inline there, the kernels having AVX-512): closures in their place were left out of line.
impl Arith<__m512> for Zmm {
    #[inline(always)]
    fn add(&self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512 is available wherever a Zmm exists.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(&self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: as in `add`.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(&self, a: __m512, c: f64) -> __m512 {
        // SAFETY: as in `add`.
        unsafe { _mm512_mul_ps(a, _mm512_set1_ps(c as f32)) }
    }
    #[inline(always)]
    fn mac(&self, a: __m512, c: f64, b: __m512) -> __m512 {
        // SAFETY: as in `add`.
        unsafe { _mm512_fmadd_ps(a, _mm512_set1_ps(c as f32), b) }
    }
}

/// Offsets of the tiles `t0..t0 + 16`'s first outputs in channel 0 of the output, and the masks
/// of the tiles whose output row `r` (first array) and column `q` (second) lie inside the plane,
/// both limited to the tiles below `n`.
fn output_corners<W: Variant>(tiles: &Tiles<'_>, t0: usize) -> ([i32; 16], [u16; 4], [u16; 4]) {
    let p = tiles.p;
    let mut corner = [0i32; 16];
    let (mut rows, mut cols) = ([0u16; 4], [0u16; 4]);
    for (l, c) in corner.iter_mut().enumerate().take(tiles.n - t0) {
        let (img, ty, tx) = tiles.at(t0 + l);
        *c = ((img * p.k * p.oh + W::M * ty) * p.ow + W::M * tx) as i32;
        for e in 0..W::M {
            rows[e] |= u16::from(W::M * ty + e < p.oh) << l;
            cols[e] |= u16::from(W::M * tx + e < p.ow) << l;
        }
    }
    (corner, rows, cols)
}

/// 16 offsets as a vector.
#[target_feature(enable = "avx512f")]
fn offsets(o: &[i32; 16]) -> __m512i {
    // SAFETY: `o` is 16 readable i32s.
    unsafe { _mm512_loadu_si512(o.as_ptr().cast()) }
}

/// Row `o` of every filter matrix, 16 filters at a time.
///
/// # Safety
/// As `Filters::row_scalar`, with AVX-512 available and `w` shorter than
/// `GATHER_MAX`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn filters<W: Variant>(f: &Filters<'_>, o: usize) {
    let step: [i32; 16] = std::array::from_fn(|l| (l * f.sq) as i32);
    let step = offsets(&step);
    for q0 in (0..f.cols).step_by(16) {
        let mask = lanes(f.cols - q0);
        // SAFETY: the masked lanes (filters q0.. below cols) read their 9 weights inside w.
        let base = unsafe { f.w.as_ptr().add(o * f.so + q0 * f.sq) };
        let g = |a: usize, b: usize| {
            let idx = _mm512_add_epi32(step, _mm512_set1_epi32(f.tap(a, b) as i32));
            // SAFETY: as above.
            unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, base) }
        };
        W::filter(g, &zmm(), |e, v| {
            let at = (e * f.rows + o) * f.cols + q0;
            // SAFETY: the masked lanes write row o's elements q0.. below cols of matrix e.
            unsafe { _mm512_mask_storeu_ps(f.u.get().add(at), mask, v) };
        });
    }
}

/// `inputs`, 16 tiles at a time.
///
/// # Safety
/// AVX-512 available; `x` shorter than `GATHER_MAX`; `v` holds `A^2 * c * n` values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn inputs<W: Variant>(tiles: &Tiles<'_>, x: &[f32], v: &mut [f32]) {
    let p = tiles.p;
    assert!(v.len() >= W::A * W::A * p.c * tiles.n, "winograd: tile buffer too short");
    let plane = (p.h * p.w) as i32;
    for t0 in (0..tiles.n).step_by(16) {
        let tail = lanes(tiles.n - t0);
        // Offset of each tile's patch corner in channel 0, and which of its rows and
        // columns lie inside the plane.
        let mut corner = [0i32; 16];
        let (mut rows, mut cols) = ([0u16; 6], [0u16; 6]);
        for (l, c) in corner.iter_mut().enumerate().take(tiles.n - t0) {
            let (img, ty, tx) = tiles.at(t0 + l);
            let (y0, x0) = ((W::M * ty) as isize - p.ph as isize, (W::M * tx) as isize - p.pw as isize);
            *c = ((img * p.c) as isize * (p.h * p.w) as isize + y0 * p.w as isize + x0) as i32;
            for i in 0..W::A {
                rows[i] |= u16::from((0..p.h as isize).contains(&(y0 + i as isize))) << l;
                cols[i] |= u16::from((0..p.w as isize).contains(&(x0 + i as isize))) << l;
            }
        }
        let corner = offsets(&corner);
        for ch in 0..p.c {
            let base = _mm512_add_epi32(corner, _mm512_set1_epi32(ch as i32 * plane));
            let d = |i: usize, j: usize| {
                let idx = _mm512_add_epi32(base, _mm512_set1_epi32((i * p.w + j) as i32));
                // SAFETY: lanes in the mask read patch element (i, j) of their tile, inside
                // x's plane (img, ch); the others read nothing.
                unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), tail & rows[i] & cols[j], idx, x.as_ptr()) }
            };
            W::input(d, &zmm(), |xi, val| {
                // SAFETY: the masked lanes write tiles t0.. below n of row (xi, ch) of v,
                // inside v (asserted above).
                unsafe { _mm512_mask_storeu_ps(v.as_mut_ptr().add((xi * p.c + ch) * tiles.n + t0), tail, val) };
            });
        }
    }
}

/// `grads`, 16 tiles at a time.
///
/// # Safety
/// AVX-512 available; `dy` shorter than `GATHER_MAX`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn grads<W: Variant>(tiles: &Tiles<'_>, dy: &[f32], d: &mut [f32]) {
    let p = tiles.p;
    let nk = tiles.ks.len();
    assert!(
        d.len() >= W::A * W::A * nk * tiles.n && dy.len() >= p.batch * p.k * p.oh * p.ow && tiles.ks.end <= p.k,
        "winograd: gradient buffers too short"
    );
    let plane = (p.oh * p.ow) as i32;
    for t0 in (0..tiles.n).step_by(16) {
        let tail = lanes(tiles.n - t0);
        let (corner, rows, cols) = output_corners::<W>(tiles, t0);
        let corner = offsets(&corner);
        for (fi, f) in tiles.ks.clone().enumerate() {
            let base = _mm512_add_epi32(corner, _mm512_set1_epi32(f as i32 * plane));
            let g = |r: usize, q: usize| {
                let idx = _mm512_add_epi32(base, _mm512_set1_epi32((r * p.ow + q) as i32));
                // SAFETY: lanes in the mask read output gradient (img, f, M ty + r, M tx + q)
                // of their tile, inside dy (asserted above); the others read nothing.
                unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), rows[r] & cols[q], idx, dy.as_ptr()) }
            };
            W::grad(g, &zmm(), |xi, val| {
                // SAFETY: the masked lanes write tiles t0.. below n of row (xi, fi) of d,
                // inside d (asserted above).
                unsafe { _mm512_mask_storeu_ps(d.as_mut_ptr().add((xi * nk + fi) * tiles.n + t0), tail, val) };
            });
        }
    }
}

/// `outputs`, 16 tiles at a time.
///
/// # Safety
/// As `outputs`, with AVX-512 available and the output shorter than
/// `GATHER_MAX`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn outputs<W: Variant>(tiles: &Tiles<'_>, m: &[f32], bias: Option<&[f32]>, out: SendPtr<f32>) {
    let p = tiles.p;
    let nk = tiles.ks.len();
    assert!(m.len() >= W::A * W::A * nk * tiles.n && tiles.ks.end <= p.k, "winograd: product buffer too short");
    let plane = (p.oh * p.ow) as i32;
    for t0 in (0..tiles.n).step_by(16) {
        let tail = lanes(tiles.n - t0);
        let (corner, rows, cols) = output_corners::<W>(tiles, t0);
        let corner = offsets(&corner);
        for (fi, f) in tiles.ks.clone().enumerate() {
            let mv = |i: usize, j: usize| {
                // SAFETY: the masked lanes read tiles t0.. below n of row (i*A+j, fi) of m,
                // inside m (asserted above).
                unsafe { _mm512_maskz_loadu_ps(tail, m.as_ptr().add(((i * W::A + j) * nk + fi) * tiles.n + t0)) }
            };
            let b = _mm512_set1_ps(bias.map_or(0.0, |b| b[f]));
            let base = _mm512_add_epi32(corner, _mm512_set1_epi32(f as i32 * plane));
            W::output(mv, &zmm(), |e, y| {
                let (r, q) = (e / W::M, e % W::M);
                let idx = _mm512_add_epi32(base, _mm512_set1_epi32((r * p.ow + q) as i32));
                // SAFETY: the masked lanes write output (img, f, M ty + r, M tx + q) of their
                // tile, inside the plane; the caller's contract gives these rows to this
                // thread alone, and distinct tiles write distinct elements.
                unsafe { _mm512_mask_i32scatter_ps::<4>(out.get(), rows[r] & cols[q], idx, _mm512_add_ps(y, b)) };
            });
        }
    }
}
