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
