"""``mx.contrib``: MXNet 1.x's contrib names that mxrs has: ``mx.contrib.onnx``,
``mx.contrib.autograd`` (the first autograd interface), ``mx.contrib.io`` (``DataLoaderIter``), and
``mx.contrib.nd`` / ``mx.contrib.ndarray`` (``mx.nd.contrib``) and ``mx.contrib.sym`` /
``mx.contrib.symbol`` (``mx.sym.contrib``), ``mx.contrib.text`` and ``mx.contrib.tensorboard``,
and ``mx.contrib.quantization`` / ``mx.contrib.quant`` (INT8 quantization of Symbol, Module and
Gluon models)."""

from mxrs.contrib import autograd, io, onnx, quantization, tensorboard, text
from mxrs.ndarray import contrib as ndarray
from mxrs.symbol import contrib as symbol

nd = ndarray
sym = symbol
quant = quantization

__all__ = ["autograd", "io", "nd", "ndarray", "onnx", "quant", "quantization", "sym", "symbol", "tensorboard", "text"]
