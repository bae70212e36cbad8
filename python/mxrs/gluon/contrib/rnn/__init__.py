"""Contrib recurrent cells of ``mx.gluon.contrib.rnn``."""

from mxrs.gluon.contrib.rnn import conv_rnn_cell, rnn_cell
from mxrs.gluon.contrib.rnn.conv_rnn_cell import (
    Conv1DGRUCell,
    Conv1DLSTMCell,
    Conv1DRNNCell,
    Conv2DGRUCell,
    Conv2DLSTMCell,
    Conv2DRNNCell,
    Conv3DGRUCell,
    Conv3DLSTMCell,
    Conv3DRNNCell,
)
from mxrs.gluon.contrib.rnn.rnn_cell import LSTMPCell, VariationalDropoutCell, dynamic_unroll

__all__ = [
    "Conv1DRNNCell",
    "Conv2DRNNCell",
    "Conv3DRNNCell",
    "Conv1DLSTMCell",
    "Conv2DLSTMCell",
    "Conv3DLSTMCell",
    "Conv1DGRUCell",
    "Conv2DGRUCell",
    "Conv3DGRUCell",
    "VariationalDropoutCell",
    "LSTMPCell",
    "dynamic_unroll",
    "conv_rnn_cell",
    "rnn_cell",
]
