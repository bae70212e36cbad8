//! The lowering of a convolution to a matrix product: `im2col` gathers input patches into a
//! column matrix, `col2im` adds a column matrix back onto the input volumes (its adjoint).
//!
//! Both run over depth, then the 2-D planes of one depth slice: 1-D and 2-D data have a unit
//! depth, so the depth loops run once and the plane loops are those of a 2-D convolution.

use super::geom::{ConvFloat, ConvGeom, zero};

/// Range `[lo, hi)` of output positions `o` whose input position `o * s + off` lies in `[0, n)`.
fn valid_range(off: isize, s: usize, n: usize, out: usize) -> (usize, usize) {
    let s = s as isize;
    let lo = if off < 0 { (-off + s - 1) / s } else { 0 };
    let hi = if n as isize - off <= 0 { 0 } else { (n as isize - off + s - 1) / s };
    let hi = (hi as usize).min(out);
    ((lo as usize).min(hi), hi)
}

/// The input depth slice output depth `oz` reads at kernel depth offset `a`, if inside.
fn depth_slice(g: &ConvGeom, oz: usize, a: usize) -> Option<usize> {
    let iz = (oz * g.sd + a * g.dd) as isize - g.pd as isize;
    (iz >= 0 && iz < g.d as isize).then_some(iz as usize)
}

/// Gather the patches of one group's input volumes `x` (`cg` volumes of `d x h x w`) into `col`
/// (`cg * kd * kh * kw` rows of `od * oh * ow`, row `r` starting at `r * ld`: `ld` is the
/// output volume for one image's own matrix, larger when several images share one), zeros
/// where a patch reads padding.
pub(super) fn im2col<T: ConvFloat>(x: &[T], g: &ConvGeom, cg: usize, col: &mut [T], ld: usize) {
    let (ohw, hw, ovol, vol) = (g.oh * g.ow, g.h * g.w, g.out_vol(), g.in_vol());
    for c in 0..cg {
        let volume = &x[c * vol..(c + 1) * vol];
        for a in 0..g.kd {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = &mut col[(((c * g.kd + a) * g.kh + i) * g.kw + j) * ld..][..ovol];
                    for (oz, dst) in row.chunks_exact_mut(ohw.max(1)).enumerate().take(g.od) {
                        match depth_slice(g, oz, a) {
                            Some(iz) => im2col_plane(&volume[iz * hw..(iz + 1) * hw], g, i, j, dst),
                            None => dst.fill(zero::<T>()),
                        }
                    }
                }
            }
        }
    }
}

/// One row block of [`im2col`]: kernel offset `(i, j)` of the plane `plane` into `dst`
/// (`oh * ow`).
fn im2col_plane<T: ConvFloat>(plane: &[T], g: &ConvGeom, i: usize, j: usize, dst: &mut [T]) {
    let x0 = (j * g.dw) as isize - g.pw as isize;
    let (lo, hi) = valid_range(x0, g.sw, g.w, g.ow);
    for oy in 0..g.oh {
        let dst = &mut dst[oy * g.ow..(oy + 1) * g.ow];
        let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
        if iy < 0 || iy >= g.h as isize {
            dst.fill(zero::<T>());
            continue;
        }
        let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
        dst[..lo].fill(zero::<T>());
        dst[hi..].fill(zero::<T>());
        if g.sw == 1 {
            let s0 = (lo as isize + x0) as usize;
            dst[lo..hi].copy_from_slice(&src[s0..s0 + (hi - lo)]);
        } else {
            for (ox, d) in dst[lo..hi].iter_mut().enumerate() {
                *d = src[((ox + lo) as isize * g.sw as isize + x0) as usize];
            }
        }
    }
}

/// Add the column matrix `col` (rows starting at multiples of `ld`) back onto one group's
/// input volumes `x` (the adjoint of [`im2col`]).
pub(super) fn col2im<T: ConvFloat>(col: &[T], g: &ConvGeom, cg: usize, x: &mut [T], ld: usize) {
    let (ohw, hw, ovol, vol) = (g.oh * g.ow, g.h * g.w, g.out_vol(), g.in_vol());
    for c in 0..cg {
        let volume = &mut x[c * vol..(c + 1) * vol];
        for a in 0..g.kd {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = &col[(((c * g.kd + a) * g.kh + i) * g.kw + j) * ld..][..ovol];
                    if g.d == 1 && g.od == 1 && g.pd == 0 {
                        // 1-D and 2-D data: the one depth slice (a straight call kept the 2-D
                        // backward pass as fast as before depth was added).
                        col2im_plane(row, g, i, j, volume);
                        continue;
                    }
                    for (oz, src) in row.chunks_exact(ohw.max(1)).enumerate().take(g.od) {
                        if let Some(iz) = depth_slice(g, oz, a) {
                            col2im_plane(src, g, i, j, &mut volume[iz * hw..(iz + 1) * hw]);
                        }
                    }
                }
            }
        }
    }
}

/// One row block of [`col2im`]: `src` (`oh * ow`) added onto the plane `plane` at kernel
/// offset `(i, j)`.
fn col2im_plane<T: ConvFloat>(src: &[T], g: &ConvGeom, i: usize, j: usize, plane: &mut [T]) {
    let x0 = (j * g.dw) as isize - g.pw as isize;
    let (lo, hi) = valid_range(x0, g.sw, g.w, g.ow);
    for oy in 0..g.oh {
        let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
        if iy < 0 || iy >= g.h as isize {
            continue;
        }
        let src = &src[oy * g.ow..(oy + 1) * g.ow];
        let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
        if g.sw == 1 {
            let d0 = (lo as isize + x0) as usize;
            for (d, &s) in dst[d0..d0 + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                *d = *d + s;
            }
        } else {
            for (ox, &s) in src.iter().enumerate().take(hi).skip(lo) {
                let ix = (ox as isize * g.sw as isize + x0) as usize;
                dst[ix] = dst[ix] + s;
            }
        }
    }
}
