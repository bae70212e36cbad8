//! Convolution and pooling kernels over NCHW data (1-D data uses `h = kh = 1`).
//!
//! Convolution lowers each image (and group) to a matrix product: `im2col` gathers the input
//! patches into a `(C/g * kh * kw) x (oh * ow)` matrix, `gemm` multiplies it by the weight, and
//! `col2im` scatters patch gradients back. Work is split over the batch with rayon (each worker
//! keeps one column buffer); a lone large image lets `gemm` use the pool instead. Transposed
//! convolution (Deconvolution) is the same set of kernels with the roles swapped.

use crate::storage::StorageElement;
use num_traits::Float;
use rayon::prelude::*;

/// Element types the convolution kernels run on: the floats `gemm` supports.
pub trait ConvFloat: Float + Send + Sync + Default + std::fmt::Debug + 'static {}
impl ConvFloat for f32 {}
impl ConvFloat for f64 {}

/// The geometry of a grouped 2-D convolution from `(batch, in_c, h, w)` to
/// `(batch, out_c, oh, ow)` with a `(out_c, in_c / groups, kh, kw)` weight.
///
/// `oh` and `ow` are stored rather than derived, so a transposed convolution can use exactly
/// the sizes of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels (all groups).
    pub in_c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels (filters, all groups).
    pub out_c: usize,
    /// Channel groups; `in_c` and `out_c` are multiples of it.
    pub groups: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Top and bottom padding.
    pub ph: usize,
    /// Left and right padding.
    pub pw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvGeom {
    /// Rows of one group's column matrix: `in_c / groups * kh * kw`.
    pub fn col_rows(&self) -> usize {
        self.in_c / self.groups * self.kh * self.kw
    }
    /// Elements of the weight.
    pub fn weight_len(&self) -> usize {
        self.out_c * self.col_rows()
    }
    /// A 1x1 kernel with unit stride and no padding reads the input as its own column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
    fn work(&self) -> usize {
        self.batch * self.out_c * self.oh * self.ow * self.col_rows()
    }
}

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
fn im2col<T: ConvFloat>(x: &[T], g: &ConvGeom, cg: usize, col: &mut [T]) {
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
fn col2im<T: ConvFloat>(col: &[T], g: &ConvGeom, cg: usize, x: &mut [T]) {
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

/// `dst[m x n] = (dst if acc) + op(a) * op(b)`, all row-major: `a` is `m x k` (stored `k x m`
/// when `ta`), `b` is `k x n` (stored `n x k` when `tb`).
#[allow(clippy::too_many_arguments)]
fn gemm_rm<T: ConvFloat>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    acc: bool,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    assert!(a.len() >= m * k && b.len() >= k * n && dst.len() >= m * n, "gemm_rm: operand too short");
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the assert above checks that `a` holds the m*k elements and `b` the k*n elements
    // the strides address, and `dst` (exclusively borrowed) has room for m*n row-major
    // elements; gemm reads only `a` and `b` and writes only `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            acc,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        )
    }
}

/// How to spread `work` multiply-adds over `batch` images: (split over the batch, gemm's own
/// parallelism inside each product).
fn plan(batch: usize, work: usize) -> (bool, gemm::Parallelism) {
    let par = super::parallel(work);
    if par && batch > 1 {
        (true, gemm::Parallelism::None)
    } else if par {
        (false, gemm::Parallelism::Rayon(rayon::current_num_threads()))
    } else {
        (false, gemm::Parallelism::None)
    }
}

/// Run `f(image, out_chunk, scratch)` for every `per`-element chunk of `out`, in parallel when
/// `par`; each worker owns one `scratch`-element buffer.
fn for_each_image<T: ConvFloat>(
    out: &mut [T],
    per: usize,
    scratch: usize,
    par: bool,
    f: impl Fn(usize, &mut [T], &mut [T]) + Sync + Send,
) {
    if out.is_empty() || per == 0 {
        return;
    }
    if par {
        out.par_chunks_mut(per).enumerate().for_each_init(|| vec![T::zero(); scratch], |buf, (n, o)| f(n, o, buf));
    } else {
        let mut buf = vec![T::zero(); scratch];
        for (n, o) in out.chunks_mut(per).enumerate() {
            f(n, o, &mut buf);
        }
    }
}

