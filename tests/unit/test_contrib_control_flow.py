"""``foreach``, ``while_loop`` and ``cond`` of ``mx.nd.contrib`` (Python loops over NDArrays,
recorded by autograd) and ``mx.sym.contrib`` (unrolled into the graph by mxrs). The same tests
run against MXNet 1.9.1 with ``MXRS_TEST_TARGET=mxnet``."""

import numpy as np
import pytest
from _target import IS_MXNET, mx

RNG = np.random.RandomState(0)
X = RNG.uniform(-1, 1, (4, 2, 3)).astype(np.float32)
S0 = RNG.uniform(-1, 1, (2, 3)).astype(np.float32)
HEAD = RNG.uniform(-1, 1, (4, 2, 3)).astype(np.float32)


def _body(x, states):
    (s,) = states
    return x * s, [s + x]


def _numpy_foreach():
    s, outs = S0.copy(), []
    for x in X:
        outs.append(x * s)
        s = s + x
    return np.stack(outs), s


def _nd_foreach_grads():
    x, s0 = mx.nd.array(X), mx.nd.array(S0)
    x.attach_grad()
    s0.attach_grad()
    with mx.autograd.record():
        outs, states = mx.nd.contrib.foreach(_body, x, [s0])
        loss = (outs * mx.nd.array(HEAD)).sum() + states[0].sum()
    loss.backward()
    return outs, states, x.grad.asnumpy(), s0.grad.asnumpy()


def _numpy_foreach_grads():
    """d loss / d x and d loss / d s0 of ``_nd_foreach_grads``' loss, by hand."""
    n = X.shape[0]
    s = [S0.copy()]
    for x in X:
        s.append(s[-1] + x)
    gx = np.zeros_like(X)
    gs = np.ones_like(S0)  # from states.sum(): d s_n / d s_k = 1
    for t in range(n):
        gx[t] = HEAD[t] * s[t] + 1.0  # out_t = x_t * s_t; s_n includes x_t
        for u in range(t + 1, n):
            gx[t] += HEAD[u] * X[u]  # s_u includes x_t for u > t
    for t in range(n):
        gs += HEAD[t] * X[t]
    return gx, gs


