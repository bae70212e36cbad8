"""Chapter 8 (computational performance): multiple-gpus, multiple-gpus-gluon, with two CPU
contexts standing for the book's two GPUs."""

import time

import mxnet as mx
import pytest
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import loss as gloss
from mxnet.gluon import nn
from mxnet.gluon import utils as gutils

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)


DEVICES = [mx.cpu(0), mx.cpu(1)]

mx.random.seed(0)  # the parameters below are drawn at import, before the per-test seed
scale = 0.1  # the book draws at 0.01; on 2000 samples that stays on the initial plateau for epochs
W1 = nd.random.normal(scale=scale, shape=(20, 1, 3, 3))
b1 = nd.zeros(shape=20)
W2 = nd.random.normal(scale=scale, shape=(50, 20, 5, 5))
b2 = nd.zeros(shape=50)
W3 = nd.random.normal(scale=scale, shape=(800, 128))
b3 = nd.zeros(shape=128)
W4 = nd.random.normal(scale=scale, shape=(128, 10))
b4 = nd.zeros(shape=10)
params = [W1, b1, W2, b2, W3, b3, W4, b4]


def lenet(X, params):
    h1_conv = nd.Convolution(data=X, weight=params[0], bias=params[1], kernel=(3, 3), num_filter=20)
    h1_activation = nd.relu(h1_conv)
    h1 = nd.Pooling(data=h1_activation, pool_type="avg", kernel=(2, 2), stride=(2, 2))
    h2_conv = nd.Convolution(data=h1, weight=params[2], bias=params[3], kernel=(5, 5), num_filter=50)
    h2_activation = nd.relu(h2_conv)
    h2 = nd.Pooling(data=h2_activation, pool_type="avg", kernel=(2, 2), stride=(2, 2))
    h2 = nd.flatten(h2)
    h3_linear = nd.dot(h2, params[4]) + params[5]
    h3 = nd.relu(h3_linear)
    return nd.dot(h3, params[6]) + params[7]


loss = gloss.SoftmaxCrossEntropyLoss()


def get_params(params, ctx):
    new_params = [p.copyto(ctx) for p in params]
    for p in new_params:
        p.attach_grad()
    return new_params


def allreduce(data):
    for i in range(1, len(data)):
        data[0][:] += data[i].copyto(data[0].context)
    for i in range(1, len(data)):
        data[0].copyto(data[i])


def split_and_load(data, ctx):
    n, k = data.shape[0], len(ctx)
    m = n // k
    assert m * k == n, "# examples is not divided by # devices."
    return [data[i * m : (i + 1) * m].as_in_context(ctx[i]) for i in range(k)]


def train_batch(X, y, gpu_params, ctx, lr):
    gpu_Xs, gpu_ys = split_and_load(X, ctx), split_and_load(y, ctx)
    with autograd.record():
        ls = [loss(lenet(gpu_X, gpu_W), gpu_y) for gpu_X, gpu_y, gpu_W in zip(gpu_Xs, gpu_ys, gpu_params)]
    for batch_loss in ls:
        batch_loss.backward()
    for i in range(len(gpu_params[0])):
        allreduce([gpu_params[c][i].grad for c in range(len(ctx))])
    for param in gpu_params:
        d2l.sgd(param, lr, X.shape[0])


def test_multiple_gpus():
    new_params = get_params(params, DEVICES[1])
    assert new_params[1].context == DEVICES[1] and new_params[1].grad.context == DEVICES[1]
    data = [nd.ones((1, 2), ctx=c) * (i + 1) for i, c in enumerate(DEVICES)]
    allreduce(data)
    assert [d.asnumpy().tolist() for d in data] == [[[3, 3]], [[3, 3]]]
    batch = nd.arange(24).reshape((6, 4))
    splitted = split_and_load(batch, DEVICES)
    assert splitted[1].context == DEVICES[1] and splitted[1].shape == (3, 4)

    def train(num_gpus, batch_size, lr, num_epochs=4):
        train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
        ctx = DEVICES[:num_gpus]
        gpu_params = [get_params(params, c) for c in ctx]
        for epoch in range(num_epochs):
            start = time.time()
            for X, y in train_iter:
                train_batch(X, y, gpu_params, ctx, lr)
                nd.waitall()
            train_time = time.time() - start

            def net(x):
                return lenet(x, gpu_params[0])

            test_acc = d2l.evaluate_accuracy(test_iter, net, ctx[0])
            print(f"epoch {epoch + 1}, time {train_time:.1f} sec, test acc {test_acc:.2f}")
        return test_acc

    assert train(num_gpus=1, batch_size=32, lr=0.2, num_epochs=3) > 0.5
    assert train(num_gpus=2, batch_size=32, lr=0.2, num_epochs=3) > 0.5


