//! Pooling over NCDHW volumes (2-D data has a unit depth): max, average, sum and Lp windows,
//! forward and backward.
//!
//! Every kernel runs over the rows of a volume: a window covers the rows of its depth and height
//! spans (`z * h + r`), so 1-D and 2-D pooling take the single-depth loops of before.

use num_traits::Float;
use rayon::prelude::*;

use crate::backend::cpu::Parallelism;
use crate::storage::StorageElement;

/// A pooling reduction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    /// Maximum of the window; the gradient goes to the first maximal element. As in MXNet the
    /// maximum starts from the lowest finite value, so a window wholly in the padding (full
    /// convention) gives `-MAX`, not `-inf`.
    Max,
    /// Mean of the window. With `include_pad` the divisor counts padding (but not the part of
    /// a `full`-convention window beyond the padding), as MXNet does.
    Avg {
        /// Count padded positions in the divisor.
        include_pad: bool,
    },
    /// Sum of the window.
    Sum,
    /// `(sum x^p)^(1/p)`.
    Lp {
        /// The power (MXNet allows 1, 2 and 3).
        p: i32,
    },
}

/// The geometry of a pooling over `planes` volumes of `d x h x w` (`d = kd = od = sd = 1` and
/// `pd = 0` for 1-D and 2-D data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Volumes (batch times channels).
    pub planes: usize,
    /// Input depth.
    pub d: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window depth.
    pub kd: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Depth stride.
    pub sd: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Front padding.
    pub pd: usize,
    /// Top padding.
    pub ph: usize,
    /// Left padding.
    pub pw: usize,
    /// Output depth.
    pub od: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// The input range `[lo, hi)` one output position of a pooling window covers along one axis,
/// and the window's length counting padding (but not what lies beyond the padding).
#[derive(Clone, Copy, Debug)]
struct Span {
    lo: usize,
    hi: usize,
    padded: usize,
}

fn spans(out: usize, stride: usize, pad: usize, k: usize, n: usize) -> Vec<Span> {
    (0..out)
        .map(|o| {
            let s = (o * stride) as isize - pad as isize;
            let e = (s + k as isize).min((n + pad) as isize);
            let lo = s.clamp(0, n as isize) as usize;
            let hi = (e.clamp(0, n as isize) as usize).max(lo);
            Span { lo, hi, padded: (e - s).max(0) as usize }
        })
        .collect()
}

impl PoolGeom {
    /// The windows' spans along depth, height and width.
    fn spans(&self) -> (Vec<Span>, Vec<Span>, Vec<Span>) {
        (
            spans(self.od, self.sd, self.pd, self.kd, self.d),
            spans(self.oh, self.sh, self.ph, self.kh, self.h),
            spans(self.ow, self.sw, self.pw, self.kw, self.w),
        )
    }
    /// Elements of one input volume.
    fn in_vol(&self) -> usize {
        self.d * self.h * self.w
    }
    /// Elements of one output volume.
    fn out_vol(&self) -> usize {
        self.od * self.oh * self.ow
    }
}

/// Call `f` with the volume rows (`z * h + r`) a window with depth span `sz` and height span
/// `sy` covers, in row-major order (nested loops: an iterator chain made 2-D average pooling
/// twice as slow).
#[inline(always)]
fn for_rows(sz: &Span, sy: &Span, h: usize, mut f: impl FnMut(usize)) {
    for z in sz.lo..sz.hi {
        for r in sy.lo..sy.hi {
            f(z * h + r);
        }
    }
}

/// The window's rows as index ranges into the volume: [`for_rows`] cut to the columns `sx`.
#[inline(always)]
fn for_row_ranges(sz: &Span, sy: &Span, sx: &Span, h: usize, w: usize, mut f: impl FnMut(std::ops::Range<usize>)) {
    for_rows(sz, sy, h, |r| f(r * w + sx.lo..r * w + sx.hi));
}

/// The divisor of a window (1 for max, sum and lp).
fn divisor(kind: PoolKind, sz: &Span, sy: &Span, sx: &Span) -> usize {
    match kind {
        PoolKind::Avg { include_pad: true } => sz.padded * sy.padded * sx.padded,
        PoolKind::Avg { include_pad: false } => (sz.hi - sz.lo) * (sy.hi - sy.lo) * (sx.hi - sx.lo),
        _ => 1,
    }
}

