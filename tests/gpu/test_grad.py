"""Gradients through autograd on the device agree with the CPU."""

import zlib

import numpy as np
import pytest
from _consistency import CPU, assert_close, check_grad_consistency
from _target import mx

nd = mx.nd


def N(*shape):
    return ("n", shape)


def P(*shape):
    return ("p", shape)


GRAD_CASES = [
    ("exp", nd.exp, [N(4, 5)], {}),
    ("log", nd.log, [P(4, 5)], {}),
    ("tanh", nd.tanh, [N(4, 5)], {}),
    ("sigmoid", nd.sigmoid, [N(4, 5)], {}),
    ("relu", nd.relu, [N(4, 5)], {}),
    ("sqrt", nd.sqrt, [P(4, 5)], {}),
    ("square", nd.square, [N(4, 5)], {}),
    ("mul-broadcast", lambda a, b: a * b, [N(3, 4, 5), N(1, 4, 1)], {}),
    ("div-broadcast", lambda a, b: a / b, [N(3, 4), P(3, 1)], {}),
    ("sub-scalar-rev", lambda a: 2 - a * 3, [N(4, 5)], {}),
    ("power", lambda a, b: a**b, [P(3, 4), N(3, 4)], {}),
    ("sum-axis", nd.sum, [N(3, 4, 5)], {"axis": 1}),
    ("mean-keepdims", nd.mean, [N(3, 4, 5)], {"axis": (0, 2), "keepdims": True}),
    ("max-axis", nd.max, [N(3, 7)], {"axis": 1}),
    ("dot", nd.dot, [N(5, 7), N(7, 3)], {}),
    ("dot-tb", nd.dot, [N(5, 7), N(3, 7)], {"transpose_b": True}),
    ("batch_dot", nd.batch_dot, [N(2, 5, 7), N(2, 7, 3)], {}),
    ("FullyConnected", nd.FullyConnected, [N(4, 10), N(6, 10), N(6)], {"num_hidden": 6}),
    ("FullyConnected-no_bias", nd.FullyConnected, [N(4, 10), N(6, 10)], {"num_hidden": 6, "no_bias": True}),
    ("softmax", nd.softmax, [N(4, 6)], {}),
    ("log_softmax-axis0", nd.log_softmax, [N(4, 6)], {"axis": 0}),
    (
        "Convolution",
        nd.Convolution,
        [N(2, 3, 7, 7), N(4, 3, 3, 3), N(4)],
        {"kernel": (3, 3), "num_filter": 4, "pad": (1, 1)},
    ),
    (
        "Convolution-stride",
        nd.Convolution,
        [N(2, 2, 8, 8), N(3, 2, 3, 3)],
        {"kernel": (3, 3), "num_filter": 3, "stride": (2, 2), "no_bias": True},
    ),
    ("Pooling-max", nd.Pooling, [N(2, 3, 6, 6)], {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"}),
    ("Pooling-avg", nd.Pooling, [N(2, 3, 6, 6)], {"kernel": (3, 3), "stride": (1, 1), "pool_type": "avg"}),
    (
        "BatchNorm-train",
        lambda x, g, b: nd.BatchNorm(x, g, b, nd.zeros_like(g), nd.ones_like(g), fix_gamma=False),
        [N(4, 3, 5, 5), P(3), N(3)],
        {},
    ),
    ("LayerNorm", nd.LayerNorm, [N(4, 8), P(8), N(8)], {}),
    ("concat", lambda a, b: nd.concat(a, b, dim=1), [N(3, 2), N(3, 4)], {}),
    ("slice-reshape-transpose", lambda a: nd.transpose(a[1:3].reshape((2, 2, 3)), axes=(2, 0, 1)), [N(4, 6)], {}),
    ("take", lambda a: nd.take(a, nd.array([0, 2, 2, 1], ctx=a.context)), [N(4, 3)], {}),
    (
        "Embedding",
        lambda w: nd.Embedding(nd.array([[0, 3], [3, 1]], ctx=w.context), w, input_dim=5, output_dim=4),
        [N(5, 4)],
        {},
    ),
    ("clip", nd.clip, [N(4, 5)], {"a_min": -0.5, "a_max": 0.5}),
    ("where", lambda a, b: nd.where(a > 0, a, b), [N(4, 5), N(4, 5)], {}),
    ("Activation-softrelu", nd.Activation, [N(4, 5)], {"act_type": "softrelu"}),
    ("LeakyReLU-elu", nd.LeakyReLU, [N(4, 5)], {"act_type": "elu", "slope": 0.3}),
]


@pytest.mark.parametrize("cid, fn, specs, kwargs", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_grad(dev, cid, fn, specs, kwargs):
    rng = np.random.default_rng(zlib.crc32(cid.encode()))
    arrays = []
    for kind, shape in specs:
        a = rng.standard_normal(shape) if kind == "n" else rng.uniform(0.5, 2.0, shape)
        arrays.append(a.astype(np.float32))
    check_grad_consistency(fn, arrays, dev, kwargs, what=cid)


def _mlp():
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(32, activation="relu"), mx.gluon.nn.Dense(16, activation="tanh"), mx.gluon.nn.Dense(4))
    return net


def _mlp_grads(ctx, x, y, params, hybridize):
    net = _mlp()
    net.initialize(ctx=ctx)
    if hybridize:
        net.hybridize()
    net(mx.nd.array(x[:1], ctx=ctx))  # finish deferred initialisation
    for p, value in zip(net.collect_params().values(), params):
        p.set_data(mx.nd.array(value, ctx=ctx))
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    with mx.autograd.record():
        loss = loss_fn(net(mx.nd.array(x, ctx=ctx)), mx.nd.array(y, ctx=ctx))
    loss.backward()
    return loss.asnumpy(), [p.grad(ctx).asnumpy() for p in net.collect_params().values()]


@pytest.mark.parametrize("hybridize", [False, True])
def test_mlp_grads(dev, hybridize):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 10)).astype(np.float32)
    y = rng.integers(0, 4, 16).astype(np.float32)
    ref_net = _mlp()
    ref_net.initialize(mx.init.Xavier(), ctx=CPU)
    ref_net(mx.nd.array(x[:1]))
    params = [p.data().asnumpy() for p in ref_net.collect_params().values()]
    ref_loss, ref_grads = _mlp_grads(CPU, x, y, params, hybridize)
    loss, grads = _mlp_grads(dev, x, y, params, hybridize)
    assert_close(loss, ref_loss, 1e-4, 1e-5, "mlp loss")
    for k, (g, r) in enumerate(zip(grads, ref_grads)):
        assert_close(g, r, 1e-4, 1e-5, f"mlp grad of parameter {k}")


@pytest.mark.parametrize("shape", [(6,), (1,), (3, 1), (2, 3)])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_gradient_of_a_full_reduction(dev, shape, reduce):
    """The gradient of a full reduction broadcasts a one-element gradient to the input's shape
    (1-D inputs once took the same-shape kernel over two one-element operands and read past
    them)."""
    x = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float32).reshape(shape)
    out = []
    for ctx in (CPU, dev):
        a = mx.nd.array(x, ctx=ctx)
        a.attach_grad()
        with mx.autograd.record():
            y = getattr(mx.nd, reduce)(a * mx.nd.array(x, ctx=ctx))
        y.backward()
        out.append(a.grad.asnumpy())
    assert_close(out[1], out[0], 1e-6, 1e-6, f"{reduce} gradient of {shape}")
