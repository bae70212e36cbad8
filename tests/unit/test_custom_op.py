"""mx.operator (CustomOp / CustomOpProp / register / nd.Custom), mx.engine and mx.monitor."""

import logging

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError


class _Softmax(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0].asnumpy()
        y = np.exp(x - x.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
        self.assign(out_data[0], req[0], mx.nd.array(y))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        lab = in_data[1].asnumpy().ravel().astype(np.int64)
        y = out_data[0].asnumpy()
        y[np.arange(lab.shape[0]), lab] -= 1.0
        self.assign(in_grad[0], req[0], mx.nd.array(y))


@mx.operator.register("test_softmax")
class _SoftmaxProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=False)

    def list_arguments(self):
        return ["data", "label"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][0],)], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return _Softmax()


class _Square(mx.operator.CustomOp):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], self.scale * in_data[0] * in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], 2 * self.scale * in_data[0] * out_grad[0])


@mx.operator.register("test_square")
class _SquareProp(mx.operator.CustomOpProp):
    seen_kwargs = []

    def __init__(self, scale="1"):
        super().__init__(need_top_grad=True)
        _SquareProp.seen_kwargs.append(scale)
        self.scale = float(scale)

    def create_operator(self, ctx, shapes, dtypes):
        return _Square(self.scale)