fn powi<T: Float>(v: T, p: i32) -> T {
    match p {
        1 => v,
        2 => v * v,
        _ => v.powi(p),
    }
}

fn as_float<T: Float>(n: usize) -> T {
    T::from(n).unwrap_or_else(T::one)
}

/// For windows that all cover `kw` columns starting `sw` apart (no horizontal clipping), the
/// first window's first column: max pooling then runs over whole output rows, one window
/// column at a time, instead of window by window (5x faster for LeNet's 2x2 windows).
fn regular_columns(xs: &[Span], kw: usize, sw: usize) -> Option<usize> {
    let x0 = xs.first()?.lo;
    xs.iter().enumerate().all(|(o, s)| s.lo == x0 + o * sw && s.hi - s.lo == kw).then_some(x0)
}

/// Max pooling of one output row over the input rows `(sz, sy)` of `plane` (a volume of `h`
/// rows of length `w` per depth slice), windows of `kw` columns from `x0`, `sw` apart: `out[o]`
/// gets the window's maximum and, when `arg` is given, `arg[o]` the volume index of its first
/// maximum (row-major order within the window).
#[allow(clippy::too_many_arguments)]
fn max_row<T: Float>(
    plane: &[T],
    (h, w): (usize, usize),
    (sz, sy): (&Span, &Span),
    x0: usize,
    kw: usize,
    sw: usize,
    out: &mut [T],
    mut arg: Option<&mut [usize]>,
) {
    out.fill(T::min_value());
    if out.is_empty() {
        return;
    }
    let mut first = true;
    for_rows(sz, sy, h, |r| {
        let row = &plane[r * w..(r + 1) * w];
        for j in 0..kw {
            let col = x0 + j;
            match arg.as_deref_mut() {
                None => {
                    let vals = row[col..].iter().step_by(sw);
                    // Selects, not branches: random data would mispredict half of them.
                    for (o, &v) in out.iter_mut().zip(vals) {
                        let cur = *o;
                        *o = if v > cur { v } else { cur };
                    }
                }
                Some(arg) => {
                    let base = r * w + col;
                    let row = &plane[..base + (out.len() - 1) * sw + 1];
                    if first {
                        for (i, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
                            *a = base + i * sw;
                            *o = row[*a];
                        }
                    } else {
                        for (i, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
                            let idx = base + i * sw;
                            let (v, cur) = (row[idx], *o);
                            let take = v > cur;
                            *o = if take { v } else { cur };
                            *a = if take { idx } else { *a };
                        }
                    }
                }
            }
            first = false;
        }
    });
}

/// Run `body(plane, chunk)` over the `per`-element chunks of `out`, in parallel when `work` is
/// large.
fn for_each_plane<T: Send>(
    par: Parallelism,
    out: &mut [T],
    per: usize,
    work: usize,
    body: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if per == 0 || out.is_empty() {
        return;
    }
    if par.split(work) {
        out.par_chunks_mut(per).enumerate().for_each(|(p, o)| body(p, o));
    } else {
        out.chunks_mut(per).enumerate().for_each(|(p, o)| body(p, o));
    }
}

/// Pool `x` (`(planes, d, h, w)`) into `(planes, od, oh, ow)`.
pub fn pool_forward<T: Float + Send + Sync + StorageElement>(
    par: Parallelism,
    x: &[T],
    g: &PoolGeom,
    kind: PoolKind,
) -> Vec<T> {
    let (vol, ovol, ohw) = (g.in_vol(), g.out_vol(), g.oh * g.ow);
    let (zs, ys, xs) = g.spans();
    let mut y: Vec<T> = crate::pool::alloc(g.planes * ovol);
    let regular = regular_columns(&xs, g.kw, g.sw).filter(|_| kind == PoolKind::Max);
    for_each_plane(par, &mut y, ovol, x.len() + g.planes * ovol, |p, out| {
        let plane = &x[p * vol..(p + 1) * vol];
        for (sz, slab) in zs.iter().zip(out.chunks_mut(ohw.max(1))) {
            if let Some(x0) = regular {
                for (sy, orow) in ys.iter().zip(slab.chunks_mut(g.ow)) {
                    max_row(plane, (g.h, g.w), (sz, sy), x0, g.kw, g.sw, orow, None);
                }
                continue;
            }
            for (sy, orow) in ys.iter().zip(slab.chunks_mut(g.ow)) {
                for (sx, o) in xs.iter().zip(orow.iter_mut()) {
                    *o = pool_window(plane, (g.h, g.w), [sz, sy, sx], kind);
                }
            }
        }
    });
    y
}

