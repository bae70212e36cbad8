"""LayerNorm, InstanceNorm and GroupNorm against real MXNet 1.9.1 (``ops_norm_golden.json``)."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, forward, load
from _target import IS_MXNET, mx

CASES = load("norm")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name])


@pytest.mark.parametrize("name", ["layer_last", "group_2", "instance_4d"])
def test_float64_forward(name):
    case = CASES[name]
    if IS_MXNET and case["op"] == "InstanceNorm":
        pytest.skip("MXNet 1.9.1's InstanceNorm is float32 only")
    got = forward(case, "float64")[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.asnumpy().ravel(), case["outputs"][0]["data"], rtol=1e-5, atol=1e-6)


def test_nd_and_sym_outputs():
    x = mx.nd.array(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    out, mean, std = mx.nd.LayerNorm(x, mx.nd.ones(4), mx.nd.zeros(4), output_mean_var=True)
    assert mean.shape == (2, 3, 1) and std.shape == (2, 3, 1)
    np.testing.assert_allclose(mean.asnumpy().ravel(), np.arange(24).reshape(6, 4).mean(1), rtol=1e-6)
    sym = mx.sym.GroupNorm(mx.sym.var("x"), num_groups=3, name="gn")
    assert sym.list_arguments() == ["x", "gn_gamma", "gn_beta"]
    assert sym.list_outputs() == ["gn_output"]
    args, outs, _ = sym.infer_shape(x=(2, 6, 5))
    assert args == [(2, 6, 5), (3,), (3,)] and outs == [(2, 6, 5)]
    sym = mx.sym.LayerNorm(mx.sym.var("x"), name="ln", output_mean_var=True)
    assert sym.list_outputs() == ["ln_output", "ln_mean", "ln_std"]
    assert mx.sym.InstanceNorm(mx.sym.var("x"), name="in").list_outputs() == ["in_output"]


def test_bad_inputs():
    x = mx.nd.ones((2, 4, 3))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.GroupNorm(x, mx.nd.ones(3), mx.nd.zeros(3), num_groups=3).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.LayerNorm(x, mx.nd.ones(4), mx.nd.zeros(4)).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.InstanceNorm(mx.nd.ones((2, 4)), mx.nd.ones(4), mx.nd.zeros(4)).wait_to_read()
