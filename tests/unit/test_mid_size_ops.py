"""Cheap elementwise and row ops on mid-sized arrays (10^5 elements): mxrs runs them on the
calling thread while it waits for each op, splitting the loop over two threads, and on the
engine's workers while it pushes ops without waiting. Both must give MXNet's results and keep the engine's
ordering, whichever pattern comes first."""

import numpy as np
import pytest
from _target import mx
from numpy.testing import assert_allclose, assert_array_equal

SHAPE = (1000, 100)


def _pair():
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
    y = rng.uniform(-1, 1, SHAPE).astype(np.float32)
    return x, y


CASES = [
    ("relu", lambda nd, a, b: nd.relu(a), lambda x, y: np.maximum(x, 0)),
    ("add", lambda nd, a, b: a + b, lambda x, y: x + y),
    ("greater", lambda nd, a, b: a > b, lambda x, y: (x > y).astype(np.float32)),
    ("maximum", lambda nd, a, b: nd.maximum(a, b), np.maximum),
    ("square", lambda nd, a, b: a**2, lambda x, y: x * x),
    ("clip", lambda nd, a, b: nd.clip(a, -0.5, 0.25), lambda x, y: np.clip(x, -0.5, 0.25)),
    ("where", lambda nd, a, b: nd.where(a > b, a, b), lambda x, y: np.where(x > y, x, y)),
    ("scalar", lambda nd, a, b: 2 - a, lambda x, y: 2 - x),
    ("broadcast", lambda nd, a, b: nd.broadcast_mul(a, b[:1]), lambda x, y: x * y[:1]),
    ("softmax", lambda nd, a, b: nd.softmax(a), lambda x, y: _softmax(x)),
    ("log_softmax", lambda nd, a, b: nd.log_softmax(a), lambda x, y: np.log(_softmax(x))),
    (
        "LayerNorm",
        lambda nd, a, b: nd.LayerNorm(a, b[0] + 1, b[1], eps=1e-5),
        lambda x, y: (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * (y[0] + 1) + y[1],
    ),
]


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize(("name", "op", "ref"), CASES, ids=[c[0] for c in CASES])
def test_waiting_for_each_op_and_pushing_many_give_the_same_results(name, op, ref):
    x, y = _pair()
    a, b = mx.nd.array(x), mx.nd.array(y)
    want = ref(x, y)
    # Waiting for each op: after the first wait the op runs on the calling thread.
    for _ in range(3):
        assert_allclose(op(mx.nd, a, b).asnumpy(), want, rtol=1e-5, atol=1e-6)
    # Many ops pushed, then one wait: they go to the workers.
    outs = [op(mx.nd, a, b) for _ in range(20)]
    mx.nd.waitall()
    for o in outs:
        assert_allclose(o.asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_in_place_chains_keep_their_order_in_both_patterns():
    n = 1 << 17
    x, y = mx.nd.zeros((n,)), mx.nd.zeros((n,))
    for _ in range(5):  # waiting for each op
        x += 1
        x.wait_to_read()
    for _ in range(100):  # two independent chains, pushed
        x += 1
        y += 2
    mx.nd.waitall()
    for _ in range(5):
        y += 1
        y.wait_to_read()
    assert_array_equal(x.asnumpy(), np.full(n, 105, np.float32))
    assert_array_equal(y.asnumpy(), np.full(n, 205, np.float32))


def test_a_read_then_a_write_of_the_same_array_stay_ordered():
    """`r = relu(a)` then `a += 1` in place: `r` sees the old `a`, whether the ops ran on the
    calling thread or on the workers, and after a slow op pushed just before (a product that
    writes `a`)."""
    x, _ = _pair()
    w = np.eye(SHAPE[1], dtype=np.float32) * 2
    for pushed_first in (False, True):
        for after_product in (False, True):
            a = mx.nd.array(x)
            if pushed_first:  # a stream of ops without waiting: the next ones go to the workers
                for _ in range(20):
                    mx.nd.relu(a)
            if after_product:
                a = mx.nd.dot(a, mx.nd.array(w))
            old = x * 2 if after_product else x
            r = mx.nd.relu(a)
            a += 1
            s = a * 2
            assert_allclose(r.asnumpy(), np.maximum(old, 0), rtol=1e-6)
            assert_allclose(a.asnumpy(), old + 1, rtol=1e-6)
            assert_allclose(s.asnumpy(), 2 * (old + 1), rtol=1e-6)