/// Convolution forward: `x` is `(batch, in_c, h, w)`, `w` is `(out_c, in_c/groups, kh, kw)`,
/// `bias` is `(out_c,)`; returns `(batch, out_c, oh, ow)`.
pub fn conv_forward<T: ConvFloat>(x: &[T], w: &[T], bias: Option<&[T]>, g: &ConvGeom) -> Vec<T> {
    let (cg, fg, kg) = (g.in_c / g.groups, g.out_c / g.groups, g.col_rows());
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut y = vec![T::zero(); g.batch * g.out_c * ohw];
    let (par_batch, inner) = plan(g.batch, g.work());
    let pointwise = g.is_pointwise();
    let scratch = if pointwise { 0 } else { kg * ohw };
    for_each_image(&mut y, g.out_c * ohw, scratch, par_batch, |n, yimg, col| {
        let ximg = &x[n * g.in_c * hw..(n + 1) * g.in_c * hw];
        for grp in 0..g.groups {
            let xg = &ximg[grp * cg * hw..(grp + 1) * cg * hw];
            let src: &[T] = if pointwise {
                xg
            } else {
                im2col(xg, g, cg, col);
                col
            };
            let wg = &w[grp * fg * kg..(grp + 1) * fg * kg];
            gemm_rm(fg, ohw, kg, &mut yimg[grp * fg * ohw..(grp + 1) * fg * ohw], wg, false, src, false, false, inner);
        }
        if let Some(b) = bias {
            for (plane, &bv) in yimg.chunks_mut(ohw).zip(b) {
                plane.iter_mut().for_each(|v| *v = *v + bv);
            }
        }
    });
    y
}

/// Gradient of the convolution's input: `dy` is `(batch, out_c, oh, ow)`; returns
/// `(batch, in_c, h, w)`. Also the forward pass of a transposed convolution.
pub fn conv_backward_data<T: ConvFloat>(dy: &[T], w: &[T], g: &ConvGeom) -> Vec<T> {
    let (cg, fg, kg) = (g.in_c / g.groups, g.out_c / g.groups, g.col_rows());
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut dx = vec![T::zero(); g.batch * g.in_c * hw];
    let (par_batch, inner) = plan(g.batch, g.work());
    let pointwise = g.is_pointwise();
    let scratch = if pointwise { 0 } else { kg * ohw };
    for_each_image(&mut dx, g.in_c * hw, scratch, par_batch, |n, dximg, col| {
        let dyimg = &dy[n * g.out_c * ohw..(n + 1) * g.out_c * ohw];
        for grp in 0..g.groups {
            let wg = &w[grp * fg * kg..(grp + 1) * fg * kg];
            let dyg = &dyimg[grp * fg * ohw..(grp + 1) * fg * ohw];
            let dxg = &mut dximg[grp * cg * hw..(grp + 1) * cg * hw];
            if pointwise {
                gemm_rm(kg, ohw, fg, dxg, wg, true, dyg, false, false, inner);
            } else {
                gemm_rm(kg, ohw, fg, col, wg, true, dyg, false, false, inner);
                col2im(col, g, cg, dxg);
            }
        }
    });
    dx
}

