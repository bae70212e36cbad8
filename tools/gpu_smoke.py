"""A quick GPU smoke check: every native device kernel family against the CPU, copies, memory
and a few training steps. Prints one line per check and a summary; exits 1 on any failure.

Run on a machine with a GPU: ``python tools/gpu_smoke.py``.
"""

from __future__ import annotations

import sys
import time
import traceback

import mxrs as mx
import numpy as np

RESULTS: list[tuple[str, bool, str]] = []


def check(name):
    def wrap(fn):
        t = time.perf_counter()
        try:
            fn()
            RESULTS.append((name, True, f"{(time.perf_counter() - t) * 1e3:.0f} ms"))
        except Exception as e:  # noqa: BLE001 - reported, the run goes on
            tb = traceback.format_exc().strip().splitlines()
            RESULTS.append((name, False, f"{type(e).__name__}: {e} | {tb[-3] if len(tb) > 2 else ''}"))
        return fn

    return wrap


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


G = mx.gpu(0) if mx.num_gpus() else mx.cpu(1)
rng = np.random.default_rng(0)
X = rng.standard_normal((64, 33)).astype(np.float32)
Y = rng.standard_normal((64, 33)).astype(np.float32)


@check("copies and dtypes")
def _():
    for dt in ["float32", "float64", "float16", "int32", "int64", "uint8", "int8", "bool"]:
        a = (rng.standard_normal((5, 7)) * 10).astype(dt)
        g = mx.nd.array(a, ctx=G, dtype=dt)
        assert g.context == G, g.context
        np.testing.assert_array_equal(g.asnumpy(), a)
        np.testing.assert_array_equal(g.as_in_context(mx.cpu()).asnumpy(), a)
    big = np.arange(20_000_000, dtype=np.float32)
    np.testing.assert_array_equal(mx.nd.array(big, ctx=G).asnumpy(), big)
    z = mx.nd.zeros((0, 3), ctx=G)
    assert z.asnumpy().shape == (0, 3)


@check("views, setitem, copyto, print")
def _():
    g = mx.nd.array(X, ctx=G)
    close(g[3:9].asnumpy(), X[3:9])
    close(g.reshape((33, 64)).asnumpy(), X.reshape(33, 64))
    h = g.copy()
    h[:] = 5
    assert (h.asnumpy() == 5).all()
    h[2] = np.arange(33, dtype=np.float32)
    close(h.asnumpy()[2], np.arange(33))
    t = mx.nd.zeros((64, 33), ctx=G)
    g.copyto(t)
    close(t.asnumpy(), X)
    assert "@gpu(0)" in repr(g), repr(g)


@check("unary")
def _():
    g = mx.nd.array(X, ctx=G)
    pos = mx.nd.array(np.abs(X) + 0.1, ctx=G)
    for name in ["exp", "tanh", "sigmoid", "relu", "abs", "square", "floor", "round", "rint", "sign", "erf", "sin"]:
        close(getattr(mx.nd, name)(g).asnumpy(), getattr(mx.nd, name)(mx.nd.array(X)).asnumpy(), 1e-5, 1e-5)
    for name in ["log", "sqrt", "rsqrt", "gamma", "gammaln"]:
        c = getattr(mx.nd, name)(mx.nd.array(np.abs(X) + 0.1)).asnumpy()
        close(getattr(mx.nd, name)(pos).asnumpy(), c, 1e-4, 1e-5)


@check("binary, broadcast, scalar")
def _():
    a, b = mx.nd.array(X, ctx=G), mx.nd.array(Y, ctx=G)
    close((a + b).asnumpy(), X + Y)
    close((a * b - a / (b + 10)).asnumpy(), X * Y - X / (Y + 10), 1e-5, 1e-5)
    row = mx.nd.array(Y[:1], ctx=G)
    close(mx.nd.broadcast_add(a, row).asnumpy(), X + Y[:1])
    close((2 - a).asnumpy(), 2 - X)
    close((a**2).asnumpy(), X**2, 1e-5, 1e-5)
    close((a > b).asnumpy(), (X > Y).astype(np.float32))
    close(mx.nd.maximum(a, b).asnumpy(), np.maximum(X, Y))
    a16 = mx.nd.array(X, ctx=G, dtype="float16")
    close((a16 + a16).asnumpy().astype(np.float32), (X.astype(np.float16) * 2).astype(np.float32), 1e-3, 1e-3)


