"""Training on the device: Gluon + Trainer, Symbol Module.fit, kvstore 'device'."""

import logging

import numpy as np
import pytest
from _consistency import CPU, assert_close
from _target import mx
from numpy.testing import assert_array_equal


def _blobs(n=512, dim=20, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, dim)) * 3
    label = rng.integers(0, classes, n)
    data = centers[label] + rng.standard_normal((n, dim))
    return data.astype(np.float32), label.astype(np.float32)


def _net(conv=False):
    nn = mx.gluon.nn
    net = nn.HybridSequential()
    if conv:
        net.add(
            nn.Conv2D(4, kernel_size=3, padding=1, activation="relu"),
            nn.MaxPool2D(2),
            nn.BatchNorm(),
            nn.Flatten(),
        )
    net.add(nn.Dense(64, activation="relu"), nn.Dense(32, activation="relu"), nn.Dense(4))
    return net


def _train_gluon(ctx, params, x, y, steps, hybridize, conv, optimizer, opt_args):
    net = _net(conv)
    net.initialize(ctx=ctx)
    if hybridize:
        net.hybridize()
    net(mx.nd.array(x[:2], ctx=ctx))
    for p, value in zip(net.collect_params().values(), params):
        p.set_data(mx.nd.array(value, ctx=ctx))
    trainer = mx.gluon.Trainer(net.collect_params(), optimizer, opt_args)
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    batch = 64
    losses = []
    for step in range(steps):
        lo = (step * batch) % len(x)
        xb = mx.nd.array(x[lo : lo + batch], ctx=ctx)
        yb = mx.nd.array(y[lo : lo + batch], ctx=ctx)
        with mx.autograd.record():
            loss = loss_fn(net(xb), yb)
        loss.backward()
        trainer.step(batch)
        losses.append(float(loss.mean().asscalar()))
    for p in net.collect_params().values():
        assert p.data(ctx).context == ctx
    return np.array(losses), [p.data(ctx).asnumpy() for p in net.collect_params().values()]


@pytest.mark.parametrize(
    "hybridize, conv, optimizer, opt_args",
    [
        (False, False, "sgd", {"learning_rate": 0.1}),
        (True, False, "sgd", {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-4}),
        (True, False, "adam", {"learning_rate": 0.01}),
        (True, True, "sgd", {"learning_rate": 0.05, "momentum": 0.9}),
    ],
    ids=["mlp-sgd", "mlp-hybrid-momentum", "mlp-hybrid-adam", "conv-bn-hybrid"],
)
def test_gluon_training_matches_cpu(dev, hybridize, conv, optimizer, opt_args):
    x, y = _blobs()
    if conv:
        x = x[:, :16].reshape(-1, 1, 4, 4)
    ref = _net(conv)
    ref.initialize(mx.init.Xavier(), ctx=CPU)
    ref(mx.nd.array(x[:2]))
    params = [p.data().asnumpy() for p in ref.collect_params().values()]
    steps = 30
    cpu_losses, cpu_params = _train_gluon(CPU, params, x, y, steps, hybridize, conv, optimizer, opt_args)
    dev_losses, dev_params = _train_gluon(dev, params, x, y, steps, hybridize, conv, optimizer, opt_args)
    assert dev_losses[-5:].mean() < 0.5 * dev_losses[:3].mean(), f"loss did not decrease on {dev}: {dev_losses}"
    assert_close(dev_losses, cpu_losses, 2e-3, 2e-4, f"loss trace on {dev}")
    for k, (d, c) in enumerate(zip(dev_params, cpu_params)):
        assert_close(d, c, 2e-3, 2e-4, f"parameter {k} after {steps} steps on {dev}")


def _symbol_mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data=data, num_hidden=32, name="fc1")
    act = mx.sym.Activation(data=fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(data=act, num_hidden=4, name="fc2")
    return mx.sym.SoftmaxOutput(data=fc2, name="softmax")


def test_module_fit(dev, caplog):
    x, y = _blobs(n=600)
    train = mx.io.NDArrayIter(x[:480], y[:480], 40, shuffle=True)
    val = mx.io.NDArrayIter(x[480:], y[480:], 40)
    mx.random.seed(1)
    np.random.seed(1)
    mod = mx.mod.Module(_symbol_mlp(), context=dev)
    with caplog.at_level(logging.INFO):
        mod.fit(
            train,
            eval_data=val,
            num_epoch=2,
            optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier(),
        )
    ((name, acc),) = mod.score(val, "acc")
    assert name == "accuracy" and acc >= 0.9, acc
    arg_params, _ = mod.get_params()
    assert set(arg_params) == {"fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"}
    assert all(np.isfinite(v.asnumpy()).all() for v in arg_params.values())
    out = mod.predict(val)
    assert out.shape == (120, 4)
    assert any(r.getMessage().startswith("Epoch[1] Validation-accuracy=") for r in caplog.records)


def test_symbol_executor_forward_backward_matches_cpu(dev):
    net = _symbol_mlp()
    x, y = _blobs(n=8)
    rng = np.random.default_rng(0)
    shapes = {"data": (8, 20), "softmax_label": (8,)}
    results = {}
    init = None
    for ctx in (CPU, dev):
        exe = net.simple_bind(ctx, **shapes)
        if init is None:
            init = {k: rng.standard_normal(v.shape).astype(np.float32) * 0.3 for k, v in exe.arg_dict.items()}
            init["data"], init["softmax_label"] = x, y
        for k, v in init.items():
            exe.arg_dict[k][:] = v
        out = exe.forward(is_train=True)[0].asnumpy()
        exe.backward()
        results[ctx] = (out, {k: g.asnumpy() for k, g in exe.grad_dict.items() if g is not None})
    assert_close(results[dev][0], results[CPU][0], 1e-5, 1e-6, "executor output")
    for k, g in results[CPU][1].items():
        assert_close(results[dev][1][k], g, 1e-4, 1e-5, f"executor grad {k}")


def test_kvstore_device_push_pull(dev):
    kv = mx.kv.create("device")
    shape = (3, 4)
    kv.init(0, mx.nd.zeros(shape))
    kv.push(0, mx.nd.ones(shape, ctx=dev) * 3)
    out = mx.nd.zeros(shape, ctx=dev)
    kv.pull(0, out=out)
    assert out.context == dev
    assert_array_equal(out.asnumpy(), np.full(shape, 3, np.float32))
    # several values for one key (all on the device): summed
    kv.push(0, [mx.nd.ones(shape, ctx=dev) * k for k in (1, 2, 4)])
    host = mx.nd.zeros(shape)
    kv.pull(0, out=[out, host])
    assert_array_equal(out.asnumpy(), np.full(shape, 7, np.float32))
    assert_array_equal(host.asnumpy(), np.full(shape, 7, np.float32))
    # with an optimizer: the update runs where the store keeps the value
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5))
    kv.init(1, mx.nd.ones(shape, ctx=dev))
    kv.push(1, mx.nd.ones(shape, ctx=dev))
    kv.pull(1, out=out)
    assert_array_equal(out.asnumpy(), np.full(shape, 0.5, np.float32))


def test_trainer_with_device_kvstore(dev):
    net = mx.gluon.nn.Dense(3)
    net.initialize(mx.init.One(), ctx=dev)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="device")
    x = mx.nd.ones((2, 4), ctx=dev)
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    trainer.step(1)
    w = net.weight.data(dev).asnumpy()
    assert_array_equal(w, np.full((3, 4), 1 - 0.1 * 2, np.float32))
