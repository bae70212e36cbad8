//! The fused `RNN` op (MXNet's `mode` rnn_relu, rnn_tanh, lstm, gru; stacked, optionally
//! bidirectional, dropout `p` between layers in training) and its gradient through
//! `_backward_RNN` (backpropagation through time; no composition of registered ops exists).
//!
//! Inputs are MXNet's: `data (T, N, C)`, the flat `parameters` vector (every layer and
//! direction's `i2h`, `h2h` and, with `projection_size` P, `h2r` weights, then every layer and
//! direction's biases), `state (L*D, N, H or P)`, for LSTM `state_cell (L*D, N, H)`, and with
//! `use_sequence_length` the valid length of each sample, `sequence_length (N,)`. Outputs:
//! `(T, N, D*H or D*P)`, and with `state_outputs` the final hidden (and cell) states. A hidden
//! last output, the reserve, keeps each layer's output, the gate values and the dropout masks
//! for the backward pass.
//!
//! MXNet 1.9.1 computes `use_sequence_length`, state clipping and the training of a projected
//! LSTM only through cuDNN; here they follow cuDNN's definitions (see [`super::rnn_cell`]),
//! which its Gluon cells reproduce (`unroll(valid_length=...)`, `contrib.rnn.LSTMPCell`).

use std::borrow::Cow;

use rand::Rng as _;

use super::rnn_bptt::backward_dir;
use super::rnn_cell::{Clip, Dims, LayerIn, Mode, forward_dir};
use super::{Real, c, expect_shape, fill_shape, float_dtype};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::registry::Registry;
use crate::op::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, TensorIn, expect_inputs};
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;
use crate::{dispatch, params};

const NAME: &str = "RNN";
const BACK: &str = "_backward_RNN";
const PARAMS: &[&str] = &[
    "state_size",
    "num_layers",
    "bidirectional",
    "mode",
    "p",
    "state_outputs",
    "projection_size",
    "lstm_state_clip_min",
    "lstm_state_clip_max",
    "lstm_state_clip_nan",
    "use_sequence_length",
];

#[derive(Debug, Clone)]
struct Rnn {
    mode: Mode,
    h: usize,
    /// LSTM projection size, 0 for none.
    proj: usize,
    layers: usize,
    dirs: usize,
    p: f64,
    state_outputs: bool,
    clip: Option<Clip>,
    use_len: bool,
}

impl Rnn {
    fn parse(op: &str, a: &Attrs) -> Result<Rnn> {
        a.check_known(op, PARAMS)?;
        let mode = match a.str_or("mode", "") {
            "rnn_relu" => Mode::Relu,
            "rnn_tanh" => Mode::Tanh,
            "lstm" => Mode::Lstm,
            "gru" => Mode::Gru,
            "" => return Err(Error::param(op, "required parameter 'mode' is missing")),
            m => return Err(Error::param(op, format!("mode must be rnn_relu, rnn_tanh, lstm or gru, got '{m}'"))),
        };
        let (h, layers) = (a.int(op, "state_size")?, a.int(op, "num_layers")?);
        if h < 1 || layers < 1 {
            return Err(Error::param(op, format!("state_size and num_layers must be positive, got {h} and {layers}")));
        }
        let p = a.float_or(op, "p", 0.0)?;
        if !(0.0..1.0).contains(&p) {
            return Err(Error::param(op, format!("p must be in [0, 1), got {p}")));
        }
        Ok(Rnn {
            mode,
            h: h as usize,
            proj: Self::parse_projection(op, a, mode, h)?,
            layers: layers as usize,
            dirs: if a.bool_or(op, "bidirectional", false)? { 2 } else { 1 },
            p,
            state_outputs: a.bool_or(op, "state_outputs", false)?,
            clip: Self::parse_clip(op, a, mode)?,
            use_len: a.bool_or(op, "use_sequence_length", false)?,
        })
    }

    /// `projection_size`: LSTM only, from 1 to `state_size` (MXNet's checks).
    fn parse_projection(op: &str, a: &Attrs, mode: Mode, h: i64) -> Result<usize> {
        let Some(ps) = a.opt_int(op, "projection_size")? else { return Ok(0) };
        if mode != Mode::Lstm {
            return Err(Error::param(op, "projection_size is only supported for mode='lstm'"));
        }
        if ps < 1 || ps > h {
            return Err(Error::param(op, format!("projection_size must be from 1 to state_size ({h}), got {ps}")));
        }
        Ok(ps as usize)
    }

