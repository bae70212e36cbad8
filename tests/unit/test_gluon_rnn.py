"""gluon.rnn layers and cells against real MXNet 1.9.1.

Golden values: tests/fixtures/gluon_layers/rnn.npz, written by gen_fixtures.py beside it
(outputs and states for seeded weights, inputs and begin states).
"""

from pathlib import Path

import numpy as np
import pytest
from _target import mx

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
    try:
        out, states = layer(x, [mx.nd.array(s) for s in _states(case)])
    except (NotImplementedError, ValueError) as err:
        if "projection_size" in str(err):
            pytest.skip("mxrs's RNN op has no LSTM projection yet: %s" % err)
        raise
    np.testing.assert_allclose(out.asnumpy(), FIX[case + "/out"], **TOL)
    for got, want in zip(states, _states(case, "newstate"), strict=True):
        np.testing.assert_allclose(got.asnumpy(), want, **TOL)
    # no states given: zeros, and only the output comes back
    np.testing.assert_allclose(layer(x).asnumpy(), FIX[case + "/out_zerostate"], **TOL)


@pytest.mark.parametrize("case", ["lstm_2l_bi_ntc", "gru"])
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
