"""gluon.rnn layers and cells against real MXNet 1.9.1.

Golden values: tests/fixtures/gluon_layers/rnn.npz, written by gen_fixtures.py beside it
(outputs and states for seeded weights, inputs and begin states).
"""

from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

rnn = mx.gluon.rnn
FIX = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "gluon_layers" / "rnn.npz")

LAYERS = {
    "rnn_relu": lambda: rnn.RNN(4, activation="relu", input_size=3),
    "rnn_tanh_2l_bi": lambda: rnn.RNN(4, 2, activation="tanh", bidirectional=True, input_size=3),
    "lstm": lambda: rnn.LSTM(4, input_size=3),
    "lstm_2l_bi_ntc": lambda: rnn.LSTM(3, 2, layout="NTC", bidirectional=True, input_size=3),
    "lstm_proj": lambda: rnn.LSTM(4, projection_size=2, input_size=3),
    "gru": lambda: rnn.GRU(4, input_size=3),
    "gru_2l_bi": lambda: rnn.GRU(3, 2, bidirectional=True, input_size=3),
}
CELLS = {
    "rnncell": lambda: rnn.RNNCell(4, input_size=3),
    "rnncell_relu": lambda: rnn.RNNCell(4, activation="relu", input_size=3),
    "lstmcell": lambda: rnn.LSTMCell(4, input_size=3),
    "grucell": lambda: rnn.GRUCell(4, input_size=3),
}
TOL = {"rtol": 1e-4, "atol": 1e-5}


def _set_params(block, case):
    block.initialize()
    for name, p in block.collect_params().items():
        p.set_data(mx.nd.array(FIX["%s/%s" % (case, name[len(block.prefix) :])]))


def _states(case, prefix="state"):
    out, i = [], 0
    while "%s/%s%d" % (case, prefix, i) in FIX.files:
        out.append(FIX["%s/%s%d" % (case, prefix, i)])
        i += 1
    return out


def _needs_rnn_op():
    if not hasattr(mx.nd, "RNN"):
        pytest.skip("the fused RNN op is not in mxrs's registry yet")


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_matches_mxnet(case):
    _needs_rnn_op()
    layer = LAYERS[case]()
    _set_params(layer, case)
    x = mx.nd.array(FIX[case + "/x"])
    out, states = layer(x, [mx.nd.array(s) for s in _states(case)])
    np.testing.assert_allclose(out.asnumpy(), FIX[case + "/out"], **TOL)
    for got, want in zip(states, _states(case, "newstate"), strict=True):
        np.testing.assert_allclose(got.asnumpy(), want, **TOL)
    # no states given: zeros, and only the output comes back
    np.testing.assert_allclose(layer(x).asnumpy(), FIX[case + "/out_zerostate"], **TOL)


@pytest.mark.parametrize("case", ["lstm_2l_bi_ntc", "gru", "lstm_proj"])
def test_layer_hybridized_equals_imperative(case):
    _needs_rnn_op()
    layer = LAYERS[case]()
    _set_params(layer, case)
    x = mx.nd.array(FIX[case + "/x"])
    states = [mx.nd.array(s) for s in _states(case)]
    want = layer(x, states)[0].asnumpy()
    layer.hybridize()
    np.testing.assert_allclose(layer(x, states)[0].asnumpy(), want, rtol=1e-6, atol=1e-6)


def test_layer_parameters_and_states():
    lstm = rnn.LSTM(5, num_layers=2, bidirectional=True)
    names = [k[len(lstm.prefix) :] for k in lstm.collect_params()]
    assert names[:4] == ["l0_i2h_weight", "l0_h2h_weight", "l0_i2h_bias", "l0_h2h_bias"]
    assert len(names) == 16 and "r1_h2h_bias" in names
    assert lstm.l0_i2h_weight.shape == (20, 0) and lstm.l1_i2h_weight.shape == (20, 10)
    assert [s.shape for s in lstm.begin_state(3)] == [(4, 3, 5), (4, 3, 5)]
    assert rnn.GRU(7).state_info(2)[0]["shape"] == (1, 2, 7)
    assert repr(rnn.GRU(7, input_size=3)) == "GRU(3 -> 7, TNC)"
    with pytest.raises((ValueError, AssertionError)):
        rnn.LSTM(3, layout="CTN")


@pytest.mark.parametrize("case", sorted(CELLS))
@pytest.mark.parametrize("hybridize", [False, True])
def test_cell_unroll_matches_mxnet(case, hybridize):
    cell = CELLS[case]()
    _set_params(cell, case)
    if hybridize:
        cell.hybridize()
    x = mx.nd.array(FIX[case + "/x"])
    states = [mx.nd.array(s) for s in _states(case)]
    out, new_states = cell.unroll(5, x, states, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), FIX[case + "/out"], **TOL)
    for got, want in zip(new_states, _states(case, "newstate"), strict=True):
        np.testing.assert_allclose(got.asnumpy(), want, **TOL)