/// The pooled value of the window with spans `[sz, sy, sx]` of the volume `plane` (`h` rows of
/// `w` per depth slice).
#[inline(always)]
fn pool_window<T: Float>(plane: &[T], (h, w): (usize, usize), [sz, sy, sx]: [&Span; 3], kind: PoolKind) -> T {
    let d = divisor(kind, sz, sy, sx);
    match kind {
        PoolKind::Max => {
            let mut m = T::min_value();
            for_row_ranges(sz, sy, sx, h, w, |r| {
                for &v in &plane[r] {
                    if v > m {
                        m = v;
                    }
                }
            });
            m
        }
        PoolKind::Avg { .. } | PoolKind::Sum => {
            let mut s = T::zero();
            for_row_ranges(sz, sy, sx, h, w, |r| {
                for &v in &plane[r] {
                    s = s + v;
                }
            });
            if d <= 1 { s } else { s / as_float(d) }
        }
        PoolKind::Lp { p } => {
            let mut s = T::zero();
            for_row_ranges(sz, sy, sx, h, w, |r| {
                for &v in &plane[r] {
                    s = s + powi(v, p);
                }
            });
            // MXNet takes the real cube root (a negative sum stays negative), not powf's NaN.
            match p {
                1 => s,
                2 => s.sqrt(),
                3 => s.cbrt(),
                _ => s.powf(T::one() / as_float(p as usize)),
            }
        }
    }
}

/// Gradient of [`pool_forward`]: `dy` is `(planes, od, oh, ow)`, `x` the input and `y` the
/// forward output (used by `Lp`); returns `(planes, d, h, w)`.
pub fn pool_backward<T: Float + Send + Sync + StorageElement>(
    par: Parallelism,
    dy: &[T],
    x: &[T],
    y: &[T],
    g: &PoolGeom,
    kind: PoolKind,
) -> Vec<T> {
    let (vol, ovol, ohw) = (g.in_vol(), g.out_vol(), g.oh * g.ow);
    let (zs, ys, xs) = g.spans();
    let mut dx: Vec<T> = crate::pool::alloc_zeroed(g.planes * vol);
    let regular = regular_columns(&xs, g.kw, g.sw).filter(|_| kind == PoolKind::Max);
    for_each_plane(par, &mut dx, vol, x.len() + dy.len(), |p, dxp| {
        let plane = &x[p * vol..(p + 1) * vol];
        let dyp = &dy[p * ovol..(p + 1) * ovol];
        if let Some(x0) = regular {
            let (mut m, mut arg) = (vec![<T as num_traits::Zero>::zero(); g.ow], vec![0usize; g.ow]);
            for (sz, dyslab) in zs.iter().zip(dyp.chunks(ohw.max(1))) {
                for (sy, dyrow) in ys.iter().zip(dyslab.chunks_exact(g.ow)) {
                    if sy.lo == sy.hi || sz.lo == sz.hi {
                        continue;
                    }
                    max_row(plane, (g.h, g.w), (sz, sy), x0, g.kw, g.sw, &mut m, Some(&mut arg));
                    for (&i, &gv) in arg.iter().zip(dyrow) {
                        dxp[i] = dxp[i] + gv;
                    }
                }
            }
            return;
        }
        let yp = &y[p * ovol..(p + 1) * ovol];
        for (oz, sz) in zs.iter().enumerate() {
            for (oy, sy) in ys.iter().enumerate() {
                for (ox, sx) in xs.iter().enumerate() {
                    let o = (oz * g.oh + oy) * g.ow + ox;
                    unpool_window(plane, dxp, (g.h, g.w), [sz, sy, sx], kind, (dyp[o], yp[o]));
                }
            }
        }
    });
    dx
}

