"""``mx.sym``'s creation and binary functions (arange, full, linspace, pow, power, hypot)
against values from real MXNet 1.9.1 (``Symbol.eval`` of the same calls)."""

import numpy as np
import pytest
from _target import mx


def _eval(sym, **inputs):
    args = {k: mx.nd.array(v) for k, v in inputs.items() if k in sym.list_arguments()}
    return sym.eval(ctx=mx.cpu(), **args)[0].asnumpy()


def test_creation_symbols():
    np.testing.assert_allclose(_eval(mx.sym.arange(2, 8, 1.5, repeat=2)), [2, 2, 3.5, 3.5, 5, 5, 6.5, 6.5])
    np.testing.assert_allclose(_eval(mx.sym.full((2, 3), 7)), np.full((2, 3), 7.0))
    np.testing.assert_allclose(_eval(mx.sym.linspace(0, 1, 5, endpoint=False)), [0, 0.2, 0.4, 0.6, 0.8], rtol=1e-6)
    assert mx.sym.arange(0, 4, dtype="int32").infer_type()[1] == [np.int32]
    assert mx.sym.full((2,), 1.5).infer_shape()[1] == [(2,)]
    assert mx.sym.arange(3).list_arguments() == []


def test_binary_symbols_and_numbers():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    x = {"a": [1.0, 2.0], "b": [3.0, 0.5]}
    np.testing.assert_allclose(_eval(mx.sym.pow(a, b), **x), [1.0, 1.4142135], rtol=1e-6)
    np.testing.assert_allclose(_eval(mx.sym.power(a, 2), **x), [1.0, 4.0])
    np.testing.assert_allclose(_eval(mx.sym.pow(2, a), **x), [2.0, 4.0])
    np.testing.assert_allclose(_eval(mx.sym.hypot(a, 3), **x), [3.1622777, 3.6055512], rtol=1e-6)
    np.testing.assert_allclose(_eval(mx.sym.hypot(a, b), **x), [3.1622777, 2.0615528], rtol=1e-6)
    assert mx.sym.pow(2, 3) == 8
    assert mx.sym.hypot(3, 4) == 5.0
    with pytest.raises(TypeError):
        mx.sym.pow(a, "2")
