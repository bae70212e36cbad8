//! Kernels of the fused `RNN` op: the layout of MXNet's flat parameter vector and of the
//! reserve (what the forward pass keeps for the backward one), and the forward and backward
//! (BPTT) passes of one layer in one direction, over the matrix products of
//! [`crate::backend::cpu::matmul`].
//!
//! Gates as in MXNet (and cuDNN): LSTM `i, f, g, o` with `c' = f c + i g`, `h' = o tanh(c')`;
//! GRU `r, z, n` with `n = tanh(W_in x + b_in + r (W_hn h + b_hn))`, `h' = (1 - z) n + z h`.

use crate::backend::cpu::Parallelism;
use crate::backend::cpu::matmul::{MatRef, matmul_into};
use crate::dtype::Element;
use crate::op::layers::{Real, c};
use crate::storage::{CpuStorage, StorageElement};

/// The cell type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Relu,
    Tanh,
    Lstm,
    Gru,
}

impl Mode {
    /// Gates per unit.
    pub(super) fn gates(self) -> usize {
        match self {
            Mode::Relu | Mode::Tanh => 1,
            Mode::Lstm => 4,
            Mode::Gru => 3,
        }
    }
    /// Values per unit saved beside the layer output: the gates and the cell state (LSTM) or
    /// the hidden part of the `n` gate (GRU).
    fn saved(self) -> usize {
        match self {
            Mode::Relu | Mode::Tanh => 0,
            Mode::Lstm => 5,
            Mode::Gru => 4,
        }
    }
}

/// Sizes of one RNN call.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    pub(super) mode: Mode,
    pub(super) t: usize,
    pub(super) n: usize,
    pub(super) i: usize,
    pub(super) h: usize,
    pub(super) layers: usize,
    pub(super) dirs: usize,
    /// Whether the reserve holds dropout masks (`p > 0`).
    pub(super) dropout: bool,
}

/// Offsets of one layer and direction's weights and biases in the flat parameter vector.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    wx: usize,
    wh: usize,
    bx: usize,
    bh: usize,
}

