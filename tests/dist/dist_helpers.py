"""Helpers the distributed test scripts share; servers unpickle ``FailingSGD`` from here."""

import mxrs as mx


class FailingSGD(mx.optimizer.SGD):
    """An optimizer whose update raises, to test a server's updater failing."""

    def update(self, index, weight, grad, state):
        raise ValueError("update refused on purpose")

    update_multi_precision = update
