//! 3x3 convolutions with unit stride by Winograd's minimal filtering, F(2x2, 3x3) and
//! F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for
//! float32.
//!
//! Each `m x m` block of outputs ("tile") of one channel pair is `A^T [(G g G^T) . (B^T d B)] A`,
//! with `g` the 3x3 filter, `d` the `(m + 2) x (m + 2)` input patch under the tile and `.` the
//! elementwise product: `(m + 2)^2` multiplications instead of `9 m^2`, 16 instead of 36 for
//! F(2x2, 3x3) and 36 instead of 144 for F(4x4, 3x3). Summed over input channels, the
//! elementwise products become one matrix product per plane of the transformed patch,
//! `M[xi] = U[xi] V[xi]` with `U[xi]` the `out_c x in_c` matrix of transformed filters and
//! `V[xi]` the `in_c x tiles` matrix of transformed patches, which run on the same product
//! kernels as the lowered convolution ([`super::gemm_rm`]) with 2.25 (F(2x2, 3x3)) or 4
//! (F(4x4, 3x3)) times fewer multiply-adds. F(2x2, 3x3)'s transforms only add and halve, so its
//! results stay within a few float32 roundings of the direct sums; F(4x4, 3x3)'s multiply by
//! up to 8 and divide by 24, and its errors are 10-20 times as large (about 1e-5 of the
//! largest output on ResNet-18's layers against 5e-7), well inside what
//! float32 convolutions are compared with (cuDNN and oneDNN use both variants). The bigger
//! tiles pay where the batch has many of them (see [`MIN_TILES_F4`]): their filters' transform
//! is 36 planes where the smaller tiles' is 16.
//!
//! Tiles are taken a row of tiles at a time and the rows in blocks of a few dozen tiles, so
//! that a block's transformed patches and products stay in the cache between the transforms
//! and the products; blocks are split over the threads. A convolution with more output
//! channels than tiles (deep layers on small planes) goes the other way round: its tiles are
//! transformed once, and the threads take runs of output channels, each transforming only
//! its own filters ([`by_channels`]). The data gradient of such a
//! convolution is itself one: the output gradient convolved with the filters turned by 180
//! degrees and their channel roles swapped, padded by `2 - pad`. The weight gradient sums one
//! product per plane over the tiles ([`backward_weight`]).

use rayon::prelude::*;

use self::tiles::{Filters, GATHER_MAX, Plan, Tiles};
use self::transforms::{F2, F4, Scalar, Variant};
use super::super::{Parallelism, SendPtr};
use super::geom::ConvGeom;
use super::product::{add_parts, conv_threads, gemm_rm};
use crate::storage::StorageElement as _;

mod tiles;
mod transforms;

/// Both channel counts at least this: the products' depth (input channels) and rows (output
/// channels) are then deep enough for the kernels, where a 3-channel stem is not.
const MIN_CHANNELS: usize = 16;

/// At least this many tiles of F(2x2, 3x3) in the batch: transforming the filters costs as much
/// whatever the number of tiles, and below about this many it cost more than the products
/// saved. On a 2-vCPU AMD EPYC (Zen 4), forward and backward together: 64 tiles gained in
/// every shape tried (ResNet-18's 512-channel 4x4 planes at batch 16: 23.3 -> 18.4-21.1 ms;
/// 256 channels on 4x4 at batch 16: 10.6/6.9 -> 5.8/4.1 ms; 64 channels on 8x8 at batch 4:
/// 0.68/0.54 -> 0.43/0.48 ms), 32 tiles came out even, and 8-16 tiles of 512 channels took
/// 1.5-3x as long.
const MIN_TILES: usize = 64;

/// At least this many tiles of F(4x4, 3x3) in the batch for that variant, whose transformed
/// filters take 36 planes where F(2x2, 3x3)'s take 16. At batch 16, ResNet-18's 32x32 and
/// 16x16 planes (1024 and 256 tiles) gained: 64->64 channels 2.4 -> 1.5 ms forward, 128->128
/// 2.6 -> 1.8 ms; the 8x8 planes (64 tiles) came out even and the 4x4 planes (16 tiles) took
/// twice as long, their filters' transform outweighing the products saved.
const MIN_TILES_F4: usize = 128;

