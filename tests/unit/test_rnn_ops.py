"""The fused RNN op (rnn_relu, rnn_tanh, lstm, gru; stacked, bidirectional) against real MXNet
1.9.1 (``ops_rnn_golden.json``): outputs, final states and the gradients of the data, the flat
parameters and the initial states."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, forward, load
from _target import IS_MXNET, mx

CASES = load("rnn")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name])


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's RNN is float32 only with oneDNN")
@pytest.mark.parametrize("name", ["lstm_l2_bi", "gru_l2_bi"])
def test_float64_forward(name):
    case = CASES[name]
    outs = forward(case, "float64")
    for got, want in zip(outs, case["outputs"], strict=True):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got.asnumpy().ravel(), want["data"], rtol=1e-5, atol=1e-6)


def _lstm_inputs(layers=2, t=5, n=4, c=3, h=6):
    size = sum(4 * h * ((c if i == 0 else h) + h) for i in range(layers)) + layers * 8 * h
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.uniform(-1, 1, (t, n, c)))
    p = mx.nd.array(rng.uniform(-0.5, 0.5, (size,)))
    s = mx.nd.zeros((layers, n, h))
    return x, p, s, mx.nd.zeros((layers, n, h))


def test_symbol_infers_parameter_and_state_shapes():
    sym = mx.sym.RNN(mx.sym.var("x"), mode="lstm", state_size=4, num_layers=2, bidirectional=True, name="rnn")
    assert sym.list_arguments() == ["x", "rnn_parameters", "rnn_state", "rnn_state_cell"]
    assert sym.list_outputs() == ["rnn_output"]
    args, outs, _ = sym.infer_shape(x=(5, 3, 6))
    assert args == [(5, 3, 6), (832,), (4, 3, 4), (4, 3, 4)]
    assert outs == [(5, 3, 8)]
    sym = mx.sym.RNN(mx.sym.var("x"), mode="gru", state_size=4, num_layers=1, state_outputs=True, name="rnn")
    assert sym.list_outputs() == ["rnn_output", "rnn_state_output"]
    assert sym.infer_shape(x=(5, 3, 6))[0][1] == (144,)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's oneDNN RNN (its default CPU path) ignores p")
def test_dropout_between_layers_only_in_training():
    x, p, s, c = _lstm_inputs()
    kw = {"mode": "lstm", "state_size": 6, "num_layers": 2, "p": 0.5}
    plain = mx.nd.RNN(x, p, s, c, mode="lstm", state_size=6, num_layers=2).asnumpy()
    # Outside training, p changes nothing.
    np.testing.assert_allclose(mx.nd.RNN(x, p, s, c, **kw).asnumpy(), plain, rtol=1e-6)
    sym = mx.sym.RNN(*(mx.sym.var(n) for n in "xpsc"), **kw)
    exe = sym.bind(mx.cpu(), {"x": x, "p": p, "s": s, "c": c})
    mx.random.seed(1)
    a = exe.forward(is_train=True)[0].asnumpy()
    mx.random.seed(1)
    b = exe.forward(is_train=True)[0].asnumpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain, atol=1e-3)


def test_bad_inputs():
    x, p, s, c = _lstm_inputs()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.RNN(x, p[:10], s, c, mode="lstm", state_size=6, num_layers=2).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.RNN(x, p, s, c, mode="lsmt", state_size=6, num_layers=2).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.RNN(x, p, s[:1], c, mode="lstm", state_size=6, num_layers=2).wait_to_read()
