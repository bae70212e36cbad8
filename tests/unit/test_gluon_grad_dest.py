"""Hybridized blocks write parameter gradients straight into ``.grad`` where the tape allows it.

The tape hands a hybridized call the gradient buffer of each parameter that gets its whole
gradient from that call with ``grad_req='write'``. Every other case (a parameter also used
outside the block, a block called twice, ``grad_req='add'``, ``autograd.grad``, a second
backward with ``retain_graph``) must give the same gradients as the imperative block.
"""

import numpy as np
import pytest
from _target import mx

gluon = mx.gluon
nn = gluon.nn
autograd = pytest.importorskip(mx.__name__ + ".autograd")


def make(hybridize, grad_req="write"):
    net = nn.HybridSequential()
    net.add(nn.Dense(5, in_units=4, activation="tanh"), nn.Dense(3, in_units=5))
    net.initialize(mx.init.Uniform(0.5))
    rs = np.random.RandomState(3)
    for p in net.collect_params().values():
        p.set_data(mx.nd.array(rs.uniform(-1, 1, p.shape)))
        p.grad_req = grad_req
    if hybridize:
        net.hybridize()
    return net


def inputs():
    rs = np.random.RandomState(4)
    return mx.nd.array(rs.uniform(-1, 1, (6, 4))), mx.nd.array(rs.uniform(-1, 1, (6, 4)))


def grads(net):
    """Gradients by position (the two nets' parameter names differ by their prefixes)."""
    return {i: p.grad().asnumpy().copy() for i, p in enumerate(net.collect_params().values())}


def run_both(body, grad_req="write", steps=1):
    """``body(net, x, x2)`` run with the imperative and the hybridized block: their gradients."""
    out = []
    for hybridize in (False, True):
        net = make(hybridize, grad_req)
        x, x2 = inputs()
        for _ in range(steps):
            body(net, x, x2)
        out.append((grads(net), net))
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=f"parameter {k}")


def test_sole_use_is_written_directly_and_matches_imperative():
    def body(net, x, _):
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()

    (g_imp, _), (g_hyb, net) = run_both(body, steps=2)
    assert_same(g_imp, g_hyb)
    # The executor made no gradient buffer of its own for the parameters.
    entry = next(e for k, pool in net._cached_op._entries.items() if k[2] is not None for e in pool)
    names = entry.exe._symbol.list_arguments()
    assert all(entry.own[i] is None for i, n in enumerate(names) if n != "data")


def test_parameter_also_used_outside_the_block_sums_both_gradients():
    def body(net, x, _):
        with autograd.record():
            w = net[0].weight.data()
            loss = (net(x) ** 2).sum() + (w * w).sum() * 3
        loss.backward()

    (g_imp, _), (g_hyb, _) = run_both(body, steps=2)
    assert_same(g_imp, g_hyb)


def test_block_called_twice_in_one_recording_sums_both_calls():
    def body(net, x, x2):
        with autograd.record():
            loss = (net(x) * net(x2)).sum()
        loss.backward()

    (g_imp, _), (g_hyb, _) = run_both(body, steps=2)
    assert_same(g_imp, g_hyb)


def test_grad_req_add_accumulates_over_backward_passes():
    def body(net, x, _):
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()

    (g_imp, _), (g_hyb, _) = run_both(body, grad_req="add", steps=3)
    assert_same(g_imp, g_hyb)
    (g_one, _), _ = run_both(body, grad_req="add", steps=1)
    for k in g_one:
        np.testing.assert_allclose(g_imp[k], 3 * g_one[k], rtol=1e-5, atol=1e-6)


def test_retain_graph_second_backward_writes_the_same_gradients():
    def body(net, x, _):
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward(retain_graph=True)
        loss.backward()

    (g_imp, _), (g_hyb, _) = run_both(body)
    assert_same(g_imp, g_hyb)


def test_autograd_grad_leaves_grad_buffers_alone_then_direct_writes_resume():
    results = []
    for hybridize in (False, True):
        net = make(hybridize)
        x, _ = inputs()
        w = net[0].weight
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        before = grads(net)
        with autograd.record():
            loss = (net(x) ** 3).sum()
        (gw,) = autograd.grad(loss, [w.data()])
        assert_same(before, grads(net))
        gw = gw.asnumpy().copy()
        # The returned gradient is the caller's: a later backward must not change it.
        with autograd.record():
            loss = (net(x) * 5).sum()
        loss.backward()
        results.append((gw, grads(net)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    assert_same(results[0][1], results[1][1])


def test_input_variable_gradient_matches_imperative():
    got = []
    for hybridize in (False, True):
        net = make(hybridize)
        x, _ = inputs()
        x.attach_grad()
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        got.append(x.grad.asnumpy().copy())
    np.testing.assert_allclose(got[0], got[1], rtol=1e-5, atol=1e-6)
