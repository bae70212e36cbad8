//! 3x3 convolutions with unit stride by Winograd's minimal filtering, F(2x2, 3x3) (Lavin and
//! Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for float32.
//!
//! Each 2x2 block of outputs ("tile") of one channel pair is `A^T [(G g G^T) . (B^T d B)] A`, with
//! `g` the 3x3 filter, `d` the 4x4 input patch under the tile and `.` the elementwise product:
//! 16 multiplications instead of 36. Summed over input channels, the 16 elementwise products
//! become 16 matrix products, `M[xi] = U[xi] V[xi]` with `U[xi]` the `out_c x in_c` matrix of
//! transformed filters and `V[xi]` the `in_c x tiles` matrix of transformed patches, which run
//! on the same product kernels as the lowered convolution ([`super::gemm_rm`]) with 2.25 times
//! fewer multiply-adds. The transforms only add and halve, so the results stay within a few
//! float32 roundings of the direct sum (cuDNN and oneDNN use the same algorithm).
//!
//! Tiles are taken a row of tiles at a time and the rows in blocks of about [`BLOCK_TILES`],
//! so that a block's transformed patches and products stay in the cache between the
//! transforms and the products; blocks are split over the threads. The data gradient of such a
//! convolution is itself one: the output gradient convolved with the filters turned by 180
//! degrees and their channel roles swapped, padded by `2 - pad`. The weight gradient stays on
//! the lowered product.

use rayon::prelude::*;

use super::super::{Parallelism, SendPtr};
use super::{ConvGeom, conv_threads, gemm_rm};
use crate::storage::StorageElement as _;

/// A block of tile rows aims at about this many tiles (columns of each product).
const BLOCK_TILES: usize = 128;

/// Both channel counts at least this: the products' depth (input channels) and rows (output
/// channels) are then deep enough for the kernels, where a 3-channel stem is not.
const MIN_CHANNELS: usize = 16;

/// At least this many tiles in the batch: transforming the filters costs as much whatever the
/// number of tiles, and below about this many it cost more than the products saved (a
/// 512-channel 4x4 plane at batch 16, 64 tiles: 5.3 ms against 4.1 ms lowered; 128 tiles of
/// 128 channels: 0.53 against 0.49 ms; 256 tiles of 64 channels: 0.27 against 0.40 ms).
const MIN_TILES: usize = 192;

/// Whether `MXRS_CONV_WINOGRAD` (default on; `0` turns it off) allows this path.
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| super::super::env_usize("MXRS_CONV_WINOGRAD", 1) != 0)
}

/// Whether `g` is a 2-D 3x3 convolution with unit stride and dilation in one group, padded by
/// at most 2 (so that its data gradient is one too), wide enough to gain.
fn applies(g: &ConvGeom) -> bool {
    enabled()
        && (g.d, g.kd, g.od, g.pd, g.sd, g.dd) == (1, 1, 1, 0, 1, 1)
        && (g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) == (3, 3, 1, 1, 1, 1)
        && g.groups == 1
        && g.ph <= 2
        && g.pw <= 2
        && g.in_c >= MIN_CHANNELS
        && g.out_c >= MIN_CHANNELS
        && g.oh > 0
        && g.ow > 0
        && g.oh + 2 == g.h + 2 * g.ph
        && g.ow + 2 == g.w + 2 * g.pw
}

