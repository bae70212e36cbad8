"""Golden values of the RNN features MXNet 1.9.1 computes only through cuDNN, from real MXNet.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/rnn_gaps.py

MXNet 1.9.1's CPU ``RNN`` op rejects ``use_sequence_length`` and state clipping and cannot
train an LSTM with ``projection_size`` (those run only through cuDNN). The reference here is
MXNet's Gluon cells, which compute the same recurrences: per layer and direction an
``RNNCell``/``LSTMCell``/``GRUCell`` (``contrib.rnn.LSTMPCell`` with a projection; with state
clipping an LSTM step whose cell state goes through ``clip``) in a ``SequentialRNNCell`` of
``BidirectionalCell``s, unrolled with ``valid_length`` (masked outputs, states of each sample's
last valid step, the backward direction reversed with ``SequenceReverse``), as cuDNN runs
padded sequences. Where MXNet's own RNN op does run (no lengths, no clipping, inference with a
projection) the reference is checked against it first.

Writes ``tests/data/ops_rnn_gaps_golden.json`` (cases of the ``RNN`` op in the format of
``tools/golden/extra_ops.py``, read by ``tests/_op_golden.py``) and
``tests/fixtures/gluon_layers/rnn_gaps.npz`` (Gluon cells unrolled with ``valid_length`` and
fused layers with ``use_sequence_length`` / ``projection_size``).
"""

import json
import os
from pathlib import Path

os.environ.setdefault("MXNET_MKLDNN_ENABLED", "1")
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet.gluon import rnn  # noqa: E402
from mxnet.gluon.contrib.rnn import LSTMPCell  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def flat(a):
    """Values as a flat list, 8 significant digits (float32 needs at most 9)."""
    return [float(f"{v:.8g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def param_names(L, D, P):
    """The parameter names in the order of the op's flat vector."""
    gates = ["i2h", "h2h", "h2r"] if P else ["i2h", "h2h"]
    return [
        "%s%d_%s_%s" % (d, layer, g, t)
        for t in ("weight", "bias")
        for layer in range(L)
        for d in "lr"[:D]
        for g in gates
        if g != "h2r" or t != "bias"
    ]


def param_shapes(mode, L, D, inp, H, P):
    g, hr = GATES[mode], P or H
    shapes = {}
    for layer in range(L):
        ni = inp if layer == 0 else D * hr
        for d in "lr"[:D]:
            shapes["%s%d_i2h_weight" % (d, layer)] = (g * H, ni)
            shapes["%s%d_h2h_weight" % (d, layer)] = (g * H, hr)
            if P:
                shapes["%s%d_h2r_weight" % (d, layer)] = (P, H)
            shapes["%s%d_i2h_bias" % (d, layer)] = (g * H,)
            shapes["%s%d_h2h_bias" % (d, layer)] = (g * H,)
    return shapes


class ClipLSTMCell(rnn.HybridRecurrentCell):
    """An LSTM step (optionally projected) whose new cell state is clipped to [lo, hi]."""

    def __init__(self, hidden, proj, input_size, clip, prefix):
        super().__init__(prefix=prefix)
        self._h, self._p, self._clip = hidden, proj, clip
        r = proj or hidden
        self.i2h_weight = self.params.get("i2h_weight", shape=(4 * hidden, input_size))
        self.h2h_weight = self.params.get("h2h_weight", shape=(4 * hidden, r))
        if proj:
            self.h2r_weight = self.params.get("h2r_weight", shape=(proj, hidden))
        self.i2h_bias = self.params.get("i2h_bias", shape=(4 * hidden,))
        self.h2h_bias = self.params.get("h2h_bias", shape=(4 * hidden,))

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._p or self._h)}, {"shape": (batch_size, self._h)}]

    def hybrid_forward(self, F, x, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias, h2r_weight=None):
        gates = F.FullyConnected(x, i2h_weight, i2h_bias, num_hidden=4 * self._h) + F.FullyConnected(
            states[0], h2h_weight, h2h_bias, num_hidden=4 * self._h
        )
        i, f, g, o = F.SliceChannel(gates, num_outputs=4)
        c = F.sigmoid(f) * states[1] + F.sigmoid(i) * F.tanh(g)
        c = F.clip(c, self._clip[0], self._clip[1])
        h = F.sigmoid(o) * F.tanh(c)
        if self._p:
            h = F.FullyConnected(h, h2r_weight, no_bias=True, num_hidden=self._p)
        return h, [h, c]