impl Dims {
    fn gh(&self) -> usize {
        self.mode.gates() * self.h
    }
    /// Input width of `layer`.
    pub(super) fn input(&self, layer: usize) -> usize {
        if layer == 0 { self.i } else { self.dirs * self.h }
    }
    /// Width of a layer's output.
    pub(super) fn width(&self) -> usize {
        self.dirs * self.h
    }
    /// Length of MXNet's flat parameter vector: every layer and direction's `i2h` and `h2h`
    /// weights, then every layer and direction's `i2h` and `h2h` biases.
    pub(super) fn param_size(&self) -> usize {
        let w: usize = (0..self.layers).map(|l| self.dirs * self.gh() * (self.input(l) + self.h)).sum();
        w + self.layers * self.dirs * 2 * self.gh()
    }
    pub(super) fn params(&self, layer: usize, dir: usize) -> Params {
        let mut off = 0;
        for l in 0..layer {
            off += self.dirs * self.gh() * (self.input(l) + self.h);
        }
        off += dir * self.gh() * (self.input(layer) + self.h);
        let wx = off;
        let wh = wx + self.gh() * self.input(layer);
        let bias_start: usize = (0..self.layers).map(|l| self.dirs * self.gh() * (self.input(l) + self.h)).sum();
        let bx = bias_start + (layer * self.dirs + dir) * 2 * self.gh();
        Params { wx, wh, bx, bh: bx + self.gh() }
    }
    fn rows(&self) -> usize {
        self.t * self.n
    }
    /// Reserve per layer: its output, each direction's saved values, its dropout mask.
    fn layer_reserve(&self, layer: usize) -> usize {
        let mask = if self.dropout && layer + 1 < self.layers { 1 } else { 0 };
        self.rows() * (self.width() * (1 + mask) + self.dirs * self.mode.saved() * self.h)
    }
    pub(super) fn reserve_size(&self) -> usize {
        (0..self.layers).map(|l| self.layer_reserve(l)).sum()
    }
    /// Offset of layer `l`'s output `(T, N, D*H)` in the reserve.
    pub(super) fn y_off(&self, layer: usize) -> usize {
        (0..layer).map(|l| self.layer_reserve(l)).sum()
    }
    /// Offset of layer `l` direction `d`'s saved values `(T, N, saved*H)`.
    fn saved_off(&self, layer: usize, dir: usize) -> usize {
        self.y_off(layer) + self.rows() * (self.width() + dir * self.mode.saved() * self.h)
    }
    /// Offset of layer `l`'s dropout mask `(T, N, D*H)` (only below the last layer, `p > 0`).
    pub(super) fn mask_off(&self, layer: usize) -> usize {
        self.saved_off(layer, self.dirs)
    }
    /// Time steps in processing order.
    fn steps(&self, dir: usize) -> Vec<usize> {
        if dir == 0 { (0..self.t).collect() } else { (0..self.t).rev().collect() }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn slice<T: StorageElement>(s: &CpuStorage) -> &[T] {
    T::slice(s).expect("RNN buffers share the op's dtype")
}

fn slice_mut<T: StorageElement>(s: &mut CpuStorage) -> &mut [T] {
    T::slice_mut(s).expect("RNN buffers share the op's dtype")
}

/// `dst (m x n) = a (m x k) * b (k x n)`.
#[allow(clippy::too_many_arguments)]
fn mm(
    par: Parallelism,
    dst: &mut CpuStorage,
    a: &CpuStorage,
    l: MatRef,
    b: &CpuStorage,
    r: MatRef,
    m: usize,
    n: usize,
    k: usize,
) {
    matmul_into(par, dst, 0, a, l, b, r, m, n, k);
}

/// `acc += src` elementwise.
fn add_into<T: Real>(acc: &mut [T], src: &[T]) {
    acc.iter_mut().zip(src).for_each(|(a, &b)| *a = *a + b);
}

/// The data one layer direction reads: its input, weights, initial states and the reserve.
pub(super) struct LayerIn<'a> {
    pub(super) layer: usize,
    pub(super) dir: usize,
    /// The layer's input `(T*N, I_l)`, contiguous.
    pub(super) x: &'a CpuStorage,
    /// The flat parameters (whole storage).
    pub(super) w: &'a CpuStorage,
    /// Offset of the parameters in `w`.
    pub(super) w_off: usize,
}

/// Forward pass of one layer direction: fills its output columns and saved values in `res`,
/// returns the final hidden and cell states.
pub(super) fn forward_dir<T: Real>(
    par: Parallelism,
    dims: &Dims,
    li: &LayerIn<'_>,
    h0: &[T],
    c0: &[T],
    res: &mut CpuStorage,
) -> (Vec<T>, Vec<T>) {
    let (n, h, gh, inp) = (dims.n, dims.h, dims.gh(), dims.input(li.layer));
    let p = dims.params(li.layer, li.dir);
    let wo = li.w_off;
    let w = slice::<T>(li.w);
    let mut pre = T::wrap(vec![<T as Element>::zero(); dims.rows() * gh]);
    mm(
        par,
        &mut pre,
        li.x,
        MatRef::row_major(0, inp, false),
        li.w,
        MatRef::row_major(wo + p.wx, inp, true),
        dims.rows(),
        gh,
        inp,
    );
    let gru = dims.mode == Mode::Gru;
    for row in slice_mut::<T>(&mut pre).chunks_exact_mut(gh) {
        for (j, v) in row.iter_mut().enumerate() {
            let bh = if gru { <T as Element>::zero() } else { w[wo + p.bh + j] };
            *v = *v + w[wo + p.bx + j] + bh;
        }
    }
    let pre = slice::<T>(&pre);
    let mut hprev = T::wrap(h0.to_vec());
    let mut cprev = c0.to_vec();
    let mut hh = T::wrap(vec![<T as Element>::zero(); n * gh]);
    let (yo, so, width, sv) =
        (dims.y_off(li.layer), dims.saved_off(li.layer, li.dir), dims.width(), dims.mode.saved() * h);
    for t in dims.steps(li.dir) {
        mm(par, &mut hh, &hprev, MatRef::row_major(0, h, false), li.w, MatRef::row_major(wo + p.wh, h, true), n, gh, h);
        let hhs = slice::<T>(&hh);
        let hp = slice_mut::<T>(&mut hprev);
        let r = slice_mut::<T>(res);
        for b in 0..n {
            let px = &pre[(t * n + b) * gh..(t * n + b + 1) * gh];
            let hr = &hhs[b * gh..(b + 1) * gh];
            let ybase = yo + (t * n + b) * width + li.dir * h;
            let sbase = so + (t * n + b) * sv;
            for j in 0..h {
                let (hn, cn) = cell_forward(
                    dims.mode,
                    px,
                    hr,
                    &w[wo + p.bh..wo + p.bh + gh],
                    h,
                    j,
                    hp[b * h + j].to_f64(),
                    cprev.get(b * h + j).map_or(0.0, |v| <T as Element>::to_f64(*v)),
                    &mut r[sbase..sbase + sv],
                );
                r[ybase + j] = c(hn);
                if dims.mode == Mode::Lstm {
                    cprev[b * h + j] = c(cn);
                }
            }
        }
        for b in 0..n {
            let ybase = yo + (t * n + b) * width + li.dir * h;
            hp[b * h..(b + 1) * h].copy_from_slice(&slice::<T>(res)[ybase..ybase + h]);
        }
    }
    (slice::<T>(&hprev).to_vec(), cprev)
}

/// One unit `j` of one cell step: returns `(h', c')` and writes the saved values of the unit.
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_forward<T: Real>(
    mode: Mode,
    px: &[T],
    hh: &[T],
    bh: &[T],
    h: usize,
    j: usize,
    hprev: f64,
    cprev: f64,
    saved: &mut [T],
) -> (f64, f64) {
    let a = |g: usize| px[g * h + j].to_f64() + hh[g * h + j].to_f64();
    match mode {
        Mode::Relu => (a(0).max(0.0), 0.0),
        Mode::Tanh => (a(0).tanh(), 0.0),
        Mode::Lstm => {
            let (i, f, g, o) = (sigmoid(a(0)), sigmoid(a(1)), a(2).tanh(), sigmoid(a(3)));
            let cn = f * cprev + i * g;
            let hn = o * cn.tanh();
            for (k, v) in [i, f, g, o, cn].into_iter().enumerate() {
                saved[k * h + j] = c(v);
            }
            (hn, cn)
        }
        Mode::Gru => {
            let hn_part = hh[2 * h + j].to_f64() + bh[2 * h + j].to_f64();
            let r = sigmoid(a(0) + bh[j].to_f64());
            let z = sigmoid(a(1) + bh[h + j].to_f64());
            let nn = (px[2 * h + j].to_f64() + r * hn_part).tanh();
            for (k, v) in [r, z, nn, hn_part].into_iter().enumerate() {
                saved[k * h + j] = c(v);
            }
            ((1.0 - z) * nn + z * hprev, 0.0)
        }
    }
}

/// Gradients flowing out of one layer direction's backward pass.
pub(super) struct DirGrads<T> {
    /// Gradient of the initial hidden state `(N, H)`.
    pub(super) dh0: Vec<T>,
    /// Gradient of the initial cell state `(N, H)` (LSTM).
    pub(super) dc0: Vec<T>,
}

/// Backward pass of one layer direction. `dy` is the gradient of the layer's output
/// `(T, N, D*H)`, `dht`/`dct` those of its final states. Adds the parameter gradients into
/// `dw` (the flat gradient vector) and the input gradient into `dx` `(T*N, I_l)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_dir<T: Real>(
    par: Parallelism,
    dims: &Dims,
    li: &LayerIn<'_>,
    res: &CpuStorage,
    h0: &CpuStorage,
    c0: &[T],
    dy: &[T],
    dht: &[T],
    dct: &[T],
    dw: &mut [T],
    dx: &mut CpuStorage,
) -> DirGrads<T> {
    let (n, h, gh, inp, rows) = (dims.n, dims.h, dims.gh(), dims.input(li.layer), dims.rows());
    let p = dims.params(li.layer, li.dir);
    let wo = li.w_off;
    let zero = <T as Element>::zero();
    let gru = dims.mode == Mode::Gru;
    let mut dgx = T::wrap(vec![zero; rows * gh]);
    let mut dgh = if gru { T::wrap(vec![zero; rows * gh]) } else { CpuStorage::F32(Default::default()) };
    let mut dh_next = dht.to_vec();
    let mut dc_next = dct.to_vec();
    let mut dhp = T::wrap(vec![zero; n * h]);
    let steps = dims.steps(li.dir);
    let si = StepIn {
        dims,
        dir: li.dir,
        r: slice::<T>(res),
        h0: slice::<T>(h0),
        c0,
        dy,
        yo: dims.y_off(li.layer),
        so: dims.saved_off(li.layer, li.dir),
    };
    for (s, &t) in steps.iter().enumerate().rev() {
        let prev = if s == 0 { None } else { Some(steps[s - 1]) };
        let mut direct = vec![0f64; n * h];
        let ghb = if gru { Some(slice_mut::<T>(&mut dgh)) } else { None };
        step_backward(&si, t, prev, &dh_next, &mut dc_next, &mut direct, slice_mut::<T>(&mut dgx), ghb);
        let src = if gru { &dgh } else { &dgx };
        mm(
            par,
            &mut dhp,
            src,
            MatRef::row_major(t * n * gh, gh, false),
            li.w,
            MatRef::row_major(wo + p.wh, h, false),
            n,
            h,
            gh,
        );
        let hp = slice::<T>(&dhp);
        for (k, v) in dh_next.iter_mut().enumerate() {
            *v = c(hp[k].to_f64() + direct[k]);
        }
    }
    let dgh_ref = if gru { &dgh } else { &dgx };
    param_grads(par, dims, li, res, h0, &dgx, dgh_ref, dw);
    // dx += dgx * W_x
    let mut tmp = T::wrap(vec![zero; rows * inp]);
    mm(
        par,
        &mut tmp,
        &dgx,
        MatRef::row_major(0, gh, false),
        li.w,
        MatRef::row_major(wo + p.wx, inp, false),
        rows,
        inp,
        gh,
    );
    add_into(slice_mut::<T>(dx), slice::<T>(&tmp));
    DirGrads { dh0: dh_next, dc0: dc_next }
}

