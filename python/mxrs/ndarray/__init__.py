"""``mx.nd``: the NDArray API.

The generated op functions (``_ops``) build on :mod:`mxrs.ndarray.ndarray`; this package puts
them together and gives NDArray its op methods (``a.exp()`` is ``mx.nd.exp(a)``).
"""

import inspect
import keyword
import numbers
import types

from mxrs import _arith, _native
from mxrs.base import _Null, mx_real_t
from mxrs.ndarray import _amp_ops, _ops, contrib, dlpack, image, linalg, random, sparse
from mxrs.ndarray._classic import concatenate, histogram, onehot_encode, split_v2  # noqa: F401
from mxrs.ndarray._custom import Custom  # noqa: F401
from mxrs.ndarray._ops import *  # noqa: F401,F403
from mxrs.ndarray.dlpack import from_dlpack, from_numpy, to_dlpack_for_read, to_dlpack_for_write  # noqa: F401
from mxrs.ndarray.image import legacy_imdecode as imdecode  # noqa: F401
from mxrs.ndarray.ndarray import (
    NDArray,
    _invoke_fast,
    _wrap,
    array,
    empty,
    full,
    invoke,
    ones,
    waitall,
    zeros,
)
from mxrs.ndarray.sparse import CSRNDArray, RowSparseNDArray, cast_storage  # noqa: F401
from mxrs.ndarray.utils import load, load_frombuffer, save


def _native_op_functions():
    """Replace each generated op function that takes a fixed number of inputs, in ``_ops`` and
    here (aliases included), with its native form, ``_native.OpFunction``
    (``crates/py/src/opfunc.rs``): the common call runs without a Python frame, and every other
    call goes to the generated function, which also gives the name, docs and signature."""
    # The class's own docstring would hide each instance's, the generated function's.
    _native.OpFunction.__doc__ = property(lambda self: self.__wrapped__.__doc__)  # type: ignore[assignment]
    made: dict[types.FunctionType, _native.OpFunction] = {}
    here = globals()
    for name, fn in list(vars(_ops).items()):
        if type(fn) is not types.FunctionType or fn.__module__ != _ops.__name__:
            continue
        code = fn.__code__
        if code.co_flags & inspect.CO_VARARGS:
            continue
        native = made.get(fn)
        if native is None:
            params = code.co_varnames[: code.co_argcount]
            defaults = dict(zip(params[len(params) - len(fn.__defaults__ or ()) :], fn.__defaults__ or ()))
            inputs = [p for p in params if p not in ("out", "name", "ctx") and p in defaults and defaults[p] is None]
            attrs = [
                (p, p[:-1] if p.endswith("_") and keyword.iskeyword(p[:-1]) else p)
                for p in params
                if p in defaults and defaults[p] is _Null
            ]
            if len(inputs) + len(attrs) + 3 != len(params):
                continue
            native = made[fn] = _native.OpFunction(fn.__name__, fn, inputs, attrs, _Null, NDArray)
        setattr(_ops, name, native)
        if here.get(name) is fn:
            here[name] = native


_native_op_functions()
_internal = _ops
# MXNet's init_output=False needs the output's previous value (see _amp_ops).
all_finite = _amp_ops.all_finite
multi_all_finite = _amp_ops.multi_all_finite


def _method(name):
    """The op function ``name`` as an NDArray method taking the array as its first input."""
    fn = getattr(_ops, name)

    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"Same as ``mx.nd.{name}(self, ...)``."
    return method


for _name in (
    "exp log log2 log10 log1p expm1 sqrt rsqrt cbrt square abs sign ceil floor round rint trunc fix sin cos tan "
    "arcsin arccos arctan sinh cosh tanh sigmoid relu softsign reciprocal clip sum mean max min prod nansum "
    "norm argmax argmin argmax_channel transpose swapaxes expand_dims squeeze flatten tile repeat slice "
    "slice_axis take pick one_hot softmax log_softmax topk sort argsort broadcast_axes"
).split():
    setattr(NDArray, _name, _method(_name))
dlpack.install(NDArray)


def _storage_dispatch(name, grad_at):
    """``mx.nd.<name>``: the sparse version when its gradient (argument ``grad_at``) is row_sparse
    (MXNet's op dispatches on storage types itself)."""
    dense_fn, sparse_fn = getattr(_ops, name), getattr(sparse, name)

    def fn(*args, **kwargs):
        g = args[grad_at] if len(args) > grad_at else kwargs.get("grad")
        if isinstance(g, sparse.BaseSparseNDArray):
            return sparse_fn(*args, **{k: v for k, v in kwargs.items() if k not in ("name", "ctx")})
        return dense_fn(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = dense_fn.__doc__
    return fn


sgd_update = _storage_dispatch("sgd_update", 1)
sgd_mom_update = _storage_dispatch("sgd_mom_update", 1)
adam_update = _storage_dispatch("adam_update", 1)
ftrl_update = _storage_dispatch("ftrl_update", 1)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=mx_real_t):
    """Evenly spaced values in [start, stop), each repeated ``repeat`` times."""
    return _ops._arange(start=start, stop=stop, step=step, repeat=repeat, dtype=dtype, ctx=ctx)


