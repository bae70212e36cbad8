"""Export translations of MXNet's tensor ops (arithmetic and its scalar forms, unary math,
reductions, reshaping, slicing, dot...) to ONNX opset 13."""

import numpy as np

from mxrs.onnx._common import INT_MAX, INT_MIN, attr_axis, attr_bool, attr_float, attr_int, attr_str, attr_tuple
from mxrs.onnx._context import ExportContext, ExportNode

_BINARY = {
    "Add": ("elemwise_add", "broadcast_add", "broadcast_plus", "_plus", "_add", "_Plus"),
    "Sub": ("elemwise_sub", "broadcast_sub", "broadcast_minus", "_minus", "_sub", "_Minus"),
    "Mul": ("elemwise_mul", "broadcast_mul", "_mul", "_Mul"),
    "Div": ("elemwise_div", "broadcast_div", "_div", "_Div"),
    "Pow": ("broadcast_power", "_power"),
    "Max": ("broadcast_maximum", "_maximum", "maximum"),
    "Min": ("broadcast_minimum", "_minimum", "minimum"),
}
_COMPARE = {
    "Equal": ("broadcast_equal", "_equal"),
    "Greater": ("broadcast_greater", "_greater"),
    "Less": ("broadcast_lesser", "_lesser"),
    "GreaterOrEqual": ("broadcast_greater_equal", "_greater_equal"),
    "LessOrEqual": ("broadcast_lesser_equal", "_lesser_equal"),
    "NotEqual": ("broadcast_not_equal", "_not_equal"),
}
# scalar op -> (ONNX op, scalar first)
_SCALAR = {
    "_plus_scalar": ("Add", False),
    "_minus_scalar": ("Sub", False),
    "_rminus_scalar": ("Sub", True),
    "_mul_scalar": ("Mul", False),
    "_div_scalar": ("Div", False),
    "_rdiv_scalar": ("Div", True),
    "_power_scalar": ("Pow", False),
    "_rpower_scalar": ("Pow", True),
    "_maximum_scalar": ("Max", False),
    "_minimum_scalar": ("Min", False),
    "_equal_scalar": ("Equal", False),
    "_not_equal_scalar": ("NotEqual", False),
    "_greater_scalar": ("Greater", False),
    "_greater_equal_scalar": ("GreaterOrEqual", False),
    "_lesser_scalar": ("Less", False),
    "_lesser_equal_scalar": ("LessOrEqual", False),
}
_UNARY = {
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "abs": "Abs",
    "negative": "Neg",
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softsign": "Softsign",
    "floor": "Floor",
    "ceil": "Ceil",
    "reciprocal": "Reciprocal",
    "sin": "Sin",
    "cos": "Cos",
    "tan": "Tan",
    "arcsin": "Asin",
    "arccos": "Acos",
    "arctan": "Atan",
    "sinh": "Sinh",
    "cosh": "Cosh",
    "erf": "Erf",
    "sign": "Sign",
    "Dropout": "Identity",
    "BlockGrad": "Identity",
    "stop_gradient": "Identity",
    "identity": "Identity",
    "_copy": "Identity",
}
_COMPARE_OPS = set(_COMPARE) | {"Equal", "NotEqual", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"}


def _as_dtype(ctx: ExportContext, n: ExportNode, t: str) -> None:
    """MXNet comparisons give 0/1 in the input's type; ONNX gives bools."""
    to = ctx.helper.np_dtype_to_tensor_dtype(np.dtype(n.out_dtypes[0]))
    ctx.emit("Cast", [t], n.outputs[0], to=to)


def binary(op_type: str):
    def translate(ctx: ExportContext, n: ExportNode) -> None:
        if op_type in _COMPARE_OPS:
            _as_dtype(ctx, n, ctx.emit(op_type, n.inputs[:2], base=n.name + "_bool"))
        else:
            ctx.emit(op_type, n.inputs[:2], n.outputs[0])

    return translate


def scalar(ctx: ExportContext, n: ExportNode) -> None:
    op_type, first = _SCALAR[n.op]
    s = ctx.const(attr_float(n.attrs, "scalar", 0.0), n.name + "_scalar", n.in_dtypes[0])
    ins = [s, n.inputs[0]] if first else [n.inputs[0], s]
    if op_type in _COMPARE_OPS:
        _as_dtype(ctx, n, ctx.emit(op_type, ins, base=n.name + "_bool"))
    else:
        ctx.emit(op_type, ins, n.outputs[0])


def unary(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit(_UNARY[n.op], [n.inputs[0]], n.outputs[0])


def square(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit("Mul", [n.inputs[0], n.inputs[0]], n.outputs[0])


def rsqrt(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit("Reciprocal", [ctx.emit("Sqrt", [n.inputs[0]])], n.outputs[0])


def add_n(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit("Sum", n.inputs, n.outputs[0])


def clip(ctx: ExportContext, n: ExportNode) -> None:
    dt = n.in_dtypes[0]
    lo = ctx.const(attr_float(n.attrs, "a_min", None), n.name + "_min", dt)
    hi = ctx.const(attr_float(n.attrs, "a_max", None), n.name + "_max", dt)
    ctx.emit("Clip", [n.inputs[0], lo, hi], n.outputs[0])


def _reduce_axes(n: ExportNode) -> list:
    ndim = len(n.in_shapes[0])
    axis = attr_axis(n.attrs, "axis")
    axes = list(range(ndim)) if axis is None else sorted(a % ndim for a in axis)
    if attr_bool(n.attrs, "exclude", False):
        axes = [a for a in range(ndim) if a not in axes]
    return axes


def reduce(op_type: str):
    def translate(ctx: ExportContext, n: ExportNode) -> None:
        axes = _reduce_axes(n)
        keep = 1 if attr_bool(n.attrs, "keepdims", False) else 0
        x, out = n.inputs[0], n.outputs[0]
        # MXNet 1.x gives shape (1,) where ONNX gives a scalar.
        to_one = not keep and len(axes) == len(n.in_shapes[0])
        dst = None if to_one else out
        if op_type == "ReduceSum":
            y = ctx.emit(op_type, [x, ctx.ints(axes, n.name + "_axes")], dst, base=n.name, keepdims=keep)
        else:
            y = ctx.emit(op_type, [x], dst, base=n.name, axes=axes, keepdims=keep)
        if to_one:
            ctx.emit("Reshape", [y, ctx.ints([1], n.name + "_one")], out)

    return translate


def _reshape_static(n: ExportNode) -> bool:
    """Whether the shape codes mean the same in ONNX (only 0, -1 and sizes, not reversed)."""
    shape = attr_tuple(n.attrs, "shape")
    return bool(shape) and all(int(s) >= -1 for s in shape) and not attr_bool(n.attrs, "reverse", False)


def _shape_pieces(codes: list, ndim: int) -> list:
    """MXNet's reshape rules as a list of pieces, one per output dimension: ``("c", v)`` a
    constant, ``("d", i)`` input dim i, ``("m", i)`` dims i and i+1 multiplied, ``("q", i, v)``
    dim i divided by v."""
    out: list = []
    src, i = 0, 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            out.append(("d", src))
            src += 1
        elif c == -1:
            out.append(("c", -1))
            src += 1
        elif c == -2:
            out.extend(("d", k) for k in range(src, ndim))
            src = ndim
        elif c == -3:
            out.append(("m", src))
            src += 2
        elif c == -4:
            d1, d2 = codes[i + 1], codes[i + 2]
            if d1 == -1:
                out += [("q", src, d2), ("c", d2)]
            elif d2 == -1:
                out += [("c", d1), ("q", src, d1)]
            else:
                out += [("c", d1), ("c", d2)]
            src += 1
            i += 2
        else:
            out.append(("c", c))
            src += 1
        i += 1
    return out


def _runtime_shape(ctx: ExportContext, n: ExportNode) -> str:
    """A Reshape target computed from the input's runtime shape, for ``dynamic=True``."""
    codes = [int(c) for c in attr_tuple(n.attrs, "shape")]
    ndim = len(n.in_shapes[0])
    rev = attr_bool(n.attrs, "reverse", False)
    pieces = _shape_pieces(codes[::-1] if rev else codes, ndim)
    shape = ctx.emit("Shape", [n.inputs[0]], base=n.name + "_inshape")

    def dim(k: int) -> str:
        k = ndim - 1 - k if rev else k
        return ctx.emit("Gather", [shape, ctx.ints([k], n.name + "_i")], axis=0)

    parts = []
    for p in pieces[::-1] if rev else pieces:
        if p[0] == "c":
            parts.append(ctx.ints([p[1]], n.name + "_c"))
        elif p[0] == "d":
            parts.append(dim(p[1]))
        elif p[0] == "m":
            a, b = (p[1] + 1, p[1]) if rev else (p[1], p[1] + 1)
            parts.append(ctx.emit("Mul", [dim(a), dim(b)]))
        else:
            parts.append(ctx.emit("Div", [dim(p[1]), ctx.ints([p[2]], n.name + "_c")]))
    return ctx.emit("Concat", parts, base=n.name + "_target", axis=0)


def reshape(ctx: ExportContext, n: ExportNode) -> None:
    if _reshape_static(n):
        # ONNX Reshape reads 0 (copy) and -1 (infer) as MXNet does, so batch sizes stay free.
        target = [int(s) for s in attr_tuple(n.attrs, "shape")]
    elif ctx.dynamic:
        # Free dimensions: the target is computed from Shape(x) when the model runs.
        ctx.emit("Reshape", [n.inputs[0], _runtime_shape(ctx, n)], n.outputs[0])
        return
    else:
        # -2/-3/-4 and reverse resolved with the shapes MXNet infers.
        target = list(n.out_shapes[0])
    ctx.emit("Reshape", [n.inputs[0], ctx.ints(target, n.name + "_shape")], n.outputs[0])


def transpose(ctx: ExportContext, n: ExportNode) -> None:
    axes = [int(a) for a in attr_tuple(n.attrs, "axes")]
    perm = axes or list(reversed(range(len(n.in_shapes[0]))))
    ctx.emit("Transpose", [n.inputs[0]], n.outputs[0], perm=perm)


def swapaxes(ctx: ExportContext, n: ExportNode) -> None:
    ndim = len(n.in_shapes[0])
    perm = list(range(ndim))
    a, b = attr_int(n.attrs, "dim1", 0) % ndim, attr_int(n.attrs, "dim2", 0) % ndim  # type: ignore[operator]
    perm[a], perm[b] = perm[b], perm[a]
    ctx.emit("Transpose", [n.inputs[0]], n.outputs[0], perm=perm)


def concat(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit("Concat", n.inputs, n.outputs[0], axis=attr_int(n.attrs, "dim", 1))


def stack(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_int(n.attrs, "axis", 0) % (len(n.in_shapes[0]) + 1)  # type: ignore[operator]
    ax = ctx.ints([axis], n.name + "_axis")
    parts = [ctx.emit("Unsqueeze", [x, ax]) for x in n.inputs]
    ctx.emit("Concat", parts, n.outputs[0], axis=axis)


def _slice_bound(v, step: int, start: bool) -> int:
    if v is not None:
        return int(v)
    if start:
        return INT_MAX if step < 0 else 0
    return INT_MIN if step < 0 else INT_MAX


def slice_op(ctx: ExportContext, n: ExportNode) -> None:
    begin, end = attr_tuple(n.attrs, "begin"), attr_tuple(n.attrs, "end")
    step = attr_tuple(n.attrs, "step") or (None,) * len(begin)
    steps = [1 if s is None else int(s) for s in step]
    starts = [_slice_bound(b, s, True) for b, s in zip(begin, steps)]
    ends = [_slice_bound(e, s, False) for e, s in zip(end, steps)]
    ins = [n.inputs[0], ctx.ints(starts, n.name + "_starts"), ctx.ints(ends, n.name + "_ends")]
    ins += [ctx.ints(range(len(starts)), n.name + "_axes"), ctx.ints(steps, n.name + "_steps")]
    ctx.emit("Slice", ins, n.outputs[0])


def slice_axis(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_int(n.attrs, "axis", 0)
    begin = attr_int(n.attrs, "begin", 0)
    end = attr_int(n.attrs, "end", None)
    stop = ctx.ints([INT_MAX if end is None else end], n.name + "_ends")
    ins = [n.inputs[0], ctx.ints([begin], n.name + "_starts"), stop]
    ctx.emit("Slice", ins + [ctx.ints([axis], n.name + "_axes")], n.outputs[0])


def expand_dims(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_int(n.attrs, "axis", 0) % (len(n.in_shapes[0]) + 1)  # type: ignore[operator]
    ctx.emit("Unsqueeze", [n.inputs[0], ctx.ints([axis], n.name + "_axes")], n.outputs[0])


def squeeze(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_axis(n.attrs, "axis")
    ins = [n.inputs[0]]
    if axis is not None:
        ins.append(ctx.ints([a % len(n.in_shapes[0]) for a in axis], n.name + "_axes"))
    if len(n.out_shapes[0]) == 0 or (len(n.out_shapes[0]) == 1 and all(d == 1 for d in n.in_shapes[0])):
        # Squeezing every axis leaves (1,) in MXNet 1.x.
        ctx.emit("Reshape", [n.inputs[0], ctx.ints([1], n.name + "_one")], n.outputs[0])
        return
    ctx.emit("Squeeze", ins, n.outputs[0])


def dot(ctx: ExportContext, n: ExportNode) -> None:
    a, b = n.inputs[0], n.inputs[1]
    sa, sb = n.in_shapes[0], n.in_shapes[1]
    if attr_bool(n.attrs, "transpose_a", False):
        a = ctx.emit("Transpose", [a], perm=list(reversed(range(len(sa)))))
        sa = tuple(reversed(sa))
    if attr_bool(n.attrs, "transpose_b", False):
        b = ctx.emit("Transpose", [b], perm=list(reversed(range(len(sb)))))
        sb = tuple(reversed(sb))
    if len(sb) <= 2:
        ctx.emit("MatMul", [a, b], n.outputs[0])
        return
    # MXNet contracts A's last axis with B's first: B as a (k, rest) matrix, then reshape.
    b2 = ctx.emit("Reshape", [b, ctx.ints([sb[0], -1], n.name + "_b2")])
    y = ctx.emit("MatMul", [a, b2])
    # 0 keeps A's leading dimensions free under dynamic=True.
    target = [0] * (len(sa) - 1) + list(sb[1:])
    ctx.emit("Reshape", [y, ctx.ints(target, n.name + "_shape")], n.outputs[0])


def batch_dot(ctx: ExportContext, n: ExportNode) -> None:
    a, b = n.inputs[0], n.inputs[1]
    for i, key in enumerate(("transpose_a", "transpose_b")):
        if attr_bool(n.attrs, key, False):
            nd = len(n.in_shapes[i])
            perm = list(range(nd - 2)) + [nd - 1, nd - 2]
            t = ctx.emit("Transpose", [a if i == 0 else b], perm=perm)
            a, b = (t, b) if i == 0 else (a, t)
    ctx.emit("MatMul", [a, b], n.outputs[0])


def cast(ctx: ExportContext, n: ExportNode) -> None:
    to = ctx.helper.np_dtype_to_tensor_dtype(np.dtype(attr_str(n.attrs, "dtype", "float32")))
    ctx.emit("Cast", [n.inputs[0]], n.outputs[0], to=to)


def split(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_int(n.attrs, "axis", 1) % len(n.in_shapes[0])  # type: ignore[operator]
    if not attr_bool(n.attrs, "squeeze_axis", False):
        ctx.emit_multi("Split", [n.inputs[0]], n.outputs, axis=axis)
        return
    parts = [ctx.fresh(o + "_part") for o in n.outputs]
    ctx.emit_multi("Split", [n.inputs[0]], parts, axis=axis)
    ax = ctx.ints([axis], n.name + "_axis")
    for p, o in zip(parts, n.outputs):
        ctx.emit("Squeeze", [p, ax], o)


def tile(ctx: ExportContext, n: ExportNode) -> None:
    reps = [int(r) for r in attr_tuple(n.attrs, "reps")]
    ndim = len(n.in_shapes[0])
    x = n.inputs[0]
    if len(reps) > ndim:
        x = ctx.emit("Unsqueeze", [x, ctx.ints(range(len(reps) - ndim), n.name + "_axes")])
    reps = [1] * (ndim - len(reps)) + reps
    ctx.emit("Tile", [x, ctx.ints(reps, n.name + "_reps")], n.outputs[0])


def broadcast_to(ctx: ExportContext, n: ExportNode) -> None:
    # MXNet's 0 (keep the dimension) is ONNX Expand's 1.
    target = [1 if int(d) == 0 else int(d) for d in attr_tuple(n.attrs, "shape")]
    ctx.emit("Expand", [n.inputs[0], ctx.ints(target, n.name + "_shape")], n.outputs[0])


def where(ctx: ExportContext, n: ExportNode) -> None:
    c = ctx.emit("Cast", [n.inputs[0]], to=ctx.onnx.TensorProto.BOOL)
    ctx.emit("Where", [c, n.inputs[1], n.inputs[2]], n.outputs[0])


def argmax(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_int(n.attrs, "axis", None)
    if axis is None:
        raise n.fail("axis=None is not supported")
    op = "ArgMax" if n.op == "argmax" else "ArgMin"
    keep = 1 if attr_bool(n.attrs, "keepdims", False) else 0
    _as_dtype(ctx, n, ctx.emit(op, [n.inputs[0]], axis=axis, keepdims=keep))


def _table() -> dict:
    t: dict = {}
    for onnx_op, names in list(_BINARY.items()) + list(_COMPARE.items()):
        for name in names:
            t[name] = binary(onnx_op)
    t.update({name: scalar for name in _SCALAR})
    t.update({name: unary for name in _UNARY})
    reductions = {"sum": "ReduceSum", "sum_axis": "ReduceSum", "mean": "ReduceMean", "prod": "ReduceProd"}
    reductions.update({"max": "ReduceMax", "max_axis": "ReduceMax", "min": "ReduceMin", "min_axis": "ReduceMin"})
    t.update({name: reduce(op) for name, op in reductions.items()})
    t.update(
        {
            "square": square,
            "rsqrt": rsqrt,
            "add_n": add_n,
            "ElementWiseSum": add_n,
            "clip": clip,
            "Reshape": reshape,
            "reshape": reshape,
            "transpose": transpose,
            "SwapAxis": swapaxes,
            "swapaxes": swapaxes,
            "Concat": concat,
            "concat": concat,
            "stack": stack,
            "slice": slice_op,
            "crop": slice_op,
            "slice_axis": slice_axis,
            "expand_dims": expand_dims,
            "squeeze": squeeze,
            "dot": dot,
            "batch_dot": batch_dot,
            "Cast": cast,
            "cast": cast,
            "split": split,
            "SliceChannel": split,
            "tile": tile,
            "broadcast_to": broadcast_to,
            "where": where,
            "argmax": argmax,
            "argmin": argmax,
        }
    )
    return t


TABLE = _table()

__all__ = ["TABLE"]
