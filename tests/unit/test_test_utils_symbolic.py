"""``mx.test_utils`` checks of symbols: numeric gradients, forward/backward, consistency, speed.

A deliberately wrong gradient (a custom op whose backward is off by a factor) must make
``check_numeric_gradient`` fail. ``MXRS_TEST_TARGET=mxnet`` runs the file against MXNet 1.9.1.
"""

import numpy as np
import pytest
from _target import mx

tu = mx.test_utils


class _Cube(mx.operator.CustomOp):
    """y = x**3; the backward multiplies by ``factor`` * x**2 (3 is right)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0]
        self.assign(out_data[0], req[0], x * x * x)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        x = in_data[0]
        self.assign(in_grad[0], req[0], self.factor * x * x * out_grad[0])


@mx.operator.register("tu_cube")
class _CubeProp(mx.operator.CustomOpProp):
    def __init__(self, factor="3"):
        super().__init__(need_top_grad=True)
        self.factor = float(factor)

    def list_arguments(self):
        return ["data"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return [in_shape[0]], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return _Cube(self.factor)


_HAS_SYM_CUSTOM = hasattr(mx.sym, "Custom")


def _cube(factor):
    return mx.sym.Custom(mx.sym.Variable("x"), op_type="tu_cube", factor=factor)


def test_numeric_gradient_passes_for_correct_ops():
    np.random.seed(0)
    x = mx.sym.Variable("x")
    y = mx.sym.Variable("y")
    tu.check_numeric_gradient(mx.sym.sin(x) * y, [np.random.rand(3, 4), np.random.rand(3, 4)])
    if _HAS_SYM_CUSTOM:
        tu.check_numeric_gradient(_cube(3), {"x": np.random.rand(2, 3) + 0.5})
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    loc = {"data": np.random.rand(2, 4), "fc_weight": np.random.rand(3, 4), "fc_bias": np.random.rand(3)}
    tu.check_numeric_gradient(fc, loc, numeric_eps=1e-3, rtol=1e-2, atol=1e-3)
    tu.check_numeric_gradient(fc, loc, grad_nodes=["fc_weight"], dtype=np.float64, numeric_eps=1e-6)


def test_numeric_gradient_fails_for_a_wrong_gradient():
    # x * BlockGrad(x): the forward is x**2, the backward deliberately gives x instead of 2x.
    np.random.seed(1)
    x = mx.sym.Variable("x")
    with pytest.raises(AssertionError) as err:
        tu.check_numeric_gradient(x * mx.sym.BlockGrad(x), [np.random.rand(2, 3) + 0.5])
    msg = str(err.value)
    assert "exceeds tolerance" in msg
    assert "NUMERICAL_x=" in msg and "BACKWARD_x=" in msg


@pytest.mark.skipif(not _HAS_SYM_CUSTOM, reason="mx.sym.Custom is not in mxrs yet")
def test_numeric_gradient_fails_for_a_wrong_custom_op_gradient():
    np.random.seed(1)
    with pytest.raises(AssertionError, match="NUMERICAL_x"):
        tu.check_numeric_gradient(_cube(2.5), [np.random.rand(2, 3) + 0.5])


def test_numeric_gradient_grad_req_add_and_null():
    np.random.seed(2)
    x = mx.sym.Variable("x")
    y = mx.sym.Variable("y")
    loc = [np.random.rand(2, 2), np.random.rand(2, 2)]
    tu.check_numeric_gradient(x * y, loc, grad_nodes={"x": "add", "y": "null"})
    with pytest.raises((ValueError, KeyError)):  # MXNet's bind raises KeyError
        tu.check_numeric_gradient(x * y, loc, grad_nodes={"x": "bogus"})
    with pytest.raises(ValueError, match="location do not match"):
        tu.check_numeric_gradient(x * y, {"x": loc[0]})


def test_numeric_grad_on_an_executor():
    x = mx.sym.Variable("x")
    loc = {"x": np.array([[1.0, 2.0], [3.0, 4.0]])}
    exe = (x * x).bind(mx.cpu(), args={"x": mx.nd.array(loc["x"])})
    grads = tu.numeric_grad(exe, loc, eps=1e-2, dtype=np.float64)
    np.testing.assert_allclose(grads["x"], 2 * loc["x"], rtol=1e-4)


def test_check_symbolic_forward():
    lhs = mx.sym.Variable("lhs")
    rhs = mx.sym.Variable("rhs")
    mat1 = np.array([[1, 2], [3, 4]])
    mat2 = np.array([[5, 6], [7, 8]])
    outs = tu.check_symbolic_forward(mx.sym.dot(lhs, rhs), [mat1, mat2], [np.array([[19, 22], [43, 50]])])
    np.testing.assert_array_equal(outs[0].asnumpy(), [[19, 22], [43, 50]])
    tu.check_symbolic_forward(mx.sym.dot(lhs, rhs), {"lhs": mat1, "rhs": mat2}, [np.array([[19, 22], [43, 50]])])
    with pytest.raises(AssertionError) as err:
        tu.check_symbolic_forward(mx.sym.dot(lhs, rhs), [mat1, mat2], [np.array([[19, 22], [43, 51]])])
    assert "EXPECTED_dot" in str(err.value) and "FORWARD_dot" in str(err.value)
    # Output names in a dict, float64 and NaNs.
    s = mx.sym.sqrt(lhs, name="root")
    tu.check_symbolic_forward(s, [np.array([4.0])], {"root_output": np.array([2.0])}, dtype=np.float64)
    tu.check_symbolic_forward(s, [np.array([-1.0])], [np.array([np.nan])], equal_nan=True)
    with pytest.raises(AssertionError):
        tu.check_symbolic_forward(s, [np.array([-1.0])], [np.array([np.nan])])


def test_check_symbolic_forward_with_aux_states():
    data = mx.sym.Variable("data")
    bn = mx.sym.BatchNorm(data, name="bn", fix_gamma=False, use_global_stats=True, eps=1e-5)
    x = np.random.RandomState(3).rand(2, 3, 2, 2)
    mean, var = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 4.0])
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, -1.0])
    c = (slice(None), None, None)
    want = (x - mean[c]) / np.sqrt(var[c] + 1e-5) * gamma[c] + beta[c]
    tu.check_symbolic_forward(bn, [x, gamma, beta], [want], aux_states=[mean, var], rtol=1e-4, atol=1e-5)
    tu.check_symbolic_forward(
        bn, [x, gamma, beta], [want], aux_states={"bn_moving_mean": mean, "bn_moving_var": var}, rtol=1e-4
    )


def test_check_symbolic_backward():
    lhs = mx.sym.Variable("lhs")
    rhs = mx.sym.Variable("rhs")
    mat1 = np.array([[1.0, 2.0], [3.0, 4.0]])
    mat2 = np.array([[5.0, 6.0], [7.0, 8.0]])
    ograd = np.array([[1.0, -1.0], [2.0, 0.5]])
    sym = lhs * rhs
    grads = tu.check_symbolic_backward(sym, [mat1, mat2], [ograd], [ograd * mat2, ograd * mat1])
    np.testing.assert_allclose(grads["lhs"].asnumpy(), ograd * mat2)
    tu.check_symbolic_backward(sym, {"lhs": mat1, "rhs": mat2}, [ograd], {"lhs": ograd * mat2}, grad_req="add")
    tu.check_symbolic_backward(sym, [mat1, mat2], [ograd], [ograd * mat2, ograd * mat1], grad_req=["null", "write"])
    with pytest.raises(AssertionError) as err:
        tu.check_symbolic_backward(sym, [mat1, mat2], [ograd], [ograd * mat2, ograd * mat2])
    assert "EXPECTED_rhs" in str(err.value) and "BACKWARD_rhs" in str(err.value)
    # Head gradients by output name, and float64.
    tu.check_symbolic_backward(
        sym, [mat1, mat2], {sym.list_outputs()[0]: ograd}, [ograd * mat2, ograd * mat1], dtype=np.float64
    )


def test_simple_forward():
    x = mx.sym.Variable("x")
    np.testing.assert_allclose(tu.simple_forward(mx.sym.sin(x), x=np.zeros(3)), np.zeros(3))
    outs = tu.simple_forward(mx.sym.Group([x + 1, x * 2]), x=np.ones(2))
    assert isinstance(outs, list) and outs[1].tolist() == [2.0, 2.0]


def test_check_speed():
    x = mx.sym.Variable("x")
    fc = mx.sym.FullyConnected(x, num_hidden=4, name="fc")
    t = tu.check_speed(fc, N=3, x=(8, 16))
    assert isinstance(t, float) and t > 0
    loc = {"x": np.ones((8, 16)), "fc_weight": np.ones((4, 16)), "fc_bias": np.zeros(4)}
    assert tu.check_speed(fc, location=loc, N=2, typ="forward") > 0
    with pytest.raises(ValueError, match="whole"):
        tu.check_speed(fc, location=loc, N=1, typ="bogus")


def _ctx_list(shape, name, dtypes, ctxs):
    return [{"ctx": c, name: shape, "type_dict": {name: d}} for c in ctxs for d in dtypes]


def test_check_consistency_across_dtypes_and_contexts():
    np.random.seed(5)
    conv = mx.sym.Convolution(num_filter=3, kernel=(3, 3), name="conv")
    ctx_list = _ctx_list((2, 2, 6, 6), "conv_data", [np.float64, np.float32], [mx.cpu(0), mx.cpu(1)])
    gt = tu.check_consistency(conv, ctx_list)
    assert sorted(gt) == ["conv_bias", "conv_data", "conv_output", "conv_weight"]
    assert gt["conv_output"].dtype == np.float64
    concat = mx.sym.Concat(mx.sym.Variable("a"), mx.sym.Variable("b"), dim=1, name="concat")
    dts = (np.float64, np.float16)
    ctxs = [{"ctx": mx.cpu(0), "a": (2, 3), "b": (2, 2), "type_dict": {"a": d, "b": d}} for d in dts]
    tu.check_consistency(concat, ctxs, grad_req="add")
    tu.check_consistency(concat, ctxs, grad_req="null", use_uniform=True)


def test_check_consistency_detects_a_difference():
    x = mx.sym.Variable("x")
    ctx_list = _ctx_list((3, 4), "x", [np.float64], [mx.cpu(0), mx.cpu(1)])
    with pytest.raises(AssertionError):
        tu.check_consistency([mx.sym.sin(x, name="f"), mx.sym.cos(x, name="f")], ctx_list, grad_req="null")
    # raise_on_err=False reports and returns.
    tu.check_consistency([mx.sym.sin(x, name="f"), mx.sym.cos(x, name="f")], ctx_list, raise_on_err=False)


def test_check_consistency_with_given_inputs():
    x = mx.sym.Variable("x")
    ctx_list = _ctx_list((2, 2), "x", [np.float64, np.float32], [mx.cpu(0)])
    arg = {"x": np.array([[0.0, 1.0], [2.0, 3.0]])}
    gt = tu.check_consistency(mx.sym.square(x, name="sq"), ctx_list, arg_params=arg)
    np.testing.assert_allclose(gt["sq_output"].asnumpy(), arg["x"] ** 2)


@pytest.mark.skipif(mx.context.num_gpus() == 0, reason="needs a GPU")
def test_check_consistency_cpu_and_gpu():
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=5, name="fc")
    ctx_list = _ctx_list((4, 6), "data", [np.float64, np.float32], [mx.cpu(0), mx.gpu(0)])
    gt = tu.check_consistency(fc, ctx_list)
    assert gt["fc_output"].context == mx.cpu(0)
    tu.check_consistency(mx.sym.Activation(mx.sym.Variable("data"), act_type="tanh"), ctx_list)


def test_compare_optimizer():
    opt1 = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9)
    opt2 = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9)
    tu.compare_optimizer(opt1, opt2, (3, 4), np.float32)
    with pytest.raises(AssertionError):
        sgd = mx.optimizer.SGD
        tu.compare_optimizer(sgd(learning_rate=0.1), sgd(learning_rate=0.5), (3, 4), np.float32)
