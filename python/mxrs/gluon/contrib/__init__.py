"""``mx.gluon.contrib``: MXNet 1.9.1's extra Gluon layers (``nn``), cells (``rnn``) and samplers
(``data``). MXNet's ``cnn`` (deformable convolutions) and ``estimator`` are not implemented."""

from mxrs.gluon.contrib import data, nn, rnn

__all__ = ["nn", "rnn", "data"]
