//! Convolution and pooling kernels over NCDHW data (2-D data uses `d = kd = 1`, 1-D data also
//! `h = kh = 1`).
//!
//! Convolution lowers each image (and group) to a matrix product: `im2col` gathers the input
//! patches into a `(C/g * kd * kh * kw) x (od * oh * ow)` matrix, `gemm` multiplies it by the weight, and
//! `col2im` scatters patch gradients back. Work is split over the batch with rayon (each worker
//! keeps one column buffer); a lone large image lets `gemm` use the pool instead. Under a
//! one-thread budget, large float32 products go to the external BLAS's sgemm ([`blas`](super::blas)); on CPUs
//! with AVX-512, float32 products up to 512^3 run on this crate's own kernels ([`super::sgemm_avx512`]). Transposed
//! convolution (Deconvolution) is the same set of kernels with the roles swapped.
//!
//! The element types and the geometry live in the `geom` submodule, the patch gathers in `im2col`
//! and pooling in `pool` (re-exported here). Every kernel splits its work within the op's thread budget ([`Parallelism`]).

mod float;
mod geom;
mod im2col;
mod pool;
mod product;
mod taps;
mod winograd;

use rayon::prelude::*;

use self::geom::zero;
use self::im2col::{col2im, im2col};
use self::product::{add_parts, conv_threads, gemm_rm, plan};
use self::taps::Taps;
use super::Parallelism;

pub use self::geom::{ConvFloat, ConvGeom, Segment};
pub use self::pool::{PoolGeom, PoolKind, pool_backward, pool_forward};

/// A lowered block aims at about this many columns (output positions of all its images): a
/// per-image product on a 4x4 plane (ResNet-18's last stage on CIFAR) has 16 columns, which
/// the gemm kernels run at a fraction of their speed, and the weight gradient then adds a
/// 16-deep product onto the whole weight once per image.
const BLOCK_COLS: usize = 256;

/// The column matrix of one block stays within this many elements.
const BLOCK_COL_MAX: usize = 1 << 22;

/// Images lowered together into one column matrix (as MXNet's convolution does): 1 for
/// output planes of at least [`BLOCK_COLS`] positions, else enough images for about that many
/// columns, while leaving at least one block per available thread.
fn images_per_block(par: Parallelism, g: &ConvGeom) -> usize {
    let ovol = g.out_vol().max(1);
    if ovol >= BLOCK_COLS || g.batch <= 1 {
        return 1;
    }
    let per_thread = (g.batch / conv_threads(par, g.work())).max(1);
    let by_memory = BLOCK_COL_MAX / (g.col_rows() * ovol).max(1);
    BLOCK_COLS.div_ceil(ovol).min(per_thread).min(by_memory).max(1)
}

/// Run `f(block, out_chunk, scratch)` for every `per`-element chunk of `out` (the last one may
/// be shorter): split into one run of consecutive chunks per thread when `split`, each run with
/// one `scratch`-element buffer. Buffers come from (and go back to) the buffer pool: a fresh
/// column matrix of a few MiB per call paid its page faults at every training step.
fn for_each_block<T: ConvFloat>(
    par: Parallelism,
    out: &mut [T],
    per: usize,
    scratch: usize,
    split: bool,
    f: impl Fn(usize, &mut [T], &mut [T]) + Sync + Send,
) {
    if out.is_empty() || per == 0 {
        return;
    }
    let blocks = out.len().div_ceil(per);
    let parts = if split { par.threads.min(blocks).max(1) } else { 1 };
    let per_part = blocks.div_ceil(parts);
    let run = |p: usize, o: &mut [T]| {
        let mut buf = crate::pool::alloc::<T>(scratch);
        for (i, chunk) in o.chunks_mut(per).enumerate() {
            f(p * per_part + i, chunk, &mut buf);
        }
        crate::pool::give(T::wrap(buf));
    };
    if parts > 1 {
        out.par_chunks_mut(per_part * per).enumerate().for_each(|(p, o)| run(p, o));
    } else {
        run(0, out);
    }
}