class _Broken(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        raise ValueError("boom in forward")


@mx.operator.register("test_broken")
class _BrokenProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return _Broken()


def test_custom_forward_values_and_kwargs_as_strings():
    x = mx.nd.array([[1.0, -2.0], [3.0, 0.5]])
    y = mx.nd.Custom(x, op_type="test_square", scale=3)
    np.testing.assert_allclose(y.asnumpy(), 3 * x.asnumpy() ** 2)
    assert _SquareProp.seen_kwargs[-1] == "3"  # MXNet passes kwargs to the prop as strings
    assert "test_square" in mx.operator.get_all_registered_operators()


def test_custom_square_gradient_matches_numeric():
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    x = mx.nd.array(xv)
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Custom(x, op_type="test_square", scale="0.5")
        loss = (y * mx.nd.array(w)).sum()
    loss.backward()

    def f(v):
        return float((0.5 * v.astype(np.float64) ** 2 * w).sum())

    eps = 1e-3
    num = np.zeros_like(xv, dtype=np.float64)
    for idx in np.ndindex(xv.shape):
        p, m = xv.astype(np.float64), xv.astype(np.float64)
        p[idx] += eps
        m[idx] -= eps
        num[idx] = (f(p) - f(m)) / (2 * eps)
    np.testing.assert_allclose(x.grad.asnumpy(), num, rtol=1e-3, atol=1e-3)


def test_custom_softmax_loss_head_training_converges():
    rng = np.random.default_rng(1)
    n, d, k = 200, 5, 3
    true_w = rng.standard_normal((d, k))
    xv = rng.standard_normal((n, d)).astype(np.float32)
    yv = (xv @ true_w).argmax(axis=1).astype(np.float32)
    x, lab = mx.nd.array(xv), mx.nd.array(yv)
    w = mx.nd.zeros((d, k))
    w.attach_grad()
    for _ in range(100):
        with mx.autograd.record():
            prob = mx.nd.Custom(mx.nd.dot(x, w), lab, op_type="test_softmax")
        prob.backward()
        w[:] = w - 0.5 / n * w.grad
    acc = float((prob.asnumpy().argmax(axis=1) == yv).mean())
    assert acc > 0.9, acc


def test_custom_errors():
    x = mx.nd.ones((2, 2))
    with pytest.raises(MXNetError, match="test_broken"):
        mx.nd.Custom(x, op_type="test_broken").wait_to_read()
    with pytest.raises(MXNetError, match="not registered"):
        mx.nd.Custom(x, op_type="no_such_op")
    with pytest.raises(MXNetError, match="expects inputs"):
        mx.nd.Custom(x, op_type="test_softmax")
    with pytest.raises(MXNetError, match="shape"):
        mx.nd.Custom(x, mx.nd.ones((3,)), op_type="test_softmax")
    # the engine keeps working
    np.testing.assert_allclose((x + 1).asnumpy(), 2 * np.ones((2, 2)))


def test_assign_req_modes():
    op = mx.operator.CustomOp()
    dst = mx.nd.ones((2,))
    op.assign(dst, "add", mx.nd.ones((2,)))
    np.testing.assert_allclose(dst.asnumpy(), [2, 2])
    op.assign(dst, "null", mx.nd.zeros((2,)))
    np.testing.assert_allclose(dst.asnumpy(), [2, 2])
    op.assign(dst, "write", mx.nd.zeros((2,)))
    np.testing.assert_allclose(dst.asnumpy(), [0, 0])
    with pytest.raises(MXNetError, match="req"):
        op.assign(dst, "bogus", dst)


def test_engine_bulk_size_roundtrip():
    prev = mx.engine.set_bulk_size(7)
    assert mx.engine.set_bulk_size(prev) == 7
    with mx.engine.bulk(3):
        assert mx.engine.set_bulk_size(3) == 3
        y = mx.nd.ones((2,)) * 2
    assert mx.engine.set_bulk_size(prev) == prev
    np.testing.assert_allclose(y.asnumpy(), [2, 2])


def _mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=2, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def test_monitor_on_module_collects_node_outputs_and_weights(caplog):
    mod = mx.mod.Module(_mlp(), data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", (3, 5))], label_shapes=[("softmax_label", (3,))])
    mod.init_params(initializer=mx.init.Uniform(0.5))
    mon = mx.mon.Monitor(1, pattern=".*", sort=True)
    mod.install_monitor(mon)
    xv = np.arange(15, dtype=np.float32).reshape(3, 5) / 10
    batch = mx.io.DataBatch([mx.nd.array(xv)], [mx.nd.array([0, 1, 0])])
    mon.tic()
    mod.forward(batch, is_train=False)
    res = mon.toc()
    names = [k for _, k, _ in res]
    assert names == sorted(names)
    for want in ("fc1_output", "relu1_output", "fc2_output", "softmax_output", "fc1_weight", "fc2_bias"):
        assert want in names, names
    # the default stat is norm(x)/sqrt(size), checked on fc1's output
    args, _ = mod.get_params()
    fc1 = xv @ args["fc1_weight"].asnumpy().T + args["fc1_bias"].asnumpy()
    got = float(dict((k, v) for _, k, v in res)["fc1_output"].strip())
    assert abs(got - np.linalg.norm(fc1) / np.sqrt(fc1.size)) < 1e-4
    # pattern filters, inactive steps collect nothing, toc_print logs
    # unsorted: the same names and order as MXNet 1.9.1 (node outputs, then the arguments)
    mon3 = mx.mon.Monitor(1)
    mod.install_monitor(mon3)
    mon3.tic()
    mod.forward(batch, is_train=False)
    assert [k for _, k, _ in mon3.toc()][:10] == [
        "fc1_output", "relu1_output", "fc2_output", "softmax_output",
        "data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "softmax_label",
    ]  # fmt: skip
    mon2 = mx.monitor.Monitor(2, stat_func=lambda x: x.max(), pattern="fc2.*")
    mod.install_monitor(mon2)
    mon2.tic()
    mod.forward(batch, is_train=False)
    with caplog.at_level(logging.INFO):
        mon2.toc_print()
    assert "fc2_output" in caplog.text and "fc1" not in caplog.text
    mon2.tic()  # step 1: not a multiple of the interval
    mod.forward(batch, is_train=False)
    assert mon2.toc() == []


def test_custom_in_gluon_block_imperative():
    class Sq(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.Custom(x, op_type="test_square", scale=2)

    net = Sq()
    x = mx.nd.array([1.0, -3.0])
    x.attach_grad()
    with mx.autograd.record():
        y = net(x)
    y.backward()
    np.testing.assert_allclose(y.asnumpy(), [2.0, 18.0])
    np.testing.assert_allclose(x.grad.asnumpy(), [4.0, -12.0])
