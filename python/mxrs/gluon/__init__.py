"""``mx.gluon``: the imperative/hybrid neural-network API of MXNet 1.x."""

from mxrs.gluon import data, loss, model_zoo, nn, parameter, rnn, utils
from mxrs.gluon.block import Block, HybridBlock, SymbolBlock
from mxrs.gluon.parameter import Constant, DeferredInitializationError, Parameter, ParameterDict
from mxrs.gluon.trainer import Trainer

__all__ = [
    "Block",
    "HybridBlock",
    "SymbolBlock",
    "Parameter",
    "Constant",
    "ParameterDict",
    "DeferredInitializationError",
    "Trainer",
    "nn",
    "data",
    "utils",
    "parameter",
    "loss",
    "rnn",
    "model_zoo",
]