/// The forward pass of `g` (as [`super::conv_forward`]) when this path takes it.
pub(super) fn forward(par: Parallelism, x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Option<Vec<f32>> {
    forward_from(par, x, w, bias, g, MIN_TILES)
}

/// [`forward`] when the batch has at least `min_tiles` tiles.
fn forward_from(
    par: Parallelism,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    min_tiles: usize,
) -> Option<Vec<f32>> {
    if !applies(g) {
        return None;
    }
    let plan = Plan::of(g.batch, g.in_c, g.out_c, (g.h, g.w), (g.oh, g.ow), (g.ph, g.pw));
    if plan.tiles() < min_tiles {
        return None;
    }
    let u = transform_filters(par, w, g.out_c, g.in_c, false);
    Some(run(par, x, &u, bias, &plan))
}

/// The data gradient of `g` (as [`super::conv_backward_data`]) when this path takes it: the
/// forward pass of the convolution from `dy` with the turned, transposed filters.
pub(super) fn backward_data(par: Parallelism, dy: &[f32], w: &[f32], g: &ConvGeom) -> Option<Vec<f32>> {
    backward_data_from(par, dy, w, g, MIN_TILES)
}

/// [`backward_data`] when the batch has at least `min_tiles` tiles.
fn backward_data_from(par: Parallelism, dy: &[f32], w: &[f32], g: &ConvGeom, min_tiles: usize) -> Option<Vec<f32>> {
    if !applies(g) {
        return None;
    }
    let plan = Plan::of(g.batch, g.out_c, g.in_c, (g.oh, g.ow), (g.h, g.w), (2 - g.ph, 2 - g.pw));
    if plan.tiles() < min_tiles {
        return None;
    }
    let u = transform_filters(par, w, g.out_c, g.in_c, true);
    Some(run(par, dy, &u, None, &plan))
}

/// The weight gradient of `g` (as [`super::conv_backward_weight`]) when this path takes it.
///
/// The forward pass is `y = A^T [U . V] A` per tile with `U = G g G^T`, an identity, so the
/// weight gradient is its derivative: `dg = G^T [sum over tiles of (A dy A^T) . V] G`, with
/// `dy` the tile's 2x2 output gradient (zero past the plane). The sum over tiles is 16 matrix
/// products `dU[xi] += D[xi] V[xi]^T` (`out_c x tiles` by `tiles x in_c`).
pub(super) fn backward_weight(par: Parallelism, dy: &[f32], x: &[f32], g: &ConvGeom) -> Option<Vec<f32>> {
    backward_weight_from(par, dy, x, g, MIN_TILES)
}

/// [`backward_weight`] when the batch has at least `min_tiles` tiles.
fn backward_weight_from(par: Parallelism, dy: &[f32], x: &[f32], g: &ConvGeom, min_tiles: usize) -> Option<Vec<f32>> {
    if !applies(g) {
        return None;
    }
    let p = Plan::of(g.batch, g.in_c, g.out_c, (g.h, g.w), (g.oh, g.ow), (g.ph, g.pw));
    if p.tiles() < min_tiles {
        return None;
    }
    let (per_block, blocks, parts) = p.blocks(conv_threads(par, p.work()));
    let tb = per_block * p.tw;
    let len = 16 * p.k * p.c;
    // Each part sums its blocks' products into its own dU.
    let part_sum = |part: usize| {
        let mut du = crate::pool::alloc_zeroed::<f32>(len);
        let mut v = crate::pool::alloc::<f32>(16 * p.c * tb);
        let mut d = crate::pool::alloc::<f32>(16 * p.k * tb);
        let per = blocks.div_ceil(parts);
        for b in part * per..((part + 1) * per).min(blocks) {
            let tiles = p.block(b, per_block);
            let n = tiles.n;
            tiles.inputs(x, &mut v[..16 * p.c * n]);
            tiles.grads(dy, &mut d[..16 * p.k * n]);
            for xi in 0..16 {
                let (dx, vx) = (&d[xi * p.k * n..][..p.k * n], &v[xi * p.c * n..][..p.c * n]);
                let dux = &mut du[xi * p.k * p.c..][..p.k * p.c];
                gemm_rm(p.k, p.c, n, dux, dx, false, vx, true, true, gemm::Parallelism::None, false);
            }
        }
        crate::pool::give(f32::wrap(v));
        crate::pool::give(f32::wrap(d));
        du
    };
    let du = if parts > 1 {
        par.notify_split();
        (0..parts)
            .into_par_iter()
            .map(part_sum)
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, &y)| *x += y);
                crate::pool::give(f32::wrap(b));
                a
            })
            .expect("at least one part")
    } else {
        part_sum(0)
    };
    let dw = untransform_filters(&du, p.k, p.c);
    crate::pool::give(f32::wrap(du));
    Some(dw)
}

