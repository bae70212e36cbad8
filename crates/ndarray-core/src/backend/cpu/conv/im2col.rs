//! The lowering of a convolution to a matrix product: `im2col` gathers input patches into a
//! column matrix, `col2im` adds a column matrix back onto the input planes (its adjoint).

use super::geom::{ConvFloat, ConvGeom};

/// Range `[lo, hi)` of output positions `o` whose input position `o * s + off` lies in `[0, n)`.
fn valid_range(off: isize, s: usize, n: usize, out: usize) -> (usize, usize) {
    let s = s as isize;
    let lo = if off < 0 { (-off + s - 1) / s } else { 0 };
    let hi = if n as isize - off <= 0 { 0 } else { (n as isize - off + s - 1) / s };
    let hi = (hi as usize).min(out);
    ((lo as usize).min(hi), hi)
}

/// Gather the patches of one group's input planes `x` (`cg` planes of `h x w`) into `col`
/// (`cg * kh * kw` rows of `oh * ow`), zeros where a patch reads padding.
pub(super) fn im2col<T: ConvFloat>(x: &[T], g: &ConvGeom, cg: usize, col: &mut [T]) {
    let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
    for c in 0..cg {
        let plane = &x[c * hw..(c + 1) * hw];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut col[((c * g.kh + i) * g.kw + j) * ohw..][..ohw];
                let x0 = (j * g.dw) as isize - g.pw as isize;
                let (lo, hi) = valid_range(x0, g.sw, g.w, g.ow);
                for oy in 0..g.oh {
                    let dst = &mut row[oy * g.ow..(oy + 1) * g.ow];
                    let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
                    if iy < 0 || iy >= g.h as isize {
                        dst.fill(T::zero());
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    dst[..lo].fill(T::zero());
                    dst[hi..].fill(T::zero());
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
        }
    }
}

/// Add the column matrix `col` back onto one group's input planes `x` (the adjoint of
/// [`im2col`]).
pub(super) fn col2im<T: ConvFloat>(col: &[T], g: &ConvGeom, cg: usize, x: &mut [T]) {
    let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
    for c in 0..cg {
        let plane = &mut x[c * hw..(c + 1) * hw];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &col[((c * g.kh + i) * g.kw + j) * ohw..][..ohw];
                let x0 = (j * g.dw) as isize - g.pw as isize;
                let (lo, hi) = valid_range(x0, g.sw, g.w, g.ow);
                for oy in 0..g.oh {
                    let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let src = &row[oy * g.ow..(oy + 1) * g.ow];
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
        }
    }
}