def make_cell(mode, H, P, ni, prefix, clip):
    if clip is not None:
        return ClipLSTMCell(H, P, ni, clip, prefix)
    if mode == "lstm":
        return LSTMPCell(H, P, input_size=ni, prefix=prefix) if P else rnn.LSTMCell(H, input_size=ni, prefix=prefix)
    if mode == "gru":
        return rnn.GRUCell(H, input_size=ni, prefix=prefix)
    return rnn.RNNCell(H, activation=mode[4:], input_size=ni, prefix=prefix)


def reference(mode, L, D, H, P, weights, x, h0, c0, lens, heads, clip=None):
    """Outputs (out, hy, [cy]) and gradients (x, each parameter, h0, [c0]) of the unrolled
    cells for data ``x (T, N, C)`` and head gradients ``heads``."""
    T, _, inp = x.shape
    stack = rnn.SequentialRNNCell(prefix="")
    with stack.name_scope():
        for layer in range(L):
            ni = inp if layer == 0 else D * (P or H)
            cells = [make_cell(mode, H, P, ni, "%s%d_" % (d, layer), clip) for d in "lr"[:D]]
            stack.add(rnn.BidirectionalCell(*cells) if D == 2 else cells[0])
    stack.initialize()
    for name, p in stack.collect_params().items():
        p.set_data(mx.nd.array(weights[name]))
    lstm = mode == "lstm"
    xs, hs = mx.nd.array(x), mx.nd.array(h0)
    cs = mx.nd.array(c0) if lstm else None
    for a in (xs, hs, cs) if lstm else (xs, hs):
        a.attach_grad()
    vl = None if lens is None else mx.nd.array(lens)
    with mx.autograd.record():
        begin = []
        for k in range(L * D):
            begin += [hs[k], cs[k]] if lstm else [hs[k]]
        out, states = stack.unroll(T, xs, begin, layout="TNC", merge_outputs=True, valid_length=vl)
        outs = [out, mx.nd.stack(*states[:: 2 if lstm else 1])]
        if lstm:
            outs.append(mx.nd.stack(*states[1::2]))
    mx.autograd.backward(outs, [mx.nd.array(h) for h in heads])
    grads = {"data": xs.grad.asnumpy(), "state": hs.grad.asnumpy()}
    if lstm:
        grads["state_cell"] = cs.grad.asnumpy()
    for name, p in stack.collect_params().items():
        grads[name] = p.grad().asnumpy()
    return [o.asnumpy() for o in outs], grads