def _seq():
    seq = rnn.SequentialRNNCell(prefix="seq_")
    with seq.name_scope():
        seq.add(rnn.LSTMCell(3, input_size=3, prefix="a_"))
        seq.add(rnn.ResidualCell(rnn.GRUCell(3, input_size=3, prefix="b_")))
    return seq


def _bi():
    return rnn.BidirectionalCell(rnn.LSTMCell(2, input_size=3, prefix="l_"), rnn.GRUCell(3, input_size=3, prefix="r_"))


@pytest.mark.parametrize("case,make", [("seqcell", _seq), ("bicell", _bi)])
def test_composite_cells_match_mxnet(case, make):
    cell = make()
    _set_params(cell, case)
    out, states = cell.unroll(4, mx.nd.array(FIX[case + "/x"]), layout="TNC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), FIX[case + "/out"], **TOL)
    for got, want in zip(states, _states(case, "newstate"), strict=True):
        np.testing.assert_allclose(got.asnumpy(), want, **TOL)


def test_cell_step_list_inputs_and_modifiers():
    cell = rnn.LSTMCell(4, input_size=3)
    cell.initialize()
    assert [i["shape"] for i in cell.state_info(2)] == [(2, 4), (2, 4)]
    states = cell.begin_state(batch_size=2)
    out, states = cell(mx.nd.ones((2, 3)), states)
    assert out.shape == (2, 4) and len(states) == 2
    steps = [mx.nd.ones((2, 3)) * i for i in range(3)]
    outs, _ = cell.unroll(3, steps)
    assert isinstance(outs, list) and len(outs) == 3
    merged, _ = cell.unroll(3, steps, layout="TNC", merge_outputs=True)
    assert merged.shape == (3, 2, 4)
    np.testing.assert_allclose(merged[2].asnumpy(), outs[2].asnumpy(), rtol=1e-6)
    drop = rnn.DropoutCell(0.5)
    assert drop.state_info() == []
    y, _ = drop(mx.nd.ones((2, 3)), [])
    np.testing.assert_allclose(y.asnumpy(), 1.0)  # not training: identity
    base = rnn.GRUCell(3, input_size=3)
    zone = rnn.ZoneoutCell(base, zoneout_outputs=0.5, zoneout_states=0.5)
    zone.initialize()
    out, _ = zone.unroll(2, mx.nd.ones((2, 2, 3)), merge_outputs=True)
    assert out.shape == (2, 2, 3)
    with pytest.raises((RuntimeError, AssertionError)):
        base.begin_state(2)
    with pytest.raises(NotImplementedError):
        _bi()(mx.nd.ones((2, 3)), [])


@pytest.mark.parametrize("case", sorted(CELLS))
def test_cell_unroll_gradients_match_mxnet(case):
    if not hasattr(mx, "autograd"):
        pytest.skip("mx.autograd is not merged yet")
    cell = CELLS[case]()
    _set_params(cell, case)
    x = mx.nd.array(FIX[case + "/x"])
    x.attach_grad()
    states = [mx.nd.array(s) for s in _states(case)]
    with mx.autograd.record():
        out, new_states = cell.unroll(5, x, states, layout="NTC", merge_outputs=True)
        head = (out * out).sum() + new_states[-1].sum()
    head.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), FIX[case + "/xgrad"], **TOL)
    for name, p in cell.collect_params().items():
        want = FIX["%s/grad/%s" % (case, name[len(cell.prefix) :])]
        np.testing.assert_allclose(p.grad().asnumpy(), want, err_msg=name, **TOL)


def test_layer_deferred_input_size_and_saved_names(tmp_path):
    _needs_rnn_op()
    layer = rnn.GRU(4, num_layers=2, bidirectional=True)
    layer.initialize()
    out = layer(mx.nd.ones((5, 2, 3)))
    assert out.shape == (5, 2, 8)
    assert layer.l0_i2h_weight.shape == (12, 3) and layer.r1_i2h_weight.shape == (12, 8)
    path = str(tmp_path / "gru.params")
    layer.save_parameters(path)
    # MXNet 1.9.1 writes a fused layer's parameters under the names of its unfused cells
    keys = set(mx.nd.load(path))
    assert "_unfused.0.l_cell.i2h_weight" in keys and "_unfused.1.r_cell.h2h_bias" in keys
    again = rnn.GRU(4, num_layers=2, bidirectional=True, input_size=3)
    again.load_parameters(path)
    np.testing.assert_allclose(again(mx.nd.ones((5, 2, 3))).asnumpy(), out.asnumpy(), rtol=1e-6)


