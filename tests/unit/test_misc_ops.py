"""Pointwise and statistics ops against real MXNet 1.9.1 (``ops_misc_golden.json``):
hard_sigmoid, smooth_l1, softmin, erfinv, arcsinh, arccosh, arctanh, rcbrt, L2Normalization, moments,
shape_array, size_array; and mx.nd.logical_and/or/xor."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import mx

CASES = load("misc")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["grads"]))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name], rtol=1e-4, atol=1e-5)


def test_logical_functions():
    a = mx.nd.array([[0, 1, 2], [3, 0, 0]])
    b = mx.nd.array([[1], [0]])
    np.testing.assert_array_equal(mx.nd.logical_and(a, b).asnumpy(), [[0, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(mx.nd.logical_or(a, b).asnumpy(), [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(mx.nd.logical_xor(a, b).asnumpy(), [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(mx.nd.logical_and(a, 1).asnumpy(), [[0, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(mx.nd.logical_xor(0, a).asnumpy(), [[0, 1, 1], [1, 0, 0]])
    assert mx.nd.logical_or(0, 0) == 0.0


def test_moments_symbol_outputs():
    sym = mx.sym.moments(mx.sym.var("x"), axes=(1,), name="m")
    assert sym.list_outputs() == ["m_output0", "m_output1"]
    assert sym.infer_shape(x=(2, 3, 4))[1] == [(2, 4), (2, 4)]


def test_erfinv_edges():
    got = mx.nd.erfinv(mx.nd.array([-1, 0, 1, 2])).asnumpy()
    assert got[0] == -np.inf and got[1] == 0 and got[2] == np.inf and np.isnan(got[3])
