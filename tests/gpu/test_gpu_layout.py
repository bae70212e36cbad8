"""Native GPU kernels of the data-movement and activation ops against the CPU.

Every op with a device kernel in backend/cuda/layout.rs or activation.rs (transpose, SwapAxis,
Concat, stack, split, slice, slice_axis, crop, broadcast_to / broadcast_like / broadcast_axis,
tile, repeat, Reshape and its relatives, take, Embedding, pick, one_hot, where, Dropout in
inference, Activation, LeakyReLU and their gradients) runs on mx.gpu(0) and on mx.cpu() with
the same inputs; data movement must match exactly for every dtype, activations to rounding.
"""

import os
import re

import numpy as np
import pytest
from _target import IS_MXNET, mx


def _device():
    """gpu(0), or the tier's MXRS_GPU_TEST_CTX (``cpu(1)`` checks this file without a GPU)."""
    m = re.fullmatch(r"\s*(cpu|gpu)\s*\(\s*(\d+)\s*\)\s*", os.environ.get("MXRS_GPU_TEST_CTX", "gpu(0)"))
    return mx.Context(m.group(1), int(m.group(2))) if m else mx.gpu(0)


DEVICE = _device()
pytestmark = pytest.mark.skipif(DEVICE.device_type == "gpu" and mx.num_gpus() == 0, reason="needs a CUDA GPU")

DTYPES = ["float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool"]
RNG = np.random.default_rng(0)


def slice_assign(*args, **kwargs):
    op = getattr(mx.nd, "_slice_assign", None) or mx.nd._internal._slice_assign
    return op(*args, **kwargs)


def gpu():
    return DEVICE


def sample(shape, dtype):
    v = RNG.standard_normal(shape) * 20
    if dtype == "bool":
        return v > 0
    if dtype == "uint8":
        return np.abs(v).astype(dtype)
    return v.astype(dtype)


def both(fn, *arrays, dtype=None):
    """fn over the arrays on the CPU and on the GPU: (cpu result, gpu result) as numpy."""
    outs = []
    for ctx in (mx.cpu(), gpu()):
        args = [mx.nd.array(a, ctx=ctx, dtype=dtype or a.dtype) for a in arrays]
        r = fn(*args)
        if isinstance(r, (list, tuple)):
            assert all(o.context == ctx for o in r)
            outs.append([o.asnumpy() for o in r])
        else:
            assert r.context == ctx, (r.context, ctx)
            outs.append(r.asnumpy())
    return outs[0], outs[1]