/// What the backward steps of one layer direction read.
struct StepIn<'a, T> {
    dims: &'a Dims,
    dir: usize,
    /// The reserve.
    r: &'a [T],
    h0: &'a [T],
    c0: &'a [T],
    /// Gradient of the layer output.
    dy: &'a [T],
    /// Offsets of the layer output and of this direction's saved values in the reserve.
    yo: usize,
    so: usize,
}

/// Gate gradients of step `t` (previous step `prev`, `None` at the first one) into `gx` (input
/// side) and `ghb` (hidden side, GRU only); updates `dc_next` to the previous cell state's
/// gradient and fills `direct`, the part of the previous hidden state's gradient that does not
/// go through `W_h`.
#[allow(clippy::too_many_arguments)]
fn step_backward<T: Real>(
    si: &StepIn<'_, T>,
    t: usize,
    prev: Option<usize>,
    dh_next: &[T],
    dc_next: &mut [T],
    direct: &mut [f64],
    gx: &mut [T],
    mut ghb: Option<&mut [T]>,
) {
    let d = si.dims;
    let (n, h, gh, width, sv) = (d.n, d.h, d.gh(), d.width(), d.mode.saved() * d.h);
    let lstm = d.mode == Mode::Lstm;
    let col = si.dir * h;
    for b in 0..n {
        let row = t * n + b;
        let saved = &si.r[si.so + row * sv..si.so + (row + 1) * sv];
        for j in 0..h {
            let k = b * h + j;
            let hv = si.r[si.yo + row * width + col + j].to_f64();
            let dh = si.dy[row * width + col + j].to_f64() + dh_next[k].to_f64();
            let (hprev, cprev) = match prev {
                Some(tp) => (
                    si.r[si.yo + (tp * n + b) * width + col + j].to_f64(),
                    if lstm { si.r[si.so + (tp * n + b) * sv + 4 * h + j].to_f64() } else { 0.0 },
                ),
                None => (si.h0[k].to_f64(), if lstm { si.c0[k].to_f64() } else { 0.0 }),
            };
            let dcn = if lstm { dc_next[k].to_f64() } else { 0.0 };
            let g = &mut gx[row * gh..(row + 1) * gh];
            let (dcp, dd) = cell_backward(d.mode, saved, h, j, hv, dh, dcn, hprev, cprev, g);
            if lstm {
                dc_next[k] = c(dcp);
            }
            direct[k] = dd;
            if let Some(ghb) = ghb.as_deref_mut() {
                let ghr = &mut ghb[row * gh..(row + 1) * gh];
                ghr[j] = g[j];
                ghr[h + j] = g[h + j];
                ghr[2 * h + j] = c(g[2 * h + j].to_f64() * saved[j].to_f64());
            }
        }
    }
}

