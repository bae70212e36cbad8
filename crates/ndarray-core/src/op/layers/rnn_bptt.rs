//! Backward pass (backpropagation through time) of one layer direction of the fused `RNN`
//! op, over the reserve [`super::rnn_cell::forward_dir`] fills.
//!
//! Per step (in reverse processing order) the gradient of the step's recurrent output (the
//! layer output's gradient plus the one flowing back from the next step) becomes, through the
//! LSTM projection when there is one, the gradient of the hidden output; the cell's gate
//! gradients follow, and through `W_h` the gradient of the previous recurrent state. Steps
//! outside a sample's length pass its state gradients through unchanged.

use crate::backend::cpu::Parallelism;
use crate::backend::cpu::matmul::MatRef;
use crate::dtype::Element;
use crate::op::layers::{Real, c};
use crate::storage::CpuStorage;

use super::rnn_cell::{Dims, LayerIn, Mode, add_into, mm, slice, slice_mut};

/// Gradients flowing out of one layer direction's backward pass.
pub(super) struct DirGrads<T> {
    /// Gradient of the initial recurrent state `(N, HR)`.
    pub(super) dh0: Vec<T>,
    /// Gradient of the initial cell state `(N, H)` (LSTM).
    pub(super) dc0: Vec<T>,
}

/// The state of one direction's backward pass carried from step to step.
struct Carry<T> {
    /// Gradient of the recurrent state after the step being processed `(N, HR)`.
    dh_next: Vec<T>,
    /// Gradient of the cell state after it `(N, H)` (LSTM).
    dc_next: Vec<T>,
    /// LSTMP: the projection's input gradient `(T*N, P)` and the hidden outputs `(T*N, H)`,
    /// for the gradient of `W_hr`.
    dr_all: CpuStorage,
    h_all: CpuStorage,
}

/// Backward pass of one layer direction. `dy` is the gradient of the layer's output
/// `(T, N, D*HR)`, `dht`/`dct` those of its final states. Adds the parameter gradients into
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
    let (n, h, hr, gh, inp, rows, np) =
        (dims.n, dims.h, dims.hr(), dims.gh(), dims.input(li.layer), dims.rows(), dims.p);
    let p = dims.params(li.layer, li.dir);
    let wo = li.w_off;
    let zero = <T as Element>::zero();
    let gru = dims.mode == Mode::Gru;
    let mut dgx = T::wrap(vec![zero; rows * gh]);
    let mut dgh = if gru { T::wrap(vec![zero; rows * gh]) } else { CpuStorage::F32(Default::default()) };
    let mut carry = Carry {
        dh_next: dht.to_vec(),
        dc_next: dct.to_vec(),
        dr_all: T::wrap(vec![zero; rows * np]),
        h_all: T::wrap(vec![zero; if np > 0 { rows * h } else { 0 }]),
    };
    let mut dhp = T::wrap(vec![zero; n * hr]);
    let mut dh = T::wrap(vec![zero; n * h]);
    let steps = dims.steps(li.dir);
    let si = StepIn {
        dims,
        li,
        r: slice::<T>(res),
        h0: slice::<T>(h0),
        c0,
        dy,
        yo: dims.y_off(li.layer),
        so: dims.saved_off(li.layer, li.dir),
    };
    for (s, &t) in steps.iter().enumerate().rev() {
        let prev = if s == 0 { None } else { Some(steps[s - 1]) };
        step_dh(par, &si, t, &mut carry, &mut dh);
        let mut direct = vec![0f64; n * hr];
        let ghb = if gru { Some(slice_mut::<T>(&mut dgh)) } else { None };
        step_backward(&si, t, prev, slice::<T>(&dh), &mut carry.dc_next, &mut direct, slice_mut::<T>(&mut dgx), ghb);
        let src = if gru { &dgh } else { &dgx };
        mm(
            par,
            &mut dhp,
            src,
            MatRef::row_major(t * n * gh, gh, false),
            li.w,
            MatRef::row_major(wo + p.wh, hr, false),
            n,
            hr,
            gh,
        );
        let hp = slice::<T>(&dhp);
        for b in (0..n).filter(|&b| li.active(t, b)) {
            for k in b * hr..(b + 1) * hr {
                carry.dh_next[k] = c(hp[k].to_f64() + direct[k]);
            }
        }
    }
    let dgh_ref = if gru { &dgh } else { &dgx };
    param_grads(par, dims, li, res, h0, &dgx, dgh_ref, dw);
    if np > 0 {
        // W_hr: sum over steps of dr[t]^T h[t].
        let mut tmp = T::wrap(vec![zero; np * h]);
        let (dr, ha) = (&carry.dr_all, &carry.h_all);
        mm(par, &mut tmp, dr, MatRef::row_major(0, np, true), ha, MatRef::row_major(0, h, false), np, h, rows);
        add_into(&mut dw[p.wr..p.wr + np * h], slice::<T>(&tmp));
    }
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
    DirGrads { dh0: carry.dh_next, dc0: carry.dc_next }
}

