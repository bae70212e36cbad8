"""Chapter 8 (computational performance): hybridize, async-computation, auto-parallelism,
multiple-gpus, multiple-gpus-gluon.

Without GPUs the "devices" are two CPU contexts, ``mx.cpu(0)`` and ``mx.cpu(1)`` (separate
engine queues in mxrs, as in MXNet), where the book uses ``mx.gpu(0)`` and ``mx.gpu(1)``.
"""

import os
import subprocess
import time

import mxnet as mx
import pytest
from mxnet import autograd, gluon, nd
from mxnet.gluon import loss as gloss
from mxnet.gluon import nn

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)


def get_net():
    net = nn.HybridSequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"), nn.Dense(2))
    net.initialize()
    return net


def benchmark(net, x):
    start = time.time()
    for _ in range(100):
        _ = net(x)
    nd.waitall()
    return time.time() - start


class HybridNet(nn.HybridBlock):
    def __init__(self, **kwargs):
        super(HybridNet, self).__init__(**kwargs)
        self.hidden = nn.Dense(10)
        self.output = nn.Dense(2)

    def hybrid_forward(self, F, x):
        print("F: ", F)
        print("x: ", x)
        x = F.relu(self.hidden(x))
        print("hidden: ", x)
        return self.output(x)


def test_hybridize(capsys):
    x = nd.random.normal(shape=(1, 512))
    net = get_net()
    imperative = net(x)
    net.hybridize()
    hybrid = net(x)
    assert (imperative - hybrid).abs().max().asscalar() < 1e-5
    print(f"before hybridizing: {benchmark(get_net(), x):.4f} sec")
    net2 = get_net()
    net2.hybridize()
    print(f"after hybridizing: {benchmark(net2, x):.4f} sec")
    net.export("my_mlp")
    assert os.path.exists("my_mlp-symbol.json") and os.path.exists("my_mlp-0000.params")
    x = mx.sym.var("data")
    assert isinstance(net(x), mx.sym.Symbol)
    capsys.readouterr()
    net = HybridNet()
    net.initialize()
    x = nd.random.normal(shape=(1, 4))
    y1 = net(x)
    assert "NDArray" in capsys.readouterr().out
    net.hybridize()
    y2 = net(x)
    assert "Symbol" in capsys.readouterr().out
    net(x)
    assert capsys.readouterr().out == ""  # the traced graph runs without calling hybrid_forward
    assert (y1 - y2).abs().max().asscalar() < 1e-6


def test_async_computation():
    a = nd.ones((1, 2))
    b = nd.ones((1, 2))
    c = a * b + 2
    assert c.asnumpy().tolist() == [[3, 3]]
    with d2l.Benchmark("workloads are queued."):
        x = nd.random.uniform(shape=(500, 500))
        y = nd.dot(x, x).sum()
    with d2l.Benchmark("workloads are finished."):
        print(f"sum = {y}")
    with d2l.Benchmark():
        y = nd.dot(x, x)
        y.wait_to_read()
    with d2l.Benchmark():
        y = nd.dot(x, x)
        z = nd.dot(x, x)
        nd.waitall()
    assert y.shape == z.shape
    with d2l.Benchmark():
        y = nd.dot(x, x)
        y.asnumpy()
    with d2l.Benchmark():
        y = nd.dot(x, x)
        y.norm().asscalar()

    def data_iter():
        start = time.time()
        num_batches, batch_size = 20, 256
        for i in range(num_batches):
            X = nd.random.normal(shape=(batch_size, 512))
            y = nd.ones((batch_size,))
            yield X, y
            if (i + 1) % 10 == 0:
                print(f"batch {i + 1}, time {time.time() - start:.4f} sec")

    net = nn.Sequential()
    net.add(nn.Dense(128, activation="relu"), nn.Dense(64, activation="relu"), nn.Dense(1))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.005})
    loss = gloss.L2Loss()

    def get_mem():
        res = subprocess.check_output(["ps", "u", "-p", str(os.getpid())])
        return int(str(res).split()[15]) / 1e3

    X, y = next(data_iter())
    batch_loss = loss(y, net(X))
    batch_loss.wait_to_read()
    mem = get_mem()
    for X, y in data_iter():
        with autograd.record():
            batch_loss = loss(y, net(X))
        batch_loss.backward()
        trainer.step(X.shape[0])
        batch_loss.wait_to_read()
    nd.waitall()
    print(f"increased memory: {get_mem() - mem:f} MB")
    mem = get_mem()
    for X, y in data_iter():
        with autograd.record():
            batch_loss = loss(y, net(X))
        batch_loss.backward()
        trainer.step(X.shape[0])
    nd.waitall()
    print(f"increased memory: {get_mem() - mem:f} MB")
    assert batch_loss.shape == (256,)


def test_auto_parallelism():
    def run(x):
        return [nd.dot(x, x) for _ in range(10)]

    ctx0, ctx1 = mx.cpu(0), mx.cpu(1)
    x_cpu = nd.random.uniform(shape=(300, 300), ctx=ctx0)
    x_gpu = nd.random.uniform(shape=(300, 300), ctx=ctx1)
    run(x_cpu)
    run(x_gpu)
    nd.waitall()
    with d2l.Benchmark("Run on CPU."):
        run(x_cpu)
        nd.waitall()
    with d2l.Benchmark("Then run on the second device."):
        run(x_gpu)
        nd.waitall()
    with d2l.Benchmark("Run on both in parallel."):
        run(x_cpu)
        run(x_gpu)
        nd.waitall()

    def copy_to_cpu(x):
        return [y.copyto(mx.cpu()) for y in x]

    with d2l.Benchmark("Run on the second device."):
        y = run(x_gpu)
        nd.waitall()
    with d2l.Benchmark("Then copy to CPU."):
        y_cpu = copy_to_cpu(y)
        nd.waitall()
    with d2l.Benchmark("Run and copy in parallel."):
        y = run(x_gpu)
        y_cpu = copy_to_cpu(y)
        nd.waitall()
    assert y_cpu[0].context == mx.cpu() and y[0].context == ctx1
