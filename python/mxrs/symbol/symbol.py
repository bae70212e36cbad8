"""The Symbol class: an immutable graph of registered ops, with MXNet 1.x's API."""

import contextvars
import functools
import json
import numbers
import os
import warnings

from mxrs import _arith, _native
from mxrs import attribute as _attribute
from mxrs import name as _name
from mxrs.base import MXNetError, MXNetIOError, MXNetTypeError, MXNetValueError, _Null
from mxrs.context import current_context
from mxrs.executor import Executor
from mxrs.ndarray.ndarray import _attr, _check_op_kwargs, _dtype_name, _np_dtype, _shape

__all__ = ["Symbol", "Variable", "var", "Group", "load", "load_json", "create"]

# dtype name -> MXNet's type flag (stored in ``__dtype__``).
_DTYPE_FLAG = {
    "float32": 0,
    "float64": 1,
    "float16": 2,
    "uint8": 3,
    "int32": 4,
    "int8": 5,
    "int64": 6,
    "bool": 7,
    "bfloat16": 12,
}


def _binary_method(op, reverse=False):
    """The dunder of ``op`` (``reverse``: the reflected one, ``other OP self``)."""

    def dunder(self, o):
        return self._binary(o, op, reverse)

    return dunder


def _wrap(handle):
    s = object.__new__(Symbol)
    s._handle = handle
    return s