/// What the backward steps of one layer direction read.
struct StepIn<'a, T> {
    dims: &'a Dims,
    li: &'a LayerIn<'a>,
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

/// The gradient of step `t`'s hidden output `(N, H)` into `dh`: the output's gradient plus the
/// recurrent one, through the projection with LSTMP (whose input gradient and hidden output
/// are kept in `carry` for `W_hr`). Zero outside the samples' lengths.
fn step_dh<T: Real>(par: Parallelism, si: &StepIn<'_, T>, t: usize, carry: &mut Carry<T>, dh: &mut CpuStorage) {
    let d = si.dims;
    let (n, h, hr, width, np) = (d.n, d.h, d.hr(), d.width(), d.p);
    let col = si.li.dir * hr;
    let mut out = vec![<T as Element>::zero(); n * hr];
    for b in (0..n).filter(|&b| si.li.active(t, b)) {
        let row = t * n + b;
        for q in 0..hr {
            out[b * hr + q] = si.dy[row * width + col + q] + carry.dh_next[b * hr + q];
        }
    }
    if np == 0 {
        slice_mut::<T>(dh).copy_from_slice(&out);
        return;
    }
    let sv = d.mode.saved() * h;
    let (dr_all, h_all) = (slice_mut::<T>(&mut carry.dr_all), slice_mut::<T>(&mut carry.h_all));
    dr_all[t * n * np..(t + 1) * n * np].copy_from_slice(&out);
    for b in (0..n).filter(|&b| si.li.active(t, b)) {
        let saved = &si.r[si.so + (t * n + b) * sv..];
        for j in 0..h {
            let (o, cn) = (saved[3 * h + j].to_f64(), saved[4 * h + j].to_f64());
            h_all[(t * n + b) * h + j] = c(o * cn.tanh());
        }
    }
    let w = si.li.w;
    let wr = si.li.w_off + d.params(si.li.layer, si.li.dir).wr;
    mm(par, dh, &T::wrap(out), MatRef::row_major(0, np, false), w, MatRef::row_major(wr, h, false), n, h, np);
}

/// Gate gradients of step `t` (previous step `prev`, `None` at the first one) into `gx` (input
/// side) and `ghb` (hidden side, GRU only) from the hidden output's gradient `dh`; updates
/// `dc_next` to the previous cell state's gradient and fills `direct`, the part of the
/// previous hidden state's gradient that does not go through `W_h`. Samples whose sequence
/// ended before `t` are left alone.
#[allow(clippy::too_many_arguments)]
fn step_backward<T: Real>(
    si: &StepIn<'_, T>,
    t: usize,
    prev: Option<usize>,
    dh: &[T],
    dc_next: &mut [T],
    direct: &mut [f64],
    gx: &mut [T],
    mut ghb: Option<&mut [T]>,
) {
    let d = si.dims;
    let (n, h, gh, width, sv) = (d.n, d.h, d.gh(), d.width(), d.mode.saved() * d.h);
    let lstm = d.mode == Mode::Lstm;
    let col = si.li.dir * d.hr();
    for b in (0..n).filter(|&b| si.li.active(t, b)) {
        let row = t * n + b;
        let saved = &si.r[si.so + row * sv..si.so + (row + 1) * sv];
        // The previous step of this sample, or none at its first step.
        let prev = prev.filter(|&tp| si.li.active(tp, b));
        for j in 0..h {
            let k = b * h + j;
            let (hprev, cprev) = match prev {
                Some(tp) => (
                    if lstm { 0.0 } else { si.r[si.yo + (tp * n + b) * width + col + j].to_f64() },
                    if lstm { si.r[si.so + (tp * n + b) * sv + 4 * h + j].to_f64() } else { 0.0 },
                ),
                None => (if lstm { 0.0 } else { si.h0[k].to_f64() }, if lstm { si.c0[k].to_f64() } else { 0.0 }),
            };
            let hv = if lstm { 0.0 } else { si.r[si.yo + row * width + col + j].to_f64() };
            let dcn = if lstm { dc_next[k].to_f64() } else { 0.0 };
            let g = &mut gx[row * gh..(row + 1) * gh];
            let cb = CellBack { hv, dh: dh[k].to_f64(), dc_next: dcn, hprev, cprev };
            let (dcp, dd) = cell_backward(d, saved, j, &cb, g);
            if lstm {
                dc_next[k] = c(dcp);
            }
            if d.mode == Mode::Gru {
                direct[k] = dd;
            }
            if let Some(ghb) = ghb.as_deref_mut() {
                let ghr = &mut ghb[row * gh..(row + 1) * gh];
                ghr[j] = g[j];
                ghr[h + j] = g[h + j];
                ghr[2 * h + j] = c(g[2 * h + j].to_f64() * saved[j].to_f64());
            }
        }
    }
}

