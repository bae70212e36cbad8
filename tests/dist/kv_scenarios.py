"""Worker program of tests/unit/test_dist_kvstore.py, started by mpirun (or mxrs.launch).

``python kv_scenarios.py SCENARIO OUT_DIR``: runs one scenario on every worker and writes what it
saw to OUT_DIR/rank<r>.json (errors as their messages), so the test asserts on every rank.
"""

import json
import os
import signal
import sys
import threading
import time

import mxrs as mx
import numpy as np
from dist_helpers import FailingSGD, fit_data, fit_net, gluon_train

SHAPE = (2, 3)


def val(a):
    return float(a.asnumpy().ravel()[0])


def seed(kv, r, w):
    """The seed's KVStore sequence (mxnet-compat.md 8.3) under dist_sync, sums over workers."""
    out = {}
    a = mx.nd.zeros(SHAPE)
    kv.init(3, mx.nd.ones(SHAPE) * (2 if r == 0 else 99))  # only rank 0's value counts
    kv.pull(3, out=a)
    out["init"] = val(a)
    kv.push(3, mx.nd.ones(SHAPE) * 8)
    kv.pull(3, out=a)
    out["push8"] = val(a)
    kv.push(3, [mx.nd.ones(SHAPE, ctx=mx.cpu(i)) for i in range(4)])
    b = [mx.nd.zeros(SHAPE, ctx=mx.cpu(i)) for i in range(2)]
    kv.pull(3, out=b)
    out["push4dev"] = [val(x) for x in b]
    keys = [5, 7, 9]
    kv.init(keys, [mx.nd.ones(SHAPE)] * 3)
    kv.push(keys, [mx.nd.ones(SHAPE) * (r + 1)] * 3)
    outs = [mx.nd.zeros(SHAPE) for _ in keys]
    kv.pull(keys, out=outs)
    out["list"] = [val(x) for x in outs]
    big = mx.nd.arange(0, 40).reshape((5, 8))
    kv.init(11, big)  # split over the servers when MXNET_KVSTORE_BIGARRAY_BOUND <= 40
    kv.push(11, big * (r + 1))
    got = mx.nd.zeros((5, 8))
    kv.pull(11, out=got)
    out["big_ok"] = bool(np.allclose(got.asnumpy(), big.asnumpy() * sum(range(1, w + 1))))
    kv.init(0, mx.nd.ones(SHAPE))
    kv.init(1, mx.nd.zeros(SHAPE))
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5, rescale_grad=1))
    kv.push(1, mx.nd.ones(SHAPE) * (r + 1))
    kv.pull(1, out=a)
    out["sgd"] = val(a)
    kv.pushpull(0, mx.nd.ones(SHAPE) * (r + 1), out=a)
    out["pushpull_sgd"] = val(a)
    kv._barrier()
    return out


def str_keys(kv, r, w):
    kv.init(["fc1_weight", "fc1_bias"], [mx.nd.ones(SHAPE), mx.nd.zeros((4,))])
    kv.push(["fc1_weight", "fc1_bias"], [mx.nd.ones(SHAPE) * (r + 1), mx.nd.ones((4,))])
    a, b = mx.nd.zeros(SHAPE), mx.nd.zeros((4,))
    kv.pull(["fc1_weight", "fc1_bias"], out=[a, b])
    try:
        kv.init(3, mx.nd.ones(SHAPE))
        mixed = "no error"
    except mx.MXNetError as e:
        mixed = str(e)
    return {"weight": val(a), "bias": val(b), "mixed": mixed}


def async_updates(kv, r, w):
    kv.init(1, mx.nd.zeros(SHAPE))
    try:
        kv.push(1, mx.nd.ones(SHAPE))
        kv.pull(1, out=mx.nd.zeros(SHAPE))
        no_updater = "no error"
    except mx.MXNetError as e:
        no_updater = str(e)
    kv._barrier()
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5, rescale_grad=1))
    a = mx.nd.zeros(SHAPE)
    for _ in range(3):
        kv.push(1, mx.nd.ones(SHAPE) * (r + 1))
    kv.pull(1, out=a)
    mine = val(a)
    kv._barrier()
    kv.pull(1, out=a)
    return {"no_updater": no_updater, "mine": mine, "final": val(a)}


