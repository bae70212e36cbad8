"""Contrib recurrent cells of ``mx.gluon.contrib.rnn``."""

from mxrs.gluon.contrib.rnn.rnn_cell import LSTMPCell, VariationalDropoutCell

__all__ = ["VariationalDropoutCell", "LSTMPCell"]
