//! Kernels of the fused `RNN` op: the layout of MXNet's flat parameter vector and of the
//! reserve (what the forward pass keeps for the backward one), and the forward pass of one
//! layer in one direction, over the matrix products of [`crate::backend::cpu::matmul`]. The
//! backward pass (BPTT) is in [`super::rnn_bptt`].
//!
//! Gates as in MXNet (and cuDNN): LSTM `i, f, g, o` with `c' = f c + i g`, `h' = o tanh(c')`;
//! GRU `r, z, n` with `n = tanh(W_in x + b_in + r (W_hn h + b_hn))`, `h' = (1 - z) n + z h`.
//! An LSTM with a projection (LSTMP) carries `r' = W_hr h'` (width `P`) instead of `h'` as its
//! recurrent state and output; with state clipping `c'` is clipped to `[min, max]` before `h'`.
//! With per-sample lengths a sample's steps at and after its length are skipped: its state
//! stays as it was (so a backward direction starts at the sample's last valid step) and its
//! output there is zero, as cuDNN computes padded sequences.

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
    pub(super) fn saved(self) -> usize {
        match self {
            Mode::Relu | Mode::Tanh => 0,
            Mode::Lstm => 5,
            Mode::Gru => 4,
        }
    }
}

/// LSTM cell-state clipping (`lstm_state_clip_min/max/nan`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Clip {
    pub(super) lo: f64,
    pub(super) hi: f64,
    /// NaN becomes `lo` (cuDNN's `CUDNN_NOT_PROPAGATE_NAN`) instead of propagating.
    pub(super) nan: bool,
}

impl Clip {
    /// The clipped value.
    pub(super) fn apply(&self, v: f64) -> f64 {
        if v.is_nan() { if self.nan { self.lo } else { v } } else { v.clamp(self.lo, self.hi) }
    }
    /// Whether the gradient passes the clip at the unclipped value `v`.
    pub(super) fn passes(&self, v: f64) -> bool {
        v >= self.lo && v <= self.hi
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
    /// LSTM projection size, 0 for none.
    pub(super) p: usize,
    pub(super) layers: usize,
    pub(super) dirs: usize,
    /// Whether the reserve holds dropout masks (`p > 0`).
    pub(super) dropout: bool,
    /// LSTM cell-state clipping.
    pub(super) clip: Option<Clip>,
}

/// Offsets of one layer and direction's weights and biases in the flat parameter vector.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    pub(super) wx: usize,
    pub(super) wh: usize,
    /// The projection `W_hr (P, H)` (LSTMP only).
    pub(super) wr: usize,
    pub(super) bx: usize,
    pub(super) bh: usize,
}