def same(fn, *arrays, dtype=None):
    c, g = both(fn, *arrays, dtype=dtype)
    if isinstance(c, list):
        assert len(c) == len(g)
        for a, b in zip(c, g, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    else:
        assert c.dtype == g.dtype and c.shape == g.shape, (c.dtype, g.dtype, c.shape, g.shape)
        np.testing.assert_array_equal(c, g)


@pytest.mark.parametrize("dtype", DTYPES)
def test_permutes_and_reshapes(dtype):
    x = sample((2, 3, 4, 5), dtype)
    same(lambda a: mx.nd.transpose(a), x)
    same(lambda a: mx.nd.transpose(a, axes=(0, 2, 3, 1)), x)
    same(lambda a: mx.nd.transpose(a, axes=(1, 0, 2, 3)), x)
    same(lambda a: mx.nd.SwapAxis(a, dim1=1, dim2=3), x)
    same(lambda a: mx.nd.transpose(a.reshape((6, 20))), x)
    same(lambda a: mx.nd.reshape(a, shape=(-1, 5)), x)
    same(lambda a: mx.nd.Flatten(a), x)
    same(lambda a: mx.nd.expand_dims(a, axis=2), x)
    same(lambda a: mx.nd.reshape_like(a, mx.nd.zeros((10, 12), ctx=a.context)), x)
    # Eight axes, none mergeable, and a scalar-like array.
    y = sample((2, 1, 3, 2, 1, 2, 3, 2), dtype)
    same(lambda a: mx.nd.transpose(a, axes=(7, 5, 3, 1, 0, 2, 4, 6)), y)
    same(lambda a: mx.nd.transpose(a), sample((1,), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_stack_split(dtype):
    a, b, c = sample((2, 3, 4), dtype), sample((2, 5, 4), dtype), sample((2, 1, 4), dtype)
    same(lambda p, q, r: mx.nd.concat(p, q, r, dim=1), a, b, c)
    same(lambda p, q: mx.nd.concat(p, q, dim=0), a, sample((3, 3, 4), dtype))
    same(lambda p, q: mx.nd.concat(p, q, dim=2), a, sample((2, 3, 1), dtype))
    same(lambda p, q: mx.nd.stack(p, q, axis=1), a, sample((2, 3, 4), dtype))
    same(lambda p, q: mx.nd.stack(p, q, axis=3), a, sample((2, 3, 4), dtype))
    x = sample((4, 6, 3), dtype)
    same(lambda p: mx.nd.split(p, num_outputs=3, axis=1), x)
    same(lambda p: mx.nd.split(p, num_outputs=2, axis=0), x)
    same(lambda p: mx.nd.split(p, num_outputs=3, axis=2, squeeze_axis=True), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slices(dtype):
    x = sample((5, 6, 7), dtype)
    same(lambda a: mx.nd.slice(a, begin=(1, 2), end=(4, 5)), x)
    same(lambda a: mx.nd.slice(a, begin=(None, 1, 0), end=(None, 6, 7), step=(2, 2, 3)), x)
    same(lambda a: mx.nd.slice(a, begin=(4, None), end=(0, None), step=(-1, -2)), x)
    same(lambda a: mx.nd.slice_axis(a, axis=2, begin=-4, end=None), x)
    same(lambda a: mx.nd.slice_axis(a, axis=0, begin=1, end=3), x)
    same(lambda a: mx.nd.slice(a, begin=(2,), end=(2,)), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slice_assign(dtype):
    def assign(a, b):
        a = a.copy()
        a[1:3, ::2] = b
        return a

    def assign_scalar(a):
        a = a.copy()
        a[:, 4] = 1
        a[3] = 0
        return a

    x = sample((4, 6), dtype)
    same(assign, x, sample((2, 3), dtype))
    same(assign, x, sample((1,), dtype))
    same(assign_scalar, x)
    same(lambda a, b: slice_assign(a, b, begin=(3,), end=(None,), step=(-2,)), x, sample((2, 6), dtype))
    # rhs of another dtype is cast to lhs's.
    same(lambda a, b: slice_assign(a, b, begin=(0, 1), end=(2, 3)), x, sample((2, 2), "float64"))


def test_layout_gradients():
    x, w = sample((4, 6), "float32"), sample((2, 6), "float32")
    res = []
    for ctx in (mx.cpu(), gpu()):
        a, b = mx.nd.array(x, ctx=ctx), mx.nd.array(w, ctx=ctx)
        a.attach_grad()
        b.attach_grad()
        with mx.autograd.record():
            c = mx.nd.concat(a, b, dim=0)
            t = mx.nd.transpose(c)[1:5]
            p, q = mx.nd.split(t, num_outputs=2, axis=1)
            r = mx.nd.slice_axis(
                mx.nd.broadcast_to(q.reshape((4, 1, 3, 1)), shape=(4, 2, 3, 2)), axis=1, begin=1, end=2
            )
            y = (p * p).sum() + (r * 3).sum() + mx.nd.stack(p, p, axis=0).sum()
            sa = slice_assign(a, b[:, 1:4], begin=(1, 0), end=(3, 3))
            pk = mx.nd.pick(c, mx.nd.array([0, 5, 2, 1, 3, 3], ctx=ctx), axis=1)
            y = y + (sa * sa).sum() + (pk * mx.nd.arange(6, ctx=ctx)).sum()
        y.backward()
        res.append((a.grad.asnumpy(), b.grad.asnumpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcasts_tile_repeat(dtype):
    x = sample((3, 1, 4), dtype)
    same(lambda a: mx.nd.broadcast_to(a, shape=(3, 5, 4)), x)
    same(lambda a: mx.nd.broadcast_axis(a, axis=1, size=2), x)
    same(lambda a, b: mx.nd.broadcast_like(a, b), x, sample((3, 2, 4), dtype))
    same(lambda a: mx.nd.broadcast_to(a, shape=(2, 3)), sample((1, 1), dtype))
    same(lambda a: mx.nd.tile(a, reps=(2, 3, 1)), x)
    same(lambda a: mx.nd.tile(a, reps=(2, 1, 1, 2)), x)
    same(lambda a: mx.nd.repeat(a, repeats=3, axis=2), x)
    same(lambda a: mx.nd.repeat(a, repeats=2), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx_dtype", ["float32", "int32", "int64", "float16"])
def test_take_and_pick(dtype, idx_dtype):
    x = sample((5, 4, 3), dtype)
    idx = np.array([[0, 4, -1], [7, 2, 1]]).astype(idx_dtype)
    for mode in ("clip", "wrap"):
        same(lambda a, i, m=mode: mx.nd.take(a, i, axis=0, mode=m), x, idx)
        same(lambda a, i, m=mode: mx.nd.take(a, i, axis=1, mode=m), x, idx)
        same(lambda a, i, m=mode: mx.nd.take(a, i, axis=2, mode=m), x, idx)
        pi = np.array([[0, 3, -2], [5, 1, 2], [2, 2, 0], [1, 0, 9], [3, 3, 3]]).astype(idx_dtype)
        same(lambda a, i, m=mode: mx.nd.pick(a, i, axis=1, mode=m), x, pi)
        same(lambda a, i, m=mode: mx.nd.pick(a, i, axis=1, mode=m, keepdims=True), x, pi)
    same(lambda a, i: mx.nd.pick(a, i), x, np.array(RNG.integers(0, 3, (5, 4))).astype(idx_dtype))


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_embedding(dtype):
    w = sample((6, 4), dtype)
    data = np.array([[0, 5, 2.7], [-1, 9, np.nan]], dtype="float32")
    same(lambda d, ww: mx.nd.Embedding(d, ww, input_dim=6, output_dim=4, dtype=dtype), data, w)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_take_and_embedding_gradients(dtype):
    w = sample((6, 4), dtype)
    idx = np.array([[0, 5, 5], [-1, 9, 2.7]], dtype="float32")
    res = []
    for ctx in (mx.cpu(), gpu()):
        a, i = mx.nd.array(w, ctx=ctx, dtype=dtype), mx.nd.array(idx, ctx=ctx)
        a.attach_grad()
        with mx.autograd.record():
            t1, t0 = mx.nd.take(a, i, axis=1, mode="wrap"), mx.nd.take(a, i, axis=0)
            e = mx.nd.Embedding(i, a, input_dim=6, output_dim=4, dtype=dtype)
            y = (t1 * t1).sum() + (t0 * 2).sum() + (e * mx.nd.arange(4, ctx=ctx, dtype=dtype)).sum()
        y.backward()
        assert a.grad.context == ctx
        res.append(a.grad.asnumpy().astype("float64"))
    tol = 1e-5 if dtype != "float16" else 1e-2
    np.testing.assert_allclose(res[1], res[0], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "uint8", "int64", "bool"])
def test_one_hot_and_where(dtype):
    idx = np.array([[0, 3, -1], [2.5, 7, 1]], dtype="float32")
    same(lambda i: mx.nd.one_hot(i, depth=4, dtype=dtype), idx)
    same(lambda i: mx.nd.one_hot(i.astype("int32"), depth=5, on_value=3, off_value=-1, dtype=dtype), idx)
    a, b = sample((4, 5), dtype), sample((4, 5), dtype)
    cond = sample((4, 5), "float32")
    cond[0, :2] = 0
    same(lambda c, x, y: mx.nd.where(c, x, y), cond, a, b)
    same(lambda c, x, y: mx.nd.where(c, x, y), np.array([1, 0, 0, 2], dtype="int32"), a, b)
    same(lambda c, x, y: mx.nd.where(c, x, y), np.array([True, False, True, False]), a, b)


def test_dropout_inference_is_identity():
    x = sample((4, 6), "float32")
    same(lambda a: mx.nd.Dropout(a, p=0.5), x)
    with mx.autograd.record(train_mode=False):
        same(lambda a: mx.nd.Dropout(a, p=0.3), x)
    # Training: kept elements scaled by 1 / (1 - p), the gradient is the mask, `axes` share it.
    for dtype in ("float32", "float16"):
        g = mx.nd.array(np.full((100, 100), 3.0), ctx=gpu(), dtype=dtype)
        g.attach_grad()
        with mx.autograd.record():
            y = mx.nd.Dropout(g, p=0.5)
        y.backward()
        y, grad = y.asnumpy().astype("float64"), g.grad.asnumpy().astype("float64")
        assert set(np.unique(y)) <= {0.0, 6.0} and 0.4 < (y == 0).mean() < 0.6, np.unique(y)
        np.testing.assert_array_equal(grad, y / 3)
        with mx.autograd.record():
            y = mx.nd.Dropout(g, p=0.25, axes=(1,)).asnumpy()
        assert (y == y[:, :1]).all() and 0.1 < (y[:, 0] == 0).mean() < 0.4
        assert set(np.round(np.unique(y), 2)) <= {0.0, 4.0}, np.unique(y)


ACTS = [("Activation", t, {}) for t in ("relu", "sigmoid", "tanh", "softrelu", "softsign")] + [
    ("LeakyReLU", "leaky", {"slope": 0.1}),
    ("LeakyReLU", "elu", {"slope": 0.7}),
    ("LeakyReLU", "selu", {}),
    ("LeakyReLU", "gelu", {}),
    ("LeakyReLU", "prelu", {}),
]


@pytest.mark.parametrize("op,act,kw", ACTS, ids=[a[1] for a in ACTS])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_activations_and_gradients(op, act, kw, dtype):
    x = (RNG.standard_normal((3, 4, 5)) * 4).astype(dtype)
    x[0, 0, :3] = [0.0, 30.0, -30.0]
    og = RNG.standard_normal(x.shape).astype(dtype)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 5e-3, "atol": 5e-3}
    res = []
    for ctx in (mx.cpu(), gpu()):
        a = mx.nd.array(x, ctx=ctx, dtype=dtype)
        extra = [mx.nd.array(np.full((4,), 0.2), ctx=ctx, dtype=dtype)] if act == "prelu" else []
        a.attach_grad()
        with mx.autograd.record():
            y = getattr(mx.nd, op)(a, *extra, act_type=act, **kw)
        y.backward(mx.nd.array(og, ctx=ctx, dtype=dtype))
        assert y.context == ctx and a.grad.context == ctx
        res.append((y.asnumpy().astype("float64"), a.grad.asnumpy().astype("float64")))
    (yc, gc), (yg, gg) = res
    np.testing.assert_allclose(yg, yc, **tol)
    np.testing.assert_allclose(gg, gc, **tol)


def test_gluon_dense_net_step_matches_cpu():
    """A small Gluon net (Dense, Activation, Dropout, concat, slicing) trains the same on both."""
    gluon = mx.gluon
    x = RNG.standard_normal((8, 10)).astype("float32")
    lab = RNG.integers(0, 3, 8).astype("float32")
    outs = []
    for ctx in (mx.cpu(), gpu()):
        mx.random.seed(1)
        net = gluon.nn.HybridSequential()
        net.add(gluon.nn.Dense(16, activation="relu"), gluon.nn.Dropout(0.0), gluon.nn.Dense(3))
        # The same initial weights on both: drawn on the host, then moved.
        net.initialize(mx.init.Xavier(), ctx=mx.cpu())
        net.collect_params().reset_ctx(ctx)
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        xd, ld = mx.nd.array(x, ctx=ctx), mx.nd.array(lab, ctx=ctx)
        with mx.autograd.record():
            out = net(xd)
            both_halves = mx.nd.concat(out[:4], out[4:], dim=0)
            lv = loss(both_halves, ld)
        lv.backward()
        tr.step(8)
        outs.append(net(xd).asnumpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-5)


# The ops given device kernels here, by registered name: none may run through host memory.
NATIVE = {
    "transpose", "SwapAxis", "Concat", "stack", "SliceChannel", "slice", "slice_axis", "broadcast_to",
    "broadcast_axis", "broadcast_like", "tile", "repeat", "Reshape", "Flatten", "expand_dims", "take",
    "Embedding", "pick", "one_hot", "where", "Dropout", "Activation", "LeakyReLU", "_slice_assign",
    "_slice_assign_scalar", "_backward_Activation", "_backward_LeakyReLU", "_backward_take",
    "_backward_Embedding", "_backward_pick", "_backward_Concat",
}  # fmt: skip


@pytest.mark.skipif(IS_MXNET or DEVICE.device_type != "gpu", reason="mxrs counts host fallbacks on a GPU")
def test_ops_run_natively():
    ctx = DEVICE
    x = mx.nd.array(sample((4, 6), "float32"), ctx=ctx)
    i = mx.nd.array([[0, 2], [1, 3]], ctx=ctx)
    mx.nd.waitall()
    mx._native.gpu_host_fallbacks(reset=True)
    x.attach_grad()
    with mx.autograd.record():
        parts = [
            mx.nd.transpose(x),
            mx.nd.SwapAxis(x, dim1=0, dim2=1),
            mx.nd.concat(x, x, dim=1),
            mx.nd.stack(x, x),
            *mx.nd.split(x, num_outputs=2, axis=1),
            mx.nd.slice(x, begin=(1, 0), end=(3, 6), step=(1, 2)),
            mx.nd.slice_axis(x, axis=1, begin=1, end=4),
            mx.nd.broadcast_to(mx.nd.expand_dims(x, axis=1), shape=(4, 3, 6)),
            mx.nd.tile(x, reps=(2, 1)),
            mx.nd.repeat(x, repeats=2, axis=0),
            mx.nd.reshape(x, shape=(6, 4)),
            mx.nd.take(x, i),
            mx.nd.Embedding(i, x, input_dim=4, output_dim=6),
            mx.nd.pick(x, mx.nd.array([0, 1, 2, 3], ctx=ctx)),
            mx.nd.Activation(x, act_type="tanh"),
            mx.nd.LeakyReLU(x, act_type="elu"),
            mx.nd.Dropout(x, p=0.3),
            mx.nd.Dropout(x, p=0.3, axes=(0,)),
        ]
        y = mx.nd.add_n(*[p.sum().reshape((1,)) for p in parts])
    y.backward()
    others = [
        mx.nd.one_hot(i, depth=5),
        mx.nd.where(x > 0, x, -x),
        mx.nd.Dropout(x, p=0.5),
        mx.nd.Flatten(x),
        mx.nd.broadcast_like(x[:1], x),
        mx.nd.broadcast_axis(x[:1], axis=0, size=3),
    ]
    z = x.copy()
    z[1:3, ::2] = 5
    mx.nd.waitall()
    assert all(o.context == ctx for o in others) and x.grad.context == ctx
    fallbacks = mx._native.gpu_host_fallbacks(reset=True)
    assert not set(fallbacks) & NATIVE, fallbacks
