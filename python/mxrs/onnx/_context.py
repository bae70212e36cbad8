"""What an export translation sees: the MXNet node with its shapes and types, and the
ONNX graph being built (nodes, initializers, fresh names)."""

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mxrs.onnx._common import OnnxError


@dataclass
class ExportNode:
    """One MXNet op node: ``inputs`` are the ONNX names of its inputs, ``outputs`` the ONNX
    names its translation must produce, shapes and types as MXNet's inference gives them for
    the example input shapes."""

    name: str
    op: str
    attrs: dict
    inputs: list
    in_shapes: list
    in_dtypes: list
    outputs: list
    out_shapes: list
    out_dtypes: list
    # The input names that are parameters (initializers), with their values.
    params: dict = field(default_factory=dict)

    def fail(self, why: str) -> OnnxError:
        """An OnnxError naming this node."""
        return OnnxError(f"ONNX export of {self.op} '{self.name}': {why}")


class ExportContext:
    """The ONNX graph under construction."""

    def __init__(self, onnx: Any, dynamic: bool, verbose: bool = False):
        self.onnx = onnx
        self.helper = onnx.helper
        self.dynamic = dynamic
        self.verbose = verbose
        self.nodes: list = []
        self.initializers: list = []
        self.initializer_values: dict = {}
        self._used: set = set()

    def reserve(self, name: str) -> str:
        """Claim ``name`` for a tensor."""
        self._used.add(name)
        return name

    def fresh(self, base: str) -> str:
        """A tensor name not used yet, starting with ``base``."""
        name, i = base, 0
        while name in self._used:
            name = f"{base}_{i}"
            i += 1
        return self.reserve(name)

    def emit(self, op_type: str, inputs: list, output: str | None = None, base: str = "t", **attrs) -> str:
        """Add one node with one output; returns the output's name (``output`` or a fresh one)."""
        out = output if output is not None else self.fresh(base)
        self._used.add(out)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=self.fresh(out + "_node"), **attrs))
        if self.verbose:
            logging.info("ONNX %s %s -> %s %s", op_type, list(inputs), out, attrs)
        return out

    def emit_multi(self, op_type: str, inputs: list, outputs: list, **attrs) -> list:
        """Add one node with several outputs."""
        for o in outputs:
            self._used.add(o)
        self.nodes.append(
            self.helper.make_node(op_type, list(inputs), list(outputs), name=self.fresh(outputs[0] + "_node"), **attrs)
        )
        return list(outputs)

    def initializer(self, name: str, value: np.ndarray) -> str:
        """Add ``value`` as an initializer called ``name`` (which must be free)."""
        self._used.add(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        self.initializer_values[name] = value
        return name

    def const(self, value: Any, base: str, dtype: Any = np.int64) -> str:
        """A new constant initializer of ``dtype`` with a fresh name."""
        return self.initializer(self.fresh(base), np.asarray(value, dtype=dtype))

    def ints(self, values: Any, base: str) -> str:
        """A 1-D int64 constant (shapes, axes, starts...)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), base)


__all__ = ["ExportNode", "ExportContext"]
