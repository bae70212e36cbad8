"""The body of every generated op function of ``mx.nd`` (``_ops.py``): the call that
:class:`mxrs._native.OpFunction` does not take (a ``ctx``, an attribute given by position or
of another type, extra keyword arguments, a variable number of inputs)."""

from typing import Any

from mxrs.base import MXNetTypeError, _Null
from mxrs.ndarray.ndarray import (
    NDArray,
    _attr,
    _check_op_kwargs,
    _dtype_name,
    _native_call,
    _run,
    invoke,
)


def _attr_fast(v):
    """:func:`_attr`, with the common plain types first."""
    t = type(v)
    if t is str:
        return v
    if t is int or t is float:
        return str(v)
    return _attr(v)


def _call(op, inputs, attrs, out, ctx, kwargs, variadic=False):
    """The body of every generated op function.

    The common call (no extra keyword arguments, a fixed number of inputs) is turned into the
    native call in one pass over the attributes and one over the inputs: this path is most of
    the cost of a small op called as ``mx.nd.<op>(...)`` (measured 3.2 against 1.5 us for the
    native call alone)."""
    if variadic and not kwargs and ctx is None:
        # Arrays given one by one (mx.nd.concat(a, b, dim=0)): natively, with num_args counted
        # here (5.8 -> 2.5 us for two 2x3 arrays); a list of arrays goes to the path below.
        n = attrs.get("num_args", _Null)
        r = _native_call(op, inputs, {**attrs, "num_args": len(inputs)} if n is _Null else attrs, out, _Null, NDArray)
        if r is not None:
            return r
    if kwargs or variadic:
        return _call_general(op, inputs, attrs, out, ctx, kwargs, variadic)
    if ctx is None:
        # All of it natively, unless an attribute, input or output needs the path below.
        r = _native_call(op, inputs, attrs, out, _Null, NDArray)
        if r is not None:
            return r
    kw = {}
    for k, v in attrs.items():
        if v is _Null:
            continue
        if v is None:
            # An explicit None is passed on ("axis=None" means "all axes" for some ops).
            kw[k] = "None"
        elif k == "dtype" and not isinstance(v, str):
            kw[k] = _dtype_name(v)
        else:
            kw[k] = _attr_fast(v)
    handles: list[Any] = []
    for x in inputs:
        if x is None:
            continue
        if type(x) is not NDArray and not isinstance(x, NDArray):
            raise MXNetTypeError(f"{op}: input {len(handles)} must be an NDArray, got {type(x).__name__}")
        handles.append(x._handle)
    return _run(op, handles, kw, out, ctx)


def _call_general(op, inputs, attrs, out, ctx, kwargs, variadic):
    """:func:`_call` with keyword arguments beyond the op's own or a variable number of inputs."""
    kwargs.pop("name", None)
    if kwargs:
        _check_op_kwargs(op, kwargs, attrs, ("out", "name", "ctx"))
    # An explicit None is passed on ("axis=None" means "all axes" for some ops).
    attrs = {k: ("None" if v is None else v) for k, v in attrs.items() if v is not _Null}
    attrs.update(kwargs)
    inputs = [x for x in inputs if x is not None]
    if variadic:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = list(inputs[0])
        attrs.setdefault("num_args", len(inputs))
    for i, x in enumerate(inputs):
        if not isinstance(x, NDArray):
            raise MXNetTypeError(f"{op}: input {i} must be an NDArray, got {type(x).__name__}")
    if "dtype" in attrs and attrs["dtype"] is not None and not isinstance(attrs["dtype"], str):
        attrs["dtype"] = _dtype_name(attrs["dtype"])
    return invoke(op, inputs, attrs, out=out, ctx=ctx)