class Symbol:
    """A symbolic graph: what ``mx.sym.Variable`` and every ``mx.sym`` op return."""

    __slots__ = ("_handle",)

    def __init__(self, handle):
        self._handle = handle

    # ----- description -------------------------------------------------------------------
    @property
    def name(self):
        """The head node's name (None for a group)."""
        return self._handle.name()

    def __repr__(self):
        name = self.name
        if name is None:
            return f"<Symbol group [{', '.join(self.list_outputs())}]>"
        return f"<Symbol {name}>"

    def list_arguments(self):
        """Argument names (variables that are not aux states), in graph order."""
        return self._handle.list_arguments()

    def list_outputs(self):
        """Output names (``fc1_output``...)."""
        return self._handle.list_outputs()

    def list_auxiliary_states(self):
        """Aux-state names (BatchNorm's moving statistics)."""
        return self._handle.list_auxiliary_states()

    def list_inputs(self):
        """Every variable's name."""
        return self._handle.list_inputs()

    def get_internals(self):
        """A group of every node's outputs."""
        return _wrap(self._handle.get_internals())

    def get_children(self):
        """The inputs of the head node, or None for a variable."""
        h = self._handle.get_children()
        return None if h is None else _wrap(h)

    def __len__(self):
        return self._handle.num_outputs()

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        if isinstance(index, str):
            names = self.list_outputs()
            matches = [i for i, n in enumerate(names) if n == index]
            if not matches:
                raise MXNetValueError(f"Cannot find output that matches name {index!r}; outputs are {names}")
            if len(matches) > 1:
                raise MXNetValueError(f"There are multiple outputs with name {index!r}")
            index = matches[0]
        if not isinstance(index, int):
            raise MXNetTypeError(f"Symbol index must be an int or an output name, got {type(index).__name__}")
        if index < 0:
            index += len(self)
        return _wrap(self._handle.output(index))

    def attr(self, key):
        """The head node's attribute ``key`` (hidden spelling ``__key__`` works too), or None."""
        attrs = self._handle.attrs()
        if attrs is None:
            return None
        if key in attrs:
            return attrs[key]
        return attrs.get(f"__{key}__")

    def list_attr(self, recursive=False):
        """The head node's attributes."""
        if recursive:
            raise DeprecationWarning("list_attr(recursive=True) is deprecated: use attr_dict()")
        return dict(self._handle.attrs() or {})

    def attr_dict(self):
        """``{node name: {key: value}}`` for every node with attributes (both spellings of hidden keys)."""
        out = {}
        for name, attrs in self._handle.attr_dict():
            d = dict(attrs)
            for k, v in attrs.items():
                if k.startswith("__") and k.endswith("__") and len(k) > 4:
                    d.setdefault(k[2:-2], v)
            out[name] = d
        return out

    def _set_attr(self, **kwargs):
        self._handle = self._handle.with_attrs({k: str(v) for k, v in _attribute.hide(kwargs).items()})

    # ----- composition ----------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """Compose: replace free variables by other symbols (``net(data=other, name='n')``)."""
        name = kwargs.pop("name", None)
        if args:
            raise MXNetError("General composition only support kwargs for now")
        for k, v in kwargs.items():
            if not isinstance(v, Symbol):
                raise MXNetTypeError(f"compose: argument {k} must be a Symbol, got {type(v).__name__}")
        return _wrap(self._handle.compose(name, [(k, v._handle) for k, v in kwargs.items()]))

    def __copy__(self):
        return _wrap(self._handle)

    def __deepcopy__(self, memo):
        return _wrap(self._handle)

    def __getstate__(self):
        return {"handle": self.tojson()}

    def __setstate__(self, state):
        self._handle = _native.SymbolHandle.from_json(state["handle"])

    # ----- arithmetic (the operators' ops are in mxrs._arith) -----------------------------
    def _binary(self, other, op, reverse=False):
        if isinstance(other, Symbol):
            lhs, rhs = (other, self) if reverse else (self, other)
            return _create(op.symbol, [lhs, rhs], {}, None, None, op.symbol_hint)
        if isinstance(other, numbers.Number):
            scalar_op = op.rscalar if reverse else op.scalar
            return _create(scalar_op, [self], {"scalar": other}, None, None, _scalar_hint(scalar_op))
        return NotImplemented

    __add__ = _binary_method(_arith.ADD)
    __radd__ = _binary_method(_arith.ADD, reverse=True)
    __sub__ = _binary_method(_arith.SUB)
    __rsub__ = _binary_method(_arith.SUB, reverse=True)
    __mul__ = _binary_method(_arith.MUL)
    __rmul__ = _binary_method(_arith.MUL, reverse=True)
    __truediv__ = _binary_method(_arith.DIV)
    __rtruediv__ = _binary_method(_arith.DIV, reverse=True)
    __mod__ = _binary_method(_arith.MOD)
    __rmod__ = _binary_method(_arith.MOD, reverse=True)
    __pow__ = _binary_method(_arith.POW)
    __rpow__ = _binary_method(_arith.POW, reverse=True)
    __gt__ = _binary_method(_arith.GT)
    __ge__ = _binary_method(_arith.GE)
    __lt__ = _binary_method(_arith.LT)
    __le__ = _binary_method(_arith.LE)

    def __neg__(self):
        return _create("_mul_scalar", [self], {"scalar": -1.0}, None, None, "_mulscalar")

    def __eq__(self, o):
        if isinstance(o, (Symbol, numbers.Number)):
            return self._binary(o, _arith.EQ)
        return NotImplemented

    def __ne__(self, o):
        if isinstance(o, (Symbol, numbers.Number)):
            return self._binary(o, _arith.NE)
        return NotImplemented

    __hash__ = object.__hash__

    def __bool__(self):
        raise NotImplementedError("a Symbol has no truth value")

    # ----- inference ----------------------------------------------------------------------------
    def _known(self, args, kwargs, convert):
        known = []
        if args:
            names = self.list_arguments()
            if len(args) > len(names):
                raise MXNetValueError(f"infer: too many positional arguments; the arguments are {names}")
            known += [(n, convert(a)) for n, a in zip(names, args) if a is not None]
        known += [(k, convert(v)) for k, v in kwargs.items() if v is not None]
        return known

    def infer_shape(self, *args, **kwargs):
        """``(arg_shapes, out_shapes, aux_shapes)``; ``(None, None, None)`` with a warning when incomplete."""
        arg, out, aux = self._infer_shape(args, kwargs)
        unknown = [n for n, s in zip(self.list_arguments(), arg) if s is None]
        if unknown or any(s is None for s in out) or any(s is None for s in aux):
            warnings.warn(
                "Cannot decide shape for the following arguments (0s in shape means unknown dimensions). "
                f"Consider providing them as input:\n\t{', '.join(unknown)}",
                stacklevel=2,
            )
            return None, None, None
        return [tuple(s) for s in arg], [tuple(s) for s in out], [tuple(s) for s in aux]

    def infer_shape_partial(self, *args, **kwargs):
        """As ``infer_shape``, with ``()`` for every unknown shape."""
        arg, out, aux = self._infer_shape(args, kwargs)
        f = lambda v: [tuple(s) if s is not None else () for s in v]  # noqa: E731
        return f(arg), f(out), f(aux)

    def _infer_shape(self, args, kwargs):
        known = self._known(args, kwargs, lambda s: list(_shape(s, "infer_shape")))
        try:
            return self._handle.infer_shape(known)
        except MXNetError:
            print("infer_shape error. Arguments:")
            for k, v in known:
                print(f"  {k}: {tuple(v)}")
            raise

    def infer_type(self, *args, **kwargs):
        """``(arg_types, out_types, aux_types)`` as NumPy types; ``(None, None, None)`` when incomplete."""
        arg, out, aux = self._handle.infer_type(self._known(args, kwargs, _dtype_name))
        if any(t is None for t in arg + out + aux):
            return None, None, None
        f = lambda v: [_np_dtype(t).type for t in v]  # noqa: E731
        return f(arg), f(out), f(aux)

    def infer_type_partial(self, *args, **kwargs):
        """As ``infer_type``, with None for unknown types."""
        arg, out, aux = self._handle.infer_type(self._known(args, kwargs, _dtype_name))
        f = lambda v: [_np_dtype(t).type if t is not None else None for t in v]  # noqa: E731
        return f(arg), f(out), f(aux)

    # ----- serialisation --------------------------------------------------------------------
    def tojson(self, remove_amp_cast=True):
        """MXNet's JSON text of the graph."""
        return self._handle.tojson()

    def save(self, fname, remove_amp_cast=True):
        """Write ``tojson()`` to ``fname``: a path or a URI (``s3://``, ``hdfs://``), atomically."""
        try:
            _native.write_file(os.fspath(fname), self.tojson().encode("utf-8"))
        except OSError as e:
            raise MXNetIOError(f"cannot write the symbol: {e}") from None

    def debug_str(self):
        """A readable listing of the graph."""
        g = json.loads(self.tojson())
        lines = []
        for n in g["nodes"]:
            if n["op"] == "null":
                lines.append(f"Variable:{n['name']}")
            else:
                ins = ", ".join(g["nodes"][i[0]]["name"] for i in n["inputs"])
                lines.append(f"Op:{n['op']}, Name={n['name']}\nInputs:\n\t{ins}")
                if n.get("attrs"):
                    lines.append("Attrs:\n" + "\n".join(f"\t{k}={v}" for k, v in n["attrs"].items()))
        return "\n".join(lines)

    # ----- binding -----------------------------------------------------------------------------
    def bind(
        self, ctx=None, args=None, args_grad=None, grad_req="write", aux_states=None, group2ctx=None, shared_exec=None
    ):
        """Bind to arrays; see ``mx.executor.Executor``."""
        if args is None:
            raise MXNetTypeError("bind: args are required (a list or a dict of NDArrays)")
        return Executor._bind(self, ctx or current_context(), args, args_grad, grad_req, aux_states)

    def simple_bind(
        self,
        ctx=None,
        grad_req="write",
        type_dict=None,
        stype_dict=None,
        group2ctx=None,
        shared_arg_names=None,
        shared_exec=None,
        shared_buffer=None,
        **kwargs,
    ):
        """Allocate every array from the given input shapes and bind."""
        return Executor._simple_bind(self, ctx or current_context(), grad_req, type_dict, kwargs)

    def eval(self, ctx=None, **kwargs):
        """Bind to ``kwargs`` and run forward; returns the outputs."""
        ctx = ctx or current_context()
        return self.bind(ctx, kwargs, grad_req="null").forward()

    # MXNet's fluent shortcuts used most often.
    def reshape(self, *shape, **kwargs):
        """``mx.sym.Reshape(self, shape=...)``."""
        if shape and "shape" not in kwargs:
            kwargs["shape"] = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _create("Reshape", [self], kwargs, None, None, "reshape")

    def astype(self, dtype):
        """``mx.sym.Cast(self, dtype=...)``."""
        return _create("Cast", [self], {"dtype": dtype}, None, None, "cast")

    def sum(self, *args, **kwargs):
        """``mx.sym.sum(self, ...)``."""
        return _create("sum", [self], kwargs, None, None, "sum")

    def mean(self, *args, **kwargs):
        """``mx.sym.mean(self, ...)``."""
        return _create("mean", [self], kwargs, None, None, "mean")

    def flatten(self, **kwargs):
        """``mx.sym.Flatten(self)``."""
        return _create("Flatten", [self], kwargs, None, None, "flatten")

    def transpose(self, axes=None):
        """``mx.sym.transpose(self, axes)``."""
        return _create("transpose", [self], {} if axes is None else {"axes": axes}, None, None, "transpose")

    @property
    def T(self):
        """``transpose()``."""
        return self.transpose()


