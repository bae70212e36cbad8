"""The operators of ``mx.nd.sparse`` (re-exported there): what keeps a storage type, and the
storage fallback (a dense result) for the rest, as MXNet 1.9.1 does."""

import builtins

import numpy as np

from mxrs.base import MXNetError, ShapeError
from mxrs.ndarray import _ops
from mxrs.ndarray import ndarray as _nd
from mxrs.ndarray._sparse_base import (
    BaseSparseNDArray,
    CSRNDArray,
    RowSparseNDArray,
    _cast_dense,
    _host,
    _idx,
)
from mxrs.ndarray.ndarray import NDArray, invoke


def _finish(res, out):
    """Write ``res`` into ``out`` when given (any storage type), else return it."""
    if out is None:
        return res
    out[:] = res
    return out


def _like(x, data):
    """A sparse array with ``x``'s structure (index copies) and new values ``data``."""
    return type(x)(data, [a.copy() for a in x._sp_aux], x.shape)


# ----- unary ------------------------------------------------------------------------------
def _unary(name, dense_fn=None, keep=True):
    """``mx.nd.sparse.<name>``: applied to the stored values when ``keep`` (zero-preserving:
    the storage type is kept), else to the dense value (a dense result)."""
    dense_fn = dense_fn or getattr(_ops, name)

    def fn(data, *args, out=None, **kwargs):
        if keep and isinstance(data, BaseSparseNDArray):
            return _finish(_like(data, dense_fn(data.data, *args, **kwargs)), out)
        return dense_fn(data, *args, out=out, **kwargs)

    fn.__name__ = name
    kept = "keeps the storage type of a sparse input" if keep else "gives a dense result for a sparse input"
    fn.__doc__ = f"``mx.nd.{dense_fn.__name__}``; {kept}."
    return fn


_KEEP = [
    "abs",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctanh",
    "cbrt",
    "ceil",
    "degrees",
    "expm1",
    "fix",
    "floor",
    "log1p",
    "negative",
    "radians",
    "relu",
    "rint",
    "round",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "tan",
    "tanh",
    "trunc",
]
_DENSE = ["arccos", "arccosh", "cos", "cosh", "exp", "gamma", "gammaln", "log", "log10", "log2", "rsqrt", "sigmoid"]
abs = _unary("abs")  # noqa: A001
arcsin = _unary("arcsin")
arcsinh = _unary("arcsinh")
arctan = _unary("arctan")
arctanh = _unary("arctanh")
cbrt = _unary("cbrt")
ceil = _unary("ceil")
degrees = _unary("degrees")
expm1 = _unary("expm1")
fix = _unary("fix")
floor = _unary("floor")
log1p = _unary("log1p")
negative = _unary("negative")
radians = _unary("radians")
relu = _unary("relu")
rint = _unary("rint")
round = _unary("round")  # noqa: A001
sign = _unary("sign")
sin = _unary("sin")
sinh = _unary("sinh")
sqrt = _unary("sqrt")
square = _unary("square")
tan = _unary("tan")
tanh = _unary("tanh")
trunc = _unary("trunc")
arccos = _unary("arccos", keep=False)
arccosh = _unary("arccosh", keep=False)
cos = _unary("cos", keep=False)
cosh = _unary("cosh", keep=False)
exp = _unary("exp", keep=False)
gamma = _unary("gamma", keep=False)
gammaln = _unary("gammaln", keep=False)
log = _unary("log", keep=False)
log10 = _unary("log10", keep=False)
log2 = _unary("log2", keep=False)
rsqrt = _unary("rsqrt", keep=False)
sigmoid = _unary("sigmoid", keep=False)
_contrib_round_ste = _unary("_contrib_round_ste", _ops.round)
_contrib_sign_ste = _unary("_contrib_sign_ste", _ops.sign)
stop_gradient = _unary("stop_gradient", _ops.BlockGrad)
make_loss = _unary("make_loss", _ops.identity)


def zeros_like(data, out=None, name=None):
    """Zeros with the shape, dtype and storage type of ``data``."""
    if isinstance(data, BaseSparseNDArray):
        return _finish(data.zeros_like(), out)
    return _ops.zeros_like(data, out=out)


def clip(data, a_min, a_max, out=None, name=None):
    """``clip``: keeps the storage type when ``a_min <= 0 <= a_max`` (zeros stay zeros)."""
    if isinstance(data, BaseSparseNDArray) and a_min <= 0 <= a_max:
        return _finish(_like(data, _ops.clip(data.data, a_min=a_min, a_max=a_max)), out)
    return _ops.clip(data, a_min=a_min, a_max=a_max, out=out)