def test_nd_foreach_forward_and_autograd():
    outs, states, gx, gs = _nd_foreach_grads()
    want_outs, want_s = _numpy_foreach()
    np.testing.assert_allclose(outs.asnumpy(), want_outs, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(states[0].asnumpy(), want_s, rtol=1e-6, atol=1e-6)
    want_gx, want_gs = _numpy_foreach_grads()
    np.testing.assert_allclose(gx, want_gx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gs, want_gs, rtol=1e-5, atol=1e-6)


def test_nd_foreach_nested_lists():
    a, b = mx.nd.array(X), mx.nd.array(X * 2)

    def body(xs, states):
        return [xs[0] + xs[1], [xs[0] * 2]], [states[0] + xs[1]]

    (o1, (o2,)), (s,) = mx.nd.contrib.foreach(body, [a, b], [mx.nd.zeros((2, 3))])
    np.testing.assert_allclose(o1.asnumpy(), X * 3, rtol=1e-6)
    np.testing.assert_allclose(o2.asnumpy(), X * 2, rtol=1e-6)
    np.testing.assert_allclose(s.asnumpy(), (X * 2).sum(axis=0), rtol=1e-5, atol=1e-6)


def _loop(F, x):
    cond = lambda i, s: i < 3  # noqa: E731
    func = lambda i, s: ([s * 2], [i + 1, s + x])  # noqa: E731
    return F.contrib.while_loop(cond, func, [F.zeros((1,)) if F is mx.nd else F.var("i"), x], max_iterations=5)


def test_nd_while_loop_forward_and_autograd():
    x = mx.nd.array(S0)
    x.attach_grad()
    with mx.autograd.record():
        (outs,), (i, s) = _loop(mx.nd, x)
        loss = outs[:3].sum() + s.sum()
    loss.backward()
    assert outs.shape == (5, 2, 3)
    assert i.asscalar() == 3
    # s runs through x, 2x, 3x (each step's output is 2s), ending at 4x.
    np.testing.assert_allclose(outs.asnumpy()[:3], [2 * S0, 4 * S0, 6 * S0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s.asnumpy(), 4 * S0, rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), np.full(S0.shape, 2 + 4 + 6 + 4.0), rtol=1e-6)


def test_nd_while_loop_needs_max_iterations():
    with pytest.raises(ValueError):
        mx.nd.contrib.while_loop(lambda x: x < 1, lambda x: ([], [x]), [mx.nd.zeros((1,))])


def test_nd_cond_and_autograd():
    a, b = mx.nd.array([2.0]), mx.nd.array([5.0])
    a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.contrib.cond(a < b, lambda: a * a, lambda: a + b)
    y.backward()
    assert y.asscalar() == 4.0 and a.grad.asscalar() == 4.0
    z = mx.nd.contrib.cond(a > b, lambda: [a * b], lambda: [a - b])
    assert z[0].asscalar() == -3.0


def test_sym_foreach_matches_nd():
    x = mx.sym.var("x", shape=X.shape)
    s0 = mx.sym.var("s0", shape=S0.shape)
    outs, states = mx.sym.contrib.foreach(_body, x, [s0])
    net = mx.sym.Group([outs, states[0]])
    args = {"x": mx.nd.array(X), "s0": mx.nd.array(S0)}
    grads = {"x": mx.nd.zeros(X.shape), "s0": mx.nd.zeros(S0.shape)}
    exe = net.bind(mx.cpu(), args, args_grad=grads)
    y = exe.forward(is_train=True)
    want_outs, want_s = _numpy_foreach()
    np.testing.assert_allclose(y[0].asnumpy(), want_outs, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[1].asnumpy(), want_s, rtol=1e-6, atol=1e-6)
    exe.backward([mx.nd.array(HEAD), mx.nd.ones(S0.shape)])
    want_gx, want_gs = _numpy_foreach_grads()
    np.testing.assert_allclose(grads["x"].asnumpy(), want_gx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["s0"].asnumpy(), want_gs, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(IS_MXNET, reason="MXNet builds a subgraph op and needs no shape")
def test_sym_foreach_needs_a_known_length():
    with pytest.raises(mx.base.MXNetError, match="foreach"):
        mx.sym.contrib.foreach(_body, mx.sym.var("x"), [mx.sym.var("s")])


def test_sym_while_loop_matches_nd():
    i, x = mx.sym.var("i"), mx.sym.var("x")
    cond = lambda i, s: i < 3  # noqa: E731
    func = lambda i, s: ([s * 2], [i + 1, s + x])  # noqa: E731
    (outs,), (i_end, s_end) = mx.sym.contrib.while_loop(cond, func, [i, x], max_iterations=5)
    net = mx.sym.Group([outs, i_end, s_end])
    gx = mx.nd.zeros(S0.shape)
    # MXNet 1.9.1's _while_loop backward fails its storage-type check: bind it without gradients.
    req = {"i": "null", "x": "null" if IS_MXNET else "write"}
    exe = net.bind(mx.cpu(), {"i": mx.nd.zeros((1,)), "x": mx.nd.array(S0)}, args_grad={"x": gx}, grad_req=req)
    y = exe.forward(is_train=True)
    assert y[0].shape == (5, 2, 3)
    np.testing.assert_allclose(y[0].asnumpy()[:3], [2 * S0, 4 * S0, 6 * S0], rtol=1e-6, atol=1e-6)
    assert y[1].asscalar() == 3
    np.testing.assert_allclose(y[2].asnumpy(), 4 * S0, rtol=1e-6)
    if IS_MXNET:
        return
    head = np.zeros((5, 2, 3), np.float32)
    head[:3] = 1
    exe.backward([mx.nd.array(head), mx.nd.zeros((1,)), mx.nd.ones(S0.shape)])
    np.testing.assert_allclose(gx.asnumpy(), np.full(S0.shape, 16.0), rtol=1e-6)


def test_sym_cond_selects_a_branch():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    y = mx.sym.contrib.cond(a < b, lambda: a * b, lambda: a - b)
    for av, bv, want, ga in ((2.0, 5.0, 10.0, 5.0), (6.0, 5.0, 1.0, 1.0)):
        g = mx.nd.zeros((1,))
        exe = y.bind(
            mx.cpu(),
            {"a": mx.nd.array([av]), "b": mx.nd.array([bv])},
            args_grad={"a": g},
            grad_req={"a": "write", "b": "null"},
        )
        assert exe.forward(is_train=True)[0].asscalar() == want
        exe.backward([mx.nd.ones((1,))])
        assert g.asscalar() == ga
