"""``mx.contrib.onnx``: MXNet 1.x's older home of the ONNX functions (``import_model``,
``get_model_metadata``, ``import_to_gluon``, ``export_model``), the same functions as
``mx.onnx``'s."""

from mxrs.onnx import export_model, get_model_metadata, import_model
from mxrs.onnx._gluon import import_to_gluon

__all__ = ["import_model", "get_model_metadata", "import_to_gluon", "export_model"]