# ----- binary -----------------------------------------------------------------------------
def _rsp_union(lhs, rhs, fn):
    """``fn`` over two row_sparse arrays of one shape: rows in either are stored."""
    if lhs.shape != rhs.shape:
        raise ShapeError(f"{fn.__name__}: shapes {lhs.shape} and {rhs.shape} differ")
    ia, ib = _host(lhs.indices), _host(rhs.indices)
    rows = np.union1d(ia, ib)
    ctx = lhs.context
    shape = (len(rows),) + tuple(lhs.shape[1:])
    if not len(rows):
        return lhs.zeros_like()

    def spread(x, have):
        pos = _idx(np.searchsorted(rows, have), ctx)
        return invoke("_sparse_rsp_to_dense", [x.data, pos], {"shape": shape})

    data = fn(spread(lhs, ia), spread(rhs.as_in_context(ctx), ib))
    return RowSparseNDArray(data, [_idx(rows, ctx)], lhs.shape)


def _binary(name, dense_fn, same_stype, sparse_dense=None, scalar=None):
    """``mx.nd.sparse.<name>``. ``same_stype``: the storage types for which two sparse inputs of
    that type give that type; ``sparse_dense``: the result stype of (sparse, dense) operands
    (None: dense); ``scalar``: the result keeps the stype for a scalar right operand."""

    def fn(lhs, rhs, out=None, name=None):
        ls, rs = getattr(lhs, "stype", None), getattr(rhs, "stype", None)
        if isinstance(rhs, (int, float, np.generic)) and isinstance(lhs, BaseSparseNDArray):
            if scalar:
                return _finish(_like(lhs, dense_fn(lhs.data, rhs)), out)
            return _finish(dense_fn(lhs.todense(), rhs), out)
        if ls == rs and ls in same_stype:
            if ls == "row_sparse":
                return _finish(_rsp_union(lhs, rhs, dense_fn), out)
            return _finish(_cast_dense(dense_fn(lhs.todense(), rhs.todense()), ls), out)
        if sparse_dense and isinstance(lhs, BaseSparseNDArray) and rs == "default":
            if ls == "row_sparse" and lhs.shape == rhs.shape:
                return _finish(_like(lhs, dense_fn(lhs.data, _ops.take(rhs, lhs.indices))), out)
            return _finish(_cast_dense(dense_fn(lhs.todense(), rhs), ls), out)
        res = dense_fn(_dense(lhs), _dense(rhs))
        return _finish(res, out)

    fn.__name__ = name
    fn.__doc__ = (
        f"``{name}``: the result keeps the storage type for two {' or '.join(same_stype) or 'no'} operands of one "
        "storage type" + (", and for a sparse and a dense operand" if sparse_dense else "") + "; dense otherwise."
    )
    return fn


def _dense(x):
    return x.todense() if isinstance(x, BaseSparseNDArray) else x


def _add(a, b):
    return a + b


def _sub(a, b):
    return a - b


def _mul(a, b):
    return a * b


def _div(a, b):
    return a / b


elemwise_add = _binary("elemwise_add", _add, ("row_sparse", "csr"))
elemwise_sub = _binary("elemwise_sub", _sub, ("row_sparse", "csr"))
elemwise_mul = _binary("elemwise_mul", _mul, ("row_sparse", "csr"), sparse_dense=True, scalar=True)
elemwise_div = _binary("elemwise_div", _div, (), scalar=True)
add, subtract, multiply, divide = elemwise_add, elemwise_sub, elemwise_mul, elemwise_div
broadcast_add = _binary("broadcast_add", _ops.broadcast_add, ())
broadcast_sub = _binary("broadcast_sub", _ops.broadcast_sub, ())
broadcast_plus, broadcast_minus = broadcast_add, broadcast_sub
broadcast_mul = _binary("broadcast_mul", _ops.broadcast_mul, (), sparse_dense=True)
broadcast_div = _binary("broadcast_div", _ops.broadcast_div, (), sparse_dense=True)


def add_n(*args, out=None, name=None, **kwargs):
    """The sum of the arrays; row_sparse when they all are."""
    if args and builtins.all(isinstance(a, RowSparseNDArray) for a in args):
        res = args[0]
        for a in args[1:]:
            res = _rsp_union(res, a, _add)
        return _finish(res.copy() if len(args) == 1 else res, out)
    return _ops.add_n(*[_dense(a) for a in args], out=out)


ElementWiseSum = add_n


def concat(*data, dim=1, out=None, name=None, **kwargs):
    """``concat``; csr arrays joined on axis 0 give a csr array, anything else is dense."""
    if data and dim == 0 and builtins.all(isinstance(a, CSRNDArray) for a in data):
        return _finish(_cast_dense(_ops.concat(*[a.todense() for a in data], dim=0), "csr"), out)
    return _ops.concat(*[_dense(a) for a in data], dim=dim, out=out)


