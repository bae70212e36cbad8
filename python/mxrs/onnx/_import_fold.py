"""ONNX ops computed with NumPy at import time when all their inputs are constants: the
shape arithmetic exporters write (``Shape -> Gather/Slice -> Concat -> Reshape``) and
constants built in the graph."""

import numpy as np

from mxrs.onnx._import_context import ImportContext, OnnxNode


def _c(ctx: ImportContext, n: OnnxNode, i: int):
    return ctx.maybe_const(n.inputs[i]) if i < len(n.inputs) else None


def _axes(ctx: ImportContext, n: OnnxNode, pos: int) -> list | None:
    """``axes`` as an attribute (older opsets) or as input ``pos`` (opset 13)."""
    if "axes" in n.attrs:
        return list(n.attrs["axes"])
    v = _c(ctx, n, pos)
    return None if v is None else [int(a) for a in v.reshape(-1)]


def constant(ctx: ImportContext, n: OnnxNode) -> list:
    a = n.attrs
    if "value" in a:
        return [ctx.onnx.numpy_helper.to_array(a["value"])]
    for key, dt in (("value_float", np.float32), ("value_int", np.int64)):
        if key in a:
            return [np.asarray(a[key], dtype=dt)]
    for key, dt in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in a:
            return [np.asarray(list(a[key]), dtype=dt)]
    raise n.fail("unsupported Constant value")


def constant_of_shape(ctx: ImportContext, n: OnnxNode) -> list:
    value = n.attrs.get("value")
    v = ctx.onnx.numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    return [np.full(tuple(int(d) for d in _c(ctx, n, 0)), v.reshape(-1)[0], dtype=v.dtype)]


def _binary(f):
    return lambda ctx, n: [np.asarray(f(_c(ctx, n, 0), _c(ctx, n, 1)))]


def _div(a, b):
    return a // b if np.issubdtype(a.dtype, np.integer) else a / b


def gather(ctx: ImportContext, n: OnnxNode) -> list:
    return [np.take(_c(ctx, n, 0), _c(ctx, n, 1), axis=n.attrs.get("axis", 0))]


def slice_(ctx: ImportContext, n: OnnxNode) -> list:
    x = _c(ctx, n, 0)
    if "starts" in n.attrs:
        starts, ends, axes, steps = n.attrs["starts"], n.attrs["ends"], n.attrs.get("axes"), None
    else:
        starts, ends = _c(ctx, n, 1), _c(ctx, n, 2)
        axes, steps = _c(ctx, n, 3), _c(ctx, n, 4)
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else list(steps)
    index = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes, starts, ends, steps):
        size = x.shape[a]
        index[int(a)] = slice(max(min(int(b), size), -size - 1), max(min(int(e), size), -size - 1), int(s))
    return [x[tuple(index)]]


def concat(ctx: ImportContext, n: OnnxNode) -> list:
    return [np.concatenate([ctx.const(i) for i in n.inputs], axis=n.attrs["axis"])]


def cast(ctx: ImportContext, n: OnnxNode) -> list:
    return [_c(ctx, n, 0).astype(ctx.onnx.helper.tensor_dtype_to_np_dtype(n.attrs["to"]))]


def unsqueeze(ctx: ImportContext, n: OnnxNode) -> list:
    x = _c(ctx, n, 0)
    for a in sorted(a % (x.ndim + len(_axes(ctx, n, 1) or [])) for a in _axes(ctx, n, 1) or []):
        x = np.expand_dims(x, a)
    return [x]


def squeeze(ctx: ImportContext, n: OnnxNode) -> list:
    axes = _axes(ctx, n, 1)
    x = _c(ctx, n, 0)
    return [np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axes))]


def reshape(ctx: ImportContext, n: OnnxNode) -> list:
    x, shape = _c(ctx, n, 0), [int(d) for d in _c(ctx, n, 1)]
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


def range_(ctx: ImportContext, n: OnnxNode) -> list:
    start, limit, delta = (_c(ctx, n, i) for i in range(3))
    return [np.arange(start, limit, delta, dtype=start.dtype)]


FOLD = {
    "Constant": constant,
    "ConstantOfShape": constant_of_shape,
    "Identity": lambda ctx, n: [_c(ctx, n, 0)],
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_div),
    "Max": _binary(np.maximum),
    "Min": _binary(np.minimum),
    "Equal": _binary(np.equal),
    "Neg": lambda ctx, n: [-_c(ctx, n, 0)],
    "Gather": gather,
    "Slice": slice_,
    "Concat": concat,
    "Cast": cast,
    "Unsqueeze": unsqueeze,
    "Squeeze": squeeze,
    "Reshape": reshape,
    "Range": range_,
    "Transpose": lambda ctx, n: [np.transpose(_c(ctx, n, 0), n.attrs.get("perm"))],
    "ReduceProd": lambda ctx, n: [np.prod(_c(ctx, n, 0), keepdims=bool(n.attrs.get("keepdims", 1)))],
}

__all__ = ["FOLD"]
