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
    /// One depth slice and no depth padding (1-D and 2-D data): output row `oy` reads rows
    /// `ys[oy]` of the plane.
    fn is_planar(&self) -> bool {
        self.d == 1 && self.kd == 1 && self.od == 1 && self.pd == 0
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

/// For every output row `(oz, oy)`, the start offsets in the volume (`(z * h + r) * w`) of the
/// input rows its windows cover, in row-major order. The same for every plane, so computed once
/// per call: each window then runs one flat loop over its rows as 2-D pooling did (nested depth
/// and row loops per window made 2-D pooling 20% slower).
struct RowTable {
    bases: Vec<usize>,
    /// `bases[starts[i]..starts[i + 1]]` belong to output row `i` (`oz * oh + oy`).
    starts: Vec<usize>,
}

impl RowTable {
    fn new(zs: &[Span], ys: &[Span], (h, w): (usize, usize)) -> RowTable {
        let (mut bases, mut starts) = (Vec::new(), Vec::with_capacity(zs.len() * ys.len() + 1));
        starts.push(0);
        for sz in zs {
            for sy in ys {
                for z in sz.lo..sz.hi {
                    bases.extend((sy.lo..sy.hi).map(|r| (z * h + r) * w));
                }
                starts.push(bases.len());
            }
        }
        RowTable { bases, starts }
    }
    /// The row starts of output row `i`.
    #[inline(always)]
    fn row(&self, i: usize) -> &[usize] {
        &self.bases[self.starts[i]..self.starts[i + 1]]
    }
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

/// Max pooling of one output row over the input rows starting at the offsets `bases` in
/// `plane` (a volume of rows of length `w`), windows of `kw` columns from `x0`, `sw` apart:
/// `out[o]` gets the window's maximum and, when `arg` is given, `arg[o]` the volume index of its
/// first maximum (row-major order within the window).
#[allow(clippy::too_many_arguments)]
fn max_row<T: Float>(
    plane: &[T],
    w: usize,
    bases: impl Iterator<Item = usize>,
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
    for rb in bases {
        let row = &plane[rb..rb + w];
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
                    let base = rb + col;
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
    }
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
    let table = RowTable::new(&zs, &ys, (g.h, g.w));
    let mut y: Vec<T> = crate::pool::alloc(g.planes * ovol);
    let regular = regular_columns(&xs, g.kw, g.sw).filter(|_| kind == PoolKind::Max);
    for_each_plane(par, &mut y, ovol, x.len() + g.planes * ovol, |p, out| {
        let plane = &x[p * vol..(p + 1) * vol];
        match regular {
            // 1-D and 2-D data: the rows of output row `oy` are `sy`'s, as before depth was added
            // (a range, not the table: LeNet's 2x2 pooling stays as fast).
            Some(x0) if g.is_planar() => {
                for (sy, orow) in ys.iter().zip(out.chunks_mut(g.ow)) {
                    max_row(plane, g.w, (sy.lo..sy.hi).map(|r| r * g.w), x0, g.kw, g.sw, orow, None);
                }
            }
            Some(x0) => {
                for (i, orow) in out.chunks_mut(g.ow).enumerate() {
                    max_row(plane, g.w, table.row(i).iter().copied(), x0, g.kw, g.sw, orow, None);
                }
            }
            None => {
                for (oz, (sz, slab)) in zs.iter().zip(out.chunks_mut(ohw.max(1))).enumerate() {
                    for (oy, (sy, orow)) in ys.iter().zip(slab.chunks_mut(g.ow)).enumerate() {
                        pool_row(plane, table.row(oz * g.oh + oy), &xs, [sz, sy], kind, orow);
                    }
                }
            }
        }
    });
    y
}

/// One output row of windows over the columns `xs` of the rows starting at `bases` in the
/// volume `plane` (`[sz, sy]` the row's depth and height spans, for the average's divisor). The
/// kind is matched once per row, so each kind's window loop compiles on its own. Not inlined:
/// inlined into the plane loop, 2-D average pooling's backward ran 40% slower.
#[inline(never)]
fn pool_row<T: Float>(plane: &[T], bases: &[usize], xs: &[Span], [sz, sy]: [&Span; 2], kind: PoolKind, out: &mut [T]) {
    let window = |sx: Span| bases.iter().map(move |&b| &plane[b + sx.lo..b + sx.hi]);
    match kind {
        PoolKind::Max => {
            for (sx, o) in xs.iter().zip(out.iter_mut()) {
                let mut m = T::min_value();
                for row in window(*sx) {
                    for &v in row {
                        if v > m {
                            m = v;
                        }
                    }
                }
                *o = m;
            }
        }
        PoolKind::Avg { .. } | PoolKind::Sum => {
            for (sx, o) in xs.iter().zip(out.iter_mut()) {
                let mut s = T::zero();
                for row in window(*sx) {
                    for &v in row {
                        s = s + v;
                    }
                }
                let d = divisor(kind, sz, sy, sx);
                *o = if d <= 1 { s } else { s / as_float(d) };
            }
        }
        PoolKind::Lp { p } => {
            for (sx, o) in xs.iter().zip(out.iter_mut()) {
                let mut s = T::zero();
                for row in window(*sx) {
                    for &v in row {
                        s = s + powi(v, p);
                    }
                }
                // MXNet takes the real cube root (a negative sum stays negative), not powf's NaN.
                *o = match p {
                    1 => s,
                    2 => s.sqrt(),
                    3 => s.cbrt(),
                    _ => s.powf(T::one() / as_float(p as usize)),
                };
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
    let (vol, ovol) = (g.in_vol(), g.out_vol());
    let (zs, ys, xs) = g.spans();
    let table = RowTable::new(&zs, &ys, (g.h, g.w));
    let mut dx: Vec<T> = crate::pool::alloc_zeroed(g.planes * vol);
    let regular = regular_columns(&xs, g.kw, g.sw).filter(|_| kind == PoolKind::Max);
    for_each_plane(par, &mut dx, vol, x.len() + dy.len(), |p, dxp| {
        let plane = &x[p * vol..(p + 1) * vol];
        let dyp = &dy[p * ovol..(p + 1) * ovol];
        if let Some(x0) = regular {
            let (mut m, mut arg) = (vec![<T as num_traits::Zero>::zero(); g.ow], vec![0usize; g.ow]);
            // As in the forward pass, 1-D and 2-D data take their rows from a range.
            if g.is_planar() {
                for (sy, dyrow) in ys.iter().zip(dyp.chunks_exact(g.ow)) {
                    if sy.lo == sy.hi {
                        continue;
                    }
                    unpool_max_row(plane, dxp, g.w, (sy.lo, sy.hi), (x0, g.kw, g.sw), dyrow);
                }
                return;
            }
            for (i, dyrow) in dyp.chunks_exact(g.ow).enumerate() {
                let bases = table.row(i);
                if bases.is_empty() {
                    continue;
                }
                max_row(plane, g.w, bases.iter().copied(), x0, g.kw, g.sw, &mut m, Some(&mut arg));
                for (&i, &gv) in arg.iter().zip(dyrow) {
                    dxp[i] = dxp[i] + gv;
                }
            }
            return;
        }
        let yp = &y[p * ovol..(p + 1) * ovol];
        for (oz, sz) in zs.iter().enumerate() {
            for (oy, sy) in ys.iter().enumerate() {
                let (i, o) = (oz * g.oh + oy, (oz * g.oh + oy) * g.ow);
                let (dyrow, yrow) = (&dyp[o..o + g.ow], &yp[o..o + g.ow]);
                unpool_row(plane, dxp, table.row(i), &xs, [sz, sy], kind, (dyrow, yrow));
            }
        }
    });
    dx
}

/// Max-pooling gradient of one output row of a 2-D plane: the windows cover rows `lo..hi`
/// and `kw` columns from `x0 + o * sw` (none clipped); each output's gradient `dy[o]` goes to
/// its window's first maximum (row-major order), as MXNet's. Window by window with the best
/// index kept in registers: tracking every output's maximum and index in arrays over a pass
/// per window column and row made the backward pass 5x slower than the forward one.
fn unpool_max_row<T: Float>(
    plane: &[T],
    dxp: &mut [T],
    w: usize,
    (lo, hi): (usize, usize),
    (x0, kw, sw): (usize, usize, usize),
    dy: &[T],
) {
    let rows = &plane[lo * w..hi * w];
    for (o, &gv) in dy.iter().enumerate() {
        let c0 = x0 + o * sw;
        let mut best = c0;
        let mut m = rows[c0];
        for r in 0..hi - lo {
            for (j, &v) in rows[r * w + c0..r * w + c0 + kw].iter().enumerate() {
                let take = v > m;
                m = if take { v } else { m };
                best = if take { r * w + c0 + j } else { best };
            }
        }
        let i = lo * w + best;
        dxp[i] = dxp[i] + gv;
    }
}

/// Add the output gradients `dy` of one output row of windows (over the columns `xs` of the
/// rows starting at `bases`; `[sz, sy]` the row's depth and height spans) onto `dxp`: `plane`
/// is the input volume and `y` the row's pooled values. The kind is matched once per row. Not
/// inlined, as [`pool_row`].
#[inline(never)]
fn unpool_row<T: Float>(
    plane: &[T],
    dxp: &mut [T],
    bases: &[usize],
    xs: &[Span],
    [sz, sy]: [&Span; 2],
    kind: PoolKind,
    (dy, y): (&[T], &[T]),
) {
    let window = |sx: Span| bases.iter().map(move |&b| b + sx.lo..b + sx.hi);
    match kind {
        PoolKind::Max => {
            for (sx, &gv) in xs.iter().zip(dy) {
                let mut best = usize::MAX;
                let mut m = T::neg_infinity();
                for row in window(*sx) {
                    let start = row.start;
                    for (i, &v) in plane[row].iter().enumerate() {
                        if best == usize::MAX || v > m {
                            m = v;
                            best = start + i;
                        }
                    }
                }
                if best != usize::MAX {
                    dxp[best] = dxp[best] + gv;
                }
            }
        }
        PoolKind::Avg { .. } | PoolKind::Sum => {
            for (sx, &gv) in xs.iter().zip(dy) {
                let d = divisor(kind, sz, sy, sx);
                let share = if d <= 1 { gv } else { gv / as_float(d) };
                for row in window(*sx) {
                    for v in &mut dxp[row] {
                        *v = *v + share;
                    }
                }
            }
        }
        PoolKind::Lp { p: pw } => {
            for ((sx, &gv), &yv) in xs.iter().zip(dy).zip(y) {
                for row in window(*sx) {
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
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max pooling window by window, first maximum in row-major (depth, row, column) order (the
    /// reference for the row kernels).
    fn naive_max_pool(x: &[f32], g: &PoolGeom, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (vol, ovol) = (g.in_vol(), g.out_vol());
        let (mut y, mut dx) = (vec![f32::MIN; g.planes * ovol], vec![0.0; g.planes * vol]);
        let at = |o: usize, k: usize, s: usize, p: usize, n: usize| {
            let i = (o * s + k) as isize - p as isize;
            (i >= 0 && i < n as isize).then_some(i as usize)
        };
        for p in 0..g.planes {
            for o in 0..ovol {
                let (oz, oy, ox) = (o / (g.oh * g.ow), o / g.ow % g.oh, o % g.ow);
                let mut best = None;
                for (a, r, c) in (0..g.kd).flat_map(|a| (0..g.kh).flat_map(move |r| (0..g.kw).map(move |c| (a, r, c))))
                {
                    let (Some(iz), Some(iy), Some(ix)) =
                        (at(oz, a, g.sd, g.pd, g.d), at(oy, r, g.sh, g.ph, g.h), at(ox, c, g.sw, g.pw, g.w))
                    else {
                        continue;
                    };
                    let i = p * vol + (iz * g.h + iy) * g.w + ix;
                    if best.is_none_or(|b: usize| x[i] > x[b]) {
                        best = Some(i);
                    }
                }
                if let Some(b) = best {
                    y[p * ovol + o] = x[b];
                    dx[b] += dy[p * ovol + o];
                }
            }
        }
        (y, dx)
    }

    #[test]
    fn max_pooling_row_kernels_match_window_by_window() {
        // (d, kd, sd, pd), then the plane's (h, w, k, stride, pad): regular columns (2x2/2,
        // overlapping 3x3/2, rows left over), clipped ones that take the general path, and 3-D
        // windows of both kinds (one with a depth window wholly in the padding).
        let planar = (1usize, 1usize, 1usize, 0usize);
        for ((d, kd, sd, pd), h, w, k, st, pad) in [
            (planar, 8, 8, 2, 2, 0),
            (planar, 9, 7, 3, 2, 0),
            (planar, 7, 9, 2, 3, 0),
            (planar, 6, 6, 3, 1, 1),
            (planar, 5, 7, 2, 2, 1),
            ((5, 2, 2, 0), 8, 8, 2, 2, 0),
            ((4, 3, 1, 1), 7, 9, 2, 3, 0),
            ((5, 2, 3, 1), 6, 6, 3, 1, 1),
        ] {
            let oh = (h + 2 * pad - k) / st + 1;
            let ow = (w + 2 * pad - k) / st + 1;
            let od = (d + 2 * pd - kd).div_ceil(sd) + 1;
            let g =
                PoolGeom { planes: 3, d, h, w, kd, kh: k, kw: k, sd, sh: st, sw: st, pd, ph: pad, pw: pad, od, oh, ow };
            // Few distinct values: many ties, where the first maximum must win.
            let x: Vec<f32> = (0..3 * g.in_vol()).map(|i| ((i * 7919) % 5) as f32).collect();
            let dy: Vec<f32> = (0..3 * g.out_vol()).map(|i| 1.0 + i as f32).collect();
            let (want_y, want_dx) = naive_max_pool(&x, &g, &dy);
            let y = pool_forward(Parallelism::SERIAL, &x, &g, PoolKind::Max);
            assert_eq!(y, want_y, "forward {g:?}");
            let dx = pool_backward(Parallelism::SERIAL, &dy, &x, &y, &g, PoolKind::Max);
            assert_eq!(dx, want_dx, "backward {g:?}");
        }
    }
}