def _install_operators():
    """Python operators of sparse arrays: ``+ - * /`` with the rules of ``elemwise_*``."""

    def rev(fn):
        return lambda self, other: fn(other, self) if isinstance(other, NDArray) else _dense_rop(fn, self, other)

    B = BaseSparseNDArray
    B.__add__ = lambda self, o: elemwise_add(self, o)
    B.__sub__ = lambda self, o: elemwise_sub(self, o)
    B.__mul__ = lambda self, o: elemwise_mul(self, o)
    B.__truediv__ = lambda self, o: elemwise_div(self, o)
    B.__div__ = B.__truediv__
    B.__radd__ = rev(elemwise_add)
    B.__rsub__ = rev(elemwise_sub)
    B.__rmul__ = lambda self, o: elemwise_mul(self, o)
    B.__rtruediv__ = rev(elemwise_div)
    setattr(B, "__neg__", lambda self: negative(self))  # noqa: B010 - NDArray defines them as methods
    setattr(B, "__abs__", lambda self: abs(self))  # noqa: B010

    def inplace(fn):
        def f(self, o):
            self[:] = fn(self, o)
            return self

        return f

    B.__iadd__ = inplace(elemwise_add)
    B.__isub__ = inplace(elemwise_sub)
    B.__imul__ = inplace(elemwise_mul)
    B.__itruediv__ = inplace(elemwise_div)
    RowSparseNDArray.retain = lambda self, *a, **k: retain(self, *a, **k)  # type: ignore[attr-defined]
    for n in _KEEP + _DENSE + ["clip", "sum", "mean", "norm"]:
        setattr(B, n, (lambda f: lambda self, *a, **k: f(self, *a, **k))(globals()[n]))


def _dense_rop(fn, self, other):
    """``number OP sparse``: a dense result (except ``number * sparse``, handled apart)."""
    full = _nd.full(self.shape, float(other), ctx=self.context, dtype=self.dtype)
    return fn(full, self.todense())


# ----- dot --------------------------------------------------------------------------------
def _csr_dot(a, rhs, transpose_a):
    return invoke(
        "_sparse_dot_csr",
        [a.data, a.indices, a.indptr, rhs.as_in_context(a.context)],
        {"num_cols": a.shape[1], "transpose_a": transpose_a},
    )


def _present_cols(a):
    return np.unique(_host(a.indices))


def dot(lhs, rhs, transpose_a=False, transpose_b=False, forward_stype=None, out=None, name=None):
    """``dot`` with a csr or row_sparse operand (MXNet's sparse kernels, as registered ops):
    csr · dense and rsp · dense are dense, csrᵀ · dense is row_sparse (the rows of the columns
    the csr matrix has), dense · csr is csr (each row holding those columns). Other
    combinations compute densely."""
    if isinstance(lhs, CSRNDArray) and not isinstance(rhs, BaseSparseNDArray):
        r = _ops.transpose(rhs) if transpose_b else rhs
        full = _csr_dot(lhs, r, transpose_a)
        if not transpose_a:
            return _finish(full, out)
        cols = _idx(_present_cols(lhs), lhs.context)
        data = (
            _ops.take(full, cols)
            if cols.shape[0]
            else _nd.zeros((0,) + full.shape[1:], ctx=lhs.context, dtype=full.dtype)
        )
        return _finish(RowSparseNDArray(data, [cols], full.shape), out)
    if isinstance(rhs, CSRNDArray) and not isinstance(lhs, BaseSparseNDArray):
        left = _ops.transpose(lhs) if transpose_a else lhs
        if left.ndim != 2:
            raise ShapeError(f"dot: dense · csr needs a 2-D dense operand, got shape {left.shape}")
        if transpose_b:
            return _finish(_ops.transpose(_csr_dot(rhs, _ops.transpose(left), False)), out)
        full = _ops.transpose(_csr_dot(rhs, _ops.transpose(left), True))
        cols = _present_cols(rhs)
        m = full.shape[0]
        ctx = rhs.context
        data = (
            _ops.take(full, _idx(cols, ctx), axis=1).reshape((-1,))
            if len(cols)
            else _nd.zeros((0,), ctx=ctx, dtype=full.dtype)
        )
        indices = _idx(np.tile(cols, m), ctx)
        indptr = _idx(np.arange(m + 1) * len(cols), ctx)
        return _finish(CSRNDArray(data, [indptr, indices], full.shape), out)
    if isinstance(lhs, RowSparseNDArray) and not isinstance(rhs, BaseSparseNDArray) and lhs.ndim == 2:
        r = _ops.transpose(rhs) if transpose_b else rhs
        if transpose_a:
            if r.shape[0] != lhs.shape[0]:
                raise ShapeError(f"dot: shapes {lhs.shape}ᵀ and {r.shape} do not match")
            if not lhs.indices.shape[0]:
                return _finish(_nd.zeros((lhs.shape[1],) + r.shape[1:], ctx=lhs.context, dtype=lhs.dtype), out)
            return _finish(_ops.dot(lhs.data, _ops.take(r, lhs.indices), transpose_a=True), out)
        if r.shape[0] != lhs.shape[1]:
            raise ShapeError(f"dot: shapes {lhs.shape} and {r.shape} do not match")
        part = _ops.dot(lhs.data, r)
        return _finish(
            invoke("_sparse_rsp_to_dense", [part, lhs.indices], {"shape": (lhs.shape[0],) + part.shape[1:]}), out
        )
    return _ops.dot(_dense(lhs), _dense(rhs), transpose_a=transpose_a, transpose_b=transpose_b, out=out)


