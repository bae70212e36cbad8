"""Import translations of ONNX tensor ops (arithmetic, unary math, reductions, reshaping,
slicing, Gather...) to mxrs Symbols."""

import numpy as np

from mxrs import symbol as _sym
from mxrs.onnx._common import INT_MAX, INT_MIN
from mxrs.onnx._import_context import ImportContext, OnnxNode

# ONNX op -> (broadcast op, scalar op, reversed scalar op)
_BINARY = {
    "Add": ("broadcast_add", "_plus_scalar", "_plus_scalar"),
    "Sub": ("broadcast_sub", "_minus_scalar", "_rminus_scalar"),
    "Mul": ("broadcast_mul", "_mul_scalar", "_mul_scalar"),
    "Div": ("broadcast_div", "_div_scalar", "_rdiv_scalar"),
    "Pow": ("broadcast_power", "_power_scalar", "_rpower_scalar"),
    "Max": ("broadcast_maximum", "_maximum_scalar", "_maximum_scalar"),
    "Min": ("broadcast_minimum", "_minimum_scalar", "_minimum_scalar"),
    "Equal": ("broadcast_equal", "_equal_scalar", "_equal_scalar"),
    "Greater": ("broadcast_greater", "_greater_scalar", "_lesser_scalar"),
    "Less": ("broadcast_lesser", "_lesser_scalar", "_greater_scalar"),
    "GreaterOrEqual": ("broadcast_greater_equal", "_greater_equal_scalar", "_lesser_equal_scalar"),
    "LessOrEqual": ("broadcast_lesser_equal", "_lesser_equal_scalar", "_greater_equal_scalar"),
}
_UNARY = {
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Abs": "abs",
    "Neg": "negative",
    "Floor": "floor",
    "Ceil": "ceil",
    "Reciprocal": "reciprocal",
    "Sin": "sin",
    "Cos": "cos",
    "Tan": "tan",
    "Asin": "arcsin",
    "Acos": "arccos",
    "Atan": "arctan",
    "Sinh": "sinh",
    "Cosh": "cosh",
    "Erf": "erf",
    "Sign": "sign",
    "Not": "logical_not",
}
_REDUCE = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod"}


def _op(name: str):
    return getattr(_sym, name)


def _scalar(ctx: ImportContext, name: str) -> float | None:
    """The value of a one-element constant, else None."""
    if name and ctx.is_const(name):
        v = ctx.const(name)
        if v is not None and v.size == 1:
            return float(v.reshape(-1)[0])
    return None


def binary(op_type: str):
    bcast, scalar, rscalar = _BINARY[op_type]

    def translate(ctx: ImportContext, n: OnnxNode) -> list:
        a, b = n.inputs[0], n.inputs[1]
        sb, sa = _scalar(ctx, b), _scalar(ctx, a)
        if sb is not None and not ctx.is_const(a):
            return [_op(scalar)(ctx.sym(a), scalar=sb, name=n.name)]
        if sa is not None and not ctx.is_const(b):
            return [_op(rscalar)(ctx.sym(b), scalar=sa, name=n.name)]
        return [_op(bcast)(ctx.sym(a), ctx.sym(b), name=n.name)]

    return translate


def unary(ctx: ImportContext, n: OnnxNode) -> list:
    return [_op(_UNARY[n.op_type])(ctx.sym(n.inputs[0]), name=n.name)]


def variadic(op_type: str):
    def translate(ctx: ImportContext, n: OnnxNode) -> list:
        syms = [ctx.sym(i) for i in n.inputs]
        if op_type == "Sum":
            return [_sym.add_n(*syms, name=n.name)]
        if op_type == "Mean":
            return [_sym.add_n(*syms) / float(len(syms))]
        f = _sym.broadcast_maximum if op_type == "Max" else _sym.broadcast_minimum
        y = syms[0]
        for s in syms[1:]:
            y = f(y, s)
        return [_sym.identity(y, name=n.name)]

    return translate


def _axes(ctx: ImportContext, n: OnnxNode, pos: int) -> list | None:
    if "axes" in n.attrs:
        return [int(a) for a in n.attrs["axes"]]
    if len(n.inputs) > pos and n.inputs[pos]:
        return [int(a) for a in ctx.const(n.inputs[pos]).reshape(-1)]
    return None