def disagree(kv, r, w):
    kv.init(3, mx.nd.ones(SHAPE if r == 0 else (3, 2)))
    return {}


def failing_updater(kv, r, w):
    kv.init(3, mx.nd.ones(SHAPE))
    kv.set_optimizer(FailingSGD(learning_rate=0.1))
    kv.push(3, mx.nd.ones(SHAPE))
    kv.pull(3, out=mx.nd.zeros(SHAPE))
    return {}


def uneven_barrier(kv, r, w):
    kv.init(3, mx.nd.ones(SHAPE))
    for _ in range(2 if r == 0 else 1):
        kv.push(3, mx.nd.ones(SHAPE))
        kv.pull(3, out=mx.nd.zeros(SHAPE))
    kv._barrier()
    return {}


def uneven_end(kv, r, w):
    kv.init(3, mx.nd.ones(SHAPE))
    for _ in range(2 if r == 0 else 1):
        kv.push(3, mx.nd.ones(SHAPE))
        kv.pull(3, out=mx.nd.zeros(SHAPE))
    return {}


def dies(kv, r, w):
    kv.init(3, mx.nd.ones(SHAPE))
    if r == 1:
        os._exit(3)
    kv.push(3, mx.nd.ones(SHAPE))
    kv.pull(3, out=mx.nd.zeros(SHAPE))
    return {}


def large(kv, r, w):
    """Sums of values on both sides of the allreduce path's blocking/non-blocking split (4 MiB),
    alone and fused with a value of another dtype in one push, twice each."""
    out = {}
    n = (4 << 20) // 4 + 7  # float32 elements just over 4 MiB
    rng = np.random.RandomState(0)
    base = rng.uniform(-1, 1, n).astype("float32")
    kv.init(["big", "ints"], [mx.nd.zeros((n,)), mx.nd.zeros((5,), dtype="int64")])
    got = mx.nd.zeros((n,))
    ok = []
    for step in range(2):
        kv.push("big", mx.nd.array(base * (r + 1 + step)))
        kv.pull("big", out=got)
        want = base * sum(k + 1 + step for k in range(w))
        ok.append(bool(np.allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-5)))
        kv.push(["big", "ints"], [mx.nd.array(base), mx.nd.ones((5,), dtype="int64") * (r + 1)])
        ints = mx.nd.zeros((5,), dtype="int64")
        kv.pull(["big", "ints"], out=[got, ints])
        ok.append(bool(np.allclose(got.asnumpy(), base * w, rtol=1e-5, atol=1e-5)))
        ok.append(ints.asnumpy().tolist() == [w * (w + 1) // 2] * 5)
    out["ok"] = ok
    kv._barrier()
    return out


def views(kv, r, w):
    """Values a push reads in place: a row view, a value still being computed, one written
    again right after the push; the stored value and the updater's sum buffer reused."""
    out = {}
    m = mx.nd.arange(0, 12).reshape((3, 4))
    kv.init(["row", "lazy"], [mx.nd.zeros((4,)), mx.nd.zeros((2, 3))])
    got = mx.nd.zeros((4,))
    kv.push("row", m[1] * 1 if r else m[1])  # a view of row 1 on rank 0
    kv.pull("row", out=got)
    out["row"] = got.asnumpy().tolist()
    x = mx.nd.ones((2, 3))
    for _ in range(50):
        x = x + 1  # pending when pushed
    kv.push("lazy", x * (r + 1))
    x += 100  # written again after the push: the pushed sum must not see it
    first, again = mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3))
    kv.pull("lazy", out=first)
    kv.pull("lazy", out=again)  # the stored value stays as it was
    out["lazy"] = [val(first), val(again)]
    kv.init("w", mx.nd.zeros((3,)))
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=1.0, rescale_grad=1))
    weights = []
    for step in range(3):
        kv.push("w", mx.nd.ones((3,)) * (r + 1 + step))
        wv = mx.nd.zeros((3,))
        kv.pull("w", out=wv)
        weights.append(val(wv))
    out["sgd"] = weights
    kv._barrier()
    return out


