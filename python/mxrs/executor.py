"""``mx.executor.Executor``: a Symbol bound to arrays, running forward and backward on the engine."""

from typing import Any

from mxrs import _native
from mxrs.base import MXNetError, MXNetTypeError, MXNetValueError
from mxrs.context import Context
from mxrs.ndarray.ndarray import NDArray, _shape, _wrap, array, zeros

__all__ = ["Executor"]


def _as_list(name, value, names, allow_none=False):
    """A list or a dict (by name) of arrays -> a list in ``names`` order. As in MXNet, a list of
    the wrong length or a dict missing a name is a ValueError (MXNetValueError), anything but a
    list or a dict a TypeError (MXNetTypeError)."""
    if value is None:
        return [None] * len(names)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise MXNetValueError(f"bind: {name} names {unknown} which are not among {names}")
        out: list = []
        for n in names:
            if n not in value:
                if allow_none:
                    out.append(None)
                    continue
                raise MXNetValueError(f"bind: {name} has no array for '{n}' (key `{n}` is missing); it needs {names}")
            out.append(value[n])
        return out
    if isinstance(value, NDArray) or not isinstance(value, (list, tuple)):
        raise MXNetTypeError(f"bind: {name} must be a list of NDArrays or a dict of str to NDArray, got {value!r}")
    value = list(value)
    if len(value) != len(names):
        raise MXNetValueError(
            f"bind: Length of {name} does not match the number of arguments: {len(names)} needed "
            f"({', '.join(names)}), got {len(value)}"
        )
    return value


def _check_arrays(what, arrays, names):
    for n, a in zip(names, arrays):
        if a is not None and not isinstance(a, NDArray):
            raise MXNetTypeError(f"bind: {what} for '{n}' must be an NDArray, got {type(a).__name__}")


