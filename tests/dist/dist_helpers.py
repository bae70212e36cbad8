"""Helpers the distributed test scripts share; servers unpickle ``FailingSGD`` from here."""

import mxrs as mx
import numpy as np


class FailingSGD(mx.optimizer.SGD):
    """An optimizer whose update raises, to test a server's updater failing."""

    def update(self, index, weight, grad, state):
        raise ValueError("update refused on purpose")

    update_multi_precision = update


def fit_data(w, b=4, nb=3):
    """The global data set; batch i of a single process is the union of the workers' batches i."""
    rng = np.random.RandomState(7)
    x = rng.uniform(-1, 1, (w * b * nb, 5)).astype("float32")
    y = rng.randint(0, 3, (w * b * nb,)).astype("float32")
    w0 = rng.uniform(-0.5, 0.5, (3, 5)).astype("float32")
    return x, y, {"fc_weight": w0, "fc_bias": np.zeros((3,), "float32")}


def fit_net():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax")


def gluon_train(x, y, init, kvstore, update_on_kvstore, rows=None, b=4, w=1, nb=3):
    """Train a Dense layer with a Gluon Trainer (SGD with momentum) for `nb` steps of the
    global batch (`w * b` rows); a worker passes `rows` (its slice of each global batch) and
    its dist store. Returns the weights as lists."""
    net = mx.gluon.nn.Dense(3, in_units=5)
    net.initialize()
    net.weight.set_data(mx.nd.array(init["fc_weight"]))
    net.bias.set_data(mx.nd.array(init["fc_bias"]))
    trainer = mx.gluon.Trainer(
        net.collect_params(),
        "sgd",
        {"learning_rate": 0.5, "momentum": 0.9},
        kvstore=kvstore,
        update_on_kvstore=update_on_kvstore,
    )
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    for i in range(nb):
        lo, hi = i * w * b, (i + 1) * w * b
        if rows is not None:
            lo, hi = lo + rows[0], lo + rows[1]
        with mx.autograd.record():
            loss = loss_fn(net(mx.nd.array(x[lo:hi])), mx.nd.array(y[lo:hi]))
        loss.backward()
        trainer.step(w * b)  # the global batch: the summed gradients cover every worker's rows
    return {"fc_weight": net.weight.data().asnumpy().tolist(), "fc_bias": net.bias.data().asnumpy().tolist()}
