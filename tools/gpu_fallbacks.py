"""Which ops run on the GPU through host memory (no device kernel) in a Gluon MLP and a LeNet
training step, and a Module fit: prints the counts of `mx._native.gpu_host_fallbacks()`."""

import mxrs as mx
import numpy as np
from mxrs import autograd, gluon

ctx = mx.gpu(0)


def step(net, x, y, trainer, lf):
    with autograd.record():
        loss = lf(net(x), y)
    loss.backward()
    trainer.step(x.shape[0])
    return loss


for name, shape in (("mlp", (64, 784)), ("lenet", (64, 1, 28, 28))):
    net = gluon.nn.HybridSequential()
    if name == "mlp":
        net.add(gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(10))
    else:
        net.add(
            gluon.nn.Conv2D(20, 5, activation="relu"),
            gluon.nn.MaxPool2D(2, 2),
            gluon.nn.Conv2D(50, 5, activation="relu"),
            gluon.nn.MaxPool2D(2, 2),
            gluon.nn.Dense(500, activation="relu"),
            gluon.nn.Dense(10),
        )
    net.initialize(mx.init.Xavier(), ctx=ctx)
    for hybrid in (False, True):
        if hybrid:
            net.hybridize()
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
        lf = gluon.loss.SoftmaxCrossEntropyLoss()
        x = mx.nd.random.uniform(shape=shape, ctx=ctx)
        y = mx.nd.array(np.arange(shape[0]) % 10, ctx=ctx)
        step(net, x, y, tr, lf)
        mx.nd.waitall()
        mx._native.gpu_host_fallbacks(reset=True)
        step(net, x, y, tr, lf).wait_to_read()
        print(f"{name} hybridize={hybrid}: host fallbacks per step {mx._native.gpu_host_fallbacks(reset=True)}")