def reduce(ctx: ImportContext, n: OnnxNode) -> list:
    axes = _axes(ctx, n, 1)
    keep = bool(n.attrs.get("keepdims", 1))
    x = ctx.sym(n.inputs[0])
    if axes is not None and not axes and n.attrs.get("noop_with_empty_axes", 0):
        return [_sym.identity(x, name=n.name)]
    kw = {"axis": tuple(axes)} if axes else {}
    return [_op(_REDUCE[n.op_type])(x, keepdims=keep, name=n.name, **kw)]


def reshape(ctx: ImportContext, n: OnnxNode) -> list:
    shape = tuple(int(d) for d in ctx.const(n.inputs[1]))
    if n.attrs.get("allowzero", 0) and 0 in shape:
        raise n.fail("allowzero=1 with a 0 in the shape is not supported")
    return [_sym.reshape(ctx.sym(n.inputs[0]), shape=shape, name=n.name)]


def transpose(ctx: ImportContext, n: OnnxNode) -> list:
    perm = n.attrs.get("perm")
    x = ctx.sym(n.inputs[0])
    return [_sym.transpose(x, axes=tuple(perm), name=n.name) if perm else _sym.transpose(x, name=n.name)]


def concat(ctx: ImportContext, n: OnnxNode) -> list:
    syms = [ctx.sym(i) for i in n.inputs]
    return [_sym.concat(*syms, dim=int(n.attrs["axis"]), num_args=len(syms), name=n.name)]


def clip(ctx: ImportContext, n: OnnxNode) -> list:
    lo = n.attrs.get("min", _scalar(ctx, n.inputs[1]) if len(n.inputs) > 1 else None)
    hi = n.attrs.get("max", _scalar(ctx, n.inputs[2]) if len(n.inputs) > 2 else None)
    lo = -3.4e38 if lo is None else lo
    hi = 3.4e38 if hi is None else hi
    return [_sym.clip(ctx.sym(n.inputs[0]), a_min=float(lo), a_max=float(hi), name=n.name)]


def gather(ctx: ImportContext, n: OnnxNode) -> list:
    axis = int(n.attrs.get("axis", 0))
    data, idx = n.inputs[0], n.inputs[1]
    if ctx.is_const(data) and not ctx.is_const(idx) and axis == 0 and ctx.const(data).ndim == 2:
        w = ctx.const(data)
        return [
            _sym.Embedding(ctx.sym(idx), weight=ctx.sym(data), input_dim=w.shape[0], output_dim=w.shape[1], name=n.name)
        ]
    if ctx.is_const(idx):
        i = ctx.const(idx)
        if i.ndim == 0:
            k = int(i)
            x = _sym.slice_axis(ctx.sym(data), axis=axis, begin=k, end=k + 1 if k != -1 else None)
            return [_sym.squeeze(x, axis=axis, name=n.name)]
    return [_sym.take(ctx.sym(data), ctx.sym(idx), axis=axis, mode="wrap", name=n.name)]


def cast(ctx: ImportContext, n: OnnxNode) -> list:
    dt = np.dtype(ctx.onnx.helper.tensor_dtype_to_np_dtype(n.attrs["to"]))
    if dt == np.bool_:
        dt = np.dtype(np.float32)
    return [_sym.cast(ctx.sym(n.inputs[0]), dtype=dt.name, name=n.name)]


def unsqueeze(ctx: ImportContext, n: OnnxNode) -> list:
    axes = _axes(ctx, n, 1) or []
    x = ctx.sym(n.inputs[0])
    ndim = len(ctx.shape(n.inputs[0])) + len(axes) if any(a < 0 for a in axes) else 0
    for a in sorted(a % ndim if a < 0 else a for a in axes):
        x = _sym.expand_dims(x, axis=a)
    return [_sym.identity(x, name=n.name)]


def squeeze(ctx: ImportContext, n: OnnxNode) -> list:
    axes = _axes(ctx, n, 1)
    kw: dict = {"axis": tuple(axes)} if axes else {}
    return [_sym.squeeze(ctx.sym(n.inputs[0]), name=n.name, **kw)]


def _bound(v: int) -> int | None:
    return None if v >= INT_MAX // 2 or v <= INT_MIN // 2 else v