# unroll(valid_length=...) and the fused layers' use_sequence_length / projection_size, against
# MXNet 1.9.1's Gluon cells (rnn_gaps.npz, written by tools/golden/rnn_gaps.py).
GAPS = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "gluon_layers" / "rnn_gaps.npz")


def _seq_cell():
    seq = rnn.SequentialRNNCell(prefix="seq_")
    with seq.name_scope():
        seq.add(rnn.LSTMCell(3, input_size=3, prefix="a_"))
        seq.add(rnn.ResidualCell(rnn.GRUCell(3, input_size=3, prefix="b_")))
    return seq


def _bi_cell():
    return rnn.BidirectionalCell(rnn.LSTMCell(2, input_size=3, prefix="l_"), rnn.GRUCell(3, input_size=3, prefix="r_"))


VALID_LENGTH_CELLS = {
    "rnncell_ntc": (lambda: rnn.RNNCell(4, input_size=3, prefix="c_"), "NTC", True),
    "lstmcell_tnc_list": (lambda: rnn.LSTMCell(4, input_size=3, prefix="c_"), "TNC", False),
    "grucell_ntc_none": (lambda: rnn.GRUCell(4, input_size=3, prefix="c_"), "NTC", None),
    "seq_ntc": (_seq_cell, "NTC", True),
    "bi_tnc": (_bi_cell, "TNC", True),
    "bi_ntc_list": (_bi_cell, "NTC", False),
    "bi_tnc_none": (_bi_cell, "TNC", None),
}


def _gap_params(block, case):
    block.initialize()
    for name, p in block.collect_params().items():
        p.set_data(mx.nd.array(GAPS["%s/param/%s" % (case, name[len(block.prefix) :])]))


@pytest.mark.parametrize("case", sorted(VALID_LENGTH_CELLS))
@pytest.mark.parametrize("hybridize", [False, True])
def test_cell_unroll_valid_length_matches_mxnet(case, hybridize):
    make, layout, merge = VALID_LENGTH_CELLS[case]
    cell = make()
    cell.initialize()
    for name, p in cell.collect_params().items():
        p.set_data(mx.nd.array(GAPS["%s/param/%s" % (case, name)]))
    if hybridize:
        cell.hybridize()
    x = mx.nd.array(GAPS[case + "/x"])
    x.attach_grad()
    lens = mx.nd.array(GAPS[case + "/lens"])
    with mx.autograd.record():
        outs, states = cell.unroll(5, x, layout=layout, merge_outputs=merge, valid_length=lens)
        merged = outs if isinstance(outs, mx.nd.NDArray) else mx.nd.stack(*outs, axis=layout.find("T"))
        head = (merged * merged).sum() + sum(s.sum() for s in states)
    head.backward()
    assert isinstance(outs, mx.nd.NDArray) == bool(GAPS[case + "/merged"])
    np.testing.assert_allclose(merged.asnumpy(), GAPS[case + "/out"], **TOL)
    for i, got in enumerate(states):
        np.testing.assert_allclose(got.asnumpy(), GAPS["%s/state%d" % (case, i)], **TOL)
    assert "%s/state%d" % (case, len(states)) not in GAPS.files
    np.testing.assert_allclose(x.grad.asnumpy(), GAPS[case + "/xgrad"], **TOL)
    for name, p in cell.collect_params().items():
        np.testing.assert_allclose(p.grad().asnumpy(), GAPS["%s/grad/%s" % (case, name)], err_msg=name, **TOL)


def test_cell_unroll_valid_length_symbol():
    cell = rnn.LSTMCell(4, input_size=3, prefix="c_")
    begin = cell.begin_state(func=mx.sym.var)
    out, states = cell.unroll(
        5, mx.sym.var("x"), begin, layout="NTC", merge_outputs=True, valid_length=mx.sym.var("len")
    )
    grouped = mx.sym.Group([out] + states)
    case = "lstmcell_tnc_list"
    args = {"x": mx.nd.array(GAPS[case + "/x"]).swapaxes(0, 1), "len": mx.nd.array(GAPS[case + "/lens"])}
    for name in cell.collect_params():
        args[name] = mx.nd.array(GAPS["%s/param/%s" % (case, name)])
    for s in begin:
        args[s.name] = mx.nd.zeros((3, 4))
    got = grouped.bind(mx.cpu(), args).forward()
    np.testing.assert_allclose(got[0].asnumpy(), GAPS[case + "/out"].swapaxes(0, 1), **TOL)
    np.testing.assert_allclose(got[1].asnumpy(), GAPS[case + "/state0"], **TOL)


