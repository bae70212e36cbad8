"""``mx.nd.Custom``: run a Python operator registered with :func:`mxrs.operator.register`.

The registry lives here (not in :mod:`mxrs.operator`) so that :mod:`mxrs.ndarray` does not
import :mod:`mxrs.operator`. The operator runs eagerly on the calling thread: its ``forward``
is called at once (inputs are read after the engine has finished writing them, as NDArray
methods such as ``asnumpy`` wait), and an exception raised in ``forward`` is raised at once as
:class:`mxrs.base.MXNetError` naming the ``op_type`` (MXNet defers it to the next sync point).
Under :func:`mxrs.autograd.record` the call is recorded as ONE node of the tape whose backward
calls the operator's ``backward``.

In Symbol graphs (``mx.sym.Custom``) the native ``Custom`` op calls back into :class:`_Bridge`
(installed with ``_native.custom_set_factory`` at import): one bridge per graph node holds the
prop and, per input shapes and dtypes, the operator ``create_operator`` made, which forward and
backward share. Forward and backward run on engine threads with fresh host arrays.
"""

import traceback

import numpy as np

from mxrs import _native
from mxrs.base import MXNetError
from mxrs.context import Context
from mxrs.ndarray.ndarray import NDArray, _wrap, zeros

#: ``op_type`` -> CustomOpProp subclass, filled by :func:`mxrs.operator.register`.
REGISTRY: dict = {}


def _prop(op_type, kwargs):
    if op_type not in REGISTRY:
        raise MXNetError(f"Custom: op_type {op_type!r} is not registered (known: {sorted(REGISTRY)})")
    # MXNet passes every keyword argument to the prop's constructor as a string.
    return REGISTRY[op_type](**{k: str(v) for k, v in kwargs.items()})


def _gather_inputs(prop, op_type, args, kwargs):
    """Split positional/named inputs (arguments then auxiliary states) from the op's kwargs."""
    prop_names = list(prop.list_arguments())
    names = prop_names + list(prop.list_auxiliary_states())
    arrays = list(args)
    for n in names[len(arrays) :]:
        if n in kwargs:
            arrays.append(kwargs.pop(n))
    if len(arrays) != len(names):
        raise MXNetError(f"Custom({op_type}): expects inputs {names}, got {len(arrays)}")
    for n, a in zip(names, arrays):
        if not isinstance(a, NDArray):
            raise MXNetError(f"Custom({op_type}): input {n!r} must be an NDArray, not {type(a).__name__}")
    return arrays[: len(prop_names)], arrays[len(prop_names) :]


def _infer(prop, op_type, in_data, aux):
    shapes = [a.shape for a in in_data]
    res = prop.infer_shape(shapes)
    in_shapes, out_shapes = res[0], res[1]
    aux_shapes = res[2] if len(res) > 2 else []
    for n, a, s in zip(prop.list_arguments(), in_data, in_shapes):
        if tuple(a.shape) != tuple(s):
            raise MXNetError(f"Custom({op_type}): input {n!r} has shape {a.shape}, infer_shape expects {tuple(s)}")
    for a, s in zip(aux, aux_shapes):
        if tuple(a.shape) != tuple(s):
            raise MXNetError(f"Custom({op_type}): auxiliary state has shape {a.shape}, expected {tuple(s)}")
    tres = prop.infer_type([a.dtype for a in in_data])
    return [tuple(s) for s in in_shapes], [tuple(s) for s in out_shapes], list(tres[0]), list(tres[1])


def Custom(*args, op_type=None, out=None, name=None, **kwargs):  # noqa: N802  (MXNet's name)
    """Apply the custom operator registered as ``op_type`` to ``args`` (inputs in the order of
    its ``list_arguments`` then ``list_auxiliary_states``; they may also be given by name).
    Other keyword arguments go, as strings, to the operator's ``CustomOpProp`` constructor.
    Returns one NDArray, or a list when the operator has several outputs."""
    del name
    from mxrs import autograd  # noqa: PLC0415  (autograd imports mxrs.ndarray)

    if op_type is None:
        raise MXNetError("Custom: op_type is required")
    kwargs = dict(kwargs)
    prop_kwargs = {k: v for k, v in kwargs.items() if not isinstance(v, NDArray)}
    prop = _prop(op_type, prop_kwargs)
    in_data, aux = _gather_inputs(prop, op_type, args, {k: v for k, v in kwargs.items() if isinstance(v, NDArray)})
    in_shapes, out_shapes, in_types, out_types = _infer(prop, op_type, in_data, aux)
    ctx = in_data[0].context if in_data else None
    op = prop.create_operator(ctx, in_shapes, in_types)
    outs = [zeros(s, ctx=ctx, dtype=t) for s, t in zip(out_shapes, out_types)]
    was_recording = autograd.is_recording()
    is_train = autograd.is_training()
    try:
        with autograd.pause(train_mode=is_train):
            op.forward(is_train, ["write"] * len(outs), in_data, outs, aux)
            for o in outs:
                o.wait_to_read()
    except MXNetError:
        raise
    except Exception as exc:
        raise MXNetError(f"Custom({op_type}) forward: {type(exc).__name__}: {exc}") from exc
    if was_recording:
        outs = _record(prop, op, op_type, in_data, outs, aux)
    if out is not None:
        outs[0].copyto(out)
        return out
    return outs[0] if len(outs) == 1 else outs


