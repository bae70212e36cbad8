"""MXNet's deprecated operator interfaces (``mx.operator.PythonOp``, ``NumpyOp``,
``NDArrayOp``) on top of ``Custom``, and ``mx.operator.get_operator_arguments``.

Reference: MXNet 1.9.1 gives the NDArrayOp values below (NDSquare, same code); its NumpyOp
crashes the process in 1.9.1 (the ``_Native`` op), so the NumpyOp softmax is checked against
NumPy."""

import json
import warnings
from pathlib import Path

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

X = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=np.float32)
LAB = np.array([2, 0], dtype=np.float32)


class NumpySoftmax(mx.operator.NumpyOp):
    def __init__(self):
        super().__init__(False)

    def list_arguments(self):
        return ["data", "label"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][0],)], [in_shape[0]]

    def forward(self, in_data, out_data):
        x, y = in_data[0], out_data[0]
        y[:] = np.exp(x - x.max(axis=1).reshape((x.shape[0], 1)))
        y /= y.sum(axis=1).reshape((x.shape[0], 1))

    def backward(self, out_grad, in_data, out_data, in_grad):
        lab = in_data[1].astype(np.int64)
        dx = in_grad[0]
        dx[:] = out_data[0]
        dx[np.arange(lab.shape[0]), lab] -= 1.0


class NDSquare(mx.operator.NDArrayOp):
    def __init__(self):
        super().__init__(True)

    def forward(self, in_data, out_data):
        out_data[0][:] = in_data[0] * in_data[0]

    def backward(self, out_grad, in_data, out_data, in_grad):
        in_grad[0][:] = 2 * in_data[0] * out_grad[0]


def _make(cls):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        op = cls()
    assert any("deprecated" in str(x.message) for x in w)
    return op


def test_numpy_op_softmax_in_a_graph():
    s = _make(NumpySoftmax).get_symbol(mx.sym.Variable("data"), name="sm")
    assert s.list_arguments() == ["data", "sm_label"]  # as MXNet 1.9.1
    assert s.list_outputs() == ["sm_output"]
    arg_shapes, out_shapes, _ = s.infer_shape(data=(2, 3))
    assert arg_shapes == [(2, 3), (2,)] and out_shapes == [(2, 3)]
    gx = mx.nd.zeros((2, 3))
    exe = s.bind(mx.cpu(), {"data": mx.nd.array(X), "sm_label": mx.nd.array(LAB)}, args_grad={"data": gx})
    exe.forward(is_train=True)
    exe.backward()
    e = np.exp(X - X.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), p, rtol=1e-6)
    p[np.arange(2), LAB.astype(int)] -= 1
    np.testing.assert_allclose(gx.asnumpy(), p, rtol=1e-6, atol=1e-7)


def test_ndarray_op_matches_mxnet():
    op = _make(NDSquare)
    s = op(mx.sym.Variable("x"))  # __call__ is get_symbol
    assert s.list_arguments() == ["x"]
    assert s.name.startswith("_ndarray") and s.list_outputs() == [s.name + "_output"]
    g = mx.nd.zeros((2, 3))
    exe = s.bind(mx.cpu(), {"x": mx.nd.array(X)}, args_grad={"x": g})
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((2, 3)) * 0.5)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [[1.0, 4.0, 9.0], [0.25, 1.0, 4.0]])
    np.testing.assert_allclose(g.asnumpy(), [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    assert op.declare_backward_dependency([0], [1], [2]) == [0, 1, 2]


def test_python_op_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        op = mx.operator.PythonOp(need_top_grad=False)
    assert op.list_arguments() == ["data"] and op.list_outputs() == ["output"]
    assert op.infer_shape([[2, 3]]) == ([[2, 3]], [[2, 3]])
    assert op.need_top_grad() is False
    with pytest.raises(NotImplementedError):
        op.get_symbol(mx.sym.Variable("x"))


GOLD_ARGS = json.loads((Path(__file__).resolve().parents[1] / "data" / "operator_arguments_golden.json").read_text())


def _exactly_derivable(mx_type):
    """Type strings mxrs derives exactly from a parameter's default (the registry records no
    C++ types or enumerations)."""
    return mx_type.startswith(("NDArray-or-Symbol", "boolean, ", "Shape(tuple), optional")) or (
        mx_type.startswith("int, optional, default='") or mx_type == "string"
    )


@pytest.mark.parametrize("op", sorted(GOLD_ARGS))
def test_get_operator_arguments_matches_mxnet(op):
    narg, names, types = GOLD_ARGS[op]
    got = mx.operator.get_operator_arguments(op)
    assert isinstance(got, mx.operator.OperatorArguments)
    assert (got.narg, got.names) == (narg, names)
    for name, g, want in zip(names, got.types, types):
        if _exactly_derivable(want):
            assert g == want, name
        elif want.endswith("required"):
            assert g.endswith("required"), name
        elif "default=" in want:
            assert "optional, default=" in g, name


def test_get_operator_arguments_required_and_unknown():
    fc = mx.operator.get_operator_arguments("FullyConnected")
    assert fc.types[3].endswith("required")  # num_hidden
    assert mx.operator.get_operator_arguments("_plus").names == ["lhs", "rhs"]  # an alias
    with pytest.raises(MXNetError, match="nope is not registered"):
        mx.operator.get_operator_arguments("nope")


def test_get_all_registered_operators_lists_every_op():
    names = mx.operator.get_all_registered_operators()
    assert {"Custom", "FullyConnected", "elemwise_add", "_plus"} <= set(names)
