"""Neural-network layer ops of ``mx.nd``: forward results against real MXNet 1.9.1 and
bad-input errors.

The golden values come from ``tools/golden/nn_ops.py`` (``tests/data/nn_ops_golden.json``).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "nn_ops_golden.json").read_text())
CASES = GOLDEN["cases"]


def _case_id(c):
    extra = ",".join(f"{k}={v}" for k, v in sorted(c["kwargs"].items()))
    return f"{c['op']}({extra})"


def _array(spec, dtype=None):
    a = np.array(spec["values"], dtype=spec["dtype"]).reshape(spec["shape"])
    return mx.nd.array(a, dtype=dtype or spec["dtype"])


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_matches_mxnet(case, dtype):
    if IS_MXNET and dtype == "float64" and case["op"] == "SoftmaxActivation":
        pytest.skip("MXNet 1.9.1's SoftmaxActivation fails on float64")
    if dtype == "float64" and case["op"] == "Embedding":
        inputs = [_array(case["inputs"][0]), _array(case["inputs"][1], dtype)]
        kwargs = dict(case["kwargs"], dtype=dtype)
    else:
        inputs = [_array(s, dtype) for s in case["inputs"]]
        kwargs = case["kwargs"]
    out = getattr(mx.nd, case["op"])(*inputs, **kwargs)
    outs = out if isinstance(out, list) else [out]
    assert len(outs) == len(case["outputs"])
    if case["kwargs"].get("act_type") == "rrelu":
        outs = outs[:1]  # MXNet leaves rrelu's mask unwritten outside training
    for got, want in zip(outs, case["outputs"][: len(outs)], strict=True):
        assert got.shape == tuple(want["shape"])
        assert got.dtype == np.dtype(dtype)
        expected = np.array(want["values"]).reshape(want["shape"])
        np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_dropout_always_mode_scales_kept_elements():
    x = mx.nd.ones((64, 32))
    y = mx.nd.Dropout(x, p=0.25, mode="always").asnumpy()
    assert set(np.unique(y)).issubset({0.0, np.float32(1 / 0.75)})
    assert 0.65 < (y != 0).mean() < 0.85


def test_unknown_act_type_is_an_error():
    x = mx.nd.ones((2, 3))
    with pytest.raises(mx.base.MXNetError) as e:
        mx.nd.Activation(x, act_type="swish").wait_to_read()
    for name in ["relu", "sigmoid", "softrelu", "softsign", "tanh"]:
        assert name in str(e.value)
    with pytest.raises(mx.base.MXNetError):
        mx.nd.LeakyReLU(x, act_type="swish").wait_to_read()


def test_wrong_weight_shape_is_an_error():
    x = mx.nd.ones((4, 6))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.FullyConnected(x, mx.nd.ones((5, 7)), mx.nd.ones((5,)), num_hidden=5).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.FullyConnected(x, mx.nd.ones((5, 6)), mx.nd.ones((4,)), num_hidden=5).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.Embedding(mx.nd.ones((2,)), mx.nd.ones((3, 5)), input_dim=4, output_dim=5).wait_to_read()
    if IS_MXNET:
        return  # MXNet 1.9.1 (oneDNN) runs BatchNorm with gamma of the wrong length
    gamma = mx.nd.ones((2,))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.BatchNorm(mx.nd.ones((2, 3)), gamma, gamma, gamma, gamma).wait_to_read()


def test_softmax_output_bad_label_shape_is_an_error():
    with pytest.raises(mx.base.MXNetError):
        mx.nd.SoftmaxOutput(mx.nd.ones((4, 3)), mx.nd.ones((5,))).wait_to_read()


def test_softmax_alias_and_stop_gradient():
    x = mx.nd.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(
        mx.nd.Softmax(x, mx.nd.array([2.0])).asnumpy(),
        mx.nd.SoftmaxOutput(x, mx.nd.array([2.0])).asnumpy(),
    )
    np.testing.assert_array_equal(mx.nd.stop_gradient(x).asnumpy(), x.asnumpy())