impl Dims {
    pub(super) fn gh(&self) -> usize {
        self.mode.gates() * self.h
    }
    /// Width of the recurrent state and of one direction's output: `P` with a projection,
    /// else `H`.
    pub(super) fn hr(&self) -> usize {
        if self.p > 0 { self.p } else { self.h }
    }
    /// Input width of `layer`.
    pub(super) fn input(&self, layer: usize) -> usize {
        if layer == 0 { self.i } else { self.dirs * self.hr() }
    }
    /// Width of a layer's output.
    pub(super) fn width(&self) -> usize {
        self.dirs * self.hr()
    }
    /// Weights of one direction of `layer`: `i2h`, `h2h` and (LSTMP) `h2r`.
    fn dir_weights(&self, layer: usize) -> usize {
        self.gh() * (self.input(layer) + self.hr()) + self.p * self.h
    }
    /// Length of MXNet's flat parameter vector: every layer and direction's `i2h`, `h2h` (and
    /// `h2r`) weights, then every layer and direction's `i2h` and `h2h` biases.
    pub(super) fn param_size(&self) -> usize {
        let w: usize = (0..self.layers).map(|l| self.dirs * self.dir_weights(l)).sum();
        w + self.layers * self.dirs * 2 * self.gh()
    }
    pub(super) fn params(&self, layer: usize, dir: usize) -> Params {
        let off: usize =
            (0..layer).map(|l| self.dirs * self.dir_weights(l)).sum::<usize>() + dir * self.dir_weights(layer);
        let wx = off;
        let wh = wx + self.gh() * self.input(layer);
        let wr = wh + self.gh() * self.hr();
        let bias_start: usize = (0..self.layers).map(|l| self.dirs * self.dir_weights(l)).sum();
        let bx = bias_start + (layer * self.dirs + dir) * 2 * self.gh();
        Params { wx, wh, wr, bx, bh: bx + self.gh() }
    }
    pub(super) fn rows(&self) -> usize {
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
    /// Offset of layer `l`'s output `(T, N, D*HR)` in the reserve.
    pub(super) fn y_off(&self, layer: usize) -> usize {
        (0..layer).map(|l| self.layer_reserve(l)).sum()
    }
    /// Offset of layer `l` direction `d`'s saved values `(T, N, saved*H)`.
    pub(super) fn saved_off(&self, layer: usize, dir: usize) -> usize {
        self.y_off(layer) + self.rows() * (self.width() + dir * self.mode.saved() * self.h)
    }
    /// Offset of layer `l`'s dropout mask `(T, N, D*HR)` (only below the last layer, `p > 0`).
    pub(super) fn mask_off(&self, layer: usize) -> usize {
        self.saved_off(layer, self.dirs)
    }
    /// Time steps in processing order.
    pub(super) fn steps(&self, dir: usize) -> Vec<usize> {
        if dir == 0 { (0..self.t).collect() } else { (0..self.t).rev().collect() }
    }
}

pub(super) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub(super) fn slice<T: StorageElement>(s: &CpuStorage) -> &[T] {
    T::slice(s).expect("RNN buffers share the op's dtype")
}

pub(super) fn slice_mut<T: StorageElement>(s: &mut CpuStorage) -> &mut [T] {
    T::slice_mut(s).expect("RNN buffers share the op's dtype")
}

/// `dst (m x n) = a (m x k) * b (k x n)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn mm(
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
pub(super) fn add_into<T: Real>(acc: &mut [T], src: &[T]) {
    acc.iter_mut().zip(src).for_each(|(a, &b)| *a = *a + b);
}

/// The data one layer direction reads: its input, weights and the per-sample lengths.
pub(super) struct LayerIn<'a> {
    pub(super) layer: usize,
    pub(super) dir: usize,
    /// The layer's input `(T*N, I_l)`, contiguous.
    pub(super) x: &'a CpuStorage,
    /// The flat parameters (whole storage).
    pub(super) w: &'a CpuStorage,
    /// Offset of the parameters in `w`.
    pub(super) w_off: usize,
    /// Valid steps of each sample (`use_sequence_length`); `None`: all `T`.
    pub(super) lens: Option<&'a [usize]>,
}

impl LayerIn<'_> {
    /// Whether step `t` of sample `b` is inside the sample's sequence.
    pub(super) fn active(&self, t: usize, b: usize) -> bool {
        self.lens.is_none_or(|l| t < l[b])
    }
}

/// The input side of every step's gates, `W_x x + b_x (+ b_h)` `(T*N, G*H)`; GRU keeps `b_h`
/// apart (its `n` gate scales `W_hn h + b_hn` by `r`).
fn input_gates<T: Real>(par: Parallelism, dims: &Dims, li: &LayerIn<'_>) -> CpuStorage {
    let (gh, inp) = (dims.gh(), dims.input(li.layer));
    let p = dims.params(li.layer, li.dir);
    let (wo, w) = (li.w_off, slice::<T>(li.w));
    let zero = <T as Element>::zero();
    let mut pre = T::wrap(vec![zero; dims.rows() * gh]);
    let (xm, wm) = (MatRef::row_major(0, inp, false), MatRef::row_major(wo + p.wx, inp, true));
    mm(par, &mut pre, li.x, xm, li.w, wm, dims.rows(), gh, inp);
    let gru = dims.mode == Mode::Gru;
    for row in slice_mut::<T>(&mut pre).chunks_exact_mut(gh) {
        for (j, v) in row.iter_mut().enumerate() {
            let bh = if gru { zero } else { w[wo + p.bh + j] };
            *v = *v + w[wo + p.bx + j] + bh;
        }
    }
    pre
}

