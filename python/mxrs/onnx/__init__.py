"""``mx.onnx``: ONNX export and import, as MXNet 1.9.1's ``mx.onnx.export_model`` and MXNet
1.x's ``mx.contrib.onnx.import_model``.

Needs the ``onnx`` package (``pip install onnx``), imported on the first call.
"""

from mxrs.onnx._export import export_model, get_operator_support
from mxrs.onnx._import import get_model_metadata, import_model

__all__ = ["export_model", "get_operator_support", "import_model", "get_model_metadata"]