    /// `lstm_state_clip_min/max/nan`: LSTM only, both bounds or none, `min <= max`.
    fn parse_clip(op: &str, a: &Attrs, mode: Mode) -> Result<Option<Clip>> {
        let (lo, hi) = (a.opt_float(op, "lstm_state_clip_min")?, a.opt_float(op, "lstm_state_clip_max")?);
        let nan = a.bool_or(op, "lstm_state_clip_nan", false)?;
        match (lo, hi) {
            (None, None) => Ok(None),
            _ if mode != Mode::Lstm => Err(Error::param(op, "state clipping is only supported for mode='lstm'")),
            (Some(lo), Some(hi)) if lo <= hi => Ok(Some(Clip { lo, hi, nan })),
            (Some(lo), Some(hi)) => Err(Error::param(
                op,
                format!("lstm_state_clip_max ({hi}) must be greater or equal to lstm_state_clip_min ({lo})"),
            )),
            _ => Err(Error::param(op, "lstm_state_clip_min and lstm_state_clip_max must be specified together")),
        }
    }

    fn lstm(&self) -> bool {
        self.mode == Mode::Lstm
    }

    /// Number of state inputs (and state outputs): 2 for LSTM, else 1.
    fn n_states(&self) -> usize {
        if self.lstm() { 2 } else { 1 }
    }

    fn num_inputs(&self) -> usize {
        2 + self.n_states() + self.use_len as usize
    }

    /// Index of the `sequence_length` input.
    fn len_index(&self) -> usize {
        2 + self.n_states()
    }

    /// Width of the hidden state and of one direction's output.
    fn hr(&self) -> usize {
        if self.proj > 0 { self.proj } else { self.h }
    }

    fn dims(&self, data: &[usize]) -> Result<Dims> {
        if data.len() != 3 || data[0] == 0 {
            return Err(Error::shape(NAME, format!("data must be (T, N, C) with T > 0, got {}", fmt_shape(data))));
        }
        Ok(Dims {
            mode: self.mode,
            t: data[0],
            n: data[1],
            i: data[2],
            h: self.h,
            p: self.proj,
            layers: self.layers,
            dirs: self.dirs,
            dropout: self.p > 0.0,
            clip: self.clip,
        })
    }

    /// Shapes of the inputs after the data (parameters, state, [cell], [sequence_length]) and
    /// of the outputs (output, state, [cell], reserve).
    fn shapes(&self, data: &[usize]) -> Result<(Vec<Shape>, Vec<Shape>)> {
        let d = self.dims(data)?;
        let state = vec![self.layers * self.dirs, d.n, self.hr()];
        let cell = vec![self.layers * self.dirs, d.n, self.h];
        let mut ins = vec![vec![d.param_size()], state.clone()];
        let mut outs = vec![vec![d.t, d.n, d.width()], state];
        if self.lstm() {
            ins.push(cell.clone());
            outs.push(cell);
        }
        if self.use_len {
            ins.push(vec![d.n]);
        }
        outs.push(vec![d.reserve_size()]);
        Ok((ins, outs))
    }

