"""``mx.gluon``: the imperative/hybrid neural-network API of MXNet 1.x."""

from mxrs.gluon import block, contrib, data, loss, model_zoo, nn, parameter, rnn, trainer, utils
from mxrs.gluon.block import Block, HybridBlock, SymbolBlock
from mxrs.gluon.parameter import Constant, DeferredInitializationError, Parameter, ParameterDict, tensor_types
from mxrs.gluon.trainer import Trainer

__all__ = [
    "Block",
    "HybridBlock",
    "SymbolBlock",
    "Parameter",
    "Constant",
    "ParameterDict",
    "DeferredInitializationError",
    "tensor_types",
    "Trainer",
    "block",
    "nn",
    "parameter",
    "trainer",
    "utils",
    "data",
    "loss",
    "rnn",
    "model_zoo",
    "contrib",
]
