"""``mx.gluon.contrib``: MXNet 1.9.1's extra Gluon layers (``nn``), cells (``rnn``), samplers and
text datasets (``data``) and the ``estimator`` training loop. MXNet's ``cnn`` (deformable
convolutions) is not implemented."""

from mxrs.gluon.contrib import data, estimator, nn, rnn

__all__ = ["nn", "rnn", "data", "estimator"]