@check("reductions")
def _():
    a = mx.nd.array(X, ctx=G)
    close(a.sum().asnumpy(), X.sum(keepdims=True).reshape(1), 1e-4, 1e-4)
    close(mx.nd.sum(a, axis=1).asnumpy(), X.sum(1), 1e-5, 1e-5)
    close(mx.nd.mean(a, axis=0).asnumpy(), X.mean(0), 1e-5, 1e-5)
    close(mx.nd.max(a, axis=1, keepdims=True).asnumpy(), X.max(1, keepdims=True))
    x3 = rng.standard_normal((4, 5, 6)).astype(np.float32)
    b = mx.nd.array(x3, ctx=G)
    close(mx.nd.sum(b, axis=(0, 2)).asnumpy(), x3.sum((0, 2)), 1e-5, 1e-5)
    close(mx.nd.min(b, axis=1, exclude=True).asnumpy(), x3.min((0, 2)))
    big = np.ones(10_000_000, dtype=np.float32)
    assert abs(mx.nd.array(big, ctx=G).sum().asscalar() - 1e7) < 1


@check("dot, batch_dot, FullyConnected, softmax")
def _():
    a = mx.nd.array(X, ctx=G)
    w = rng.standard_normal((10, 33)).astype(np.float32)
    bias = rng.standard_normal(10).astype(np.float32)
    close(mx.nd.dot(a, mx.nd.array(w, ctx=G), transpose_b=True).asnumpy(), X @ w.T, 1e-4, 1e-4)
    close(mx.nd.dot(a, a, transpose_a=True).asnumpy(), X.T @ X, 1e-4, 1e-3)
    p, q = rng.standard_normal((3, 4, 5)).astype(np.float32), rng.standard_normal((3, 5, 2)).astype(np.float32)
    close(mx.nd.batch_dot(mx.nd.array(p, ctx=G), mx.nd.array(q, ctx=G)).asnumpy(), p @ q, 1e-5, 1e-5)
    fc = mx.nd.FullyConnected(a, mx.nd.array(w, ctx=G), mx.nd.array(bias, ctx=G), num_hidden=10)
    close(fc.asnumpy(), X @ w.T + bias, 1e-4, 1e-4)
    sm = mx.nd.softmax(a, axis=1).asnumpy()
    close(sm, mx.nd.softmax(mx.nd.array(X), axis=1).asnumpy(), 1e-5, 1e-6)
    close(mx.nd.log_softmax(a, axis=0).asnumpy(), mx.nd.log_softmax(mx.nd.array(X), axis=0).asnumpy(), 1e-5, 1e-5)


@check("conv and pooling kernels, forward and backward")
def _():
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    res = []
    for ctx in (G, mx.cpu()):
        a, b = mx.nd.array(x, ctx=ctx), mx.nd.array(w, ctx=ctx)
        a.attach_grad()
        b.attach_grad()
        with mx.autograd.record():
            c = mx.nd.Convolution(a, b, kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True)
            y = mx.nd.Pooling(c, kernel=(2, 2), stride=(2, 2), pool_type="max")
        y.backward()
        assert y.context == ctx
        res.append((y.asnumpy(), a.grad.asnumpy(), b.grad.asnumpy()))
    for got, want in zip(*res):
        close(got, want, 1e-4, 1e-4)


@check("host fallback ops (deconvolution, topk)")
def _():
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    d = mx.nd.Deconvolution(mx.nd.array(x, ctx=G), mx.nd.array(w, ctx=G), kernel=(3, 3), num_filter=4)
    close(d.asnumpy(), mx.nd.Deconvolution(mx.nd.array(x), mx.nd.array(w), kernel=(3, 3), num_filter=4).asnumpy())
    assert d.context == G
    close(mx.nd.topk(mx.nd.array(X, ctx=G), k=3).asnumpy(), mx.nd.topk(mx.nd.array(X), k=3).asnumpy())


@check("autograd on gpu")
def _():
    a = mx.nd.array(X, ctx=G)
    a.attach_grad()
    with mx.autograd.record():
        y = (mx.nd.tanh(a) * a).sum()
    y.backward()
    t = np.tanh(X)
    close(a.grad.asnumpy(), t + X * (1 - t * t), 1e-5, 1e-5)