/// One unit of one cell step backwards: writes the gate gradients (input side) into `g` and
/// returns `(gradient of the previous cell state, direct gradient of the previous hidden
/// state)`; the rest of the previous hidden state's gradient goes through `W_h`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_backward<T: Real>(
    mode: Mode,
    saved: &[T],
    h: usize,
    j: usize,
    hv: f64,
    dh: f64,
    dc_next: f64,
    hprev: f64,
    cprev: f64,
    g: &mut [T],
) -> (f64, f64) {
    let sv = |k: usize| saved[k * h + j].to_f64();
    match mode {
        Mode::Relu => {
            g[j] = c(if hv > 0.0 { dh } else { 0.0 });
            (0.0, 0.0)
        }
        Mode::Tanh => {
            g[j] = c(dh * (1.0 - hv * hv));
            (0.0, 0.0)
        }
        Mode::Lstm => {
            let (i, f, gg, o, cn) = (sv(0), sv(1), sv(2), sv(3), sv(4));
            let tc = cn.tanh();
            let dc = dc_next + dh * o * (1.0 - tc * tc);
            g[j] = c(dc * gg * i * (1.0 - i));
            g[h + j] = c(dc * cprev * f * (1.0 - f));
            g[2 * h + j] = c(dc * i * (1.0 - gg * gg));
            g[3 * h + j] = c(dh * tc * o * (1.0 - o));
            (dc * f, 0.0)
        }
        Mode::Gru => {
            let (r, z, nn, hn) = (sv(0), sv(1), sv(2), sv(3));
            let dan = dh * (1.0 - z) * (1.0 - nn * nn);
            g[j] = c(dan * hn * r * (1.0 - r));
            g[h + j] = c(dh * (hprev - nn) * z * (1.0 - z));
            g[2 * h + j] = c(dan);
            (0.0, dh * z)
        }
    }
}

