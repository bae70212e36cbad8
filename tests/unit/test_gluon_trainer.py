"""gluon.Trainer and training with autograd: MXNet 1.9.1's values, imperative == hybridized."""

import gc
from pathlib import Path

import numpy as np
import pytest
from _target import mx

gluon = mx.gluon
nn = gluon.nn
autograd = pytest.importorskip(mx.__name__ + ".autograd")
DATA = Path(__file__).resolve().parents[1] / "data" / "gluon"
GOLDEN = mx.nd.load(str(DATA / "golden.params"))


def rnd(shape, seed, scale=1.0):
    """tools/golden/gluon.py's ``arr``."""
    return mx.nd.array(np.random.RandomState(seed).uniform(-1, 1, size=shape) * scale, dtype="float32")


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=rtol, atol=atol)


def nested_net():
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Dense(5, activation="relu"))
        net.add(nn.BatchNorm())
        inner = nn.HybridSequential()
        with inner.name_scope():
            inner.add(nn.Dense(4, activation="tanh"), nn.Dense(3))
        net.add(inner)
    return net


def dense_for_trainer():
    d = nn.Dense(2, in_units=6)
    d.initialize()
    d.weight.set_data(rnd((2, 6), 10))
    d.bias.set_data(rnd((2,), 11))
    return d


@pytest.mark.parametrize("hybridize", [False, True])
def test_training_forward_backward_matches_mxnet(hybridize):
    net = nested_net()
    net.load_parameters(str(DATA / "net.params"))
    if hybridize:
        net.hybridize()
    x = GOLDEN["x"]
    with autograd.record():
        y = net(x)
        loss = (y * y).sum()
    loss.backward()
    close(y, GOLDEN["net_train"], rtol=1e-4, atol=1e-5)
    for k, p in net._collect_params_with_prefix().items():
        if p.grad_req != "null":
            close(p.grad(), GOLDEN[f"net_grad:{k}"], rtol=1e-4, atol=1e-5)
        else:
            close(p.data(), GOLDEN[f"net_after:{k}"], rtol=1e-4, atol=1e-5)


def test_hybridized_data_gradient_and_two_calls_in_one_recording():
    net = nested_net()
    net.load_parameters(str(DATA / "net.params"))
    x = GOLDEN["x"].copy()
    x.attach_grad()
    with autograd.record():
        loss = (net(x) * 2).sum() + net(x * 0.5).sum()
    loss.backward()
    ref_x = x.grad.copy()
    ref_w = net[0].weight.grad().copy()
    net2 = nested_net()
    net2.load_parameters(str(DATA / "net.params"))
    net2.hybridize()
    x2 = GOLDEN["x"].copy()
    x2.attach_grad()
    with autograd.record():
        loss2 = (net2(x2) * 2).sum() + net2(x2 * 0.5).sum()
    loss2.backward()
    close(loss2, loss, rtol=1e-4)
    close(x2.grad, ref_x, rtol=1e-4, atol=1e-5)
    close(net2[0].weight.grad(), ref_w, rtol=1e-4, atol=1e-5)


def test_trainer_sgd_momentum_wd_matches_mxnet():
    net = dense_for_trainer()
    tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01})
    assert tr.learning_rate == 0.1
    for _ in range(3):
        with autograd.record():
            out = net(GOLDEN["x"])
            loss = (out * out).sum()
        loss.backward()
        tr.step(4)
    close(net.weight.data(), GOLDEN["trainer_sgd_weight"], rtol=1e-5)
    close(net.bias.data(), GOLDEN["trainer_sgd_bias"], rtol=1e-5)


def test_trainer_optimizer_object_adam_matches_mxnet():
    net = dense_for_trainer()
    tr = gluon.Trainer(net.collect_params(), mx.optimizer.Adam(learning_rate=0.05))
    for _ in range(3):
        with autograd.record():
            out = net(GOLDEN["x"])
            loss = (out * out).sum()
        loss.backward()
        tr.step(2)
    close(net.weight.data(), GOLDEN["trainer_adam_weight"], rtol=1e-5)
    with pytest.raises(AssertionError, match="optimizer_params must be None"):
        gluon.Trainer(net.collect_params(), mx.optimizer.Adam(), {"learning_rate": 1.0})


def test_trainer_learning_rate_states_roundtrip(tmp_path):
    net = dense_for_trainer()
    tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5, "momentum": 0.9})
    tr.set_learning_rate(0.2)
    assert tr.learning_rate == 0.2
    with autograd.record():
        loss = net(GOLDEN["x"]).sum()
    loss.backward()
    tr.step(1)
    f = str(tmp_path / "t.states")
    tr.save_states(f)
    tr2 = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5, "momentum": 0.9})
    tr2.load_states(f)
    assert tr2.learning_rate == 0.2
    state = tr2._updaters[0].states[tr2._param2idx[net.weight.name]]
    assert state is not None and state.shape == (2, 6)


def test_trainer_stale_grad_and_update_allreduce():
    net = dense_for_trainer()
    extra = gluon.Parameter("unused", shape=(2,))
    extra.initialize()
    params = list(net.collect_params().values()) + [extra]
    tr = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = net(GOLDEN["x"]).sum()
    loss.backward()
    with pytest.raises(UserWarning, match="has not been updated by backward"):
        tr.step(1)
    before = net.weight.data().copy()
    with autograd.record():
        loss = net(GOLDEN["x"]).sum()
    loss.backward()
    tr.allreduce_grads()
    tr.update(1, ignore_stale_grad=True)
    assert not np.allclose(before.asnumpy(), net.weight.data().asnumpy())


