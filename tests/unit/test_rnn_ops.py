"""The fused RNN op (rnn_relu, rnn_tanh, lstm, gru; stacked, bidirectional; per-sample
sequence lengths, LSTM projection and state clipping) against real MXNet 1.9.1
(``ops_rnn_golden.json``, ``ops_rnn_gaps_golden.json``): outputs, final states and the
gradients of the data, the flat parameters and the initial states."""

import numpy as np
import pytest
from _op_golden import attrs as golden_attrs
from _op_golden import check_forward, check_gradients, forward, load
from _op_golden import inputs as golden_inputs
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


# use_sequence_length, LSTM projection (training) and state clipping: MXNet 1.9.1 runs them
# only through cuDNN; the golden values (tools/golden/rnn_gaps.py) come from its Gluon cells
# computing the same recurrences (unroll with valid_length, contrib.rnn.LSTMPCell, clip).
GAPS = load("rnn_gaps")


def _gap(name):
    case = GAPS[name]
    if IS_MXNET and not case["mxnet_cpu"]:
        pytest.skip("MXNet 1.9.1 runs this RNN feature only through cuDNN")
    return case


@pytest.mark.parametrize("name", sorted(GAPS))
def test_lengths_projection_clip_forward_match_mxnet(name):
    check_forward(_gap(name))


@pytest.mark.parametrize("name", sorted(GAPS))
def test_lengths_projection_clip_gradients_match_mxnet(name):
    check_gradients(_gap(name))


@pytest.mark.parametrize("name", ["lstm_len_l2_bi", "gru_len", "lstmp_len_l2_bi", "lstm_clip_l2_bi_len"])
def test_lengths_projection_clip_imperative_autograd(name):
    case = _gap(name)
    ins = golden_inputs(case)
    names = list(case["grads"])
    for n in names:
        ins[n].attach_grad()
    with mx.autograd.record():
        outs = mx.nd.RNN(*ins.values(), **golden_attrs(case))
    heads = [mx.nd.array(np.array(h).reshape(o["shape"])) for h, o in zip(case["heads"], case["outputs"])]
    mx.autograd.backward(list(outs), heads)
    for got, want in zip(outs, case["outputs"], strict=True):
        np.testing.assert_allclose(got.asnumpy().ravel(), want["data"], rtol=1e-4, atol=1e-5)
    for n in names:
        np.testing.assert_allclose(ins[n].grad.asnumpy().ravel(), case["grads"][n], rtol=1e-4, atol=1e-5, err_msg=n)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's CPU RNN has no use_sequence_length")
def test_sequence_length_masks_outputs_and_keeps_last_states():
    case = GAPS["lstm_len_l2_bi"]
    ins = golden_inputs(case)
    out, hy, cy = mx.nd.RNN(*ins.values(), **golden_attrs(case))
    lens = ins["sequence_length"].asnumpy().astype(int)
    for b, n in enumerate(lens):
        assert np.all(out[n:, b].asnumpy() == 0)
        assert np.all(out[:n, b].asnumpy() != 0)
    # A sample of full length gives what the op without lengths gives.
    attrs = {k: v for k, v in golden_attrs(case).items() if k != "use_sequence_length"}
    full = mx.nd.RNN(*list(ins.values())[:-1], **attrs)
    b = int(np.argmax(lens == 5))
    np.testing.assert_allclose(out[:, b].asnumpy(), full[0][:, b].asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hy[:, b].asnumpy(), full[1][:, b].asnumpy(), rtol=1e-5, atol=1e-6)


def test_symbol_with_lengths_and_projection_infers_shapes():
    sym = mx.sym.RNN(
        mx.sym.var("x"),
        mode="lstm",
        state_size=4,
        projection_size=2,
        num_layers=2,
        bidirectional=True,
        use_sequence_length=True,
        state_outputs=True,
        name="rnn",
    )
    assert sym.list_arguments() == ["x", "rnn_parameters", "rnn_state", "rnn_state_cell", "rnn_sequence_length"]
    args, outs, _ = sym.infer_shape(x=(5, 3, 6))
    # per layer and direction 16x(in + 2) + 2x4 weights, 2x16 biases
    assert args == [(5, 3, 6), (2 * (16 * 8 + 8 + 32) + 2 * (16 * 6 + 8 + 32),), (4, 3, 2), (4, 3, 4), (3,)]
    assert outs == [(5, 3, 4), (4, 3, 2), (4, 3, 4)]


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's CPU RNN has no state clipping")
def test_state_clip_nan():
    x, p, s, c = _lstm_inputs(layers=1)
    x[1, 0, 0] = np.nan
    kw = {"mode": "lstm", "state_size": 6, "num_layers": 1, "state_outputs": True}
    kw.update(lstm_state_clip_min=-0.25, lstm_state_clip_max=0.5)
    cy = mx.nd.RNN(x, p, s, c, **kw)[2].asnumpy()
    assert np.isnan(cy[0, 0]).all() and not np.isnan(cy[0, 1:]).any()
    cy = mx.nd.RNN(x, p, s, c, lstm_state_clip_nan=True, **kw)[2].asnumpy()
    assert not np.isnan(cy).any() and cy.min() >= -0.25 and cy.max() <= 0.5
    np.testing.assert_array_equal(cy[0, 0], -0.25)


def _err(fn):
    with pytest.raises(mx.base.MXNetError) as info:
        fn().wait_to_read()
    return str(info.value)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's oneDNN RNN ignores lengths and clipping")
def test_bad_lengths_projection_and_clip():
    x, p, s, c = _lstm_inputs()
    kw = {"mode": "lstm", "state_size": 6, "num_layers": 2}
    seq = {"use_sequence_length": True, **kw}
    msg = _err(lambda: mx.nd.RNN(x, p, s, c, mx.nd.array([1, 2, 3]), **seq))
    assert "sequence_length" in msg and "(3)" in msg and "(4)" in msg
    assert "sequence_length" in _err(lambda: mx.nd.RNN(x, p, s, c, mx.nd.array([1, 2, 6, 1]), **seq))
    assert "sequence_length" in _err(lambda: mx.nd.RNN(x, p, s, c, mx.nd.array([1, 2, -1, 1]), **seq))
    assert "sequence_length" in _err(lambda: mx.nd.RNN(x, p, s, c, mx.nd.array([1, 2.5, 1, 1]), **seq))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.RNN(x, p, s, c, **seq).wait_to_read()  # the lengths are missing
    gru = {"mode": "gru", "state_size": 6, "num_layers": 2}
    assert "projection_size" in _err(lambda: mx.nd.RNN(x, p, s, projection_size=2, **gru))
    assert "projection_size" in _err(lambda: mx.nd.RNN(x, p, s, c, projection_size=7, **kw))
    assert "clip" in _err(lambda: mx.nd.RNN(x, p, s, c, lstm_state_clip_min=-1, **kw))
    assert "clip" in _err(lambda: mx.nd.RNN(x, p, s, c, lstm_state_clip_min=1, lstm_state_clip_max=0, **kw))
    assert "clip" in _err(lambda: mx.nd.RNN(x, p, s, lstm_state_clip_min=-1, lstm_state_clip_max=1, **gru))
    # with a projection the state is (L*D, N, P) and the parameters include h2r
    msg = _err(lambda: mx.nd.RNN(x, p, s, c, projection_size=2, **kw))
    assert "parameters" in msg