/// `MXRS_CONV_WINOGRAD`: 0 turns this path off, 2 keeps it to F(2x2, 3x3); by default it takes
/// F(4x4, 3x3) where the batch has enough tiles.
fn mode() -> usize {
    static MODE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| super::super::env_usize("MXRS_CONV_WINOGRAD", 4))
}

/// Whether `g` is a 2-D 3x3 convolution with unit stride and dilation in one group, padded by
/// at most 2 (so that its data gradient is one too), wide enough to gain.
fn applies(g: &ConvGeom) -> bool {
    mode() != 0
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

/// Which tiles a convolution takes: by the batch's size, or (tests) `m x m` tiles whatever it.
#[derive(Clone, Copy)]
enum Pick {
    /// F(4x4, 3x3) from [`MIN_TILES_F4`] tiles, F(2x2, 3x3) from [`MIN_TILES`], else none.
    Auto,
    /// F(m x m, 3x3).
    #[cfg_attr(not(test), allow(dead_code))]
    Tiles(usize),
}

/// The plan of `g`'s forward pass (`turned`: of its data gradient, the convolution from the
/// output gradient with the turned filters, padded by `2 - pad`) when this path takes `g`.
fn plan(g: &ConvGeom, turned: bool, pick: Pick) -> Option<Plan> {
    if !applies(g) {
        return None;
    }
    let of = |m: usize| {
        if turned {
            Plan::of(m, g.batch, g.out_c, g.in_c, (g.oh, g.ow), (g.h, g.w), (2 - g.ph, 2 - g.pw))
        } else {
            Plan::of(m, g.batch, g.in_c, g.out_c, (g.h, g.w), (g.oh, g.ow), (g.ph, g.pw))
        }
    };
    match pick {
        Pick::Tiles(m) => Some(of(m)),
        Pick::Auto => {
            let p4 = of(4);
            if mode() != 2 && p4.tiles() >= MIN_TILES_F4 {
                return Some(p4);
            }
            let p2 = of(2);
            (p2.tiles() >= MIN_TILES).then_some(p2)
        }
    }
}

/// The forward pass of `g` (as [`super::conv_forward`]) when this path takes it.
pub(super) fn forward(par: Parallelism, x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Option<Vec<f32>> {
    forward_as(par, x, w, bias, g, Pick::Auto)
}

/// [`forward`] with the tiles that `pick` picks.
fn forward_as(
    par: Parallelism,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    pick: Pick,
) -> Option<Vec<f32>> {
    let p = plan(g, false, pick)?;
    Some(match p.m {
        2 => transformed_run::<F2>(par, x, w, bias, g, false, &p),
        _ => transformed_run::<F4>(par, x, w, bias, g, false, &p),
    })
}

/// [`run`] with `w`'s filters transformed (`turned` as in [`transform_filters`]); the
/// transformed filters (up to 36 times the weight's size) go back to the buffer pool after.
fn transformed_run<W: Variant>(
    par: Parallelism,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    turned: bool,
    p: &Plan,
) -> Vec<f32> {
    if by_channels(p) {
        return run_by_channels::<W>(par, x, w, bias, g, turned, p);
    }
    let u = transform_filters::<W>(par, w, g.out_c, g.in_c, turned);
    let y = run::<W>(par, x, &u, bias, p);
    crate::pool::give(f32::wrap(u));
    y
}

/// Output channels a thread transforms and multiplies at a time where a convolution splits
/// by output channels: their transformed filters (`planes x KB x c`, 1 MiB for 512 input
/// channels in F(2x2, 3x3)) stay in the core's cache from the transform to the products.
const KB: usize = 32;

/// Whether `p` splits by output channels ([`run_by_channels`], [`weight_grad_by_channels`]):
/// it has more output channels than tiles, so its transformed filters outweigh its
/// transformed tiles (ResNet-18's 512-channel 4x4 planes at batch 16: 16 MiB of filters, 2 MiB
/// of tiles).
fn by_channels(p: &Plan) -> bool {
    p.k > p.tiles()
}

/// [`transformed_run`] by output channels: the tiles are transformed once, then each thread
/// takes runs of [`KB`] output channels, transforms just their filters, multiplies and writes
/// their output planes. The transformed filters never exist whole, and a split needs no more
/// tiles than the batch has.
fn run_by_channels<W: Variant>(
    par: Parallelism,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    turned: bool,
    p: &Plan,
) -> Vec<f32> {
    let planes = p.planes();
    let all = p.all();
    let n = all.n;
    let mut y = crate::pool::alloc::<f32>(p.batch * p.k * p.oh * p.ow);
    let out = SendPtr(y.as_mut_ptr());
    let mut v = crate::pool::alloc::<f32>(planes * p.c * n);
    inputs::<W>(&all, x, &mut v);
    let chunks = p.k.div_ceil(KB);
    let parts = conv_threads(par, p.work()).min(chunks).max(1);
    let per = chunks.div_ceil(parts);
    let run_part = |part: usize| {
        let mut u = crate::pool::alloc::<f32>(planes * KB.min(p.k) * p.c);
        let mut m = crate::pool::alloc::<f32>(planes * KB.min(p.k) * n);
        for chunk in part * per..((part + 1) * per).min(chunks) {
            let ks = chunk * KB..((chunk + 1) * KB).min(p.k);
            let nk = ks.len();
            filter_rows::<W>(None, w, g.out_c, g.in_c, turned, ks.clone(), &mut u);
            for xi in 0..planes {
                let (ux, vx) = (&u[xi * nk * p.c..][..nk * p.c], &v[xi * p.c * n..][..p.c * n]);
                let mx = &mut m[xi * nk * n..][..nk * n];
                gemm_rm(nk, n, p.c, mx, ux, false, vx, false, false, gemm::Parallelism::None, false);
            }
            // SAFETY: this run writes only the planes of its output channels `ks`, which no
            // other run writes; `y` outlives the parallel section and is not read in it.
            unsafe { outputs::<W>(&all.channels(ks), &m[..planes * nk * n], bias, out) };
        }
        crate::pool::give(f32::wrap(u));
        crate::pool::give(f32::wrap(m));
    };
    if parts > 1 {
        par.notify_split();
        (0..parts).into_par_iter().for_each(run_part);
    } else {
        run_part(0);
    }
    crate::pool::give(f32::wrap(v));
    y
}

/// The data gradient of `g` (as [`super::conv_backward_data`]) when this path takes it: the
/// forward pass of the convolution from `dy` with the turned, transposed filters.
pub(super) fn backward_data(par: Parallelism, dy: &[f32], w: &[f32], g: &ConvGeom) -> Option<Vec<f32>> {
    backward_data_as(par, dy, w, g, Pick::Auto)
}

/// [`backward_data`] with the tiles that `pick` picks.
fn backward_data_as(par: Parallelism, dy: &[f32], w: &[f32], g: &ConvGeom, pick: Pick) -> Option<Vec<f32>> {
    let p = plan(g, true, pick)?;
    Some(match p.m {
        2 => transformed_run::<F2>(par, dy, w, None, g, true, &p),
        _ => transformed_run::<F4>(par, dy, w, None, g, true, &p),
    })
}

/// The weight gradient of `g` (as [`super::conv_backward_weight`]) when this path takes it.
///
/// The forward pass is `y = A^T [U . V] A` per tile with `U = G g G^T`, an identity, so the
/// weight gradient is its derivative: `dg = G^T [sum over tiles of (A dy A^T) . V] G`, with
/// `dy` the tile's output gradient (zero past the plane). The sum over tiles is one matrix
/// product per plane, `dU[xi] += D[xi] V[xi]^T` (`out_c x tiles` by `tiles x in_c`).
pub(super) fn backward_weight(par: Parallelism, dy: &[f32], x: &[f32], g: &ConvGeom) -> Option<Vec<f32>> {
    backward_weight_as(par, dy, x, g, Pick::Auto)
}

/// [`backward_weight`] with the tiles that `pick` picks.
fn backward_weight_as(par: Parallelism, dy: &[f32], x: &[f32], g: &ConvGeom, pick: Pick) -> Option<Vec<f32>> {
    let p = plan(g, false, pick)?;
    Some(match p.m {
        2 => weight_grad::<F2>(par, dy, x, &p),
        _ => weight_grad::<F4>(par, dy, x, &p),
    })
}

/// [`backward_weight`] in `W`'s tiles.
fn weight_grad<W: Variant>(par: Parallelism, dy: &[f32], x: &[f32], p: &Plan) -> Vec<f32> {
    if by_channels(p) {
        return weight_grad_by_channels::<W>(par, dy, x, p);
    }
    let (per_block, blocks, parts) = p.blocks(conv_threads(par, p.work()));
    let tb = per_block * p.tw;
    let planes = p.planes();
    let len = planes * p.k * p.c;
    // Each part sums its blocks' products into its own dU: the first block's products
    // overwrite a buffer from the pool, the others add to it (zeros for a part with no block).
    let part_sum = |part: usize| {
        let per = blocks.div_ceil(parts);
        let run = part * per..((part + 1) * per).min(blocks);
        if run.is_empty() {
            return crate::pool::alloc_zeroed::<f32>(len);
        }
        let first = run.start;
        let mut du = crate::pool::alloc::<f32>(len);
        let mut v = crate::pool::alloc::<f32>(planes * p.c * tb);
        let mut d = crate::pool::alloc::<f32>(planes * p.k * tb);
        for b in run {
            let tiles = p.block(b, per_block);
            let n = tiles.n;
            inputs::<W>(&tiles, x, &mut v[..planes * p.c * n]);
            grads::<W>(&tiles, dy, &mut d[..planes * p.k * n]);
            for xi in 0..planes {
                let (dx, vx) = (&d[xi * p.k * n..][..p.k * n], &v[xi * p.c * n..][..p.c * n]);
                let dux = &mut du[xi * p.k * p.c..][..p.k * p.c];
                gemm_rm(p.k, p.c, n, dux, dx, false, vx, true, b > first, gemm::Parallelism::None, false);
            }
        }
        crate::pool::give(f32::wrap(v));
        crate::pool::give(f32::wrap(d));
        du
    };
    let du = if parts > 1 {
        par.notify_split();
        (0..parts).into_par_iter().map(part_sum).reduce_with(add_parts).expect("at least one part")
    } else {
        part_sum(0)
    };
    let dw = untransform_filters::<W>(&du, p.k, p.c);
    crate::pool::give(f32::wrap(du));
    dw
}

/// [`weight_grad`] by output channels (see [`by_channels`]): the tiles are transformed once,
/// then each thread takes runs of [`KB`] output channels and computes their gradient tiles,
/// products and filter gradients, with no per-thread copy of the whole `dU` to add up.
fn weight_grad_by_channels<W: Variant>(par: Parallelism, dy: &[f32], x: &[f32], p: &Plan) -> Vec<f32> {
    let planes = p.planes();
    let all = p.all();
    let n = all.n;
    let mut v = crate::pool::alloc::<f32>(planes * p.c * n);
    inputs::<W>(&all, x, &mut v);
    let mut dw = crate::pool::alloc::<f32>(p.k * p.c * 9);
    let chunks = p.k.div_ceil(KB);
    let parts = conv_threads(par, p.work()).min(chunks).max(1);
    let per = chunks.div_ceil(parts);
    let run_part = |part: usize, dw_part: &mut [f32]| {
        let mut d = crate::pool::alloc::<f32>(planes * KB.min(p.k) * n);
        let mut du = crate::pool::alloc::<f32>(planes * KB.min(p.k) * p.c);
        for (i, dw_chunk) in dw_part.chunks_mut(KB * p.c * 9).enumerate() {
            let k0 = (part * per + i) * KB;
            let nk = dw_chunk.len() / (p.c * 9);
            grads::<W>(&all.channels(k0..k0 + nk), dy, &mut d[..planes * nk * n]);
            for xi in 0..planes {
                let (dx, vx) = (&d[xi * nk * n..][..nk * n], &v[xi * p.c * n..][..p.c * n]);
                let dux = &mut du[xi * nk * p.c..][..nk * p.c];
                gemm_rm(nk, p.c, n, dux, dx, false, vx, true, false, gemm::Parallelism::None, false);
            }
            untransform_into::<W>(&du[..planes * nk * p.c], nk, p.c, dw_chunk);
        }
        crate::pool::give(f32::wrap(d));
        crate::pool::give(f32::wrap(du));
    };
    if parts > 1 {
        par.notify_split();
        dw.par_chunks_mut(per * KB * p.c * 9).enumerate().for_each(|(part, c)| run_part(part, c));
    } else {
        run_part(0, &mut dw);
    }
    crate::pool::give(f32::wrap(v));
    dw
}

/// `dg = G^T dU G` (3x3) of every filter from the matrices `dU[xi]` (`k x c`, one per plane):
/// the weight gradient as `(k, c, 3, 3)`.
fn untransform_filters<W: Variant>(du: &[f32], k: usize, c: usize) -> Vec<f32> {
    let mut dw = crate::pool::alloc::<f32>(k * c * 9);
    untransform_into::<W>(du, k, c, &mut dw);
    dw
}

/// [`untransform_filters`] into `dw` (`k * c * 9` values).
fn untransform_into<W: Variant>(du: &[f32], k: usize, c: usize, dw: &mut [f32]) {
    for (f, out) in dw[..k * c * 9].chunks_exact_mut(c * 9).enumerate() {
        for (ci, o) in out.chunks_exact_mut(9).enumerate() {
            let x = |i: usize, j: usize| du[((i * W::A + j) * k + f) * c + ci];
            W::untransform(x, &Scalar, |e, v| o[e] = v);
        }
    }
}

/// `U[xi] = G g G^T` for every filter, one matrix `k x c` per plane (`turned`: the filters
/// turned by 180 degrees with their channel roles swapped, matrices `c x k`).
fn transform_filters<W: Variant>(par: Parallelism, w: &[f32], k: usize, c: usize, turned: bool) -> Vec<f32> {
    let mut u = crate::pool::alloc::<f32>(W::A * W::A * k * c);
    filter_rows::<W>(Some(par), w, k, c, turned, 0..if turned { c } else { k }, &mut u);
    u
}

/// Rows `rs` of every matrix of [`transform_filters`] (output channels `rs` of the convolution
/// the matrices run, `k x c` or turned `c x k`), into `u` as matrices of `rs.len()` rows; over
/// rayon's pool when `par` allows and the rows are many.
fn filter_rows<W: Variant>(
    par: Option<Parallelism>,
    w: &[f32],
    k: usize,
    c: usize,
    turned: bool,
    rs: std::ops::Range<usize>,
    u: &mut [f32],
) {
    // Row `o` of every matrix holds filters (o, q) for q < cols, filter (o, q) at w[o*so + q*sq].
    let (rows, cols, so, sq) = if turned { (c, k, 9, 9 * c) } else { (k, c, 9 * c, 9) };
    let nr = rs.len();
    assert!(rs.end <= rows && u.len() >= W::A * W::A * nr * cols, "winograd: filter buffer too short");
    let f = Filters { w: &w[rs.start * so..], u: SendPtr(u.as_mut_ptr()), rows: nr, cols, so, sq, turned };
    let one = |o: usize| {
        #[cfg(target_arch = "x86_64")]
        if avx512() && f.w.len() < GATHER_MAX {
            // SAFETY: AVX-512 is available; `f` addresses w and u within their lengths, and
            // row o of every matrix is written by this call only.
            return unsafe { avx512::filters::<W>(&f, o) };
        }
        // SAFETY: as above.
        unsafe { f.row_scalar::<W>(o) }
    };
    match par {
        Some(par) if par.available() > 1 && nr * cols >= 1 << 14 => {
            par.notify_split();
            (0..nr).into_par_iter().for_each(one);
        }
        _ => (0..nr).for_each(one),
    }
}

/// Whether the AVX-512 transforms run here (tests may turn them off on their own thread).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    #[cfg(test)]
    if tiles::SCALAR.with(|s| s.get()) {
        return false;
    }
    super::super::sgemm_avx512::available()
}

/// The convolution of `x` with the transformed filters `u` (one matrix `k x c` per plane),
/// plus `bias`, in `W`'s tiles.
fn run<W: Variant>(par: Parallelism, x: &[f32], u: &[f32], bias: Option<&[f32]>, p: &Plan) -> Vec<f32> {
    let (per_block, blocks, parts) = p.blocks(conv_threads(par, p.work()));
    let mut y = crate::pool::alloc::<f32>(p.batch * p.k * p.oh * p.ow);
    let out = SendPtr(y.as_mut_ptr());
    let tb = per_block * p.tw;
    let planes = p.planes();
    let run_part = |part: usize| {
        let mut v = crate::pool::alloc::<f32>(planes * p.c * tb);
        let mut m = crate::pool::alloc::<f32>(planes * p.k * tb);
        let per = blocks.div_ceil(parts);
        for b in part * per..((part + 1) * per).min(blocks) {
            let tiles = p.block(b, per_block);
            let n = tiles.n;
            inputs::<W>(&tiles, x, &mut v[..planes * p.c * n]);
            for xi in 0..planes {
                let (ux, vx) = (&u[xi * p.k * p.c..][..p.k * p.c], &v[xi * p.c * n..][..p.c * n]);
                let mx = &mut m[xi * p.k * n..][..p.k * n];
                gemm_rm(p.k, n, p.c, mx, ux, false, vx, false, false, gemm::Parallelism::None, false);
            }
            // SAFETY: block b writes only the output rows of its own tile rows (rows M ty to
            // M ty + M - 1 of every channel plane of their images), which no other block
            // writes; `y` outlives the parallel section and is not read in it.
            unsafe { outputs::<W>(&tiles, &m[..planes * p.k * n], bias, out) };
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

/// `V[xi][ch][t] = (B^T d B)[xi]` of every tile of the block and input channel, zeros where a
/// patch reads padding.
fn inputs<W: Variant>(tiles: &Tiles<'_>, x: &[f32], v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() && x.len() < GATHER_MAX {
        // SAFETY: AVX-512 is available; x is shorter than the gathers' offsets reach.
        return unsafe { avx512::inputs::<W>(tiles, x, v) };
    }
    tiles.inputs_scalar::<W>(x, v)
}

/// `D[xi][f][t] = (A dy A^T)[xi]` of every tile of the block and output channel, from the
/// output gradient `dy` (`(batch, k, oh, ow)`), zeros past the planes.
fn grads<W: Variant>(tiles: &Tiles<'_>, dy: &[f32], d: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() && dy.len() < GATHER_MAX {
        // SAFETY: AVX-512 is available; dy is shorter than the gathers' offsets reach.
        return unsafe { avx512::grads::<W>(tiles, dy, d) };
    }
    tiles.grads_scalar::<W>(dy, d)
}

/// `y = A^T M A` (+ bias) of every tile of the block and output channel, written to the
/// output planes at `out`; tiles past a plane's last row or column keep only their inside
/// values.
///
/// # Safety
/// `out` must point to the whole `(batch, k, oh, ow)` output, valid for writes, and no other
/// thread may access the output rows of these tiles meanwhile.
unsafe fn outputs<W: Variant>(tiles: &Tiles<'_>, m: &[f32], bias: Option<&[f32]>, out: SendPtr<f32>) {
    let p = tiles.p;
    #[cfg(target_arch = "x86_64")]
    if avx512() && p.batch * p.k * p.oh * p.ow < GATHER_MAX {
        // SAFETY: the caller's contract; AVX-512 is available and the offsets fit.
        return unsafe { avx512::outputs::<W>(tiles, m, bias, out) };
    }
    // SAFETY: the caller's contract.
    unsafe { tiles.outputs_scalar::<W>(m, bias, out) }
}

#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;