def pushpull(kv, r, w):
    """pushpull without an updater: the sum lands in `out`, and the stored value follows it for
    later pulls, including when `out` is written right after; in place, into a view, into
    several outputs, over the 4 MiB split, and alternated with push and pull."""
    out = {}
    total = sum(k + 1 for k in range(w))
    kv.init(["pp", "big"], [mx.nd.zeros((2, 3)), mx.nd.zeros(((4 << 20) // 4 + 3,))])
    a, b = mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3))
    rounds = []
    for step in range(3):
        kv.pushpull("pp", mx.nd.ones((2, 3)) * (r + 1 + step), out=a)
        got = a.asnumpy().tolist()
        a[:] = -1  # written right after: the stored value must not see it
        kv.pull("pp", out=b)
        rounds.append([got[0][0], val(b)])
    out["rounds"] = rounds
    x = mx.nd.ones((2, 3))
    for _ in range(20):
        x = x + 1  # pending when pushed
    kv.pushpull("pp", x * (r + 1), out=a)
    kv.pull("pp", out=b)
    out["pending"] = [val(a), val(b)]
    g = mx.nd.ones((2, 3)) * (r + 1)
    kv.pushpull("pp", g)  # in place: the sum replaces the pushed value
    out["inplace"] = val(g)
    m = mx.nd.zeros((3, 2, 3))
    kv.pushpull("pp", mx.nd.ones((2, 3)) * (r + 1), out=m[1])  # into a view
    out["view"] = m.asnumpy()[:, 0, 0].tolist()
    c, d = mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3))
    kv.pushpull("pp", mx.nd.ones((2, 3)) * (r + 1), out=[c, d])
    out["two_outs"] = [val(c), val(d)]
    n = (4 << 20) // 4 + 3
    base = np.random.RandomState(0).uniform(-1, 1, n).astype("float32")
    big = mx.nd.zeros((n,))
    kv.pushpull("big", mx.nd.array(base * (r + 1)), out=big)
    again = mx.nd.zeros((n,))
    kv.pull("big", out=again)
    out["big"] = [bool(np.allclose(v.asnumpy(), base * total, rtol=1e-5, atol=1e-5)) for v in (big, again)]
    out["bad_shape"] = []
    for o in (a, mx.nd.zeros((3, 2))):  # an output like the stored value, or like the pushed one
        try:
            kv.pushpull("pp", mx.nd.ones((3, 2)), out=o)
            out["bad_shape"].append("no error")
        except mx.MXNetError as e:
            out["bad_shape"].append(str(e))
    kv._barrier()
    return out


def silent(kv, r, w):
    kv.init(3, mx.nd.ones(SHAPE))
    if r == 1:
        time.sleep(6)
    kv.push(3, mx.nd.ones(SHAPE))
    kv.pull(3, out=mx.nd.zeros(SHAPE))
    return {}


def interrupt(kv, r, w):
    """Ctrl-C (SIGINT) during a pull that waits for another worker raises KeyboardInterrupt."""
    kv.init(3, mx.nd.ones(SHAPE))
    if r == 1:
        time.sleep(3)
    else:
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        kv.push(3, mx.nd.ones(SHAPE))  # waits here on the allreduce path
        kv.pull(3, out=mx.nd.zeros(SHAPE))  # and here on the server path
    except KeyboardInterrupt:
        return {"interrupted": True}
    return {"interrupted": False}


def disagree_push(kv, r, w):
    """Workers push different keys in the same round."""
    kv.init([3, 5], [mx.nd.ones(SHAPE), mx.nd.ones(SHAPE)])
    kv.push(3 if r == 0 else 5, mx.nd.ones(SHAPE))
    return {}