def slice_(ctx: ImportContext, n: OnnxNode) -> list:
    if "starts" in n.attrs:
        starts, ends = list(n.attrs["starts"]), list(n.attrs["ends"])
        axes_v, steps_v = n.attrs.get("axes"), None
    else:
        starts, ends = list(ctx.const(n.inputs[1])), list(ctx.const(n.inputs[2]))
        axes_v = ctx.maybe_const(n.inputs[3]) if len(n.inputs) > 3 else None
        steps_v = ctx.maybe_const(n.inputs[4]) if len(n.inputs) > 4 else None
    ndim = len(ctx.shape(n.inputs[0]))
    axes = list(range(len(starts))) if axes_v is None else [int(a) % ndim for a in axes_v]
    steps = [1] * len(axes) if steps_v is None else [int(s) for s in steps_v]
    begin: list = [None] * ndim
    end: list = [None] * ndim
    step: list = [None] * ndim
    for a, b, e, s in zip(axes, starts, ends, steps):
        begin[a], end[a], step[a] = _bound(int(b)), _bound(int(e)), s
    return [_sym.slice(ctx.sym(n.inputs[0]), begin=tuple(begin), end=tuple(end), step=tuple(step), name=n.name)]


def split(ctx: ImportContext, n: OnnxNode) -> list:
    axis = int(n.attrs.get("axis", 0))
    sizes = n.attrs.get("split")
    if sizes is None and len(n.inputs) > 1 and n.inputs[1]:
        sizes = [int(s) for s in ctx.const(n.inputs[1])]
    x, k = ctx.sym(n.inputs[0]), len(n.outputs)
    if sizes is None or len(set(sizes)) == 1:
        parts = _sym.split(x, num_outputs=k, axis=axis, name=n.name)
        return [parts[i] for i in range(k)] if k > 1 else [parts]
    outs, start = [], 0
    for s in sizes:
        outs.append(_sym.slice_axis(x, axis=axis, begin=start, end=start + int(s)))
        start += int(s)
    return outs


def expand(ctx: ImportContext, n: OnnxNode) -> list:
    target = tuple(int(d) for d in ctx.const(n.inputs[1]))
    shape = np.broadcast_shapes(ctx.shape(n.inputs[0]), target)
    x = ctx.sym(n.inputs[0])
    src = ctx.shape(n.inputs[0])
    if len(src) < len(shape):
        x = _sym.reshape(x, shape=(1,) * (len(shape) - len(src)) + tuple(src))
    return [_sym.broadcast_to(x, shape=tuple(shape), name=n.name)]


def tile(ctx: ImportContext, n: OnnxNode) -> list:
    reps = tuple(int(r) for r in ctx.const(n.inputs[1]))
    return [_sym.tile(ctx.sym(n.inputs[0]), reps=reps, name=n.name)]


def where(ctx: ImportContext, n: OnnxNode) -> list:
    c, x, y = (ctx.sym(i) for i in n.inputs)
    return [_sym.where(c, x, y, name=n.name)]


def arg_reduce(ctx: ImportContext, n: OnnxNode) -> list:
    f = _sym.argmax if n.op_type == "ArgMax" else _sym.argmin
    keep = bool(n.attrs.get("keepdims", 1))
    return [f(ctx.sym(n.inputs[0]), axis=int(n.attrs.get("axis", 0)), keepdims=keep, name=n.name)]


def _table() -> dict:
    t: dict = {op: binary(op) for op in _BINARY}
    t.update({op: unary for op in _UNARY})
    t.update({op: reduce for op in _REDUCE})
    t.update({"Sum": variadic("Sum"), "Mean": variadic("Mean")})
    for op in ("Max", "Min"):
        two = binary(op)
        many = variadic(op)
        t[op] = lambda ctx, n, two=two, many=many: two(ctx, n) if len(n.inputs) == 2 else many(ctx, n)
    t.update(
        {
            "Reshape": reshape,
            "Transpose": transpose,
            "Concat": concat,
            "Clip": clip,
            "Gather": gather,
            "Cast": cast,
            "Unsqueeze": unsqueeze,
            "Squeeze": squeeze,
            "Slice": slice_,
            "Split": split,
            "Expand": expand,
            "Tile": tile,
            "Where": where,
            "ArgMax": arg_reduce,
            "ArgMin": arg_reduce,
        }
    )
    return t


TABLE = _table()

__all__ = ["TABLE"]
