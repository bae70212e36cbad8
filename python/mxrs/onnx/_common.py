"""Shared pieces of the ONNX exporter and importer: the optional ``onnx`` package, MXNet
attribute strings, and the error type.

``onnx`` is an optional dependency: it is imported on the first export/import call, so that
``import mxrs`` neither needs it nor pays for loading protobuf.
"""

import ast
import importlib
from typing import Any

from mxrs.base import MXNetError

# The opset the exporter writes: MXNet 1.9.1's exporter has translations for opsets 12 and 13.
OPSET = 13
# The IR version that goes with opset 13, so older runtimes load the files too.
IR_VERSION = 7
# The end of an open-ended ONNX Slice.
INT_MAX = 2**63 - 1
INT_MIN = -(2**63)


class OnnxError(MXNetError, ValueError):
    """An ONNX export or import that cannot be done (an op without a translation, a shape the
    format cannot express...)."""


def onnx_module() -> Any:
    """The ``onnx`` package, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("onnx")
    except ImportError as e:
        raise ImportError("mxrs.onnx needs the onnx package: pip install onnx") from e


def _literal(s: str) -> Any:
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s


def attr_str(attrs: dict, key: str, default: str) -> str:
    """A string attribute (``act_type``, ``pool_type``...)."""
    v = attrs.get(key)
    return default if v is None or v == "None" else str(v)


def attr_bool(attrs: dict, key: str, default: bool) -> bool:
    """A bool attribute written as ``True``/``False``/``1``/``0``."""
    v = attrs.get(key)
    if v is None or v == "None":
        return default
    return str(v).strip().lower() in ("true", "1")


def attr_int(attrs: dict, key: str, default: int | None) -> int | None:
    """An int attribute; ``None`` when absent or ``None`` and no default."""
    v = attrs.get(key)
    if v is None or v == "None":
        return default
    return int(float(v))


def attr_float(attrs: dict, key: str, default: float | None) -> float | None:
    """A float attribute; ``None`` when absent or ``None`` and no default."""
    v = attrs.get(key)
    if v is None or v == "None":
        return default
    return float(v)


def attr_tuple(attrs: dict, key: str, default: tuple = ()) -> tuple:
    """A tuple attribute such as ``(3, 3)``, ``[1,2]``, ``3`` or ``(None, 2)``; a single number
    is a 1-tuple."""
    v = attrs.get(key)
    if v is None or v == "None" or v == "":
        return default
    parsed = _literal(str(v))
    if isinstance(parsed, (list, tuple)):
        return tuple(parsed)
    return (parsed,)


def attr_axis(attrs: dict, key: str) -> tuple | None:
    """A reduction ``axis``: ``None`` for all axes, else a tuple of ints."""
    v = attrs.get(key)
    if v is None or v == "None" or v == "()" or v == "[]":
        return None
    return tuple(int(a) for a in attr_tuple(attrs, key))


__all__ = [
    "OPSET",
    "IR_VERSION",
    "INT_MAX",
    "INT_MIN",
    "OnnxError",
    "onnx_module",
    "attr_str",
    "attr_bool",
    "attr_int",
    "attr_float",
    "attr_tuple",
    "attr_axis",
]