@check("optimizer updates")
def _():
    w, g, m = X.copy(), Y.copy(), np.zeros_like(X)
    wg, gg, mg = (mx.nd.array(v, ctx=G) for v in (w, g, m))
    wc, gc, mc = (mx.nd.array(v) for v in (w, g, m))
    mx.nd.sgd_mom_update(wg, gg, mg, lr=0.1, momentum=0.9, wd=1e-4, out=wg)
    mx.nd.sgd_mom_update(wc, gc, mc, lr=0.1, momentum=0.9, wd=1e-4, out=wc)
    close(wg.asnumpy(), wc.asnumpy())
    close(mg.asnumpy(), mc.asnumpy())
    v1, v2 = mx.nd.zeros_like(wg), mx.nd.zeros_like(wc)
    mx.nd.adam_update(wg, gg, mg, v1, lr=0.01, out=wg)
    mx.nd.adam_update(wc, gc, mc, v2, lr=0.01, out=wc)
    close(wg.asnumpy(), wc.asnumpy(), 1e-5, 1e-6)


@check("random")
def _():
    mx.random.seed(7)
    a = mx.nd.random.uniform(shape=(100000,), ctx=G).asnumpy()
    mx.random.seed(7)
    b = mx.nd.random.uniform(shape=(100000,), ctx=G).asnumpy()
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() < 1 and abs(a.mean() - 0.5) < 0.01
    n = mx.nd.random.normal(2, 3, shape=(200000,), ctx=G).asnumpy()
    assert abs(n.mean() - 2) < 0.05 and abs(n.std() - 3) < 0.05, (n.mean(), n.std())


@check("memory info, empty_cache, OOM")
def _():
    free, total = mx._native.gpu_memory_info(0)
    assert 0 < free <= total
    a = mx.nd.zeros((1 << 28,), ctx=G)
    a.wait_to_read()
    del a
    mx.nd.waitall()
    mx._native.gpu_empty_cache(0)
    free2, _ = mx._native.gpu_memory_info(0)
    assert free2 >= free - (64 << 20), (free, free2)
    try:
        mx.nd.zeros((1 << 46,), ctx=G).wait_to_read()
        raise AssertionError("no error for 256 TiB")
    except mx.base.MXNetError as e:
        assert "gpu(0)" in str(e), str(e)
    try:
        mx.nd.ones((2,), ctx=mx.gpu(9))
        raise AssertionError("gpu(9) accepted")
    except mx.base.MXNetError as e:
        assert "gpu(9)" in str(e), str(e)
    assert (mx.nd.ones((3,), ctx=G) + 1).asnumpy().tolist() == [2, 2, 2]


@check("gluon MLP trains on gpu like on cpu")
def _():
    from mxrs import gluon

    data = rng.standard_normal((256, 20)).astype(np.float32)
    label = (data[:, :1] > 0).astype(np.float32).ravel()
    losses = {}
    for ctx in (mx.cpu(), G):
        mx.random.seed(1)
        net = gluon.nn.Sequential()
        net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(2))
        net.initialize(mx.init.Xavier(), ctx=ctx)
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
        lf = gluon.loss.SoftmaxCrossEntropyLoss()
        x, y = mx.nd.array(data, ctx=ctx), mx.nd.array(label, ctx=ctx)
        hist = []
        for _ in range(30):
            with mx.autograd.record():
                loss = lf(net(x), y)
            loss.backward()
            tr.step(256)
            hist.append(loss.mean().asscalar())
        losses[str(ctx)] = hist
    c, g = losses["cpu(0)"], losses[str(G)]
    assert g[-1] < g[0] * 0.5, g
    close(np.array(g), np.array(c), 1e-3, 1e-4)


@check("save/load gpu arrays")
def _():
    import os
    import tempfile

    p = os.path.join(tempfile.mkdtemp(), "a.params")
    mx.nd.save(p, {"x": mx.nd.array(X, ctx=G)})
    close(mx.nd.load(p)["x"].asnumpy(), X)


t0 = time.perf_counter()
ok = sum(r[1] for r in RESULTS)
for name, good, msg in RESULTS:
    print(f"{'PASS' if good else 'FAIL'} {name}: {msg}")
print(f"gpu-smoke: {ok}/{len(RESULTS)} passed")
sys.exit(0 if ok == len(RESULTS) else 1)