/// Add the share of the output gradient `gv` of the window with spans `[sz, sy, sx]` onto `dxp`
/// (`plane` the input volume of `h` rows of `w` per depth slice, `yv` the pooled value).
#[inline(always)]
fn unpool_window<T: Float>(
    plane: &[T],
    dxp: &mut [T],
    (h, w): (usize, usize),
    [sz, sy, sx]: [&Span; 3],
    kind: PoolKind,
    (gv, yv): (T, T),
) {
    let d = divisor(kind, sz, sy, sx);
    match kind {
        PoolKind::Max => {
            let mut best = usize::MAX;
            let mut m = T::neg_infinity();
            for_row_ranges(sz, sy, sx, h, w, |row| {
                let start = row.start;
                for (i, &v) in plane[row].iter().enumerate() {
                    if best == usize::MAX || v > m {
                        m = v;
                        best = start + i;
                    }
                }
            });
            if best != usize::MAX {
                dxp[best] = dxp[best] + gv;
            }
        }
        PoolKind::Avg { .. } | PoolKind::Sum => {
            let share = if d <= 1 { gv } else { gv / as_float(d) };
            for_row_ranges(sz, sy, sx, h, w, |row| {
                for v in &mut dxp[row] {
                    *v = *v + share;
                }
            });
        }
        PoolKind::Lp { p: pw } => {
            for_row_ranges(sz, sy, sx, h, w, |row| {
                for i in row {
                    let d = if pw == 1 {
                        gv
                    } else if yv == T::zero() {
                        T::zero()
                    } else {
                        gv * powi(plane[i] / yv, pw - 1)
                    };
                    dxp[i] = dxp[i] + d;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max pooling window by window, first maximum in row-major order (the reference for the
    /// row kernels).
    fn naive_max_pool(x: &[f32], g: &PoolGeom, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        let (mut y, mut dx) = (vec![f32::MIN; g.planes * ohw], vec![0.0; g.planes * hw]);
        for p in 0..g.planes {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut best = None;
                    for r in 0..g.kh {
                        for c in 0..g.kw {
                            let (iy, ix) =
                                ((oy * g.sh + r) as isize - g.ph as isize, (ox * g.sw + c) as isize - g.pw as isize);
                            if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                continue;
                            }
                            let i = p * hw + iy as usize * g.w + ix as usize;
                            if best.is_none_or(|b: usize| x[i] > x[b]) {
                                best = Some(i);
                            }
                        }
                    }
                    if let Some(b) = best {
                        y[p * ohw + oy * g.ow + ox] = x[b];
                        dx[b] += dy[p * ohw + oy * g.ow + ox];
                    }
                }
            }
        }
        (y, dx)
    }

    #[test]
    fn max_pooling_row_kernels_match_window_by_window() {
        // (h, w, k, stride, pad): regular columns (2x2/2, overlapping 3x3/2, rows left over),
        // and clipped ones that take the general path.
        for (h, w, k, st, pad) in [(8, 8, 2, 2, 0), (9, 7, 3, 2, 0), (7, 9, 2, 3, 0), (6, 6, 3, 1, 1), (5, 7, 2, 2, 1)]
        {
            let oh = (h + 2 * pad - k) / st + 1;
            let ow = (w + 2 * pad - k) / st + 1;
            let g = PoolGeom {
                planes: 3,
                d: 1,
                h,
                w,
                kd: 1,
                kh: k,
                kw: k,
                sd: 1,
                sh: st,
                sw: st,
                pd: 0,
                ph: pad,
                pw: pad,
                od: 1,
                oh,
                ow,
            };
            // Few distinct values: many ties, where the first maximum must win.
            let x: Vec<f32> = (0..3 * h * w).map(|i| ((i * 7919) % 5) as f32).collect();
            let dy: Vec<f32> = (0..3 * oh * ow).map(|i| 1.0 + i as f32).collect();
            let (want_y, want_dx) = naive_max_pool(&x, &g, &dy);
            assert_eq!(
                pool_forward(Parallelism::SERIAL, &x, &g, PoolKind::Max),
                want_y,
                "forward {h}x{w} k{k} s{st} p{pad}"
            );
            let y = pool_forward(Parallelism::SERIAL, &x, &g, PoolKind::Max);
            assert_eq!(
                pool_backward(Parallelism::SERIAL, &dy, &x, &y, &g, PoolKind::Max),
                want_dx,
                "backward {h}x{w} k{k} s{st} p{pad}"
            );
        }
    }
}
