"""What an import translation sees: the ONNX node, and the values (Symbols or constants) of
the tensors translated so far."""

import numpy as np

from mxrs import symbol as _sym
from mxrs.onnx._common import OnnxError


class OnnxNode:
    """One ONNX node as the translations see it."""

    def __init__(self, proto, onnx):
        self.op_type = proto.op_type
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)
        self.name = self.outputs[0]
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute}
        for k, v in self.attrs.items():
            if isinstance(v, bytes):
                self.attrs[k] = v.decode()

    def fail(self, why: str) -> OnnxError:
        """An OnnxError naming this node."""
        return OnnxError(f"ONNX import of {self.op_type} '{self.name}': {why}")


class ImportContext:
    """The values of the tensors seen so far and the parameters the symbol reads."""

    def __init__(self, onnx, opset: int):
        self.onnx = onnx
        self.opset = opset
        self.values: dict = {}  # name -> Symbol or np.ndarray
        self.initializers: set = set()
        self.params: dict = {}  # variable name -> np.ndarray
        self.input_shapes: dict = {}

    def is_const(self, name: str) -> bool:
        """Whether the tensor ``name`` has a known value."""
        return name == "" or isinstance(self.values.get(name), np.ndarray)

    def const(self, name: str) -> np.ndarray:
        """The value of a constant tensor."""
        v = self.values.get(name)
        if not isinstance(v, np.ndarray):
            raise OnnxError(f"ONNX import: tensor '{name}' must be a constant here")
        return v

    def maybe_const(self, name: str) -> np.ndarray | None:
        """The value of a constant input, or None for a missing optional one."""
        return None if name == "" else self.const(name)

    def sym(self, name: str, value: np.ndarray | None = None):
        """The tensor as a Symbol: a constant becomes a parameter named after it. ``value``
        replaces the stored value (a transposed weight, a reshaped slope)."""
        v = self.values[name]
        if isinstance(v, np.ndarray):
            data = v if value is None else value
            if not np.issubdtype(data.dtype, np.floating):
                data = data.astype(np.float32)
            var, i = name, 0
            while var in self.params and not np.array_equal(self.params[var], data):
                var, i = f"{name}_{i}", i + 1
            self.params[var] = data
            return _sym.var(var, shape=data.shape, dtype=data.dtype)
        return v

    def shape(self, name: str) -> tuple:
        """The static shape of a tensor, from the inputs' shapes and MXNet's inference."""
        v = self.values[name]
        if isinstance(v, np.ndarray):
            return v.shape
        known = {**self.input_shapes, **{k: p.shape for k, p in self.params.items()}}
        wanted = set(v.list_arguments()) | set(v.list_auxiliary_states())
        _, out, _ = v.infer_shape_partial(**{k: s for k, s in known.items() if k in wanted})
        if not out or out[0] is None or any(d in (0, None) for d in out[0]):
            raise OnnxError(f"ONNX import: the shape of '{name}' is unknown (the graph's inputs need static shapes)")
        return tuple(out[0])


__all__ = ["ImportContext", "OnnxNode"]