GAP_LAYERS = {
    "lstm_2l_bi_len": lambda: rnn.LSTM(3, 2, bidirectional=True, input_size=3, use_sequence_length=True),
    "gru_ntc_len": lambda: rnn.GRU(4, layout="NTC", input_size=3, use_sequence_length=True),
    "rnn_tanh_bi_len": lambda: rnn.RNN(
        4, activation="tanh", bidirectional=True, input_size=3, use_sequence_length=True
    ),
    "lstmp_2l_bi": lambda: rnn.LSTM(4, 2, bidirectional=True, projection_size=2, input_size=3),
    "lstmp_ntc_len": lambda: rnn.LSTM(4, layout="NTC", projection_size=3, input_size=3, use_sequence_length=True),
}


@pytest.mark.parametrize("case", sorted(GAP_LAYERS))
@pytest.mark.parametrize("hybridize", [False, True])
def test_layer_lengths_and_projection_match_mxnet(case, hybridize):
    if IS_MXNET:
        pytest.skip("MXNet 1.9.1 runs use_sequence_length and trains projections only through cuDNN")
    layer = GAP_LAYERS[case]()
    _gap_params(layer, case)
    if hybridize:
        layer.hybridize()
    x = mx.nd.array(GAPS[case + "/x"])
    states = [mx.nd.array(GAPS["%s/state%d" % (case, i)]) for i in range(2) if "%s/state%d" % (case, i) in GAPS]
    for a in [x] + states:
        a.attach_grad()
    extra = [mx.nd.array(GAPS[case + "/lens"])] if case + "/lens" in GAPS else []
    with mx.autograd.record():
        out, new_states = layer(x, states, *extra)
    heads = [mx.nd.array(GAPS["%s/head%d" % (case, i)]) for i in range(1 + len(states))]
    mx.autograd.backward([out] + new_states, heads)
    np.testing.assert_allclose(out.asnumpy(), GAPS[case + "/out"], **TOL)
    for i, got in enumerate(new_states):
        np.testing.assert_allclose(got.asnumpy(), GAPS["%s/newstate%d" % (case, i)], **TOL)
        np.testing.assert_allclose(states[i].grad.asnumpy(), GAPS["%s/stategrad%d" % (case, i)], **TOL)
    np.testing.assert_allclose(x.grad.asnumpy(), GAPS[case + "/xgrad"], **TOL)
    for name, p in layer.collect_params().items():
        want = GAPS["%s/grad/%s" % (case, name[len(layer.prefix) :])]
        np.testing.assert_allclose(p.grad().asnumpy(), want, err_msg=name, **TOL)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 runs use_sequence_length only through cuDNN")
def test_layer_sequence_length_bad_input():
    layer = rnn.LSTM(3, input_size=2, use_sequence_length=True)
    layer.initialize()
    x = mx.nd.ones((4, 3, 2))
    with pytest.raises(mx.base.MXNetError, match="sequence_length"):
        layer(x, layer.begin_state(3), mx.nd.array([1, 2]))[0].wait_to_read()
    with pytest.raises(mx.base.MXNetError, match="sequence_length"):
        layer(x, layer.begin_state(3), mx.nd.array([1, 2, 5]))[0].wait_to_read()
    with pytest.raises(ValueError, match="sequence_length"):
        layer(x, layer.begin_state(3))
    # A GRU has no projection: the op rejects it.
    gru = rnn.GRU(3, input_size=2, projection_size=2)
    gru.initialize()
    with pytest.raises(mx.base.MXNetError, match="projection_size"):
        gru(x).wait_to_read()


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 clips LSTM states only through cuDNN")
def test_layer_state_clip():
    # MXNet's test_lstm_clip (GPU): the returned cell states stay inside the clipping range.
    layer = rnn.LSTM(8, projection_size=3, input_size=4, bidirectional=True)
    clipped = rnn.LSTM(8, projection_size=3, input_size=4, bidirectional=True, state_clip_min=-0.2, state_clip_max=0.3)
    layer.initialize(mx.init.Uniform(1.0))
    clipped.initialize()
    for (_, a), (_, b) in zip(layer.collect_params().items(), clipped.collect_params().items()):
        b.set_data(a.data())
    x = mx.nd.array(np.random.RandomState(0).uniform(-2, 2, (6, 5, 4)))
    _, (_, c_free) = layer(x, layer.begin_state(5))
    out, (_, c) = clipped(x, clipped.begin_state(5))
    c = c.asnumpy()
    assert c.min() >= -0.2 and c.max() <= 0.3
    assert np.isclose(c, -0.2).any() and np.isclose(c, 0.3).any()
    assert np.abs(c_free.asnumpy()).max() > 0.5
    clipped.hybridize()
    np.testing.assert_allclose(clipped(x, clipped.begin_state(5))[0].asnumpy(), out.asnumpy(), rtol=1e-6)
