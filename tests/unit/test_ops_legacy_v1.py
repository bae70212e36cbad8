"""The deprecated ``_v1`` layers against real MXNet 1.9.1 (``ops_legacy_v1_golden.json`` and
``ops_legacy_v1_bn_golden.json``, from ``tools/golden/cases_v1.py``): Convolution_v1,
Pooling_v1 and BatchNorm_v1 forward, gradients and moving statistics, in a Symbol JSON, and
their argument sets."""

import json

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import mx

CASES = {f"legacy_v1/{n}": c for n, c in load("legacy_v1").items()}
BN = load("legacy_v1_bn")


@pytest.mark.parametrize("key", sorted(CASES))
def test_forward_matches_mxnet(key):
    check_forward(CASES[key], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", sorted(k for k, c in CASES.items() if c["grads"]))
def test_gradients_match_mxnet(key):
    check_gradients(CASES[key], rtol=1e-4, atol=1e-5)


def _arrays(case):
    return {n: mx.nd.array(np.array(v["data"], "float32").reshape(v["shape"])) for n, v in case["inputs"].items()}


@pytest.mark.parametrize("name", sorted(BN))
def test_batchnorm_v1_matches_mxnet(name):
    """Output, gradients and updated moving statistics (MXNet's values from a bound Symbol)."""
    case = BN[name]
    ins = _arrays(case)
    for n in case["grads"]:
        ins[n].attach_grad()
    with mx.autograd.record(train_mode=case["train"]):
        y = mx.nd.BatchNorm_v1(**ins, **case["attrs"])
    np.testing.assert_allclose(y.asnumpy().ravel(), case["outputs"][0]["data"], rtol=1e-5, atol=1e-5)
    if case["grads"]:
        y.backward(mx.nd.array(np.array(case["heads"][0], "float32").reshape(y.shape)))
    for n, want in case["grads"].items():
        np.testing.assert_allclose(ins[n].grad.asnumpy().ravel(), want, rtol=1e-4, atol=1e-5, err_msg=n)
    for k in ("moving_mean", "moving_var"):
        np.testing.assert_allclose(ins[k].asnumpy().ravel(), case["moving"][f"bn_{k}"], rtol=1e-5, atol=1e-6)


def test_symbol_json_names_v1_ops():
    data = mx.sym.var("data")
    net = mx.sym.Convolution_v1(data, kernel=(3, 3), num_filter=4, pad=(1, 0), stride=(1, 2), name="conv")
    net = mx.sym.BatchNorm_v1(net, fix_gamma=False, name="bn")
    net = mx.sym.Pooling_v1(net, kernel=(2, 2), pool_type="avg", name="pool")
    js = json.loads(net.tojson())
    assert [n["op"] for n in js["nodes"] if n["op"] != "null"] == ["Convolution_v1", "BatchNorm_v1", "Pooling_v1"]
    net2 = mx.sym.load_json(net.tojson())
    assert net2.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert net2.list_arguments() == ["data", "conv_weight", "conv_bias", "bn_gamma", "bn_beta"]
    _, out, _ = net2.infer_shape(data=(2, 3, 6, 5))
    assert out == [(2, 4, 5, 1)]
    # Same values as the current ops on the same arguments.
    case = CASES["legacy_v1/conv_2d"]
    ins = _arrays(case)
    exe = net2.simple_bind(mx.cpu(), data=(2, 3, 6, 5))
    exe.arg_dict["data"][:] = ins["data"]
    exe.arg_dict["conv_weight"][:] = ins["weight"]
    exe.arg_dict["conv_bias"][:] = ins["bias"]
    exe.arg_dict["bn_gamma"][:] = 1.5
    exe.arg_dict["bn_beta"][:] = 0.25
    exe.aux_dict["bn_moving_var"][:] = 1.0
    y = exe.forward(is_train=False)[0].asnumpy()
    conv = mx.nd.Convolution(ins["data"], ins["weight"], ins["bias"], **case["attrs"])
    bn = mx.nd.BatchNorm(conv, mx.nd.full(4, 1.5), mx.nd.full(4, 0.25), mx.nd.zeros(4), mx.nd.ones(4), fix_gamma=False)
    want = mx.nd.Pooling(bn, kernel=(2, 2), pool_type="avg").asnumpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_v1_argument_sets():
    x = mx.nd.ones((1, 2, 4, 4))
    with pytest.raises(mx.base.MXNetError, match="Pooling_v1"):
        mx.nd.Pooling_v1(x, kernel=(2, 2), count_include_pad=False)
    with pytest.raises(mx.base.MXNetError, match="Convolution_v1"):
        mx.nd.Convolution_v1(mx.nd.ones((1, 2, 5)), mx.nd.ones((2, 2, 3)), mx.nd.ones(2), kernel=(3,), num_filter=2)
    with pytest.raises(mx.base.MXNetError, match="BatchNorm_v1"):
        mx.nd.BatchNorm_v1(x, mx.nd.ones(2), mx.nd.ones(2), mx.nd.zeros(2), mx.nd.ones(2), axis=1)
    with pytest.raises(mx.base.MXNetError, match=r"\(1,2,4,4\)"):
        mx.nd.Convolution_v1(x, mx.nd.ones((2, 3, 3, 3)), mx.nd.ones(2), kernel=(3, 3), num_filter=2)
