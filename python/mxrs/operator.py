"""Python operators, as MXNet 1.9.1's ``mx.operator``: subclass :class:`CustomOp` (the
computation) and :class:`CustomOpProp` (names, shapes, types, and the factory), register the
prop with :func:`register`, and call it with ``mx.nd.Custom(*inputs, op_type=NAME, **kwargs)``.

``mx.nd.Custom`` runs the operator eagerly on the calling thread (see
:mod:`mxrs.ndarray._custom`); under ``mx.autograd.record`` its ``backward`` is called by
``backward()``. ``mx.sym.Custom`` makes it a node of a Symbol graph, whose executor calls
``forward`` and ``backward`` from the engine.

MXNet's deprecated interfaces :class:`PythonOp`, :class:`NumpyOp` and :class:`NDArrayOp` are
here too (:mod:`mxrs._legacy_op`): their ``get_symbol`` makes a ``Custom`` node through an
internal prop. :func:`get_operator_arguments` describes a registered operator's inputs and
parameters.
"""

import collections
import warnings

from mxrs import _native
from mxrs.base import MXNetError
from mxrs.ndarray._custom import REGISTRY, Custom

__all__ = [
    "Custom",
    "CustomOp",
    "CustomOpProp",
    "NDArrayOp",
    "NumpyOp",
    "OperatorArguments",
    "PythonOp",
    "get_all_registered_operators",
    "get_operator_arguments",
    "register",
]


class CustomOp:
    """Base class of a Python operator's computation."""

    def __init__(self):
        pass

    def forward(self, is_train, req, in_data, out_data, aux):
        """Compute ``out_data`` from ``in_data``; write each output with :meth:`assign`."""
        raise NotImplementedError

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Compute ``in_grad`` from ``out_grad``; write each gradient with :meth:`assign`."""
        raise NotImplementedError

    def assign(self, dst, req, src):
        """Write ``src`` into ``dst`` as ``req`` says: 'null' (nothing), 'write'/'inplace'
        (copy) or 'add' (accumulate)."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] = dst + src
        else:
            raise MXNetError(f"CustomOp.assign: unknown req {req!r} (null, write, inplace, add)")


class CustomOpProp:
    """Base class of a Python operator's properties. ``need_top_grad`` says whether
    ``backward`` uses the output gradients (False for loss heads, which then get zeros)."""

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape):
        """Return ``(in_shapes, out_shapes, aux_shapes)``; by default every output has the
        first input's shape."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type):
        """Return ``(in_types, out_types, aux_types)``; by default everything has the first
        input's type."""
        t = in_type[0]
        return (
            [t] * len(self.list_arguments()),
            [t] * len(self.list_outputs()),
            [t] * len(self.list_auxiliary_states()),
        )

    def infer_storage_type(self, in_stype):
        """Storage types: only 'default' (dense) is supported."""
        for s in in_stype:
            if s != "default":
                raise MXNetError(f"CustomOpProp.infer_storage_type: only 'default' storage is supported, got {s!r}")
        return in_stype, ["default"] * len(self.list_outputs()), ["default"] * len(self.list_auxiliary_states())

    def list_outputs(self):
        """Names of the outputs."""
        return ["output"]

    def list_arguments(self):
        """Names of the inputs."""
        return ["data"]

    def list_auxiliary_states(self):
        """Names of the auxiliary states."""
        return []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The arrays ``backward`` uses (all of them are always kept here)."""
        deps = []
        if self.need_top_grad_:
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps

    def create_operator(self, ctx, in_shapes, in_dtypes):
        """Return the :class:`CustomOp` that computes this operator."""
        return CustomOp()


def register(reg_name):
    """Class decorator: register a :class:`CustomOpProp` subclass as ``op_type=reg_name``."""

    def do_register(prop_cls):
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise MXNetError(f"operator.register({reg_name!r}): expects a CustomOpProp subclass")
        REGISTRY[reg_name] = prop_cls
        return prop_cls

    return do_register


def get_all_registered_operators():
    """Names of every registered operator (MXNet's ``MXListAllOpNames``: ops and their
    aliases), with the ``op_type`` names of the registered Python operators."""
    names = {op[0] for op in _native.list_ops()} | {a for a, _ in _native.list_aliases()}
    return sorted(names | set(REGISTRY))


#: What :func:`get_operator_arguments` returns: the number of arguments, their names and their
#: type strings, as MXNet's C API describes them.
OperatorArguments = collections.namedtuple("OperatorArguments", ["narg", "names", "types"])


def _param_type(default):
    """MXNet's type string of a parameter, from what the registry knows: its default."""
    if default is None:
        return "required"
    d = str(default)
    if d in ("True", "False", "true", "false"):
        return f"boolean, optional, default={int(d.lower() == 'true')}"
    if d == "None":
        return "optional, default=None"
    if d.startswith("(") or d.startswith("["):
        return f"Shape(tuple), optional, default={d.replace('(', '[').replace(')', ']').replace(',]', ']')}"
    try:
        int(d)
        return f"int, optional, default='{d}'"
    except ValueError:
        pass
    try:
        f = float(d)
        return f"float, optional, default={int(f) if f.is_integer() else d}"
    except ValueError:
        return f"string, optional, default='{d.strip(chr(39))}'"