def _record(prop, op, op_type, in_data, outs, aux):
    from mxrs import autograd  # noqa: PLC0415  (autograd imports mxrs.ndarray)

    need_top = getattr(prop, "need_top_grad_", True)

    def backward_fn(*out_grads):
        in_grads = [zeros(a.shape, ctx=a.context, dtype=a.dtype) for a in in_data]
        grads = list(out_grads) if need_top else [zeros(o.shape, ctx=o.context, dtype=o.dtype) for o in outs]
        try:
            op.backward(["write"] * len(in_data), grads, in_data, outs, in_grads, aux)
        except MXNetError:
            raise
        except Exception as exc:
            raise MXNetError(f"Custom({op_type}) backward: {type(exc).__name__}: {exc}") from exc
        return tuple(in_grads)

    return autograd.record_custom(in_data, outs, backward_fn, name=f"Custom({op_type})")


def _describe(stage, exc):
    """An exception raised by a prop or operator method, with its traceback, as MXNet prints it."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return f"error in {stage}: {type(exc).__name__}: {exc}\n{tb}"


def _shape_list(shapes):
    return [[int(d) for d in s] for s in shapes]


def _dtype_name(t):
    return None if t is None else np.dtype(t).name


class _Bridge:
    """What the native ``Custom`` op of a Symbol graph calls: one per graph node."""

    def __init__(self, op_type, kwargs):
        try:
            self.prop = _prop(op_type, dict(kwargs))
            self.arguments = [str(n) for n in self.prop.list_arguments()]
            self.outputs = [str(n) for n in self.prop.list_outputs()]
            self.aux = [str(n) for n in self.prop.list_auxiliary_states()]
        except MXNetError:
            raise
        except Exception as exc:
            raise MXNetError(_describe("CustomOpProp.__init__", exc)) from None
        self.op_type = op_type
        self.need_top_grad = bool(getattr(self.prop, "need_top_grad_", True))
        self._ops = {}

    def _call(self, stage, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:
            raise MXNetError(_describe(stage, exc)) from None

    def _split(self, res, stage):
        res = list(res)
        if len(res) == 2:
            res.append([])
        if len(res) != 3:
            raise MXNetError(f"{stage} must return 2 or 3 lists, got {len(res)}")
        return res

    def infer_shape(self, shapes):
        """``(arguments, outputs, aux)`` shapes; None when some shape is unknown and the prop
        cannot tell yet. Unknown shapes reach the prop as ``[]``, as in MXNet."""
        partial = any(s is None for s in shapes)
        given = [[] if s is None else list(s) for s in shapes]
        try:
            res = self._split(self.prop.infer_shape(given), "CustomOpProp.infer_shape")
            return tuple(_shape_list(r) for r in res)
        except Exception as exc:
            if partial:
                return None
            if isinstance(exc, MXNetError):
                raise
            raise MXNetError(_describe("CustomOpProp.infer_shape", exc)) from None

    def infer_type(self, dtypes):
        """``(arguments, outputs, aux)`` dtype names (None: unknown)."""
        given = [None if d is None else np.dtype(d).type for d in dtypes]
        try:
            res = self._split(self.prop.infer_type(given), "CustomOpProp.infer_type")
            return tuple([_dtype_name(t) for t in r] for r in res)
        except MXNetError:
            raise
        except Exception as exc:
            if any(d is None for d in dtypes):
                return [None] * len(self.arguments), [None] * len(self.outputs), [None] * len(self.aux)
            raise MXNetError(_describe("CustomOpProp.infer_type", exc)) from None

    def _op(self, in_data):
        key = tuple((a.shape, np.dtype(a.dtype).name) for a in in_data)
        op = self._ops.get(key)
        if op is None:
            shapes = [list(a.shape) for a in in_data]
            dtypes = [np.dtype(a.dtype).type for a in in_data]
            op = self._call(
                "CustomOpProp.create_operator", self.prop.create_operator, Context("cpu", 0), shapes, dtypes
            )
            self._ops[key] = op
        return op

    def forward(self, is_train, ins, outs, aux):
        """Run ``CustomOp.forward`` over handles (inputs read-only)."""
        in_data = [_readonly(h) for h in ins]
        out_data = [_wrap(h) for h in outs]
        aux_data = [_wrap(h) for h in aux]
        op = self._op(in_data)
        req = ["write"] * len(out_data)
        self._call("CustomOp.forward", op.forward, bool(is_train), req, in_data, out_data, aux_data)

    def backward(self, out_grad, ins, outs, in_grad, aux):
        """Run ``CustomOp.backward`` over handles (only ``in_grad`` writable)."""
        in_data = [_readonly(h) for h in ins]
        op = self._op(in_data)
        args = (
            ["write"] * len(in_grad),
            [_readonly(h) for h in out_grad],
            in_data,
            [_readonly(h) for h in outs],
            [_wrap(h) for h in in_grad],
            [_wrap(h) for h in aux],
        )
        self._call("CustomOp.backward", op.backward, *args)


def _readonly(h):
    a = _wrap(h)
    a.writable = False
    return a


_native.custom_set_factory(_Bridge)