# ----- structure --------------------------------------------------------------------------
def retain(data, indices, out=None, name=None):
    """The rows of a row_sparse array at ``indices`` (sorted, made unique); rows it does not
    store come back as stored zero rows, as MXNet does."""
    if not isinstance(data, RowSparseNDArray):
        raise MXNetError(f"retain: expects a row_sparse array, got storage type {getattr(data, 'stype', type(data))!r}")
    want = np.unique(_host(indices) if isinstance(indices, NDArray) else np.asarray(indices, np.int64))
    if len(want) and (want[0] < 0 or want[-1] >= data.shape[0]):
        raise MXNetError(f"retain: row indices must be in [0, {data.shape[0]}), got {want.tolist()}")
    ctx = data.context
    have = _host(data.indices)
    sel = np.nonzero(np.isin(have, want))[0]
    shape = (len(want),) + tuple(data.shape[1:])
    if len(sel):
        src = _ops.take(data.data, _idx(sel, ctx))
        rows = invoke("_sparse_rsp_to_dense", [src, _idx(np.searchsorted(want, have[sel]), ctx)], {"shape": shape})
    else:
        rows = _nd.zeros(shape, ctx=ctx, dtype=data.dtype)
    return _finish(RowSparseNDArray(rows, [_idx(want, ctx)], data.shape), out)


def slice(data, begin, end, step=(), out=None, name=None):  # noqa: A001
    """``slice``: rows of a csr matrix stay csr (columns too, through the dense value); other
    inputs give the dense op's result."""
    if isinstance(data, CSRNDArray) and builtins.all(s in (None, 1) for s in (step or ())):
        b0 = begin[0] if begin and begin[0] is not None else 0
        e0 = end[0] if end and end[0] is not None else data.shape[0]
        b0, e0, _ = builtins.slice(b0, e0).indices(data.shape[0])
        rows = data[b0 : builtins.max(b0, e0)]
        if len(begin) > 1 or len(end) > 1:
            b1 = begin[1] if len(begin) > 1 else None
            e1 = end[1] if len(end) > 1 else None
            rows = _cast_dense(_ops.slice(rows.todense(), begin=(None, b1), end=(None, e1)), "csr")
        return _finish(rows, out)
    return _ops.slice(data, begin=begin, end=end, step=step, out=out)


def _reduce(name):
    dense_fn = getattr(_ops, name)

    def fn(data, *args, out=None, **kwargs):
        return dense_fn(_dense(data), *args, out=out, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``mx.nd.{name}`` of the dense value (a dense result, as MXNet)."
    return fn


sum = _reduce("sum")  # noqa: A001
mean = _reduce("mean")
norm = _reduce("norm")


def where(condition, x, y, out=None, name=None):
    """``where`` of the dense values (a dense result)."""
    return _ops.where(_dense(condition), _dense(x), _dense(y), out=out)


def _fallback(name):
    dense_fn = getattr(_ops, name)

    def fn(*args, **kwargs):
        dense_args = [_dense(a) for a in args]
        dense_kwargs = {k: (_dense(v) if k != "out" else v) for k, v in kwargs.items()}
        return dense_fn(*dense_args, **dense_kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``mx.nd.{name}`` over the dense values of sparse inputs."
    return fn


Embedding = _fallback("Embedding")
FullyConnected = _fallback("FullyConnected")
LinearRegressionOutput = _fallback("LinearRegressionOutput")
LogisticRegressionOutput = _fallback("LogisticRegressionOutput")
MAERegressionOutput = _fallback("MAERegressionOutput")

from mxrs.ndarray._sparse_optim import (  # noqa: E402
    adagrad_update,
    adam_update,
    ftrl_update,
    sgd_mom_update,
    sgd_update,
)

_install_operators()
__all__ = [
    "adagrad_update",
    "adam_update",
    "ftrl_update",
    "sgd_mom_update",
    "sgd_update",
    "dot",
    "retain",
    "slice",
    "sum",
    "mean",
    "norm",
    "where",
    "add_n",
    "concat",
    "clip",
    "zeros_like",
]