/// Gradient of the convolution's weight: `dy` is `(batch, out_c, oh, ow)`, `x` the input;
/// returns `(out_c, in_c/groups, kh, kw)`, summed over the batch.
pub fn conv_backward_weight<T: ConvFloat>(dy: &[T], x: &[T], g: &ConvGeom) -> Vec<T> {
    let (cg, fg, kg) = (g.in_c / g.groups, g.out_c / g.groups, g.col_rows());
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let (par_batch, inner) = plan(g.batch, g.work());
    let pointwise = g.is_pointwise();
    // Accumulate images [lo, hi) into `dw` (zero on entry).
    let accumulate = |lo: usize, hi: usize, dw: &mut [T]| {
        let mut col = vec![T::zero(); if pointwise { 0 } else { kg * ohw }];
        for n in lo..hi {
            let ximg = &x[n * g.in_c * hw..(n + 1) * g.in_c * hw];
            let dyimg = &dy[n * g.out_c * ohw..(n + 1) * g.out_c * ohw];
            for grp in 0..g.groups {
                let xg = &ximg[grp * cg * hw..(grp + 1) * cg * hw];
                let src: &[T] = if pointwise {
                    xg
                } else {
                    im2col(xg, g, cg, &mut col);
                    &col
                };
                let dyg = &dyimg[grp * fg * ohw..(grp + 1) * fg * ohw];
                let dwg = &mut dw[grp * fg * kg..(grp + 1) * fg * kg];
                gemm_rm(fg, kg, ohw, dwg, dyg, false, src, true, n > lo, inner);
            }
        }
    };
    let len = g.weight_len();
    if !par_batch {
        let mut dw = vec![T::zero(); len];
        accumulate(0, g.batch, &mut dw);
        return dw;
    }
    let parts = rayon::current_num_threads().min(g.batch).max(1);
    let per = g.batch.div_ceil(parts);
    (0..parts)
        .into_par_iter()
        .map(|p| {
            let mut dw = vec![T::zero(); len];
            accumulate(p * per, ((p + 1) * per).min(g.batch), &mut dw);
            dw
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, &y)| *x = *x + y);
            a
        })
        .unwrap_or_else(|| vec![T::zero(); len])
}

/// Gradient of a per-channel bias: sums `dy` (`(batch, channels, plane)`) over batch and plane.
pub fn bias_backward<T: ConvFloat>(dy: &[T], batch: usize, channels: usize, plane: usize) -> Vec<T> {
    let mut db = vec![T::zero(); channels];
    for n in 0..batch {
        for (c, d) in db.iter_mut().enumerate() {
            let s = &dy[(n * channels + c) * plane..(n * channels + c + 1) * plane];
            *d = *d + s.iter().fold(T::zero(), |a, &v| a + v);
        }
    }
    db
}

/// A pooling reduction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    /// Maximum of the window; the gradient goes to the first maximal element.
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

/// The geometry of a 2-D pooling over `planes` planes of `h x w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Planes (batch times channels).
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Top padding.
    pub ph: usize,
    /// Left padding.
    pub pw: usize,
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
    fn spans(&self) -> (Vec<Span>, Vec<Span>) {
        (spans(self.oh, self.sh, self.ph, self.kh, self.h), spans(self.ow, self.sw, self.pw, self.kw, self.w))
    }
}