/// `dg = G^T dU G` (3x3) of every filter from the 16 matrices `dU[xi]` (`k x c`): the weight
/// gradient as `(k, c, 3, 3)`.
fn untransform_filters(du: &[f32], k: usize, c: usize) -> Vec<f32> {
    let mut dw = crate::pool::alloc::<f32>(k * c * 9);
    for (f, out) in dw.chunks_exact_mut(c * 9).enumerate() {
        for (ci, o) in out.chunks_exact_mut(9).enumerate() {
            let x = |i: usize, j: usize| du[((i * 4 + j) * k + f) * c + ci];
            // G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]], down then across.
            let fold = |v: [f32; 4]| [v[0] + 0.5 * (v[1] + v[2]), 0.5 * (v[1] - v[2]), 0.5 * (v[1] + v[2]) + v[3]];
            let cols: [[f32; 3]; 4] = std::array::from_fn(|j| fold([x(0, j), x(1, j), x(2, j), x(3, j)]));
            for a in 0..3 {
                let row = fold([cols[0][a], cols[1][a], cols[2][a], cols[3][a]]);
                o[a * 3..a * 3 + 3].copy_from_slice(&row);
            }
        }
    }
    dw
}

/// One Winograd convolution: `c` input channels of `h x w` to `k` output channels of `oh x ow`.
struct Plan {
    batch: usize,
    c: usize,
    k: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    ph: usize,
    pw: usize,
    /// Tiles down and across one output plane.
    th: usize,
    tw: usize,
    /// Tile rows per block.
    rows: usize,
}

impl Plan {
    fn of(
        batch: usize,
        c: usize,
        k: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Plan {
        let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
        Plan { batch, c, k, h, w, oh, ow, ph, pw, th, tw, rows: (BLOCK_TILES / tw).max(1) }
    }
    /// (tile rows per block, blocks, parts) for `threads` threads: blocks of about
    /// [`BLOCK_TILES`] tiles, at least one per thread when there are few tiles, and the blocks
    /// split into consecutive runs, one per part.
    fn blocks(&self, threads: usize) -> (usize, usize, usize) {
        let total_rows = self.batch * self.th;
        let per_block = self.rows.min(total_rows.div_ceil(threads.max(1))).max(1);
        let blocks = total_rows.div_ceil(per_block);
        (per_block, blocks, threads.min(blocks).max(1))
    }
    /// The tiles of block `b` of `per_block` tile rows.
    fn block(&self, b: usize, per_block: usize) -> Tiles<'_> {
        let r0 = b * per_block;
        Tiles { p: self, r0, n: per_block.min(self.batch * self.th - r0) * self.tw }
    }
    /// Tiles of the whole batch.
    fn tiles(&self) -> usize {
        self.batch * self.th * self.tw
    }
    /// Multiply-adds of the 16 products over all tiles.
    fn work(&self) -> usize {
        16 * self.k * self.c * self.tiles()
    }
}

/// `U[xi] = G g G^T` for every filter, as 16 matrices `k x c` (`turned`: the filters turned by
/// 180 degrees with their channel roles swapped, as 16 matrices `c x k`).
///
/// With `G` = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], turning a filter swaps
/// rows 0 and 3 of `G g` and columns 0 and 3 of the result, so the turned filter's transform is
/// the filter's own with indices 0 and 3 swapped both ways.
fn transform_filters(par: Parallelism, w: &[f32], k: usize, c: usize, turned: bool) -> Vec<f32> {
    let mut u = crate::pool::alloc::<f32>(16 * k * c);
    // Row `o` of every matrix holds filters (o, q) for q < cols, filter (o, q) at w[o*so + q*sq].
    let (rows, cols, so, sq) = if turned { (c, k, 9, 9 * c) } else { (k, c, 9 * c, 9) };
    let f = Filters { w, u: SendPtr(u.as_mut_ptr()), rows, cols, so, sq, turned };
    let one = |o: usize| {
        #[cfg(target_arch = "x86_64")]
        if avx512() && w.len() < GATHER_MAX {
            // SAFETY: AVX-512 is available; `f` addresses w and u within their lengths, and
            // row o of every matrix is written by this call only.
            return unsafe { avx512::filters(&f, o) };
        }
        // SAFETY: as above.
        unsafe { f.row_scalar(o) }
    };
    if par.available() > 1 && k * c >= 1 << 14 {
        par.notify_split();
        (0..rows).into_par_iter().for_each(one);
    } else {
        (0..rows).for_each(one);
    }
    u
}