def op_case(seed, name, mode, L, D, lens=None, P=0, clip=None, T=5, N=3, inp=4, H=3):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (T, N, inp)).astype(np.float32)
    shapes = param_shapes(mode, L, D, inp, H, P)
    names = param_names(L, D, P)
    weights = {n: rng.uniform(-0.9, 0.9, shapes[n]).astype(np.float32) for n in names}
    if clip is not None:  # larger weights so that some cell states reach the bounds
        weights = {n: 2.5 * w for n, w in weights.items()}
    hr = P or H
    h0 = rng.uniform(-1, 1, (L * D, N, hr)).astype(np.float32)
    c0 = rng.uniform(-1, 1, (L * D, N, H)).astype(np.float32)
    lstm = mode == "lstm"
    out_shapes = [(T, N, D * hr), (L * D, N, hr)] + ([(L * D, N, H)] if lstm else [])
    heads = [rng.uniform(-1, 1, s).astype(np.float32) for s in out_shapes]
    outs, grads = reference(mode, L, D, H, P, weights, x, h0, c0, lens, heads, clip)
    params = np.concatenate([weights[n].ravel() for n in names])
    attrs = {"mode": mode, "state_size": H, "num_layers": L, "bidirectional": D == 2, "state_outputs": True}
    inputs = {"data": x, "parameters": params, "state": h0}
    if lstm:
        inputs["state_cell"] = c0
    if P:
        attrs["projection_size"] = P
    if clip is not None:
        attrs["lstm_state_clip_min"], attrs["lstm_state_clip_max"] = clip
    if lens is not None:
        attrs["use_sequence_length"] = True
        inputs["sequence_length"] = np.array(lens, dtype=np.float32)
    elif clip is None:
        # MXNet's own op runs these in inference: the reference must agree with it.
        want = mx.nd.RNN(*(mx.nd.array(v) for v in inputs.values()), **attrs)
        for got, w in zip(outs, want):
            np.testing.assert_allclose(got, w.asnumpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    grads["parameters"] = np.concatenate([grads[n].ravel() for n in names])
    diff = ["data", "parameters", "state"] + (["state_cell"] if lstm else [])
    return {
        "name": name,
        "op": "RNN",
        "attrs": attrs,
        "train": True,
        # by name: the inputs after ``state`` differ between LSTM and the other modes
        "positional": False,
        # what MXNet 1.9.1's own CPU op can run (inference only with a projection)
        "mxnet_cpu": lens is None and clip is None and not P,
        "inputs": {n: {"shape": list(v.shape), "dtype": v.dtype.name, "data": flat(v)} for n, v in inputs.items()},
        "heads": [flat(h) for h in heads],
        "outputs": [{"shape": list(o.shape), "dtype": "float32", "data": flat(o)} for o in outs],
        "grads": {n: flat(grads[n]) for n in diff},
    }


def op_cases():
    cases = []
    specs = [
        ("lstm_plain_check", "lstm", 2, 2, {}),
        ("relu_len", "rnn_relu", 1, 1, {"lens": [5, 2, 1]}),
        ("tanh_len_l2_bi", "rnn_tanh", 2, 2, {"lens": [3, 5, 1]}),
        ("lstm_len", "lstm", 1, 1, {"lens": [2, 5, 4]}),
        ("lstm_len_l2_bi", "lstm", 2, 2, {"lens": [5, 1, 3]}),
        ("gru_len", "gru", 1, 1, {"lens": [4, 1, 5]}),
        ("gru_len_l2_bi", "gru", 2, 2, {"lens": [2, 5, 3]}),
        ("lstmp", "lstm", 1, 1, {"P": 2}),
        ("lstmp_l2_bi", "lstm", 2, 2, {"P": 2}),
        ("lstmp_len_l2_bi", "lstm", 2, 2, {"P": 2, "lens": [4, 2, 5]}),
        ("lstm_clip", "lstm", 1, 1, {"clip": (-0.5, 0.6)}),
        ("lstm_clip_l2_bi_len", "lstm", 2, 2, {"clip": (-0.4, 0.4), "lens": [5, 3, 2]}),
        ("lstmp_clip", "lstm", 1, 2, {"P": 2, "clip": (-0.7, 0.5)}),
    ]
    for seed, (name, mode, L, D, kw) in enumerate(specs):
        cases.append(op_case(100 + seed, name, mode, L, D, **kw))
    return cases


# Gluon cells unrolled with valid_length: (constructor source, layout, merge_outputs).
CELL_CASES = {
    "rnncell_ntc": ("rnn.RNNCell(4, input_size=3, prefix='c_')", "NTC", True),
    "lstmcell_tnc_list": ("rnn.LSTMCell(4, input_size=3, prefix='c_')", "TNC", False),
    "grucell_ntc_none": ("rnn.GRUCell(4, input_size=3, prefix='c_')", "NTC", None),
    "seq_ntc": ("seq_cell()", "NTC", True),
    "bi_tnc": ("bi_cell()", "TNC", True),
    "bi_ntc_list": ("bi_cell()", "NTC", False),
    "bi_tnc_none": ("bi_cell()", "TNC", None),
}


def seq_cell():
    seq = rnn.SequentialRNNCell(prefix="seq_")
    with seq.name_scope():
        seq.add(rnn.LSTMCell(3, input_size=3, prefix="a_"))
        seq.add(rnn.ResidualCell(rnn.GRUCell(3, input_size=3, prefix="b_")))
    return seq


def bi_cell():
    return rnn.BidirectionalCell(rnn.LSTMCell(2, input_size=3, prefix="l_"), rnn.GRUCell(3, input_size=3, prefix="r_"))


def cell_cases(out):
    for seed, (case, (make, layout, merge)) in enumerate(sorted(CELL_CASES.items())):
        rng = np.random.RandomState(200 + seed)
        cell = eval(make)  # noqa: S307 - constructors listed above
        cell.initialize()
        for name, p in cell.collect_params().items():
            v = rng.uniform(-0.8, 0.8, p.shape).astype(np.float32)
            p.set_data(mx.nd.array(v))
            out["%s/param/%s" % (case, name)] = v
        shape = (3, 5, 3) if layout == "NTC" else (5, 3, 3)
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        lens = np.array([5, 2, 1], dtype=np.float32)
        xs = mx.nd.array(x)
        xs.attach_grad()
        with mx.autograd.record():
            outs, states = cell.unroll(5, xs, layout=layout, merge_outputs=merge, valid_length=mx.nd.array(lens))
            merged = outs if isinstance(outs, mx.nd.NDArray) else mx.nd.stack(*outs, axis=layout.find("T"))
            head = (merged * merged).sum() + sum(s.sum() for s in states)
        head.backward()
        out[case + "/x"], out[case + "/lens"] = x, lens
        out[case + "/out"] = merged.asnumpy()
        out[case + "/merged"] = np.array(isinstance(outs, mx.nd.NDArray))
        for i, s in enumerate(states):
            out["%s/state%d" % (case, i)] = s.asnumpy()
        out[case + "/xgrad"] = xs.grad.asnumpy()
        for name, p in cell.collect_params().items():
            out["%s/grad/%s" % (case, name)] = p.grad().asnumpy()


# Fused layers: (mode, hidden, layers, bidirectional, projection, layout, use_sequence_length).
LAYER_CASES = {
    "lstm_2l_bi_len": ("lstm", 3, 2, True, 0, "TNC", True),
    "gru_ntc_len": ("gru", 4, 1, False, 0, "NTC", True),
    "rnn_tanh_bi_len": ("rnn_tanh", 4, 1, True, 0, "TNC", True),
    "lstmp_2l_bi": ("lstm", 4, 2, True, 2, "TNC", False),
    "lstmp_ntc_len": ("lstm", 4, 1, False, 3, "NTC", True),
}


def layer_cases(out):
    for seed, (case, (mode, H, L, bi, P, layout, use_len)) in enumerate(sorted(LAYER_CASES.items())):
        rng = np.random.RandomState(300 + seed)
        D, T, N, C = 1 + bi, 5, 3, 3
        shapes = param_shapes(mode, L, D, C, H, P)
        weights = {n: rng.uniform(-0.7, 0.7, s).astype(np.float32) for n, s in shapes.items()}
        x = rng.uniform(-1, 1, (T, N, C)).astype(np.float32)
        h0 = rng.uniform(-1, 1, (L * D, N, P or H)).astype(np.float32)
        c0 = rng.uniform(-1, 1, (L * D, N, H)).astype(np.float32)
        lens = np.array([2, 5, 4], dtype=np.float32) if use_len else None
        shapes_out = [(T, N, D * (P or H)), h0.shape] + ([c0.shape] if mode == "lstm" else [])
        heads = [rng.uniform(-1, 1, s).astype(np.float32) for s in shapes_out]
        outs, grads = reference(mode, L, D, H, P, weights, x, h0, c0, lens, heads)
        if layout == "NTC":
            x, outs[0], heads[0] = x.swapaxes(0, 1), outs[0].swapaxes(0, 1), heads[0].swapaxes(0, 1)
            grads["data"] = grads["data"].swapaxes(0, 1)
        out[case + "/x"] = x
        if use_len:
            out[case + "/lens"] = lens
        for n, w in weights.items():
            out["%s/param/%s" % (case, n)] = w
            out["%s/grad/%s" % (case, n)] = grads[n]
        for i, (s, h) in enumerate(zip([h0, c0][: len(outs) - 1], heads[1:])):
            out["%s/state%d" % (case, i)] = s
            out["%s/head%d" % (case, i + 1)] = h
            out["%s/newstate%d" % (case, i)] = outs[1 + i]
            out["%s/stategrad%d" % (case, i)] = grads[["state", "state_cell"][i]]
        out[case + "/out"], out[case + "/head0"], out[case + "/xgrad"] = outs[0], heads[0], grads["data"]


def main():
    cases = op_cases()
    path = ROOT / "tests" / "data" / "ops_rnn_gaps_golden.json"
    path.write_text(json.dumps({"mxnet": mx.__version__, "cases": cases}) + "\n")
    print("wrote %s (%d cases)" % (path, len(cases)))
    out = {}
    cell_cases(out)
    layer_cases(out)
    path = ROOT / "tests" / "fixtures" / "gluon_layers" / "rnn_gaps.npz"
    np.savez_compressed(path, **out)
    print("wrote %s (%d arrays)" % (path, len(out)))


if __name__ == "__main__":
    main()
