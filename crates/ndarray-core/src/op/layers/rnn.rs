//! The fused `RNN` op (MXNet's `mode` rnn_relu, rnn_tanh, lstm, gru; stacked, optionally
//! bidirectional, dropout `p` between layers in training) and its gradient through
//! `_backward_RNN` (backpropagation through time; no composition of registered ops exists).
//!
//! Inputs are MXNet's: `data (T, N, C)`, the flat `parameters` vector (every layer and
//! direction's `i2h` and `h2h` weights, then every layer and direction's biases), `state
//! (L*D, N, H)` and, for LSTM, `state_cell`. Outputs: `(T, N, D*H)`, and with `state_outputs`
//! the final hidden (and cell) states. A hidden last output, the reserve, keeps each layer's
//! output, the gate values and the dropout masks for the backward pass.

use std::borrow::Cow;

use rand::Rng as _;

use super::rnn_cell::{Dims, LayerIn, Mode, backward_dir, forward_dir};
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
    layers: usize,
    dirs: usize,
    p: f64,
    state_outputs: bool,
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
        for unsupported in ["projection_size", "lstm_state_clip_min", "lstm_state_clip_max"] {
            if a.raw(unsupported).is_some() {
                return Err(Error::param(op, format!("{unsupported} is not supported by mxrs")));
            }
        }
        if a.bool_or(op, "use_sequence_length", false)? {
            return Err(Error::param(op, "use_sequence_length=True is not supported by mxrs"));
        }
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
            layers: layers as usize,
            dirs: if a.bool_or(op, "bidirectional", false)? { 2 } else { 1 },
            p,
            state_outputs: a.bool_or(op, "state_outputs", false)?,
        })
    }

    fn lstm(&self) -> bool {
        self.mode == Mode::Lstm
    }

    fn num_inputs(&self) -> usize {
        if self.lstm() { 4 } else { 3 }
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
            layers: self.layers,
            dirs: self.dirs,
            dropout: self.p > 0.0,
        })
    }

    /// Shapes of (parameters, state) and of the outputs (output, state, [cell], reserve).
    fn shapes(&self, data: &[usize]) -> Result<(Shape, Shape, Vec<Shape>)> {
        let d = self.dims(data)?;
        let state = vec![self.layers * self.dirs, d.n, self.h];
        let mut outs = vec![vec![d.t, d.n, d.width()], state.clone()];
        if self.lstm() {
            outs.push(state.clone());
        }
        outs.push(vec![d.reserve_size()]);
        Ok((vec![d.param_size()], state, outs))
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
        let nh = d.n * d.h;
        let (h0, c0) = (x[2].typed::<T>(), if self.lstm() { x[3].typed::<T>() } else { &[] });
        let mut res = T::wrap(vec![zero; d.reserve_size()]);
        let mut hy = vec![zero; d.layers * d.dirs * nh];
        let mut cy = vec![zero; if self.lstm() { hy.len() } else { 0 }];
        let mut input: Cow<'_, CpuStorage> = x[0].storage();
        let train = ctx.is_train && self.p > 0.0;
        for l in 0..d.layers {
            for dir in 0..d.dirs {
                let li = LayerIn { layer: l, dir, x: &input, w: x[1].data, w_off: x[1].offset };
                let s = (l * d.dirs + dir) * nh;
                let c0s = if self.lstm() { &c0[s..s + nh] } else { &[] };
                let (ht, ct) = forward_dir(ctx.par, d, &li, &h0[s..s + nh], c0s, &mut res);
                hy[s..s + nh].copy_from_slice(&ht);
                if self.lstm() {
                    cy[s..s + nh].copy_from_slice(&ct);
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
}

impl Operator for Rnn {
    fn name(&self) -> &str {
        NAME
    }
    fn num_outputs(&self) -> usize {
        if self.lstm() { 4 } else { 3 }
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
        let mut v: Vec<String> = ["data", "parameters", "state"].iter().map(|s| s.to_string()).collect();
        if self.lstm() {
            v.push("state_cell".to_string());
        }
        Some(v)
    }
    fn uses_rng(&self) -> bool {
        self.p > 0.0 && self.layers > 1
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        expect_inputs(NAME, inputs.len(), self.num_inputs())?;
        let (p, st, outs) = self.shapes(&inputs[0])?;
        expect_shape(NAME, "parameters", &inputs[1], &p)?;
        expect_shape(NAME, "state", &inputs[2], &st)?;
        if self.lstm() {
            expect_shape(NAME, "state_cell", &inputs[3], &st)?;
        }
        Ok(outs)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        expect_inputs(NAME, inputs.len(), self.num_inputs())?;
        let Some(data) = inputs[0].clone() else { return Ok(()) };
        let (p, st, outs) = self.shapes(&data)?;
        fill_shape(NAME, "parameters", &mut inputs[1], &p)?;
        fill_shape(NAME, "state", &mut inputs[2], &st)?;
        if self.lstm() {
            fill_shape(NAME, "state_cell", &mut inputs[3], &st)?;
        }
        for (slot, s) in outputs.iter_mut().zip(&outs) {
            fill_shape(NAME, "output", slot, s)?;
        }
        Ok(())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = crate::op::same_dtype(NAME, inputs)?;
        Ok(vec![float_dtype(NAME, d)?; self.num_outputs()])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let d = self.dims(x[0].shape)?;
        dispatch!(float NAME, dt[0] => T, { self.forward_typed::<T>(ctx, &d, x) })
    }
}

/// `_backward_RNN(d_output, d_state, [d_state_cell], data, parameters, state, [state_cell],
/// reserve)` → gradients of data, parameters, state and (LSTM) state_cell.
#[derive(Debug)]
struct RnnBackward(Rnn);

impl RnnBackward {
    fn backward_typed<T: Real>(&self, ctx: &OpCtx<'_>, d: &Dims, x: &[TensorIn<'_>]) -> Vec<CpuStorage> {
        let lstm = self.0.lstm();
        let k = if lstm { 3 } else { 2 };
        let (dout, dhy) = (x[0].typed::<T>(), x[1].typed::<T>());
        let dcy: &[T] = if lstm { x[2].typed::<T>() } else { &[] };
        let (data, w) = (&x[k], &x[k + 1]);
        let h0 = x[k + 2].typed::<T>();
        let c0: &[T] = if lstm { x[k + 3].typed::<T>() } else { &[] };
        let res = x[x.len() - 1].storage();
        let rv = T::slice(&res).expect("reserve dtype");
        let zero = <T as Element>::zero();
        let nh = d.n * d.h;
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
                let li = LayerIn { layer: l, dir, x: &input, w: w.data, w_off: w.offset };
                let s = (l * d.dirs + dir) * nh;
                let h0s = T::wrap(h0[s..s + nh].to_vec());
                let (c0s, dct) = if lstm { (&c0[s..s + nh], &dcy[s..s + nh]) } else { (&[][..], &[][..]) };
                let g = backward_dir(ctx.par, d, &li, &res, &h0s, c0s, &dy, &dhy[s..s + nh], dct, &mut dw, &mut dx);
                dstate[s..s + nh].copy_from_slice(&g.dh0);
                if lstm {
                    dcell[s..s + nh].copy_from_slice(&g.dc0);
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
        outs
    }
}

impl Operator for RnnBackward {
    fn name(&self) -> &str {
        BACK
    }
    fn num_outputs(&self) -> usize {
        self.0.num_inputs()
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let n = self.0.num_inputs();
        expect_inputs(BACK, inputs.len(), 2 * n)?;
        let fwd = self.0.infer_shape(&inputs[n - 1..2 * n - 1])?;
        for (i, what) in ["output", "state", "state_cell"].iter().take(n - 1).enumerate() {
            expect_shape(BACK, &format!("gradient of {what}"), &inputs[i], &fwd[i])?;
        }
        expect_shape(BACK, "reserve", &inputs[2 * n - 1], &fwd[fwd.len() - 1])?;
        Ok(inputs[n - 1..2 * n - 1].to_vec())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let d = crate::op::same_dtype(BACK, inputs)?;
        Ok(vec![float_dtype(BACK, d)?; self.num_outputs()])
    }
    fn forward(&self, ctx: &mut OpCtx<'_>, x: &[TensorIn<'_>], _: &[Shape], dt: &[DType]) -> Result<Vec<CpuStorage>> {
        let n = self.0.num_inputs();
        let d = self.0.dims(x[n - 1].shape)?;
        dispatch!(float BACK, dt[0] => T, { Ok(self.backward_typed::<T>(ctx, &d, x)) })
    }
}

/// Gradient of RNN through `_backward_RNN`; the final states' gradients are zeros when they
/// are not outputs (`state_outputs=False`).
fn grad_rnn(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    x: &[NodeEntry],
    y: &[NodeEntry],
    g: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let lstm = attrs.str_or("mode", "") == "lstm";
    let n_states = if lstm { 2 } else { 1 };
    let mut ins = vec![g[0]];
    for (k, &yk) in y.iter().enumerate().take(n_states + 1).skip(1) {
        ins.push(match g.get(k) {
            Some(&e) => e,
            None => b.unary("zeros_like", yk)?,
        });
    }
    ins.extend_from_slice(&x[..1 + 1 + n_states]);
    ins.push(y[y.len() - 1]);
    let r = b.op(BACK, &ins, attrs.clone())?;
    Ok(r.into_iter().map(Some).collect())
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
        &["data", "parameters", "state", "state_cell"],
        p,
        "fused recurrent layers (vanilla RNN, LSTM, GRU), stacked and optionally bidirectional",
        |a: &Attrs| Ok(Box::new(Rnn::parse(NAME, a)?)),
    );
    r.add(
        BACK,
        &["d_output", "d_state", "d_state_cell", "data", "parameters", "state", "state_cell", "reserve"],
        p,
        "gradient of RNN (backpropagation through time)",
        |a: &Attrs| Ok(Box::new(RnnBackward(Rnn::parse(BACK, a)?))),
    );
    r.set_gradient(NAME, grad_rnn);
}

#[cfg(test)]
mod tests {
    use crate::eager_grad::check_numeric_gradient;
    use crate::eager_grad::testing::arr;
    use crate::op::Attrs;

    fn check(mode: &str, layers: usize, bidir: bool, state_outputs: bool) {
        let (t, n, i, h) = (3, 2, 3, 2);
        let dirs = if bidir { 2 } else { 1 };
        let g = match mode {
            "lstm" => 4,
            "gru" => 3,
            _ => 1,
        };
        let psize: usize = (0..layers).map(|l| dirs * g * h * (if l == 0 { i } else { dirs * h } + h)).sum::<usize>()
            + layers * dirs * 2 * g * h;
        let mut ins = vec![arr(&[t, n, i], 1), arr(&[psize], 2), arr(&[layers * dirs, n, h], 3)];
        if mode == "lstm" {
            ins.push(arr(&[layers * dirs, n, h], 4));
        }
        let a = Attrs::from_pairs([
            ("mode", mode.to_string()),
            ("state_size", h.to_string()),
            ("num_layers", layers.to_string()),
            ("bidirectional", bidir.to_string()),
            ("state_outputs", state_outputs.to_string()),
        ]);
        let which: Vec<usize> = (0..ins.len()).collect();
        check_numeric_gradient("RNN", &a, &ins, &which, true, 1e-6, 1e-5, 1e-7)
            .unwrap_or_else(|e| panic!("{mode} layers={layers} bidir={bidir}: {e}"));
    }

    #[test]
    fn rnn_gradients_match_finite_differences() {
        for mode in ["rnn_tanh", "rnn_relu", "lstm", "gru"] {
            check(mode, 1, false, true);
            check(mode, 2, true, true);
        }
        check("lstm", 2, false, false);
    }
}