/// Gathers address elements with 32-bit offsets: operands shorter than this use them.
const GATHER_MAX: usize = 1 << 30;

/// Whether the AVX-512 transforms run here (tests may turn them off on their own thread).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    #[cfg(test)]
    if tests::SCALAR.with(|s| s.get()) {
        return false;
    }
    super::super::sgemm_avx512::available()
}

/// Where [`transform_filters`] reads and writes.
struct Filters<'a> {
    w: &'a [f32],
    u: SendPtr<f32>,
    rows: usize,
    cols: usize,
    so: usize,
    sq: usize,
    turned: bool,
}

impl Filters<'_> {
    /// Matrix of transform value (i, j).
    fn plane(&self, i: usize, j: usize) -> usize {
        let s = |i: usize| if self.turned { [3, 1, 2, 0][i] } else { i };
        s(i) * 4 + s(j)
    }

    /// Row `o` of every matrix, one filter at a time.
    ///
    /// # Safety
    /// `u` must hold 16 * rows * cols elements, and no other thread may write row `o`.
    unsafe fn row_scalar(&self, o: usize) {
        for q in 0..self.cols {
            let g: [f32; 9] = std::array::from_fn(|e| self.w[o * self.so + q * self.sq + e]);
            let t = filter_transform(|a, b| g[a * 3 + b], |x, y| x + y, |x, y| x - y, |x| 0.5 * x);
            for (e, v) in t.into_iter().enumerate() {
                let at = (self.plane(e / 4, e % 4) * self.rows + o) * self.cols + q;
                // SAFETY: at < 16 * rows * cols (the caller's contract), in row o.
                unsafe { *self.u.get().add(at) = v };
            }
        }
    }
}

/// `G g G^T` (row-major 4x4) of the filter `g(a, b)`, in any arithmetic: scalars or vectors of
/// filters.
#[inline(always)]
fn filter_transform<V: Copy>(
    g: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
    half: impl Fn(V) -> V,
) -> [V; 16] {
    // Rows of G g, then each row times G^T.
    let gg: [[V; 3]; 4] = std::array::from_fn(|i| {
        std::array::from_fn(|b| {
            let (x, y, z) = (g(0, b), g(1, b), g(2, b));
            match i {
                0 => x,
                1 => half(add(add(x, y), z)),
                2 => half(add(sub(x, y), z)),
                _ => z,
            }
        })
    });
    std::array::from_fn(|e| {
        let [x, y, z] = gg[e / 4];
        match e % 4 {
            0 => x,
            1 => half(add(add(x, y), z)),
            2 => half(add(sub(x, y), z)),
            _ => z,
        }
    })
}

/// `B^T d B` (row-major 4x4) of the patch `d(i, j)`, `B^T` = [[1, 0, -1, 0], [0, 1, 1, 0],
/// [0, -1, 1, 0], [0, 1, 0, -1]].
#[inline(always)]
fn input_transform<V: Copy>(
    d: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
) -> [V; 16] {
    let comb = |x0: V, x1: V, x2: V, x3: V| [sub(x0, x2), add(x1, x2), sub(x2, x1), sub(x1, x3)];
    let cols: [[V; 4]; 4] = std::array::from_fn(|j| comb(d(0, j), d(1, j), d(2, j), d(3, j)));
    let rows: [[V; 4]; 4] = std::array::from_fn(|i| comb(cols[0][i], cols[1][i], cols[2][i], cols[3][i]));
    std::array::from_fn(|e| rows[e / 4][e % 4])
}

/// `A^T M A` (row-major 2x2) of the 4x4 `m(i, j)`, `A^T` = [[1, 1, 1, 0], [0, 1, -1, -1]].
#[inline(always)]
fn output_transform<V: Copy>(
    m: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
) -> [V; 4] {
    let comb = |x0: V, x1: V, x2: V, x3: V| [add(add(x0, x1), x2), sub(sub(x1, x2), x3)];
    let cols: [[V; 2]; 4] = std::array::from_fn(|j| comb(m(0, j), m(1, j), m(2, j), m(3, j)));
    let rows: [[V; 2]; 2] = std::array::from_fn(|r| comb(cols[0][r], cols[1][r], cols[2][r], cols[3][r]));
    [rows[0][0], rows[0][1], rows[1][0], rows[1][1]]
}