/// The divisor of a window (1 for max, sum and lp).
fn divisor(kind: PoolKind, sy: &Span, sx: &Span) -> usize {
    match kind {
        PoolKind::Avg { include_pad: true } => sy.padded * sx.padded,
        PoolKind::Avg { include_pad: false } => (sy.hi - sy.lo) * (sx.hi - sx.lo),
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

/// Max pooling of one output row over the input rows `sy` of `plane` (row length `w`), windows
/// of `kw` columns from `x0`, `sw` apart: `out[o]` gets the window's maximum and, when `arg`
/// is given, `arg[o]` the plane index of its first maximum (row-major order within the window).
#[allow(clippy::too_many_arguments)]
fn max_row<T: Float>(
    plane: &[T],
    w: usize,
    sy: &Span,
    x0: usize,
    kw: usize,
    sw: usize,
    out: &mut [T],
    mut arg: Option<&mut [usize]>,
) {
    out.fill(T::neg_infinity());
    if out.is_empty() {
        return;
    }
    let mut first = true;
    for r in sy.lo..sy.hi {
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
    }
}

/// Run `body(plane, chunk)` over the `per`-element chunks of `out`, in parallel when `work` is
/// large.
fn for_each_plane<T: Send>(out: &mut [T], per: usize, work: usize, body: impl Fn(usize, &mut [T]) + Sync + Send) {
    if per == 0 || out.is_empty() {
        return;
    }
    if super::parallel(work) {
        out.par_chunks_mut(per).enumerate().for_each(|(p, o)| body(p, o));
    } else {
        out.chunks_mut(per).enumerate().for_each(|(p, o)| body(p, o));
    }
}

/// Pool `x` (`(planes, h, w)`) into `(planes, oh, ow)`.
pub fn pool_forward<T: Float + Send + Sync + StorageElement>(x: &[T], g: &PoolGeom, kind: PoolKind) -> Vec<T> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let (ys, xs) = g.spans();
    let mut y: Vec<T> = crate::pool::alloc(g.planes * ohw);
    let regular = regular_columns(&xs, g.kw, g.sw).filter(|_| kind == PoolKind::Max);
    for_each_plane(&mut y, ohw, x.len() + g.planes * ohw, |p, out| {
        let plane = &x[p * hw..(p + 1) * hw];
        if let Some(x0) = regular {
            for (sy, orow) in ys.iter().zip(out.chunks_mut(g.ow)) {
                max_row(plane, g.w, sy, x0, g.kw, g.sw, orow, None);
            }
            return;
        }
        for (sy, orow) in ys.iter().zip(out.chunks_mut(g.ow)) {
            for (sx, o) in xs.iter().zip(orow.iter_mut()) {
                let rows = (sy.lo..sy.hi).map(|r| &plane[r * g.w + sx.lo..r * g.w + sx.hi]);
                *o = match kind {
                    PoolKind::Max => {
                        let mut m = T::neg_infinity();
                        for row in rows {
                            for &v in row {
                                if v > m {
                                    m = v;
                                }
                            }
                        }
                        m
                    }
                    PoolKind::Avg { .. } | PoolKind::Sum => {
                        let mut s = <T as num_traits::Zero>::zero();
                        for row in rows {
                            for &v in row {
                                s = s + v;
                            }
                        }
                        let d = divisor(kind, sy, sx);
                        if d <= 1 { s } else { s / as_float(d) }
                    }
                    PoolKind::Lp { p } => {
                        let mut s = <T as num_traits::Zero>::zero();
                        for row in rows {
                            for &v in row {
                                s = s + powi(v, p);
                            }
                        }
                        if p == 1 { s } else { s.powf(<T as num_traits::One>::one() / as_float(p as usize)) }
                    }
                };
            }
        }
    });
    y
}

/// Gradient of [`pool_forward`]: `dy` is `(planes, oh, ow)`, `x` the input and `y` the forward
/// output (used by `Lp`); returns `(planes, h, w)`.
pub fn pool_backward<T: Float + Send + Sync + StorageElement>(
    dy: &[T],
    x: &[T],
    y: &[T],
    g: &PoolGeom,
    kind: PoolKind,
) -> Vec<T> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let (ys, xs) = g.spans();
    let mut dx: Vec<T> = crate::pool::alloc_zeroed(g.planes * hw);
    let regular = regular_columns(&xs, g.kw, g.sw).filter(|_| kind == PoolKind::Max);
    for_each_plane(&mut dx, hw, x.len() + dy.len(), |p, dxp| {
        let plane = &x[p * hw..(p + 1) * hw];
        let dyp = &dy[p * ohw..(p + 1) * ohw];
        if let Some(x0) = regular {
            let (mut m, mut arg) = (vec![<T as num_traits::Zero>::zero(); g.ow], vec![0usize; g.ow]);
            for (sy, dyrow) in ys.iter().zip(dyp.chunks_exact(g.ow)) {
                if sy.lo == sy.hi {
                    continue;
                }
                max_row(plane, g.w, sy, x0, g.kw, g.sw, &mut m, Some(&mut arg));
                for (&i, &gv) in arg.iter().zip(dyrow) {
                    dxp[i] = dxp[i] + gv;
                }
            }
            return;
        }
        for (oy, sy) in ys.iter().enumerate() {
            for (ox, sx) in xs.iter().enumerate() {
                let o = oy * g.ow + ox;
                let gv = dyp[o];
                match kind {
                    PoolKind::Max => {
                        let mut best = usize::MAX;
                        let mut m = T::neg_infinity();
                        for r in sy.lo..sy.hi {
                            let start = r * g.w + sx.lo;
                            for (i, &v) in plane[start..r * g.w + sx.hi].iter().enumerate() {
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
                    PoolKind::Avg { .. } | PoolKind::Sum => {
                        let d = divisor(kind, sy, sx);
                        let share = if d <= 1 { gv } else { gv / as_float(d) };
                        for r in sy.lo..sy.hi {
                            for v in &mut dxp[r * g.w + sx.lo..r * g.w + sx.hi] {
                                *v = *v + share;
                            }
                        }
                    }
                    PoolKind::Lp { p: pw } => {
                        let yv = y[p * ohw + o];
                        for r in sy.lo..sy.hi {
                            for i in r * g.w + sx.lo..r * g.w + sx.hi {
                                let d = if pw == 1 {
                                    gv
                                } else if yv == <T as num_traits::Zero>::zero() {
                                    <T as num_traits::Zero>::zero()
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
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeom {
        let dk = d * (k - 1) + 1;
        ConvGeom {
            batch: 2,
            in_c: 4,
            h,
            w,
            out_c: 6,
            groups: 2,
            kh: k,
            kw: k,
            sh: s,
            sw: s,
            ph: p,
            pw: p,
            dh: d,
            dw: d,
            oh: (h + 2 * p - dk) / s + 1,
            ow: (w + 2 * p - dk) / s + 1,
        }
    }

    /// Direct convolution, for comparison.
    fn naive(x: &[f64], w: &[f64], g: &ConvGeom) -> Vec<f64> {
        let (cg, fg) = (g.in_c / g.groups, g.out_c / g.groups);
        let mut y = vec![0.0; g.batch * g.out_c * g.oh * g.ow];
        for n in 0..g.batch {
            for f in 0..g.out_c {
                let grp = f / fg;
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut s = 0.0;
                        for c in 0..cg {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let iy = (oy * g.sh + i * g.dh) as isize - g.ph as isize;
                                    let ix = (ox * g.sw + j * g.dw) as isize - g.pw as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                        continue;
                                    }
                                    let xi = ((n * g.in_c + grp * cg + c) * g.h + iy as usize) * g.w + ix as usize;
                                    s += x[xi] * w[((f * cg + c) * g.kh + i) * g.kw + j];
                                }
                            }
                        }
                        y[((n * g.out_c + f) * g.oh + oy) * g.ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn forward_matches_direct_convolution() {
        for (h, w, k, s, p, d) in [(7, 6, 3, 1, 0, 1), (7, 8, 3, 2, 1, 1), (9, 9, 2, 3, 2, 2), (5, 5, 1, 1, 0, 1)] {
            let g = geom(h, w, k, s, p, d);
            let x = crate::op::grad::test_values(g.batch * g.in_c * h * w, 3);
            let wt = crate::op::grad::test_values(g.weight_len(), 4);
            let got = conv_forward(&x, &wt, None, &g);
            let want = naive(&x, &wt, &g);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = geom(7, 8, 3, 2, 1, 2);
        let cg = g.in_c / g.groups;
        let x = crate::op::grad::test_values(cg * g.h * g.w, 5);
        let c = crate::op::grad::test_values(g.col_rows() * g.oh * g.ow, 6);
        let mut col = vec![0.0; c.len()];
        im2col(&x, &g, cg, &mut col);
        let mut back = vec![0.0; x.len()];
        col2im(&c, &g, cg, &mut back);
        let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-10);
    }

    /// Max pooling window by window, first maximum in row-major order (the reference for the
    /// row kernels).
    fn naive_max_pool(x: &[f32], g: &PoolGeom, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        let (mut y, mut dx) = (vec![f32::NEG_INFINITY; g.planes * ohw], vec![0.0; g.planes * hw]);
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
            let g = PoolGeom { planes: 3, h, w, kh: k, kw: k, sh: st, sw: st, ph: pad, pw: pad, oh, ow };
            // Few distinct values: many ties, where the first maximum must win.
            let x: Vec<f32> = (0..3 * h * w).map(|i| ((i * 7919) % 5) as f32).collect();
            let dy: Vec<f32> = (0..3 * oh * ow).map(|i| 1.0 + i as f32).collect();
            let (want_y, want_dx) = naive_max_pool(&x, &g, &dy);
            assert_eq!(pool_forward(&x, &g, PoolKind::Max), want_y, "forward {h}x{w} k{k} s{st} p{pad}");
            let y = pool_forward(&x, &g, PoolKind::Max);
            assert_eq!(pool_backward(&dy, &x, &y, &g, PoolKind::Max), want_dx, "backward {h}x{w} k{k} s{st} p{pad}");
        }
    }
}