def _scalar_hint(op):
    return "_" + op[1:].replace("_", "")


def _attr_strings(attrs):
    out = {}
    for k, v in attrs.items():
        if v is None:
            continue
        if k == "dtype" and not isinstance(v, str):
            v = _dtype_name(v)
        out[k] = _attr(v)
    return out


# The name hint of the op function being called through a namespace (see :func:`_with_hint`).
_HINT: contextvars.ContextVar[str | None] = contextvars.ContextVar("mxrs_symbol_hint", default=None)


def _with_hint(fn, hint):
    """The generated op function ``fn`` whose node is named ``hint``N when no name is given:
    MXNet names the nodes of ``mx.sym.linalg.gemm`` ``gemm0`` and those of ``mx.sym.linalg_gemm``
    ``linalg_gemm0``. (Each generated function makes exactly one node.)"""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        token = _HINT.set(hint)
        try:
            return fn(*args, **kwargs)
        finally:
            _HINT.reset(token)

    op.__name__ = op.__qualname__ = hint
    return op


def _create(op, args, params, name, attr, hint, sym_kwargs=None):
    """Make an op node: name from the NameManager, attributes from the scope."""
    name = _name.current().get(name, _HINT.get() or hint)
    attrs = _attribute.hide(_attribute.current().get(attr))
    attrs = {k: str(v) for k, v in attrs.items()}
    attrs.update(_attr_strings(params))
    kw = [(k, v._handle) for k, v in (sym_kwargs or {}).items()]
    return _wrap(_native.SymbolHandle.create(op, name, attrs, [a._handle for a in args], kw))