def resnet18(num_classes, width=64):
    """d2l.resnet18 with ``width`` channels in its first block (the book's is 64)."""

    def resnet_block(num_channels, num_residuals, first_block=False):
        blk = nn.Sequential()
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.add(d2l.Residual(num_channels, use_1x1conv=True, strides=2))
            else:
                blk.add(d2l.Residual(num_channels))
        return blk

    net = nn.Sequential()
    net.add(nn.Conv2D(width, kernel_size=3, strides=1, padding=1), nn.BatchNorm(), nn.Activation("relu"))
    net.add(
        resnet_block(width, 2, first_block=True),
        resnet_block(width * 2, 2),
        resnet_block(width * 4, 2),
        resnet_block(width * 8, 2),
    )
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net


def test_multiple_gpus_gluon():
    net = d2l.resnet18(10)
    ctx = DEVICES
    net.initialize(init=init.Normal(sigma=0.01), ctx=ctx)
    x = nd.random.uniform(shape=(4, 1, 28, 28))
    gpu_x = gutils.split_and_load(x, ctx)
    assert net(gpu_x[0]).shape == (2, 10) and net(gpu_x[1]).context == ctx[1]
    weight = net[0].params.get("weight")
    try:
        weight.data()
    except RuntimeError:
        print("not initialized on", mx.cpu())
    assert weight.data(ctx[0])[0].shape == (1, 3, 3)

    def train(num_gpus, batch_size, lr, num_epochs=4):
        train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
        ctx = DEVICES[:num_gpus]
        print("running on:", ctx)
        net = resnet18(10, width=4)
        net.initialize(init=init.Normal(sigma=0.01), ctx=ctx, force_reinit=True)
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
        best = 0.0
        for epoch in range(num_epochs):
            start = time.time()
            loss_sum, n = 0.0, 0
            for X, y in train_iter:
                gpu_Xs = gutils.split_and_load(X, ctx)
                gpu_ys = gutils.split_and_load(y, ctx)
                with autograd.record():
                    ls = [loss(net(gpu_X), gpu_y) for gpu_X, gpu_y in zip(gpu_Xs, gpu_ys)]
                for batch_loss in ls:
                    batch_loss.backward()
                trainer.step(batch_size)
                loss_sum += sum(batch_loss.sum().asscalar() for batch_loss in ls)
                n += X.shape[0]
            nd.waitall()
            train_time = time.time() - start
            test_acc = d2l.evaluate_accuracy(test_iter, net, ctx[0])
            best = max(best, test_acc)
            print(f"epoch {epoch + 1}, time {train_time:.1f} sec, loss {loss_sum / n:.3f}, test acc {test_acc:.2f}")
        # The best epoch: this ResNet's test accuracy (its BatchNorm layers' running statistics)
        # swings between epochs (0.39, 0.22, 0.99 in one run) on 2000 samples, so the last epoch
        # alone makes a flaky bar, and 3 epochs left the best of them at 0.31 in 2 of 8 suite
        # runs. Over 4 epochs, 12 runs gave a best of 0.65-1.00 and a last training loss of
        # 0.02-0.48 (from 1.6-2.0 in the first epoch): the training loss is the steadier measure.
        return best, loss_sum / n

    for num_gpus in (1, 2):
        best, last_loss = train(num_gpus=num_gpus, batch_size=32, lr=0.1)
        assert best > 0.4 and last_loss < 1.0, (num_gpus, best, last_loss)