/// What one unit's backward step reads besides its saved values.
struct CellBack {
    /// The unit's output (rnn_relu, rnn_tanh).
    hv: f64,
    /// Gradient of its hidden output.
    dh: f64,
    /// Gradient of its cell state (LSTM).
    dc_next: f64,
    /// The previous hidden (GRU) and cell (LSTM) states.
    hprev: f64,
    cprev: f64,
}

/// One unit of one cell step backwards: writes the gate gradients (input side) into `g` and
/// returns `(gradient of the previous cell state, direct gradient of the previous hidden
/// state)`; the rest of the previous hidden state's gradient goes through `W_h`.
#[inline]
fn cell_backward<T: Real>(d: &Dims, saved: &[T], j: usize, cb: &CellBack, g: &mut [T]) -> (f64, f64) {
    let h = d.h;
    let sv = |k: usize| saved[k * h + j].to_f64();
    let (hv, dh) = (cb.hv, cb.dh);
    match d.mode {
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
            let mut dc = cb.dc_next + dh * o * (1.0 - tc * tc);
            if let Some(cl) = d.clip
                && !cl.passes(f * cb.cprev + i * gg)
            {
                dc = 0.0;
            }
            g[j] = c(dc * gg * i * (1.0 - i));
            g[h + j] = c(dc * cb.cprev * f * (1.0 - f));
            g[2 * h + j] = c(dc * i * (1.0 - gg * gg));
            g[3 * h + j] = c(dh * tc * o * (1.0 - o));
            (dc * f, 0.0)
        }
        Mode::Gru => {
            let (r, z, nn, hn) = (sv(0), sv(1), sv(2), sv(3));
            let dan = dh * (1.0 - z) * (1.0 - nn * nn);
            g[j] = c(dan * hn * r * (1.0 - r));
            g[h + j] = c(dh * (cb.hprev - nn) * z * (1.0 - z));
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
    let (n, hr, gh, inp, rows, t) = (dims.n, dims.hr(), dims.gh(), dims.input(li.layer), dims.rows(), dims.t);
    let p = dims.params(li.layer, li.dir);
    let zero = <T as Element>::zero();
    let mut tmp = T::wrap(vec![zero; gh * inp]);
    mm(par, &mut tmp, dgx, MatRef::row_major(0, gh, true), li.x, MatRef::row_major(0, inp, false), gh, inp, rows);
    add_into(&mut dw[p.wx..p.wx + gh * inp], slice::<T>(&tmp));
    // W_h: sum over steps of dgh[t]^T h_prev(t); h_prev is the layer output at the previous
    // step (strided columns of the reserve, zero where the sample's sequence had ended), or
    // h0 at each sample's first step.
    let (later, prev) = if li.dir == 0 { (1, 0) } else { (0, 1) };
    let mut tmp = T::wrap(vec![zero; gh * hr]);
    if t > 1 {
        let y = MatRef {
            offset: dims.y_off(li.layer) + prev * n * dims.width() + li.dir * hr,
            rs: dims.width() as isize,
            cs: 1,
        };
        mm(par, &mut tmp, dgh, MatRef::row_major(later * n * gh, gh, true), res, y, gh, hr, (t - 1) * n);
        add_into(&mut dw[p.wh..p.wh + gh * hr], slice::<T>(&tmp));
    }
    // Each sample's first step: t = 0 forwards, its last valid step backwards.
    let g = slice::<T>(dgh);
    let mut first = vec![zero; n * gh];
    for b in 0..n {
        let len = li.lens.map_or(t, |l| l[b]);
        if len == 0 {
            continue;
        }
        let tf = if li.dir == 0 { 0 } else { len - 1 };
        first[b * gh..(b + 1) * gh].copy_from_slice(&g[(tf * n + b) * gh..(tf * n + b + 1) * gh]);
    }
    mm(par, &mut tmp, &T::wrap(first), MatRef::row_major(0, gh, true), h0, MatRef::row_major(0, hr, false), gh, hr, n);
    add_into(&mut dw[p.wh..p.wh + gh * hr], slice::<T>(&tmp));
    for (src, off) in [(dgx, p.bx), (dgh, p.bh)] {
        for row in slice::<T>(src).chunks_exact(gh) {
            add_into(&mut dw[off..off + gh], row);
        }
    }
}