def _compose(op, hint, variadic, args, kwargs, name, attr):
    """Apply ``op`` to symbols: positional ``args``, and in ``kwargs`` symbols by input name
    (a variadic op also takes a list of symbols) and operator attributes."""
    syms = {}
    params = {}
    for k, v in kwargs.items():
        if isinstance(v, Symbol):
            syms[k] = v
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, Symbol) for x in v) and variadic:
            args = tuple(args) + tuple(v)
        else:
            params[k] = v
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    for i, a in enumerate(args):
        if not isinstance(a, Symbol):
            raise MXNetTypeError(f"{op}: positional argument {i} must be a Symbol, got {type(a).__name__}")
    if variadic:
        params.setdefault("num_args", len(args) + len(syms))
        args = list(args) + list(syms.values())
        syms = {}
    return _create(op, list(args), params, name, attr, hint, syms)


def _is_symbols(v):
    """A Symbol, or a non-empty list of them (the inputs of a variadic op)."""
    if isinstance(v, (list, tuple)):
        return bool(v) and all(isinstance(x, Symbol) for x in v)
    return isinstance(v, Symbol)


def _symbol_op(op, hint, inputs, params, name, attr, kwargs):
    """The body of every generated ``mx.sym`` function.

    ``inputs`` maps input names to symbols (None: not given), or is the tuple of symbols of a
    variadic op; ``params`` holds the operator attributes (``_Null``: not given).
    """
    given = {k: v for k, v in params.items() if v is not _Null}
    attrs_given = {k: v for k, v in kwargs.items() if not _is_symbols(v)}
    if attrs_given:
        _check_op_kwargs(op, attrs_given, params, ("name", "attr"))
    given.update(kwargs)
    if isinstance(inputs, tuple):
        return _compose(op, hint, True, inputs, given, name, attr)
    for k, v in inputs.items():
        if v is not None and not isinstance(v, Symbol):
            raise MXNetTypeError(f"{op}: input {k} must be a Symbol, got {type(v).__name__}")
    return _compose(op, hint, False, (), {**{k: v for k, v in inputs.items() if v is not None}, **given}, name, attr)