/// `A dy A^T` (row-major 4x4) of the 2x2 `dy(r, q)`, `A` = [[1, 0], [1, 1], [1, -1], [0, -1]].
#[inline(always)]
fn grad_transform<V: Copy>(
    dy: impl Fn(usize, usize) -> V,
    add: impl Fn(V, V) -> V,
    sub: impl Fn(V, V) -> V,
    neg: impl Fn(V) -> V,
) -> [V; 16] {
    let spread = |a: V, b: V| [a, add(a, b), sub(a, b), neg(b)];
    let cols: [[V; 4]; 2] = std::array::from_fn(|q| spread(dy(0, q), dy(1, q)));
    let rows: [[V; 4]; 4] = std::array::from_fn(|i| spread(cols[0][i], cols[1][i]));
    std::array::from_fn(|e| rows[e / 4][e % 4])
}

/// The convolution of `x` with the transformed filters `u` (16 matrices `k x c`), plus `bias`.
fn run(par: Parallelism, x: &[f32], u: &[f32], bias: Option<&[f32]>, p: &Plan) -> Vec<f32> {
    let (per_block, blocks, parts) = p.blocks(conv_threads(par, p.work()));
    let mut y = crate::pool::alloc::<f32>(p.batch * p.k * p.oh * p.ow);
    let out = SendPtr(y.as_mut_ptr());
    let tb = per_block * p.tw;
    let run_part = |part: usize| {
        let mut v = crate::pool::alloc::<f32>(16 * p.c * tb);
        let mut m = crate::pool::alloc::<f32>(16 * p.k * tb);
        let per = blocks.div_ceil(parts);
        for b in part * per..((part + 1) * per).min(blocks) {
            let tiles = p.block(b, per_block);
            let n = tiles.n;
            tiles.inputs(x, &mut v[..16 * p.c * n]);
            for xi in 0..16 {
                let (ux, vx) = (&u[xi * p.k * p.c..][..p.k * p.c], &v[xi * p.c * n..][..p.c * n]);
                let mx = &mut m[xi * p.k * n..][..p.k * n];
                gemm_rm(p.k, n, p.c, mx, ux, false, vx, false, false, gemm::Parallelism::None, false);
            }
            // SAFETY: block b writes only the output rows of its own tile rows (rows 2ty and
            // 2ty + 1 of every channel plane of their images), which no other block writes;
            // `y` outlives the parallel section and is not read in it.
            unsafe { tiles.outputs(&m[..16 * p.k * n], bias, out) };
        }
        crate::pool::give(f32::wrap(v));
        crate::pool::give(f32::wrap(m));
    };
    if parts > 1 {
        par.notify_split();
        (0..parts).into_par_iter().for_each(run_part);
    } else {
        run_part(0);
    }
    y
}

/// The `n` tiles of a block: tile `t` is column `t % tw` of tile row `r0 + t / tw`, and tile
/// row `r` is row `r % th` of image `r / th`.
struct Tiles<'a> {
    p: &'a Plan,
    r0: usize,
    n: usize,
}