/// Copy channels `c0..c0 + chans` of images `n0..n0 + imgs` of `src` (`(batch, channels,
/// vol)`) into `dst` as a `chans x (imgs * vol)` matrix (image `j`'s columns at `j * vol`).
#[allow(clippy::too_many_arguments)]
fn gather_channels<T: ConvFloat>(
    src: &[T],
    channels: usize,
    vol: usize,
    n0: usize,
    imgs: usize,
    c0: usize,
    chans: usize,
    dst: &mut [T],
) {
    let ld = imgs * vol;
    for j in 0..imgs {
        for c in 0..chans {
            let from = &src[((n0 + j) * channels + c0 + c) * vol..][..vol];
            dst[c * ld + j * vol..][..vol].copy_from_slice(from);
        }
    }
}

/// Group `grp`'s column matrix of images `n0..n0 + imgs` of `x`: the input itself for a
/// pointwise kernel on one image, else their patches gathered into `col` side by side
/// (through `taps` when there is a table).
#[allow(clippy::too_many_arguments)]
fn lower_block<'a, T: ConvFloat>(
    x: &'a [T],
    g: &ConvGeom,
    grp: usize,
    n0: usize,
    imgs: usize,
    pointwise: bool,
    taps: Option<&Taps>,
    col: &'a mut [T],
) -> &'a [T] {
    let (cg, hw, ohw) = (g.in_c / g.groups, g.in_vol(), g.out_vol());
    let xg = |n: usize| &x[(n * g.in_c + grp * cg) * hw..][..cg * hw];
    if pointwise {
        return xg(n0);
    }
    let ld = imgs * ohw;
    for j in 0..imgs {
        match taps {
            Some(t) => t.im2col(xg(n0 + j), cg, &mut col[j * ohw..], ld),
            None => im2col(xg(n0 + j), g, cg, &mut col[j * ohw..], ld),
        }
    }
    &col[..g.col_rows() * ld]
}

/// Group `grp`'s output gradient of images `n0..n0 + imgs` as one `fg x (imgs * ohw)` matrix:
/// a slice of `dy` for one image, else gathered into `tmp`.
fn dy_block<'a, T: ConvFloat>(
    dy: &'a [T],
    g: &ConvGeom,
    grp: usize,
    n0: usize,
    imgs: usize,
    tmp: &'a mut [T],
) -> &'a [T] {
    let (fg, ohw) = (g.out_c / g.groups, g.out_vol());
    if imgs == 1 {
        return &dy[(n0 * g.out_c + grp * fg) * ohw..][..fg * ohw];
    }
    gather_channels(dy, g.out_c, ohw, n0, imgs, grp * fg, fg, tmp);
    &tmp[..fg * imgs * ohw]
}

/// Convolution forward: `x` is `(batch, in_c, d, h, w)`, `w` is
/// `(out_c, in_c/groups, kd, kh, kw)`, `bias` is `(out_c,)`; returns `(batch, out_c, od, oh, ow)`.
/// Images go in blocks of [`images_per_block`]; a block of one image writes its product in
/// place, a larger one through a buffer then copied to each image's planes.
pub fn conv_forward<T: ConvFloat>(par: Parallelism, x: &[T], w: &[T], bias: Option<&[T]>, g: &ConvGeom) -> Vec<T> {
    if let Some(y) = T::fast_forward(par, x, w, bias, g) {
        return y;
    }
    let (fg, kg) = (g.out_c / g.groups, g.col_rows());
    let ohw = g.out_vol();
    let nb = images_per_block(par, g);
    // Every element is written: by the product (which does not accumulate) or the copy after it.
    let mut y = crate::pool::alloc::<T>(g.batch * g.out_c * ohw);
    let (par_blocks, inner, blas) = plan::<T>(par, g.batch.div_ceil(nb), g.work());
    let pointwise = g.is_pointwise() && nb == 1;
    let taps = if pointwise { None } else { Taps::new::<T>(g) };
    let col_len = if pointwise { 0 } else { kg * nb * ohw };
    let tmp_len = if nb > 1 { fg * nb * ohw } else { 0 };
    let per = g.out_c * ohw;
    for_each_block(par, &mut y, nb * per, col_len + tmp_len, par_blocks, |b, yblk, scratch| {
        let (n0, imgs) = (b * nb, yblk.len() / per);
        let ld = imgs * ohw;
        let (col, tmp) = scratch.split_at_mut(col_len);
        for grp in 0..g.groups {
            let src = lower_block(x, g, grp, n0, imgs, pointwise, taps.as_ref(), col);
            let wg = &w[grp * fg * kg..(grp + 1) * fg * kg];
            if imgs == 1 {
                let dst = &mut yblk[grp * fg * ohw..(grp + 1) * fg * ohw];
                gemm_rm(fg, ohw, kg, dst, wg, false, src, false, false, inner, blas);
                continue;
            }
            gemm_rm(fg, ld, kg, &mut tmp[..fg * ld], wg, false, src, false, false, inner, blas);
            for j in 0..imgs {
                for f in 0..fg {
                    yblk[(j * g.out_c + grp * fg + f) * ohw..][..ohw].copy_from_slice(&tmp[f * ld + j * ohw..][..ohw]);
                }
            }
        }
        if let Some(b) = bias {
            for (plane, &bv) in yblk.chunks_mut(ohw).zip(b.iter().cycle()) {
                plane.iter_mut().for_each(|v| *v = *v + bv);
            }
        }
    });
    y
}

