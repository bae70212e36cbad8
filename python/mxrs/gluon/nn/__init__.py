"""``mx.gluon.nn``: neural-network layers."""

from mxrs.gluon.block import Block, HybridBlock, SymbolBlock
from mxrs.gluon.nn.activations import ELU, GELU, SELU, Activation, LeakyReLU, PReLU, Swish
from mxrs.gluon.nn.basic_layers import (
    BatchNorm,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GroupNorm,
    HybridLambda,
    HybridSequential,
    InstanceNorm,
    Lambda,
    LayerNorm,
    Sequential,
)

__all__ = [
    "Block",
    "HybridBlock",
    "SymbolBlock",
    "Activation",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "SELU",
    "GELU",
    "Swish",
    "Sequential",
    "HybridSequential",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "BatchNorm",
    "InstanceNorm",
    "LayerNorm",
    "GroupNorm",
    "Lambda",
    "HybridLambda",
]