@pytest.mark.parametrize("update_on_kvstore", [None, False])
def test_trainer_multi_context_kvstore(update_on_kvstore):
    ctxs = [mx.cpu(0), mx.cpu(1)]
    single = dense_for_trainer()
    multi = nn.Dense(2, in_units=6)
    multi.initialize(ctx=ctxs)
    multi.weight.set_data(rnd((2, 6), 10))
    multi.bias.set_data(rnd((2,), 11))
    t1 = gluon.Trainer(single.collect_params(), "sgd", {"learning_rate": 0.1})
    t2 = gluon.Trainer(
        multi.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="device", update_on_kvstore=update_on_kvstore
    )
    x = GOLDEN["x"]
    with autograd.record():
        loss = (single(x) ** 2).sum()
    loss.backward()
    t1.step(4)
    parts = gluon.utils.split_and_load(x, ctxs)
    with autograd.record():
        losses = [(multi(p) ** 2).sum() for p in parts]
    for lo in losses:
        lo.backward()
    if update_on_kvstore is False:
        t2.allreduce_grads()
        for c in ctxs:
            close(multi.weight.grad(c), single.weight.grad(), rtol=1e-5)
        t2.update(4)
    else:
        t2.step(4)
        with pytest.raises(AssertionError, match="not supported"):
            t2.allreduce_grads()
    assert t2._kvstore is not None
    for c in ctxs:
        close(multi.weight.data(c), single.weight.data(), rtol=1e-5)


def _separable(n=256, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 2).astype(np.float32)
    y = ((x[:, 0] + x[:, 1]) > 0).astype(np.float32)
    return mx.nd.array(x), mx.nd.array(y)


@pytest.mark.parametrize("hybridize", [False, True])
def test_mlp_learns_separable_set(hybridize):
    mx.random.seed(1)
    x, y = _separable()
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, activation="relu"), nn.Dense(2))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    for _ in range(30):
        for i in range(0, 256, 64):
            xb, yb = x[i : i + 64], y[i : i + 64]
            with autograd.record():
                out = net(xb)
                loss = -mx.nd.pick(mx.nd.log_softmax(out), yb).sum()
            loss.backward()
            tr.step(64)
    acc = (net(x).argmax(axis=1) == y).mean().asscalar()
    assert acc > 0.95


def test_imperative_and_hybridized_training_agree():
    x, y = _separable(64, 3)

    def run(hybridize):
        net = nn.HybridSequential(prefix="m_")
        with net.name_scope():
            net.add(nn.Dense(8, activation="tanh", in_units=2), nn.Dense(2, in_units=8))
        net.initialize(mx.init.Constant(0.1))
        net[0].weight.set_data(rnd((8, 2), 20))
        net[1].weight.set_data(rnd((2, 8), 21))
        if hybridize:
            net.hybridize()
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.3, "momentum": 0.5})
        for _ in range(5):
            with autograd.record():
                loss = -mx.nd.pick(mx.nd.log_softmax(net(x)), y).sum()
            loss.backward()
            tr.step(64)
        return [p.data().asnumpy() for p in net.collect_params().values()]

    for a, b in zip(run(False), run(True)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(mx.__name__ != "mxrs", reason="mxrs's executor cache")
def test_hybridized_call_is_one_node_run_by_the_executor():
    net = nested_net()
    net.load_parameters(str(DATA / "net.params"))
    net.hybridize()
    x = GOLDEN["x"]
    for _ in range(4):
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
    gc.collect()
    pools = [p for key, p in net._cached_op._entries.items() if key[2] is not None]
    assert len(pools) == 1
    pool = pools[0]
    # iterations reuse executors once the tape lets go of them; no pool growth per step
    assert 1 <= len(pool) <= 2
    del loss
    gc.collect()
    assert not any(e.busy for e in pool)
    # the executor's backward wrote the parameters' gradients into their .grad arrays: it
    # made no gradient buffer of its own for them
    entry = pool[-1]
    own = dict(zip(entry.exe._symbol.list_arguments(), entry.own))
    assert own["net_dense0_weight"] is None and own["data"] is not None
    # a frozen parameter gets no gradient in the recording executor
    net[0].weight.grad_req = "null"
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    key = next(k for k in net._cached_op._entries if k[2] is not None and not all(k[2]))
    entry = net._cached_op._entries[key][0]
    grads = dict(zip(entry.exe._symbol.list_arguments(), entry.grads))
    assert not grads["net_dense0_weight"] and grads["net_dense0_bias"]


@pytest.mark.parametrize("hybridize", [False, True])
def test_grad_req_add_accumulates_and_lr_mult(hybridize):
    net = dense_for_trainer()
    if hybridize:
        net.hybridize()
    x = GOLDEN["x"]
    with autograd.record():
        loss = net(x).sum()
    loss.backward()
    once = net.weight.grad().copy()
    net.collect_params().setattr("grad_req", "add")
    net.collect_params().zero_grad()
    for _ in range(2):
        with autograd.record():
            loss = net(x).sum()
        loss.backward()
    close(net.weight.grad(), once * 2)
    # lr_mult 0 freezes a parameter; the other one moves.
    net.collect_params().setattr("grad_req", "write")
    net.weight.lr_mult = 0.0
    tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    w0, b0 = net.weight.data().copy(), net.bias.data().copy()
    with autograd.record():
        loss = net(x).sum()
    loss.backward()
    tr.step(1)
    close(net.weight.data(), w0)
    assert not np.allclose(net.bias.data().asnumpy(), b0.asnumpy())