def identical(kv, r, w):
    """Adam on random per-worker gradients, several keys and dtypes pushed as one list: every
    worker must hold bitwise the same values."""
    rng = np.random.RandomState(r)
    keys = [0, 1, 2, 3]
    shapes = [(5,), (3, 4), (1000,), (2, 2)]
    dtypes = ["float32", "float32", "float32", "float64"]
    kv.init(
        keys, [mx.nd.array(np.linspace(-1, 1, int(np.prod(s))).reshape(s), dtype=d) for s, d in zip(shapes, dtypes)]
    )
    kv.set_optimizer(mx.optimizer.Adam(learning_rate=0.01, rescale_grad=1.0 / w))
    outs = [mx.nd.zeros(s, dtype=d) for s, d in zip(shapes, dtypes)]
    for _ in range(4):
        grads = [mx.nd.array(rng.standard_normal(s), dtype=d) for s, d in zip(shapes, dtypes)]
        kv.push(keys, grads)
        kv.pull(keys, out=outs)
    return {"values": [o.asnumpy().tobytes().hex() for o in outs]}


def module_fit(kv, r, w, b=4):
    """Module.fit with a dist_sync store: worker r trains on its slice of every global batch."""
    x, y, init = fit_data(w, b)
    rows = np.concatenate([np.arange(i * w * b + r * b, i * w * b + (r + 1) * b) for i in range(len(x) // (w * b))])
    it = mx.io.NDArrayIter(x[rows], y[rows], batch_size=b)
    mod = mx.mod.Module(fit_net(), context=mx.cpu())
    params = {k: mx.nd.array(v) for k, v in init.items()}
    mod.fit(it, kvstore=kv, optimizer="sgd", optimizer_params={"learning_rate": 0.5}, arg_params=params, num_epoch=2)
    arg, _ = mod.get_params()
    return {k: v.asnumpy().tolist() for k, v in arg.items()}


def feedforward_fit(kv, r, w, b=4):
    """FeedForward.fit with kvstore='dist_sync' (the store is made by fit; the same one)."""
    x, y, init = fit_data(w, b)
    rows = np.concatenate([np.arange(i * w * b + r * b, i * w * b + (r + 1) * b) for i in range(len(x) // (w * b))])
    it = mx.io.NDArrayIter(x[rows], y[rows], batch_size=b)
    params = {k: mx.nd.array(v) for k, v in init.items()}
    model = mx.model.FeedForward(fit_net(), num_epoch=2, optimizer="sgd", learning_rate=0.5, arg_params=params)
    model.fit(it, kvstore="dist_sync")
    return {k: v.asnumpy().tolist() for k, v in model.arg_params.items()}


def gluon_trainer(kv, r, w, b=4):
    """Gluon's Trainer on a dist_sync store: worker r trains on its slice of every global batch.
    GLUON_UPDATE_ON_KVSTORE=0: gradients summed by pushpull in place, the optimizer on each
    worker; 1: the optimizer on the store."""
    x, y, init = fit_data(w, b)
    on_store = os.environ["GLUON_UPDATE_ON_KVSTORE"] == "1"
    return gluon_train(x, y, init, kv, on_store, (r * b, (r + 1) * b), b, w)


SCENARIOS = {
    f.__name__: f
    for f in [
        seed,
        large,
        views,
        pushpull,
        module_fit,
        feedforward_fit,
        gluon_trainer,
        str_keys,
        async_updates,
        disagree,
        failing_updater,
        uneven_barrier,
        uneven_end,
        dies,
        silent,
        interrupt,
        disagree_push,
        identical,
    ]
}


def main():
    name, out_dir = sys.argv[1], sys.argv[2]
    kind = "dist_async" if name.startswith("async") else os.environ.get("KV_TYPE", "dist_sync")
    kv = mx.kv.create(kind)
    r, w = kv.rank, kv.num_workers
    res = {"type": kv.type, "rank": r, "num_workers": w}
    try:
        res.update(SCENARIOS[name](kv, r, w))
    except mx.MXNetError as e:
        res["error"] = str(e)
    with open(os.path.join(out_dir, f"rank{r}.json"), "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