def get_operator_arguments(op_name):
    """The arguments of the registered operator ``op_name`` (an alias works): its array inputs
    (``NDArray-or-Symbol``, or ``NDArray-or-Symbol[]`` for any number), then its parameters
    with their defaults. Type names mxrs's registry does not record (int or float of a required
    parameter) are left out of the type string."""
    canonical = dict(_native.list_aliases()).get(op_name, op_name)
    found = [op for op in _native.list_ops() if op[0] == canonical]
    if not found:
        raise MXNetError(f"get_operator_arguments: Operator {op_name} is not registered")
    name, inputs, params, _doc = found[0]
    names, types = [], []
    for i in inputs:
        variadic = i.startswith("*")
        names.append(i[1:] if variadic else i)
        types.append("NDArray-or-Symbol[]" if variadic else "NDArray-or-Symbol")
    for p, default in params:
        names.append(p)
        types.append("string" if (name, p) == ("Custom", "op_type") else _param_type(default))
    return OperatorArguments(len(names), names, types)


# ----- MXNet's deprecated operator interfaces, on top of Custom ------------------------------


class PythonOp:
    """Base class of MXNet's deprecated Python operators (use :class:`CustomOp`).
    ``need_top_grad`` is what :meth:`need_top_grad` returns."""

    _ref_holder: list = []

    def __init__(self, need_top_grad=True):
        self.info_ = None
        self.need_top_grad_ = need_top_grad
        warnings.warn("PythonOp has been deprecated. Please use CustomOp", stacklevel=2)

    def __call__(self, *args, **kwargs):
        return self.get_symbol(*args, **kwargs)

    def get_symbol(self, *args, **kwargs):
        """A symbol applying this operator to ``args`` (symbols)."""
        raise NotImplementedError("Must override this")

    def forward(self, in_data, out_data):
        """Compute ``out_data`` from ``in_data``; by default a copy."""
        out_data[0][:] = in_data[0]

    def backward(self, out_grad, in_data, out_data, in_grad):
        """Compute ``in_grad``; by default ones."""
        del out_grad, in_data, out_data
        in_grad[0][:] = 1.0

    def infer_shape(self, in_shape):
        """``(argument shapes, output shapes)``; by default the output has the first input's."""
        return in_shape, [in_shape[0]]

    def list_outputs(self):
        """Names of the outputs."""
        return ["output"]

    def list_arguments(self):
        """Names of the inputs."""
        return ["data"]

    def need_top_grad(self):
        """Whether backward uses the output gradients (False for loss layers)."""
        return self.need_top_grad_

    def _make_symbol(self, kind, args, kwargs):
        """The ``Custom`` node running this operator: an internal prop registered under a name
        unique to this instance (the operator keeps its state across calls, as in MXNet)."""
        from mxrs.symbol.symbol import _create  # noqa: PLC0415  (mxrs.symbol imports this module)

        op_type = f"_{kind}_op_{id(self):x}"
        pyop = self

        class _Prop(_LegacyProp):
            def __init__(self):
                super().__init__(pyop, kind)

        REGISTRY[op_type] = _Prop
        PythonOp._ref_holder.append(self)
        syms = {k: v for k, v in kwargs.items() if k not in ("name", "attr")}
        return _create(
            "Custom", list(args), {"op_type": op_type}, kwargs.get("name"), kwargs.get("attr"), _HINTS[kind], syms
        )


