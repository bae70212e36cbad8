"""``mx.contrib``: MXNet 1.x's contrib names that mxrs has (``mx.contrib.onnx``)."""

from mxrs.contrib import onnx

__all__ = ["onnx"]