/// Gradient of the convolution's input: `dy` is `(batch, out_c, od, oh, ow)`; returns
/// `(batch, in_c, d, h, w)`. Also the forward pass of a transposed convolution.
pub fn conv_backward_data<T: ConvFloat>(par: Parallelism, dy: &[T], w: &[T], g: &ConvGeom) -> Vec<T> {
    if let Some(dx) = T::fast_backward_data(par, dy, w, g) {
        return dx;
    }
    let (cg, fg, kg) = (g.in_c / g.groups, g.out_c / g.groups, g.col_rows());
    let (hw, ohw) = (g.in_vol(), g.out_vol());
    let nb = images_per_block(par, g);
    let mut dx = crate::pool::alloc_zeroed::<T>(g.batch * g.in_c * hw);
    let (par_blocks, inner, blas) = plan::<T>(par, g.batch.div_ceil(nb), g.work());
    let pointwise = g.is_pointwise() && nb == 1;
    let taps = if pointwise { None } else { Taps::new::<T>(g) };
    let col_len = if pointwise { 0 } else { kg * nb * ohw };
    let tmp_len = if nb > 1 { fg * nb * ohw } else { 0 };
    let per = g.in_c * hw;
    for_each_block(par, &mut dx, nb * per, col_len + tmp_len, par_blocks, |b, dxblk, scratch| {
        let (n0, imgs) = (b * nb, dxblk.len() / per);
        let ld = imgs * ohw;
        let (col, tmp) = scratch.split_at_mut(col_len);
        for grp in 0..g.groups {
            let wg = &w[grp * fg * kg..(grp + 1) * fg * kg];
            let dyg = dy_block(dy, g, grp, n0, imgs, tmp);
            if pointwise {
                let dxg = &mut dxblk[grp * cg * hw..(grp + 1) * cg * hw];
                gemm_rm(kg, ohw, fg, dxg, wg, true, dyg, false, false, inner, blas);
                continue;
            }
            gemm_rm(kg, ld, fg, &mut col[..kg * ld], wg, true, dyg, false, false, inner, blas);
            for j in 0..imgs {
                let dxg = &mut dxblk[(j * g.in_c + grp * cg) * hw..][..cg * hw];
                match &taps {
                    Some(t) => t.col2im(&col[j * ohw..], cg, dxg, ld),
                    None => col2im(&col[j * ohw..], g, cg, dxg, ld),
                }
            }
        }
    });
    dx
}