class Executor:
    """A bound symbol. Made by ``Symbol.bind`` or ``Symbol.simple_bind``."""

    def __init__(self, symbol, ctx, arg_arrays, grad_arrays, grad_req, aux_arrays, handle):
        self._symbol = symbol
        self._ctx = ctx
        self.arg_arrays = arg_arrays
        self.grad_arrays = grad_arrays
        self.aux_arrays = aux_arrays
        self._grad_req = grad_req
        self._handle = handle
        self.outputs = [_wrap(h) for h in handle.outputs()]
        self._head_grads = [_wrap(h) for h in handle.head_grads()]
        self._head_grads_default = True
        names = symbol.list_arguments()
        self.arg_dict = dict(zip(names, arg_arrays))
        self.grad_dict = {n: g for n, g in zip(names, grad_arrays) if g is not None}
        self.aux_dict = dict(zip(symbol.list_auxiliary_states(), aux_arrays))
        self.output_dict = dict(zip(symbol.list_outputs(), self.outputs))
        self._monitor = None
        self._monitor_exec = None

    # ----- construction ------------------------------------------------------------------------
    @classmethod
    def _bind(cls, symbol, ctx, args, args_grad, grad_req, aux_states):
        ctx = Context(ctx) if not isinstance(ctx, Context) else ctx
        names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        args = _as_list("args", args, names)
        _check_arrays("argument", args, names)
        grads = _as_list("args_grad", args_grad, names, allow_none=True)
        _check_arrays("gradient", grads, names)
        if aux_states is None and aux_names:
            raise MXNetValueError(f"bind: aux_states are needed for {aux_names}")
        aux = _as_list("aux_states", aux_states or [], aux_names)
        _check_arrays("aux state", aux, aux_names)
        if isinstance(grad_req, str):
            reqs = [grad_req] * len(names)
        elif isinstance(grad_req, dict):
            reqs = [grad_req.get(n, "null") for n in names]
        else:
            if not isinstance(grad_req, (list, tuple)):
                raise MXNetTypeError(f"bind: grad_req must be a str, a list or a dict, got {grad_req!r}")
            reqs = list(grad_req)
            if len(reqs) != len(names):
                raise MXNetValueError(f"bind: grad_req must have {len(names)} entries, got {len(reqs)}")
        for r in reqs:
            if r not in ("null", "write", "add", "inplace"):
                raise MXNetValueError(f"bind: grad_req must be 'null', 'write' or 'add', got {r!r}")
        reqs = [r if g is not None else "null" for r, g in zip(reqs, grads)]
        handle = _native.ExecutorHandle.bind(
            symbol._handle,
            ctx._pair(),
            [a._handle for a in args],
            [g._handle if g is not None else None for g in grads],
            reqs,
            [a._handle for a in aux],
        )
        req_dict = dict(zip(names, reqs))
        return cls(symbol, ctx, args, grads, req_dict, aux, handle)

    @classmethod
    def _simple_bind(cls, symbol, ctx, grad_req, type_dict, shapes, reuse=None):
        ctx = Context(ctx) if not isinstance(ctx, Context) else ctx
        names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        # As MXNet's simple_bind: shapes of names the symbol does not have are ignored.
        shapes = {k: _shape(v, "simple_bind") for k, v in shapes.items() if k in names or k in aux_names}
        if type_dict:
            type_dict = {k: v for k, v in type_dict.items() if k in names or k in aux_names}
        arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
        unknown = [n for n, s in zip(names + aux_names, arg_shapes + aux_shapes) if s == ()]
        if unknown:
            raise MXNetError(
                f"simple_bind: cannot infer the shapes of {unknown} from {shapes}; give them as keyword arguments"
            )
        arg_types, _, aux_types = symbol.infer_type_partial(**(type_dict or {}))
        arg_types = [t or "float32" for t in arg_types]
        aux_types = [t or "float32" for t in aux_types]
        if isinstance(grad_req, str):
            reqs = {n: grad_req for n in names}
        elif isinstance(grad_req, dict):
            reqs = {n: grad_req.get(n, "null") for n in names}
        else:
            reqs = dict(zip(names, grad_req))
        reuse = reuse or {}

        def alloc(kind, n, s, t):
            old = reuse.get((kind, n))
            if old is not None and old.shape == tuple(s) and old.dtype == t:
                return old
            return zeros(s, ctx=ctx, dtype=t)

        args = [alloc("arg", n, s, t) for n, s, t in zip(names, arg_shapes, arg_types)]
        grads = [alloc("grad", n, s, t) if reqs[n] != "null" else None for n, s, t in zip(names, arg_shapes, arg_types)]
        aux = [alloc("aux", n, s, t) for n, s, t in zip(aux_names, aux_shapes, aux_types)]
        return cls._bind(symbol, ctx, args, grads, [reqs[n] for n in names], aux)

    # ----- running ---------------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Copy ``kwargs`` into the arguments, then push the forward pass; returns ``outputs``."""
        for k, v in kwargs.items():
            if k not in self.arg_dict:
                raise MXNetTypeError(f"forward: unknown argument {k!r}; the arguments are {list(self.arg_dict)}")
            dst = self.arg_dict[k]
            if isinstance(v, NDArray):
                if v.shape != dst.shape:
                    raise MXNetError(f"forward: {k} has shape {v.shape} but the executor was bound with {dst.shape}")
                v.copyto(dst)
            else:
                dst[:] = v
        monitoring = self._monitor is not None and getattr(self._monitor, "active", lambda: True)()
        aux_snapshot = None
        if monitoring and self.aux_arrays:
            aux_snapshot = [a.copy() for a in self.aux_arrays]
        self._handle.forward(bool(is_train))
        if monitoring:
            self._run_monitor(bool(is_train), aux_snapshot)
        return self.outputs

    def _run_monitor(self, is_train, aux_snapshot):
        """Call the monitor callback on every operator output of the graph (``NAME_output``
        ...), then on the executor's outputs. The internal outputs come from a second executor
        on ``symbol.get_internals()`` that shares the arguments and runs on a copy of the
        auxiliary states taken before the forward (so they are not updated twice); random
        operators (Dropout) therefore draw fresh values there."""
        sym = self._symbol
        if self._monitor_exec is None:
            internals = sym.get_internals()
            self._monitor_exec = Executor._bind(
                internals, self._ctx, self.arg_arrays, None, "null", aux_snapshot or [a.copy() for a in self.aux_arrays]
            )
        mexe = self._monitor_exec
        callback: Any = self._monitor
        if aux_snapshot is not None:
            for dst, src in zip(mexe.aux_arrays, aux_snapshot):
                src.copyto(dst)
        mexe._handle.forward(is_train)
        leaves = set(sym.list_arguments()) | set(sym.list_auxiliary_states())
        final = set(sym.list_outputs())
        for n, o in zip(mexe._symbol.list_outputs(), mexe.outputs):
            if n not in leaves and n not in final:
                callback(n, o)
        for n, o in zip(sym.list_outputs(), self.outputs):
            callback(n, o)

    def backward(self, out_grads=None, is_train=True):
        """Push the backward pass. ``out_grads`` are the gradients of the outputs (ones by default;
        loss outputs ignore them)."""
        if out_grads is None:
            if not self._head_grads_default:
                for h in self._head_grads:
                    h[:] = 1
                self._head_grads_default = True
        else:
            if isinstance(out_grads, NDArray):
                out_grads = [out_grads]
            elif isinstance(out_grads, dict):
                out_grads = [out_grads[n] for n in self._symbol.list_outputs()]
            out_grads = list(out_grads)
            if len(out_grads) != len(self._head_grads):
                raise MXNetError(f"backward: expects {len(self._head_grads)} out_grads, got {len(out_grads)}")
            for h, g in zip(self._head_grads, out_grads):
                if not isinstance(g, NDArray):
                    g = array(g, ctx=h.context, dtype=h.dtype)
                if g.shape != h.shape:
                    raise MXNetError(f"backward: out_grad has shape {g.shape}, the output has {h.shape}")
                g.copyto(h)
            self._head_grads_default = False
        self._handle.backward()

    def set_monitor_callback(self, callback, monitor_all=False):
        """Call ``callback(name, array)`` after every forward for each operator output of the
        graph (``NAME_output``, in topological order) then for the executor's outputs, as
        MXNet's monitor callback. A callback with an ``active()`` attribute that returns False
        is skipped for that forward (``Monitor`` between its collecting steps). ``monitor_all``
        (MXNet: also the operators' inputs) is accepted; inputs are reported by
        :class:`mxrs.monitor.Monitor` from the arguments."""
        del monitor_all
        self._monitor = callback
        self._monitor_exec = None

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        """Copy parameter values into the bound arrays."""
        for name, arr in (arg_params or {}).items():
            if name in self.arg_dict:
                arr.copyto(self.arg_dict[name])  # converts the dtype when they differ
            elif not allow_extra_params:
                raise ValueError(f"Find name {name!r} that is not in the arguments")
        for name, arr in (aux_params or {}).items():
            if name in self.aux_dict:
                arr.copyto(self.aux_dict[name])
            elif not allow_extra_params:
                raise ValueError(f"Find name {name!r} that is not in the auxiliary states")

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new input shapes, sharing the arrays whose shapes do not change."""
        shapes = {n: a.shape for n, a in self.arg_dict.items()}
        shapes.update(kwargs)
        arg_shapes, _, _ = self._symbol.infer_shape_partial(**kwargs)
        for n, s in zip(self._symbol.list_arguments(), arg_shapes):
            if n not in kwargs and s != () and s != self.arg_dict[n].shape and not partial_shaping:
                raise MXNetError(
                    f"reshape: the shape of {n} changes from {self.arg_dict[n].shape} to {s}; "
                    "pass partial_shaping=True to allow it"
                )
        reuse = {("arg", n): a for n, a in self.arg_dict.items()}
        reuse.update({("grad", n): a for n, a in self.grad_dict.items()})
        reuse.update({("aux", n): a for n, a in self.aux_dict.items()})
        types = {n: a.dtype for n, a in self.arg_dict.items()}
        new_shapes = {n: tuple(s) for n, s in zip(self._symbol.list_arguments(), arg_shapes) if s != ()}
        new_shapes.update(kwargs)
        return Executor._simple_bind(self._symbol, self._ctx, self._grad_req, types, new_shapes, reuse)

    def debug_str(self):
        """The forward and backward schedules and the number of buffers of the memory plan."""
        return self._handle.debug_str()
