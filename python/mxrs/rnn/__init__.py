"""``mx.rnn``: MXNet 1.x's symbolic RNN cells, their checkpoint helpers and the bucketing
sentence iterator (the API before Gluon's ``gluon.rnn``)."""

import bisect
import functools
import random
import warnings

import numpy as np

from mxrs import initializer as init
from mxrs import ndarray, symbol
from mxrs._training import load_checkpoint, save_checkpoint
from mxrs.base import numeric_types, string_types
from mxrs.io import DataBatch, DataDesc, DataIter
from mxrs.rnn import conv_cell, fused, io, rnn, rnn_cell
from mxrs.rnn.conv_cell import BaseConvRNNCell, ConvGRUCell, ConvLSTMCell, ConvRNNCell
from mxrs.rnn.fused import FusedRNNCell
from mxrs.rnn.io import BucketSentenceIter, encode_sentences
from mxrs.rnn.rnn import do_rnn_checkpoint, load_rnn_checkpoint, rnn_unroll, save_rnn_checkpoint
from mxrs.rnn.rnn_cell import (
    BaseRNNCell,
    BidirectionalCell,
    DropoutCell,
    GRUCell,
    LSTMCell,
    ModifierCell,
    ResidualCell,
    RNNCell,
    RNNParams,
    SequentialRNNCell,
    ZoneoutCell,
)

__all__ = [
    "BaseConvRNNCell",
    "BaseRNNCell",
    "BidirectionalCell",
    "BucketSentenceIter",
    "ConvGRUCell",
    "ConvLSTMCell",
    "ConvRNNCell",
    "DataBatch",
    "DataDesc",
    "DataIter",
    "DropoutCell",
    "FusedRNNCell",
    "GRUCell",
    "LSTMCell",
    "ModifierCell",
    "RNNCell",
    "RNNParams",
    "ResidualCell",
    "SequentialRNNCell",
    "ZoneoutCell",
    "do_rnn_checkpoint",
    "encode_sentences",
    "load_checkpoint",
    "load_rnn_checkpoint",
    "rnn_unroll",
    "save_checkpoint",
    "save_rnn_checkpoint",
    "conv_cell",
    "fused",
    "io",
    "rnn",
    "rnn_cell",
    "bisect",
    "functools",
    "random",
    "warnings",
    "np",
    "init",
    "ndarray",
    "symbol",
    "numeric_types",
    "string_types",
]