/// Gradient of the convolution's weight: `dy` is `(batch, out_c, od, oh, ow)`, `x` the input;
/// returns `(out_c, in_c/groups, kd, kh, kw)`, summed over the batch.
pub fn conv_backward_weight<T: ConvFloat>(par: Parallelism, dy: &[T], x: &[T], g: &ConvGeom) -> Vec<T> {
    if let Some(dw) = T::fast_backward_weight(par, dy, x, g) {
        return dw;
    }
    let (fg, kg) = (g.out_c / g.groups, g.col_rows());
    let ohw = g.out_vol();
    let nb = images_per_block(par, g);
    let (par_blocks, inner, blas) = plan::<T>(par, g.batch.div_ceil(nb), g.work());
    let pointwise = g.is_pointwise() && nb == 1;
    let taps = if pointwise { None } else { Taps::new::<T>(g) };
    // The gradient of images [lo, hi), `nb` at a time: the first block's products overwrite
    // a buffer from the pool, the others add to it (zeros for no image).
    let accumulate = |lo: usize, hi: usize| {
        if lo >= hi {
            return crate::pool::alloc_zeroed::<T>(g.weight_len());
        }
        let mut dw = crate::pool::alloc::<T>(g.weight_len());
        let mut col = crate::pool::alloc::<T>(if pointwise { 0 } else { kg * nb * ohw });
        let mut tmp = crate::pool::alloc::<T>(if nb > 1 { fg * nb * ohw } else { 0 });
        let mut n0 = lo;
        while n0 < hi {
            let imgs = nb.min(hi - n0);
            let ld = imgs * ohw;
            for grp in 0..g.groups {
                let src = lower_block(x, g, grp, n0, imgs, pointwise, taps.as_ref(), &mut col);
                let dyg = dy_block(dy, g, grp, n0, imgs, &mut tmp);
                let dwg = &mut dw[grp * fg * kg..(grp + 1) * fg * kg];
                gemm_rm(fg, kg, ld, dwg, dyg, false, src, true, n0 > lo, inner, blas);
            }
            n0 += imgs;
        }
        crate::pool::give(T::wrap(col));
        crate::pool::give(T::wrap(tmp));
        dw
    };
    if !par_blocks {
        return accumulate(0, g.batch);
    }
    // One run of whole blocks per thread, each into its own gradient, summed at the end.
    let blocks = g.batch.div_ceil(nb);
    let parts = par.threads.min(blocks).max(1);
    let per = blocks.div_ceil(parts) * nb;
    (0..parts)
        .into_par_iter()
        .map(|p| accumulate((p * per).min(g.batch), ((p + 1) * per).min(g.batch)))
        .reduce_with(add_parts)
        .unwrap_or_else(|| crate::pool::alloc_zeroed::<T>(g.weight_len()))
}

