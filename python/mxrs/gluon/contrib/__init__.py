"""``mx.gluon.contrib``: MXNet 1.9.1's extra Gluon layers (``nn``), cells (``rnn``), samplers and
text datasets (``data``), the deformable convolution layers (``cnn``) and the ``estimator``
training loop."""

from mxrs.gluon.contrib import cnn, data, estimator, nn, rnn

__all__ = ["nn", "rnn", "cnn", "data", "estimator"]