/// Forward pass of one layer direction: fills its output columns and saved values in `res`,
/// returns the final recurrent (`N x HR`) and cell states.
pub(super) fn forward_dir<T: Real>(
    par: Parallelism,
    dims: &Dims,
    li: &LayerIn<'_>,
    h0: &[T],
    c0: &[T],
    res: &mut CpuStorage,
) -> (Vec<T>, Vec<T>) {
    let (n, h, hr, gh) = (dims.n, dims.h, dims.hr(), dims.gh());
    let p = dims.params(li.layer, li.dir);
    let wo = li.w_off;
    let w = slice::<T>(li.w);
    let zero = <T as Element>::zero();
    let gru = dims.mode == Mode::Gru;
    let pre = input_gates::<T>(par, dims, li);
    let pre = slice::<T>(&pre);
    let mut hprev = T::wrap(h0.to_vec());
    let mut cprev = c0.to_vec();
    let mut hh = T::wrap(vec![zero; n * gh]);
    let mut hcur = T::wrap(vec![zero; n * h]);
    let mut proj = T::wrap(vec![zero; if dims.p > 0 { n * dims.p } else { 0 }]);
    let (yo, so, width, sv) =
        (dims.y_off(li.layer), dims.saved_off(li.layer, li.dir), dims.width(), dims.mode.saved() * h);
    for t in dims.steps(li.dir) {
        mm(
            par,
            &mut hh,
            &hprev,
            MatRef::row_major(0, hr, false),
            li.w,
            MatRef::row_major(wo + p.wh, hr, true),
            n,
            gh,
            hr,
        );
        let hhs = slice::<T>(&hh);
        let hp = slice::<T>(&hprev);
        let r = slice_mut::<T>(res);
        let hc = slice_mut::<T>(&mut hcur);
        for b in (0..n).filter(|&b| li.active(t, b)) {
            let px = &pre[(t * n + b) * gh..(t * n + b + 1) * gh];
            let hrow = &hhs[b * gh..(b + 1) * gh];
            let sbase = so + (t * n + b) * sv;
            for j in 0..h {
                let (hn, cn) = cell_forward(
                    dims,
                    px,
                    hrow,
                    &w[wo + p.bh..wo + p.bh + gh],
                    j,
                    if gru { hp[b * h + j].to_f64() } else { 0.0 },
                    cprev.get(b * h + j).map_or(0.0, |v| <T as Element>::to_f64(*v)),
                    &mut r[sbase..sbase + sv],
                );
                hc[b * h + j] = c(hn);
                if dims.mode == Mode::Lstm {
                    cprev[b * h + j] = c(cn);
                }
            }
        }
        if dims.p > 0 {
            mm(
                par,
                &mut proj,
                &hcur,
                MatRef::row_major(0, h, false),
                li.w,
                MatRef::row_major(wo + p.wr, h, true),
                n,
                dims.p,
                h,
            );
        }
        let new = if dims.p > 0 { slice::<T>(&proj) } else { slice::<T>(&hcur) };
        let r = slice_mut::<T>(res);
        let hp = slice_mut::<T>(&mut hprev);
        for b in 0..n {
            let ybase = yo + (t * n + b) * width + li.dir * hr;
            if li.active(t, b) {
                r[ybase..ybase + hr].copy_from_slice(&new[b * hr..(b + 1) * hr]);
                hp[b * hr..(b + 1) * hr].copy_from_slice(&new[b * hr..(b + 1) * hr]);
            } else {
                r[ybase..ybase + hr].fill(zero);
            }
        }
    }
    (slice::<T>(&hprev).to_vec(), cprev)
}

/// One unit `j` of one cell step: returns `(h', c')` and writes the saved values of the unit.
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_forward<T: Real>(
    dims: &Dims,
    px: &[T],
    hh: &[T],
    bh: &[T],
    j: usize,
    hprev: f64,
    cprev: f64,
    saved: &mut [T],
) -> (f64, f64) {
    let h = dims.h;
    let a = |g: usize| px[g * h + j].to_f64() + hh[g * h + j].to_f64();
    match dims.mode {
        Mode::Relu => (a(0).max(0.0), 0.0),
        Mode::Tanh => (a(0).tanh(), 0.0),
        Mode::Lstm => {
            let (i, f, g, o) = (sigmoid(a(0)), sigmoid(a(1)), a(2).tanh(), sigmoid(a(3)));
            let mut cn = f * cprev + i * g;
            if let Some(cl) = dims.clip {
                cn = cl.apply(cn);
            }
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