/// Gradient of a per-channel bias: sums `dy` (`(batch, channels, plane)`) over batch and plane.
pub fn bias_backward<T: ConvFloat>(dy: &[T], batch: usize, channels: usize, plane: usize) -> Vec<T> {
    let mut db = vec![zero::<T>(); channels];
    for n in 0..batch {
        for (c, d) in db.iter_mut().enumerate() {
            let s = &dy[(n * channels + c) * plane..(n * channels + c + 1) * plane];
            *d = *d + s.iter().fold(zero::<T>(), |a, &v| a + v);
        }
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeom {
        let dk = d * (k - 1) + 1;
        ConvGeom {
            batch: 2,
            in_c: 4,
            d: 1,
            h,
            w,
            out_c: 6,
            groups: 2,
            kd: 1,
            kh: k,
            kw: k,
            sd: 1,
            sh: s,
            sw: s,
            pd: 0,
            ph: p,
            pw: p,
            dd: 1,
            dh: d,
            dw: d,
            od: 1,
            oh: (h + 2 * p - dk) / s + 1,
            ow: (w + 2 * p - dk) / s + 1,
        }
    }

    /// A 3-D geometry: depth `z` with the given kernel, stride, padding and dilation in depth
    /// (`kz, sz, pz, dz`), the plane as [`geom`].
    fn geom3(z: (usize, usize, usize, usize, usize), h: usize, w: usize, k: usize, s: usize, p: usize) -> ConvGeom {
        let (d, kd, sd, pd, dd) = z;
        let od = (d + 2 * pd - (dd * (kd - 1) + 1)) / sd + 1;
        ConvGeom { d, kd, sd, pd, dd, od, ..geom(h, w, k, s, p, 1) }
    }

    /// `n` deterministic values in `[-1, 1)`, different for each `seed`.
    fn values(n: usize, seed: usize) -> Vec<f64> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 1009) as f64 / 504.5 - 1.0).collect()
    }

    /// The input index output `(oz, oy, ox)` reads at kernel offset `(a, i, j)` of one channel
    /// volume, if it is not padding.
    fn tap(g: &ConvGeom, o: [usize; 3], k: [usize; 3]) -> Option<usize> {
        let iz = (o[0] * g.sd + k[0] * g.dd) as isize - g.pd as isize;
        let iy = (o[1] * g.sh + k[1] * g.dh) as isize - g.ph as isize;
        let ix = (o[2] * g.sw + k[2] * g.dw) as isize - g.pw as isize;
        let inside = |v: isize, n: usize| v >= 0 && v < n as isize;
        (inside(iz, g.d) && inside(iy, g.h) && inside(ix, g.w))
            .then(|| (iz as usize * g.h + iy as usize) * g.w + ix as usize)
    }

    /// Direct convolution, for comparison.
    fn naive(x: &[f64], w: &[f64], g: &ConvGeom) -> Vec<f64> {
        let (cg, fg, vol, kvol) = (g.in_c / g.groups, g.out_c / g.groups, g.in_vol(), g.kd * g.kh * g.kw);
        let mut y = vec![0.0; g.batch * g.out_c * g.out_vol()];
        let outs = (0..g.od).flat_map(|z| (0..g.oh).flat_map(move |r| (0..g.ow).map(move |c| [z, r, c])));
        let outs: Vec<[usize; 3]> = outs.collect();
        let taps = (0..g.kd).flat_map(|a| (0..g.kh).flat_map(move |i| (0..g.kw).map(move |j| [a, i, j])));
        let taps: Vec<[usize; 3]> = taps.collect();
        for n in 0..g.batch {
            for f in 0..g.out_c {
                let grp = f / fg;
                for (oi, &o) in outs.iter().enumerate() {
                    let mut s = 0.0;
                    for c in 0..cg {
                        let xc = &x[(n * g.in_c + grp * cg + c) * vol..][..vol];
                        for (ki, &k) in taps.iter().enumerate() {
                            if let Some(xi) = tap(g, o, k) {
                                s += xc[xi] * w[(f * cg + c) * kvol + ki];
                            }
                        }
                    }
                    y[(n * g.out_c + f) * g.out_vol() + oi] = s;
                }
            }
        }
        y
    }

    #[test]
    fn forward_3d_matches_direct_convolution_and_adjoints_hold() {
        // (depth, kd, sd, pd, dd), then the plane's (h, w, k, s, p).
        for (z, h, w, k, s, p) in [
            ((4, 2, 1, 0, 1), 5, 6, 3, 1, 1),
            ((7, 3, 2, 1, 1), 6, 5, 2, 2, 0),
            ((6, 2, 1, 2, 2), 4, 4, 1, 1, 0),
            ((3, 1, 1, 0, 1), 5, 5, 3, 2, 1),
        ] {
            let g = geom3(z, h, w, k, s, p);
            let x = values(g.batch * g.in_c * g.in_vol(), 3);
            let wt = values(g.weight_len(), 4);
            let got = conv_forward(Parallelism::whole_pool(), &x, &wt, None, &g);
            let want = naive(&x, &wt, &g);
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
            }
            // <conv(x), dy> = <x, conv_backward_data(dy)> and = <w, conv_backward_weight(dy, x)>.
            let dy = values(got.len(), 5);
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
            let lhs = dot(&got, &dy);
            let dx = conv_backward_data(Parallelism::SERIAL, &dy, &wt, &g);
            let dw = conv_backward_weight(Parallelism::whole_pool(), &dy, &x, &g);
            assert!((lhs - dot(&x, &dx)).abs() < 1e-9 * (1.0 + lhs.abs()), "{g:?}: data adjoint");
            assert!((lhs - dot(&wt, &dw)).abs() < 1e-9 * (1.0 + lhs.abs()), "{g:?}: weight adjoint");
        }
    }

    #[test]
    fn forward_matches_direct_convolution() {
        for (h, w, k, s, p, d) in [(7, 6, 3, 1, 0, 1), (7, 8, 3, 2, 1, 1), (9, 9, 2, 3, 2, 2), (5, 5, 1, 1, 0, 1)] {
            let g = geom(h, w, k, s, p, d);
            let x = values(g.batch * g.in_c * h * w, 3);
            let wt = values(g.weight_len(), 4);
            let got = conv_forward(Parallelism::whole_pool(), &x, &wt, None, &g);
            let want = naive(&x, &wt, &g);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
            }
        }
    }

    /// Every kernel in float32 (through the external BLAS when one is loaded, e.g. with
    /// `MXRS_BLAS_LIBRARY`) against the float64 gemm-crate path: odd sizes, stride 2, groups
    /// and dilation on products big enough to take the BLAS, and a strided 1x1 kernel that is not.
    #[test]
    fn float32_kernels_match_the_float64_path() {
        // (h, w, kernel, stride, pad, dilation, groups, in_c, out_c)
        let cases = [
            (13, 11, 3, 1, 1, 1, 1, 64, 96),
            (24, 23, 3, 2, 1, 1, 2, 128, 128),
            (12, 12, 3, 1, 2, 2, 1, 64, 96),
            (15, 16, 1, 2, 0, 1, 1, 48, 64),
        ];
        for (h, w, k, s, p, d, groups, in_c, out_c) in cases {
            let dk = d * (k - 1) + 1;
            let g = ConvGeom { batch: 3, in_c, out_c, groups, ..geom(h, w, k, s, p, d) };
            let g = ConvGeom { oh: (h + 2 * p - dk) / s + 1, ow: (w + 2 * p - dk) / s + 1, ..g };
            let x = values(g.batch * g.in_c * h * w, 7);
            let wt = values(g.weight_len(), 8);
            let dy = values(g.batch * g.out_c * g.oh * g.ow, 9);
            let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (x32, w32, dy32) = (f32s(&x), f32s(&wt), f32s(&dy));
            let close = |got: &[f32], want: &[f64], what: &str| {
                assert_eq!(got.len(), want.len());
                for (a, b) in got.iter().zip(want) {
                    assert!((*a as f64 - b).abs() < 1e-3 * (1.0 + b.abs()), "{what} {g:?}: {a} vs {b}");
                }
            };
            for par in [Parallelism::SERIAL, Parallelism::whole_pool()] {
                close(&conv_forward(par, &x32, &w32, None, &g), &naive(&x, &wt, &g), "forward");
                close(&conv_backward_data(par, &dy32, &w32, &g), &conv_backward_data(par, &dy, &wt, &g), "data");
                close(&conv_backward_weight(par, &dy32, &x32, &g), &conv_backward_weight(par, &dy, &x, &g), "weight");
            }
        }
    }

    /// Blocks of several images (small output planes): whole and partial blocks, groups, 1-D
    /// and 3-D data, against the direct convolution and the adjoint identities.
    #[test]
    fn image_blocks_match_direct_convolution() {
        for (batch, g) in [
            (5, geom(5, 6, 3, 1, 1, 1)),
            (7, geom(9, 9, 3, 2, 0, 1)),
            (6, geom(4, 4, 1, 1, 0, 1)),
            (5, geom3((4, 2, 1, 0, 1), 3, 3, 2, 1, 0)),
        ] {
            let g = ConvGeom { batch, ..g };
            for par in [Parallelism::SERIAL, Parallelism::whole_pool()] {
                assert!(images_per_block(par, &g) > 1, "{g:?}: the test needs image blocks");
                let x = values(g.batch * g.in_c * g.in_vol(), 11);
                let wt = values(g.weight_len(), 12);
                let bias = values(g.out_c, 13);
                let got = conv_forward(par, &x, &wt, Some(&bias), &g);
                let mut want = naive(&x, &wt, &g);
                for (i, v) in want.iter_mut().enumerate() {
                    *v += bias[i / g.out_vol() % g.out_c];
                }
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
                }
                let y = naive(&x, &wt, &g);
                let dy = values(y.len(), 14);
                let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
                let lhs = dot(&y, &dy);
                let dx = conv_backward_data(par, &dy, &wt, &g);
                let dw = conv_backward_weight(par, &dy, &x, &g);
                assert!((lhs - dot(&x, &dx)).abs() < 1e-9 * (1.0 + lhs.abs()), "{g:?}: data adjoint");
                assert!((lhs - dot(&wt, &dw)).abs() < 1e-9 * (1.0 + lhs.abs()), "{g:?}: weight adjoint");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for g in [geom(7, 8, 3, 2, 1, 2), geom3((6, 3, 2, 1, 2), 5, 4, 2, 1, 1)] {
            let cg = g.in_c / g.groups;
            let x = values(cg * g.in_vol(), 5);
            let c = values(g.col_rows() * g.out_vol(), 6);
            let mut col = vec![0.0; c.len()];
            im2col(&x, &g, cg, &mut col, g.out_vol());
            let mut back = vec![0.0; x.len()];
            col2im(&c, &g, cg, &mut back, g.out_vol());
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-10, "{g:?}");
        }
    }
}