def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None, stype=None, **kwargs):
    """A named input of a graph (data, label or parameter)."""
    if not isinstance(name, str):
        raise MXNetTypeError("Variable: name must be a string")
    attrs = _attribute.hide(_attribute.current().get(attr))
    attrs = {k: str(v) for k, v in attrs.items()}
    if shape is not None:
        attrs["__shape__"] = _attr(tuple(shape))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(_DTYPE_FLAG[_dtype_name(dtype)])
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        attrs["__storage_type__"] = str({"default": 0, "row_sparse": 1, "csr": 2}[stype])
    for k, v in kwargs.items():
        if k.startswith("__") and k.endswith("__"):
            attrs[k] = str(v)
        else:
            valid = "name, attr, shape, lr_mult, wd_mult, dtype, init, stype"
            raise MXNetValueError(
                f"Variable: unknown keyword argument {k!r}; valid arguments are: {valid}, or attributes "
                "that start and end with double underscores (__yourattr__)"
            )
    return _wrap(_native.SymbolHandle.variable(name, attrs))


var = Variable


def Group(symbols):
    """Several symbols' outputs as one symbol."""
    symbols = list(symbols)
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise MXNetTypeError("Group expects a non-empty list of Symbols")
    return _wrap(_native.SymbolHandle.group([s._handle for s in symbols]))


def load_json(json_str):
    """A symbol from MXNet's JSON text."""
    if not isinstance(json_str, str):
        raise TypeError("load_json expects a string")
    return _wrap(_native.SymbolHandle.from_json(json_str))


def load(fname):
    """A symbol from a JSON file (``sym.save``'s output or MXNet's ``-symbol.json``)."""
    try:
        text = _native.read_file(os.fspath(fname)).decode("utf-8")
    except OSError as e:
        raise MXNetIOError(f"cannot read the symbol file: {e}") from None
    except UnicodeDecodeError as e:
        raise MXNetIOError(f"{fname}: the symbol file is not UTF-8 text: {e}") from None
    try:
        return load_json(text)
    except MXNetError as e:
        raise type(e)(f"{fname}: {e}") from None


def create(op_name, *args, name=None, attr=None, **kwargs):
    """Apply the registered op ``op_name`` symbolically."""
    return _compose(op_name, op_name.lower(), False, args, kwargs, name, attr)