/// Weight and bias gradients of one layer direction from its gate gradients.
#[allow(clippy::too_many_arguments)]
fn param_grads<T: Real>(
    par: Parallelism,
    dims: &Dims,
    li: &LayerIn<'_>,
    res: &CpuStorage,
    h0: &CpuStorage,
    dgx: &CpuStorage,
    dgh: &CpuStorage,
    dw: &mut [T],
) {
    let (n, h, gh, inp, rows, t) = (dims.n, dims.h, dims.gh(), dims.input(li.layer), dims.rows(), dims.t);
    let p = dims.params(li.layer, li.dir);
    let zero = <T as Element>::zero();
    let mut tmp = T::wrap(vec![zero; gh * inp]);
    mm(par, &mut tmp, dgx, MatRef::row_major(0, gh, true), li.x, MatRef::row_major(0, inp, false), gh, inp, rows);
    add_into(&mut dw[p.wx..p.wx + gh * inp], slice::<T>(&tmp));
    // W_h: sum over steps of dgh[t]^T h_prev(t); h_prev is the layer output at the previous
    // step (strided columns of the reserve), or h0 at the first step.
    let (first, later, prev) = if li.dir == 0 { (0, 1, 0) } else { (t - 1, 0, 1) };
    let mut tmp = T::wrap(vec![zero; gh * h]);
    let y = MatRef {
        offset: dims.y_off(li.layer) + prev * n * dims.width() + li.dir * h,
        rs: dims.width() as isize,
        cs: 1,
    };
    mm(par, &mut tmp, dgh, MatRef::row_major(later * n * gh, gh, true), res, y, gh, h, (t - 1) * n);
    add_into(&mut dw[p.wh..p.wh + gh * h], slice::<T>(&tmp));
    mm(par, &mut tmp, dgh, MatRef::row_major(first * n * gh, gh, true), h0, MatRef::row_major(0, h, false), gh, h, n);
    add_into(&mut dw[p.wh..p.wh + gh * h], slice::<T>(&tmp));
    for (src, off) in [(dgx, p.bx), (dgh, p.bh)] {
        for row in slice::<T>(src).chunks_exact(gh) {
            add_into(&mut dw[off..off + gh], row);
        }
    }
}