def linspace(start, stop, num, endpoint=True, ctx=None, dtype=mx_real_t):
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    return _ops._linspace(start=start, stop=stop, num=num, endpoint=endpoint, dtype=dtype, ctx=ctx)


def eye(N, M=0, k=0, ctx=None, dtype=None, **kwargs):
    """An ``N x M`` matrix (``M = N`` when 0) with ones on the ``k``-th diagonal."""
    return _ops._eye(N=N, M=M, k=k, ctx=ctx, dtype=dtype or mx_real_t, **kwargs)


def _binary_fn(op):
    def fn(lhs, rhs):
        # The common calls (`maximum(x, 0)`, `add(a, b)` on dense arrays) take the operators'
        # native call: the general `invoke` and the ABC checks below cost 1-2 µs a call.
        if type(lhs) is NDArray:
            if type(rhs) is NDArray:
                return _wrap(_invoke_fast(op.array, lhs._handle, rhs._handle))
            if type(rhs) in (int, float):
                return _wrap(_invoke_fast(op.scalar, lhs._handle, None, float(rhs)))
        elif type(rhs) is NDArray and type(lhs) in (int, float):
            return _wrap(_invoke_fast(op.rscalar, rhs._handle, None, float(lhs)))
        if isinstance(lhs, numbers.Number) and isinstance(rhs, numbers.Number):
            return op.number(lhs, rhs)
        if isinstance(lhs, NDArray) and isinstance(rhs, NDArray):
            return invoke(op.array, [lhs, rhs])
        if isinstance(lhs, NDArray):
            return invoke(op.scalar, [lhs], {"scalar": float(rhs)})
        if isinstance(rhs, NDArray):
            return invoke(op.rscalar, [rhs], {"scalar": float(lhs)})
        raise TypeError(f"type {type(lhs)} and {type(rhs)} not supported")

    fn.__name__ = op.array.replace("broadcast_", "")
    fn.__doc__ = f"``{op.array}`` for two arrays, the scalar op when one side is a number."
    return fn


add = _binary_fn(_arith.ADD)
subtract = _binary_fn(_arith.SUB)
multiply = _binary_fn(_arith.MUL)
divide = _binary_fn(_arith.DIV)
true_divide = divide
modulo = _binary_fn(_arith.MOD)
power = _binary_fn(_arith.POW)
maximum = _binary_fn(_arith.MAXIMUM)
minimum = _binary_fn(_arith.MINIMUM)
equal = _binary_fn(_arith.EQ)
not_equal = _binary_fn(_arith.NE)
greater = _binary_fn(_arith.GT)
greater_equal = _binary_fn(_arith.GE)
lesser = _binary_fn(_arith.LT)
lesser_equal = _binary_fn(_arith.LE)
logical_and = _binary_fn(_arith.LOGICAL_AND)
logical_or = _binary_fn(_arith.LOGICAL_OR)
logical_xor = _binary_fn(_arith.LOGICAL_XOR)


def moveaxis(tensor, source, destination):
    """Move axis ``source`` to position ``destination``."""
    axes = list(range(tensor.ndim))
    src = source % tensor.ndim
    axes.pop(src)
    axes.insert(destination % tensor.ndim, src)
    return tensor.transpose(axes=tuple(axes))


__all__ = _ops.__all__ + [
    "concatenate",
    "histogram",
    "onehot_encode",
    "split_v2",
    "Custom",
    "NDArray",
    "CSRNDArray",
    "RowSparseNDArray",
    "cast_storage",
    "sparse",
    "array",
    "empty",
    "full",
    "invoke",
    "ones",
    "waitall",
    "zeros",
    "load",
    "load_frombuffer",
    "save",
    "random",
    "linalg",
    "image",
    "imdecode",
    "contrib",
    "arange",
    "linspace",
    "add",
    "subtract",
    "multiply",
    "divide",
    "true_divide",
    "modulo",
    "power",
    "maximum",
    "minimum",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "lesser",
    "lesser_equal",
    "eye",
    "logical_and",
    "logical_or",
    "logical_xor",
    "moveaxis",
]