    /// The per-sample lengths of the `sequence_length` input, each from 0 to `T`.
    fn lengths(&self, x: &[TensorIn<'_>], t: usize) -> Result<Option<Vec<usize>>> {
        if !self.use_len {
            return Ok(None);
        }
        let s = &x[self.len_index()];
        let vals: Vec<f64> =
            dispatch!(storage s.data => v: E, { v[s.offset..s.offset + s.len()].iter().map(|a| a.to_f64()).collect() });
        vals.iter()
            .enumerate()
            .map(|(b, &l)| {
                if l.fract() != 0.0 || !(0.0..=t as f64).contains(&l) {
                    Err(Error::param(NAME, format!("sequence_length[{b}] = {l} is not an integer from 0 to {t}")))
                } else {
                    Ok(l as usize)
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

const INPUT_NAMES: [&str; 4] = ["parameters", "state", "state_cell", "sequence_length"];

impl Rnn {
    /// Names of the inputs after the data, as [`Rnn::shapes`] orders them.
    fn input_labels(&self) -> Vec<&'static str> {
        let mut v = vec![INPUT_NAMES[0], INPUT_NAMES[1]];
        if self.lstm() {
            v.push(INPUT_NAMES[2]);
        }
        if self.use_len {
            v.push(INPUT_NAMES[3]);
        }
        v
    }
}

/// Copy of layer `l`'s output from the reserve, times its dropout mask when there is one.
fn layer_output<T: Real>(d: &Dims, res: &[T], l: usize) -> Vec<T> {
    let len = d.t * d.n * d.width();
    let y = &res[d.y_off(l)..d.y_off(l) + len];
    if d.dropout {
        let m = &res[d.mask_off(l)..d.mask_off(l) + len];
        y.iter().zip(m).map(|(&a, &b)| a * b).collect()
    } else {
        y.to_vec()
    }
}

impl Rnn {
    fn forward_typed<T: Real>(&self, ctx: &mut OpCtx<'_>, d: &Dims, x: &[TensorIn<'_>]) -> Result<Vec<CpuStorage>> {
        let zero = <T as Element>::zero();
        let lens = self.lengths(x, d.t)?;
        let (nh, nr) = (d.n * d.h, d.n * d.hr());
        let (h0, c0) = (x[2].typed::<T>(), if self.lstm() { x[3].typed::<T>() } else { &[] });
        let mut res = T::wrap(vec![zero; d.reserve_size()]);
        let mut hy = vec![zero; d.layers * d.dirs * nr];
        let mut cy = vec![zero; if self.lstm() { d.layers * d.dirs * nh } else { 0 }];
        let mut input: Cow<'_, CpuStorage> = x[0].storage();
        let train = ctx.is_train && self.p > 0.0;
        for l in 0..d.layers {
            for dir in 0..d.dirs {
                let li = LayerIn { layer: l, dir, x: &input, w: x[1].data, w_off: x[1].offset, lens: lens.as_deref() };
                let k = l * d.dirs + dir;
                let c0s = if self.lstm() { &c0[k * nh..(k + 1) * nh] } else { &[] };
                let (ht, ct) = forward_dir(ctx.par, d, &li, &h0[k * nr..(k + 1) * nr], c0s, &mut res);
                hy[k * nr..(k + 1) * nr].copy_from_slice(&ht);
                if self.lstm() {
                    cy[k * nh..(k + 1) * nh].copy_from_slice(&ct);
                }
            }
            if l + 1 < d.layers {
                if d.dropout {
                    let r = T::slice_mut(&mut res).expect("reserve dtype");
                    let (off, len) = (d.mask_off(l), d.t * d.n * d.width());
                    let keep = 1.0 - self.p;
                    if train {
                        let rng =
                            ctx.rng.as_deref_mut().ok_or_else(|| Error::msg("internal: RNN without a generator"))?;
                        for m in &mut r[off..off + len] {
                            *m = c(if rng.random::<f64>() < keep { 1.0 / keep } else { 0.0 });
                        }
                    } else {
                        r[off..off + len].fill(c(1.0));
                    }
                }
                input = Cow::Owned(T::wrap(layer_output(d, T::slice(&res).expect("reserve dtype"), l)));
            }
        }
        let r = T::slice(&res).expect("reserve dtype");
        let last = d.y_off(d.layers - 1);
        let out = r[last..last + d.t * d.n * d.width()].to_vec();
        let mut outs = vec![T::wrap(out), T::wrap(hy)];
        if self.lstm() {
            outs.push(T::wrap(cy));
        }
        outs.push(res);
        Ok(outs)
    }

    /// Check the inputs after the data against the shapes `data` implies.
    fn check_inputs(&self, op: &str, rest: &[Shape], want: &[Shape]) -> Result<()> {
        for ((got, want), what) in rest.iter().zip(want).zip(self.input_labels()) {
            expect_shape(op, what, got, want)?;
        }
        Ok(())
    }
}

impl Operator for Rnn {
    fn name(&self) -> &str {
        NAME
    }
    fn num_outputs(&self) -> usize {
        2 + self.n_states()
    }
    fn num_visible_outputs(&self) -> usize {
        if self.state_outputs { self.num_outputs() - 1 } else { 1 }
    }
    fn output_names(&self) -> Vec<String> {
        let mut v = vec!["output".to_string(), "state_output".to_string()];
        if self.lstm() {
            v.push("statecell_output".to_string());
        }
        v.push("reserve".to_string());
        v
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(std::iter::once("data").chain(self.input_labels()).map(str::to_string).collect())
    }
    fn uses_rng(&self) -> bool {
        self.p > 0.0 && self.layers > 1
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(NAME, inputs.len(), self.num_inputs())?;
        let (ins, outs) = self.shapes(&inputs[0])?;
        self.check_inputs(NAME, &inputs[1..], &ins)?;
        Ok(outs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(NAME, inputs.len(), self.num_inputs())?;
        let Some(data) = inputs[0].clone() else { return Ok(()) };
        let (ins, outs) = self.shapes(&data)?;
        for ((slot, s), what) in inputs[1..].iter_mut().zip(&ins).zip(self.input_labels()) {
            fill_shape(NAME, what, slot, s)?;
        }
        for (slot, s) in outputs.iter_mut().zip(&outs) {
            fill_shape(NAME, "output", slot, s)?;
        }
        Ok(())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        // `sequence_length` may be an integer or float array of any dtype.
        let d = crate::op::same_dtype(NAME, &inputs[..2 + self.n_states()])?;
        Ok(vec![float_dtype(NAME, d)?; self.num_outputs()])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        share_dtype(NAME, &mut inputs[..2 + self.n_states()], outputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let d = self.dims(x[0].shape)?;
        dispatch!(float NAME, dt[0] => T, { self.forward_typed::<T>(ctx, &d, x) })
    }
}

/// Dtype inference over partly known dtypes: `shared` inputs and every output have one dtype;
/// `sequence_length` (not among them) may have any.
fn share_dtype(op: &str, shared: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
    let Some(d) = shared.iter().chain(outputs.iter()).flatten().next().copied() else { return Ok(()) };
    for slot in shared.iter_mut().chain(outputs.iter_mut()) {
        match slot {
            Some(o) if *o != d => {
                return Err(Error::dtype(
                    op,
                    *o,
                    format!("data, parameters, states and their gradients must share one dtype, got {d} and {o}"),
                ));
            }
            _ => *slot = Some(d),
        }
    }
    Ok(())
}

/// `_backward_RNN(d_output, d_state, [d_state_cell], data, parameters, state, [state_cell],
/// [sequence_length], reserve)` → gradients of data, parameters, state and (LSTM) state_cell.
#[derive(Debug)]
struct RnnBackward(Rnn);

impl RnnBackward {
    fn backward_typed<T: Real>(&self, ctx: &OpCtx<'_>, d: &Dims, x: &[TensorIn<'_>]) -> Result<Vec<CpuStorage>> {
        let lstm = self.0.lstm();
        let k = 1 + self.0.n_states();
        let fwd = &x[k..k + self.0.num_inputs()];
        let lens = self.0.lengths(fwd, d.t)?;
        let (dout, dhy) = (x[0].typed::<T>(), x[1].typed::<T>());
        let dcy: &[T] = if lstm { x[2].typed::<T>() } else { &[] };
        let (data, w) = (&fwd[0], &fwd[1]);
        let h0 = fwd[2].typed::<T>();
        let c0: &[T] = if lstm { fwd[3].typed::<T>() } else { &[] };
        let res = x[x.len() - 1].storage();
        let rv = T::slice(&res).expect("reserve dtype");
        let zero = <T as Element>::zero();
        let (nh, nr) = (d.n * d.h, d.n * d.hr());
        let mut dw = vec![zero; d.param_size()];
        let mut dstate = vec![zero; h0.len()];
        let mut dcell = vec![zero; c0.len()];
        let mut dy = dout.to_vec();
        let mut ddata = Vec::new();
        for l in (0..d.layers).rev() {
            let input: Cow<'_, CpuStorage> =
                if l == 0 { data.storage() } else { Cow::Owned(T::wrap(layer_output(d, rv, l - 1))) };
            let mut dx = T::wrap(vec![zero; d.t * d.n * d.input(l)]);
            for dir in 0..d.dirs {
                let li = LayerIn { layer: l, dir, x: &input, w: w.data, w_off: w.offset, lens: lens.as_deref() };
                let s = l * d.dirs + dir;
                let h0s = T::wrap(h0[s * nr..(s + 1) * nr].to_vec());
                let (c0s, dct) =
                    if lstm { (&c0[s * nh..(s + 1) * nh], &dcy[s * nh..(s + 1) * nh]) } else { (&[][..], &[][..]) };
                let dht = &dhy[s * nr..(s + 1) * nr];
                let g = backward_dir(ctx.par, d, &li, &res, &h0s, c0s, &dy, dht, dct, &mut dw, &mut dx);
                dstate[s * nr..(s + 1) * nr].copy_from_slice(&g.dh0);
                if lstm {
                    dcell[s * nh..(s + 1) * nh].copy_from_slice(&g.dc0);
                }
            }
            let dxv = T::into_vec(dx).expect("dtype");
            if l == 0 {
                ddata = dxv;
            } else if d.dropout {
                let m = &rv[d.mask_off(l - 1)..d.mask_off(l - 1) + dxv.len()];
                dy = dxv.iter().zip(m).map(|(&a, &b)| a * b).collect();
            } else {
                dy = dxv;
            }
        }
        let mut outs = vec![T::wrap(ddata), T::wrap(dw), T::wrap(dstate)];
        if lstm {
            outs.push(T::wrap(dcell));
        }
        Ok(outs)
    }
}

impl Operator for RnnBackward {
    fn name(&self) -> &str {
        BACK
    }
    fn num_outputs(&self) -> usize {
        2 + self.0.n_states()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let (k, nf) = (1 + self.0.n_states(), self.0.num_inputs());
        expect_inputs(BACK, inputs.len(), k + nf + 1)?;
        let fwd_in = &inputs[k..k + nf];
        let (ins, outs) = self.0.shapes(&fwd_in[0])?;
        self.0.check_inputs(BACK, &fwd_in[1..], &ins)?;
        for (i, what) in ["output", "state", "state_cell"].iter().take(k).enumerate() {
            expect_shape(BACK, &format!("gradient of {what}"), &inputs[i], &outs[i])?;
        }
        expect_shape(BACK, "reserve", &inputs[k + nf], &outs[outs.len() - 1])?;
        Ok(fwd_in[..self.num_outputs()].to_vec())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let k = 1 + self.0.n_states();
        let d = crate::op::same_dtype(BACK, &inputs[..k + 2 + self.0.n_states()])?;
        Ok(vec![float_dtype(BACK, d)?; self.num_outputs()])
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        share_dtype(BACK, &mut inputs[..3 + 2 * self.0.n_states()], outputs)
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let k = 1 + self.0.n_states();
        let d = self.0.dims(x[k].shape)?;
        dispatch!(float BACK, dt[0] => T, { self.backward_typed::<T>(ctx, &d, x) })
    }
}

/// Gradient of RNN through `_backward_RNN`; the final states' gradients are zeros when they
/// are not outputs (`state_outputs=False`), and `sequence_length` gets zeros.
fn grad_rnn(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let n_states = if attrs.str_or("mode", "") == "lstm" { 2 } else { 1 };
    let mut ins = vec![g[0]];
    for (k, &yk) in y.iter().enumerate().take(n_states + 1).skip(1) {
        ins.push(match g.get(k) {
            Some(&e) => e,
            None => b.unary("zeros_like", yk)?,
        });
    }
    ins.extend_from_slice(x);
    ins.push(y[y.len() - 1]);
    let r = b.op(BACK, &ins, attrs.clone())?;
    let mut out: Vec<Option<NodeEntry>> = r.into_iter().map(Some).collect();
    if x.len() > 2 + n_states {
        out.push(Some(b.unary("zeros_like", x[2 + n_states])?));
    }
    Ok(out)
}

pub(in crate::op) fn register(r: &mut Registry) {
    let p = params!(
        "state_size" = None,
        "num_layers" = None,
        "bidirectional" = Some("False"),
        "mode" = None,
        "p" = Some("0"),
        "state_outputs" = Some("False"),
        "projection_size" = Some("None"),
        "lstm_state_clip_min" = Some("None"),
        "lstm_state_clip_max" = Some("None"),
        "lstm_state_clip_nan" = Some("False"),
        "use_sequence_length" = Some("False")
    );
    r.add(
        NAME,
        &["data", "parameters", "state", "state_cell", "sequence_length"],
        p,
        "fused recurrent layers (vanilla RNN, LSTM with optional projection, GRU), stacked and optionally \
         bidirectional, with optional per-sample sequence lengths",
        |a: &Attrs| Ok(Box::new(Rnn::parse(NAME, a)?)),
    );
    r.add(
        BACK,
        &[
            "d_output",
            "d_state",
            "d_state_cell",
            "data",
            "parameters",
            "state",
            "state_cell",
            "sequence_length",
            "reserve",
        ],
        p,
        "gradient of RNN (backpropagation through time)",
        |a: &Attrs| Ok(Box::new(RnnBackward(Rnn::parse(BACK, a)?))),
    );
    r.set_gradient(NAME, grad_rnn);
}

#[cfg(test)]
mod tests;
