"""LRN (local response normalization) against real MXNet 1.9.1 (``ops_lrn_golden.json``)."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, forward, load
from _target import IS_MXNET, mx

CASES = load("lrn")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name], rtol=1e-4, atol=1e-5)


def test_float64_and_formula():
    if IS_MXNET:
        pytest.skip("MXNet 1.9.1's LRN is float32 only")
    case = CASES["nsize5_params"]
    got = forward(case, "float64")[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.asnumpy().ravel(), case["outputs"][0]["data"], rtol=1e-5, atol=1e-6)
    x = np.random.RandomState(0).uniform(-1, 1, (2, 4, 2, 3))
    y = mx.nd.LRN(mx.nd.array(x, dtype="float64"), nsize=3, alpha=0.3, beta=0.7, knorm=1.2).asnumpy()
    sq = np.pad(x**2, ((0, 0), (1, 1), (0, 0), (0, 0)))
    norm = 1.2 + 0.3 / 3 * (sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:])
    np.testing.assert_allclose(y, x * norm**-0.7, rtol=1e-12)


def test_symbol_outputs():
    sym = mx.sym.LRN(mx.sym.var("x"), nsize=3, name="lrn")
    assert sym.list_outputs() == ["lrn_output"]
    assert sym.infer_shape(x=(2, 5, 3, 3))[1] == [(2, 5, 3, 3)]


def test_empty_data():
    if IS_MXNET:
        pytest.skip("MXNet 1.9.1 cannot make arrays with a zero dimension outside numpy mode")
    assert mx.nd.LRN(mx.nd.ones((2, 3, 0, 2)), nsize=3).shape == (2, 3, 0, 2)


def test_bad_inputs():
    for kwargs, shape in [({"nsize": 2}, (1, 3, 2, 2)), ({"nsize": 5}, (1, 3, 2, 2))]:
        with pytest.raises(mx.base.MXNetError) as e:
            mx.nd.LRN(mx.nd.ones(shape), **kwargs).wait_to_read()
        if not IS_MXNET:
            assert "LRN" in str(e.value) and "nsize" in str(e.value)
    if not IS_MXNET:
        with pytest.raises(mx.base.MXNetError, match=r"LRN.*4-D.*\(1,3,2\)"):
            mx.nd.LRN(mx.nd.ones((1, 3, 2)), nsize=3).wait_to_read()