impl Tiles<'_> {
    /// (image, tile row, tile column) of tile `t`.
    fn at(&self, t: usize) -> (usize, usize, usize) {
        let r = self.r0 + t / self.p.tw;
        (r / self.p.th, r % self.p.th, t % self.p.tw)
    }

    /// `V[xi][ch][t] = (B^T d B)[xi]` of every tile and input channel, zeros where a patch
    /// reads padding.
    fn inputs(&self, x: &[f32], v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx512() && x.len() < GATHER_MAX {
            // SAFETY: AVX-512 is available; x is shorter than the gathers' offsets reach.
            return unsafe { avx512::inputs(self, x, v) };
        }
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for ch in 0..p.c {
                let plane = &x[(img * p.c + ch) * p.h * p.w..][..p.h * p.w];
                let d = |i: usize, j: usize| {
                    let (iy, ix) = ((2 * ty + i).wrapping_sub(p.ph), (2 * tx + j).wrapping_sub(p.pw));
                    if iy < p.h && ix < p.w { plane[iy * p.w + ix] } else { 0.0 }
                };
                for (xi, val) in input_transform(d, |a, b| a + b, |a, b| a - b).into_iter().enumerate() {
                    v[(xi * p.c + ch) * self.n + t] = val;
                }
            }
        }
    }

    /// `D[xi][f][t] = (A dy A^T)[xi]` of every tile and output channel, from the output
    /// gradient `dy` (`(batch, k, oh, ow)`), zeros past the planes.
    fn grads(&self, dy: &[f32], d: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx512() && dy.len() < GATHER_MAX {
            // SAFETY: AVX-512 is available; dy is shorter than the gathers' offsets reach.
            return unsafe { avx512::grads(self, dy, d) };
        }
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for f in 0..p.k {
                let g = |r: usize, q: usize| {
                    let (oy, ox) = (2 * ty + r, 2 * tx + q);
                    if oy < p.oh && ox < p.ow { dy[((img * p.k + f) * p.oh + oy) * p.ow + ox] } else { 0.0 }
                };
                for (xi, val) in grad_transform(g, |a, b| a + b, |a, b| a - b, |a| -a).into_iter().enumerate() {
                    d[(xi * p.k + f) * self.n + t] = val;
                }
            }
        }
    }

    /// Offsets of the tiles `t0..t0 + 16`'s first outputs in channel 0 of the output, and the
    /// masks of the tiles whose output (0, 0), (0, 1), (1, 0) and (1, 1) lie inside the plane.
    fn output_corners(&self, t0: usize) -> ([i32; 16], [u16; 4]) {
        let p = self.p;
        let tail = if self.n - t0 >= 16 { u16::MAX } else { (1u16 << (self.n - t0)) - 1 };
        let mut corner = [0i32; 16];
        let (mut row1, mut col1) = (0u16, 0u16);
        for (l, c) in corner.iter_mut().enumerate().take(self.n - t0) {
            let (img, ty, tx) = self.at(t0 + l);
            *c = ((img * p.k * p.oh + 2 * ty) * p.ow + 2 * tx) as i32;
            row1 |= u16::from(2 * ty + 1 < p.oh) << l;
            col1 |= u16::from(2 * tx + 1 < p.ow) << l;
        }
        (corner, [tail, tail & col1, tail & row1, tail & row1 & col1])
    }

    /// `y = A^T M A` (+ bias) of every tile and output channel, written to the output planes
    /// at `out`; tiles past a plane's last row or column keep only their inside values.
    ///
    /// # Safety
    /// `out` must point to the whole `(batch, k, oh, ow)` output, valid for writes, and no
    /// other thread may access the output rows of these tiles meanwhile.
    unsafe fn outputs(&self, m: &[f32], bias: Option<&[f32]>, out: SendPtr<f32>) {
        #[cfg(target_arch = "x86_64")]
        if avx512() && self.p.batch * self.p.k * self.p.oh * self.p.ow < GATHER_MAX {
            // SAFETY: the caller's contract; AVX-512 is available and the offsets fit.
            return unsafe { avx512::outputs(self, m, bias, out) };
        }
        let p = self.p;
        for t in 0..self.n {
            let (img, ty, tx) = self.at(t);
            for f in 0..p.k {
                let b = bias.map_or(0.0, |b| b[f]);
                let y = output_transform(|i, j| m[((i * 4 + j) * p.k + f) * self.n + t], |a, b| a + b, |a, b| a - b);
                for (e, val) in y.into_iter().enumerate() {
                    let (oy, ox) = (2 * ty + e / 2, 2 * tx + e % 2);
                    if oy < p.oh && ox < p.ow {
                        // SAFETY: the caller's contract; (img, f, oy, ox) is inside the output.
                        unsafe { *out.get().add(((img * p.k + f) * p.oh + oy) * p.ow + ox) = val + b };
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;