#: Node name hints of MXNet's ops behind NumpyOp (``_Native``) and NDArrayOp (``_NDArray``).
_HINTS = {"numpy": "_native", "ndarray": "_ndarray"}


class NumpyOp(PythonOp):
    """A deprecated operator computed with NumPy: ``forward(in_data, out_data)`` and
    ``backward(out_grad, in_data, out_data, in_grad)`` receive NumPy arrays (float32) and write
    ``out_data`` / ``in_grad`` in place."""

    def __init__(self, need_top_grad=True):
        super().__init__(need_top_grad)
        warnings.warn("NumpyOp has been deprecated. Please use CustomOp", stacklevel=2)

    def get_symbol(self, *args, **kwargs):
        """A symbol applying this operator to ``args`` (symbols) and ``kwargs`` (symbols by
        input name, ``name``)."""
        return self._make_symbol("numpy", args, kwargs)


class NDArrayOp(PythonOp):
    """A deprecated operator computed with NDArrays: ``forward(in_data, out_data)`` and
    ``backward(out_grad, in_data, out_data, in_grad)`` receive NDArrays and write ``out_data``
    / ``in_grad`` (``arr[:] = ...``)."""

    def __init__(self, need_top_grad=True):
        super().__init__(need_top_grad)
        warnings.warn("NDArrayOp has been deprecated. Please use CustomOp", stacklevel=2)

    def get_symbol(self, *args, **kwargs):
        """A symbol applying this operator to ``args`` (symbols) and ``kwargs`` (symbols by
        input name, ``name``)."""
        return self._make_symbol("ndarray", args, kwargs)

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The ids of the arrays backward uses."""
        deps = []
        if self.need_top_grad():
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps


class _LegacyProp(CustomOpProp):
    """The prop of a :class:`PythonOp`: its names and shapes; everything is float32."""

    def __init__(self, pyop, kind):
        super().__init__(need_top_grad=pyop.need_top_grad())
        self._pyop = pyop
        self._kind = kind

    def list_arguments(self):
        return self._pyop.list_arguments()

    def list_outputs(self):
        return self._pyop.list_outputs()

    def infer_shape(self, in_shape):
        ishape, oshape = self._pyop.infer_shape(in_shape)
        return ishape, oshape, []

    def infer_type(self, in_type):
        import numpy as np  # noqa: PLC0415

        f = np.float32
        return [f] * len(self.list_arguments()), [f] * len(self.list_outputs()), []

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return _LegacyOp(self._pyop, self._kind == "numpy")


class _LegacyOp(CustomOp):
    """Runs a :class:`NumpyOp` over NumPy copies, or an :class:`NDArrayOp` over the arrays."""

    def __init__(self, pyop, numpy):
        super().__init__()
        self._pyop = pyop
        self._numpy = numpy

    def forward(self, is_train, req, in_data, out_data, aux):
        if not self._numpy:
            self._pyop.forward(in_data=in_data, out_data=out_data)
            return
        ins = [a.asnumpy() for a in in_data]
        outs = [o.asnumpy() for o in out_data]
        self._pyop.forward(in_data=ins, out_data=outs)
        for o, r, v in zip(out_data, req, outs):
            self.assign(o, r, v)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        if not self._numpy:
            self._pyop.backward(out_grad=out_grad, in_data=in_data, out_data=out_data, in_grad=in_grad)
            return
        np_args = {
            "out_grad": [g.asnumpy() for g in out_grad],
            "in_data": [a.asnumpy() for a in in_data],
            "out_data": [o.asnumpy() for o in out_data],
            "in_grad": [g.asnumpy() for g in in_grad],
        }
        self._pyop.backward(**np_args)
        for g, r, v in zip(in_grad, req, np_args["in_grad"]):
            self.assign(g, r, v)
