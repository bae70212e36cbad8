"""``mx.nd.sparse``: csr and row_sparse arrays and the operators MXNet 1.9.1 has for them.

Creation: :func:`csr_matrix`, :func:`row_sparse_array`, :func:`zeros`, :func:`empty`,
:func:`array`; conversion: ``x.tostype(stype)`` and :func:`cast_storage`. Operators keep the
storage type where MXNet does (``dot`` of csr, elementwise ops between arrays of one storage
type, scalar ``*`` and ``/``, zero-preserving unary functions, ``retain``, csr ``slice``) and
return dense arrays otherwise (MXNet's storage fallback). The optimizer updates
(:func:`sgd_update`, :func:`sgd_mom_update`, :func:`adam_update`, :func:`adagrad_update`,
:func:`ftrl_update`) with a row_sparse gradient update only the rows it stores
(``lazy_update=True``, MXNet's default).
"""

import numbers

import numpy as np

from mxrs.base import MXNetError, ShapeError, mx_real_t
from mxrs.context import Context, current_context
from mxrs.ndarray import ndarray as _nd
from mxrs.ndarray._sparse_base import (
    _STORAGE_AUX_TYPES,  # noqa: F401
    _STORAGE_TYPE_CSR,  # noqa: F401
    _STORAGE_TYPE_DEFAULT,  # noqa: F401
    _STORAGE_TYPE_ROW_SPARSE,  # noqa: F401
    _STORAGE_TYPE_STR_TO_ID,  # noqa: F401
    _STORAGE_TYPE_UNDEFINED,  # noqa: F401
    BaseSparseNDArray,
    CSRNDArray,
    NotSupportedForSparseNDArray,  # noqa: F401
    RowSparseNDArray,
    _cast_dense,
    _check,
    _host,
    _idx,
    _is_scipy,
    _vals,
    cast_storage,
    empty,
    zeros,
)
from mxrs.ndarray._sparse_ops import (
    ElementWiseSum,
    Embedding,
    FullyConnected,
    LinearRegressionOutput,
    LogisticRegressionOutput,
    MAERegressionOutput,
    _contrib_round_ste,
    _contrib_sign_ste,
    abs,  # noqa: A004
    adagrad_update,
    adam_update,
    add,
    add_n,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctanh,
    broadcast_add,
    broadcast_div,
    broadcast_minus,
    broadcast_mul,
    broadcast_plus,
    broadcast_sub,
    cbrt,
    ceil,
    clip,
    concat,
    cos,
    cosh,
    degrees,
    divide,
    dot,
    elemwise_add,
    elemwise_div,
    elemwise_mul,
    elemwise_sub,
    exp,
    expm1,
    fix,
    floor,
    ftrl_update,
    gamma,
    gammaln,
    log,
    log1p,
    log2,
    log10,
    make_loss,
    mean,
    multiply,
    negative,
    norm,
    radians,
    relu,
    retain,
    rint,
    round,  # noqa: A004
    rsqrt,
    sgd_mom_update,
    sgd_update,
    sigmoid,
    sign,
    sin,
    sinh,
    slice,  # noqa: A004
    sqrt,
    square,
    stop_gradient,
    subtract,
    sum,  # noqa: A004
    tan,
    tanh,
    trunc,
    where,
    zeros_like,
)
from mxrs.ndarray.ndarray import NDArray

__all__ = [
    "BaseSparseNDArray",
    "CSRNDArray",
    "RowSparseNDArray",
    "csr_matrix",
    "row_sparse_array",
    "zeros",
    "empty",
    "array",
    "cast_storage",
    "ElementWiseSum",
    "Embedding",
    "FullyConnected",
    "LinearRegressionOutput",
    "LogisticRegressionOutput",
    "MAERegressionOutput",
    "abs",
    "adagrad_update",
    "adam_update",
    "add",
    "add_n",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctanh",
    "broadcast_add",
    "broadcast_div",
    "broadcast_minus",
    "broadcast_mul",
    "broadcast_plus",
    "broadcast_sub",
    "cbrt",
    "ceil",
    "clip",
    "concat",
    "cos",
    "cosh",
    "degrees",
    "divide",
    "dot",
    "elemwise_add",
    "elemwise_div",
    "elemwise_mul",
    "elemwise_sub",
    "exp",
    "expm1",
    "fix",
    "floor",
    "ftrl_update",
    "gamma",
    "gammaln",
    "log",
    "log10",
    "log1p",
    "log2",
    "make_loss",
    "mean",
    "multiply",
    "negative",
    "norm",
    "radians",
    "relu",
    "retain",
    "rint",
    "round",
    "rsqrt",
    "sgd_mom_update",
    "sgd_update",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "slice",
    "sqrt",
    "square",
    "stop_gradient",
    "subtract",
    "sum",
    "tan",
    "tanh",
    "trunc",
    "where",
    "zeros_like",
    "_contrib_round_ste",
    "_contrib_sign_ste",
]

gs_retain = retain


def _ctx_of(ctx):
    return Context(ctx) if ctx is not None else current_context()


def _default_dtype(src, dtype):
    """MXNet's rule: the source's dtype for NumPy arrays and NDArrays, else float32."""
    if dtype is not None:
        return dtype
    if isinstance(src, (NDArray, np.ndarray)):
        return src.dtype
    return mx_real_t


def _is_shape(arg):
    return isinstance(arg, tuple) and all(isinstance(d, numbers.Integral) for d in arg)


def csr_matrix(arg1, shape=None, ctx=None, dtype=None):
    """A ``CSRNDArray`` from ``(data, indices, indptr)``, ``(data, (row, col))`` (COO: duplicate
    entries are summed), a shape ``(M, N)`` (all zeros), a dense NDArray or NumPy array, another
    ``CSRNDArray`` or a ``scipy.sparse`` matrix."""
    ctx = _ctx_of(ctx)
    if _is_shape(arg1):
        if len(arg1) != 2:
            raise ValueError(f"Unexpected shape {arg1} for a csr matrix")
        return zeros("csr", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 3:
        data, indices, indptr = arg1
        dtype = _default_dtype(data, dtype)
        data, indices, indptr = _vals(data, ctx, dtype), _idx(indices, ctx), _idx(indptr, ctx)
        if shape is None:
            cols = _host(indices)
            shape = (indptr.shape[0] - 1, int(cols.max()) + 1 if len(cols) else 0)
        shape = tuple(int(d) for d in shape)
        if data.ndim != 1:
            raise ShapeError(f"csr_matrix: data must be 1-D, got shape {data.shape}")
        _check("csr", shape, data, [indptr, indices])
        return CSRNDArray(data, [indptr, indices], shape)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        return _csr_from_coo(arg1, shape, ctx, dtype)
    if isinstance(arg1, CSRNDArray):
        res = arg1.copyto(ctx)
        return res if dtype is None else res.astype(dtype)
    if isinstance(arg1, BaseSparseNDArray):
        raise ValueError("Unexpected input type: RowSparseNDArray")
    if _is_scipy(arg1):
        m = arg1.tocsr()
        m.sum_duplicates()
        m.sort_indices()
        dtype = _default_dtype(m.data, dtype)
        return csr_matrix((m.data, m.indices, m.indptr), shape=m.shape, ctx=ctx, dtype=dtype)
    if isinstance(arg1, (NDArray, np.ndarray, list)):
        dtype = _default_dtype(arg1, dtype)
        dense = arg1 if isinstance(arg1, NDArray) else _nd.array(np.asarray(arg1), ctx=ctx, dtype=dtype)
        if shape is not None and tuple(shape) != dense.shape:
            raise ShapeError(f"csr_matrix: shape {tuple(shape)} differs from the source's {dense.shape}")
        return _cast_dense(dense.as_in_context(ctx).astype(dtype, copy=False), "csr")
    raise ValueError(f"Unexpected input type: {type(arg1)}")


def _csr_from_coo(arg1, shape, ctx, dtype):
    """``(data, (row, col))``: sorted by row then column, duplicates summed (as scipy)."""
    data, rc = arg1
    if not (isinstance(rc, tuple) and len(rc) == 2):
        raise ValueError("csr_matrix: expected (data, (row, col)) or (data, indices, indptr)")
    dtype = _default_dtype(data, dtype)
    vals = np.asarray(data.asnumpy() if isinstance(data, NDArray) else data, dtype=np.dtype(dtype)).reshape(-1)
    row, col = (np.asarray(v.asnumpy() if isinstance(v, NDArray) else v, dtype=np.int64).reshape(-1) for v in rc)
    if not len(vals) == len(row) == len(col):
        raise ShapeError(f"csr_matrix: data, row and col lengths differ: {len(vals)}, {len(row)}, {len(col)}")
    if shape is None:
        shape = (int(row.max()) + 1 if len(row) else 0, int(col.max()) + 1 if len(col) else 0)
    rows, cols = (int(d) for d in shape)
    if len(row) and (row.min() < 0 or row.max() >= rows or col.min() < 0 or col.max() >= cols):
        raise MXNetError(f"csr_matrix: row/col indices out of range for shape {(rows, cols)}")
    key = row * cols + col
    uniq, inv = np.unique(key, return_inverse=True)
    summed = np.zeros(len(uniq), dtype=vals.dtype)
    np.add.at(summed, inv, vals)
    r, c = uniq // max(cols, 1), uniq % max(cols, 1)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=rows))])
    return csr_matrix((summed, c, indptr), shape=(rows, cols), ctx=ctx, dtype=dtype)


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None):
    """A ``RowSparseNDArray`` from ``(data, indices)``, a shape (all zeros), a dense NDArray or
    NumPy array, or another ``RowSparseNDArray``."""
    ctx = _ctx_of(ctx)
    if _is_shape(arg1):
        return zeros("row_sparse", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        data, indices = arg1
        dtype = _default_dtype(data, dtype)
        data, indices = _vals(data, ctx, dtype), _idx(indices, ctx)
        if shape is None:
            rows = _host(indices)
            shape = (int(rows.max()) + 1 if len(rows) else 0,) + tuple(data.shape[1:])
        shape = tuple(int(d) for d in shape)
        _check("row_sparse", shape, data, [indices])
        return RowSparseNDArray(data, [indices], shape)
    if isinstance(arg1, RowSparseNDArray):
        res = arg1.copyto(ctx)
        return res if dtype is None else res.astype(dtype)
    if isinstance(arg1, BaseSparseNDArray):
        raise ValueError("Unexpected input type: CSRNDArray")
    if isinstance(arg1, (NDArray, np.ndarray, list)):
        dtype = _default_dtype(arg1, dtype)
        dense = arg1 if isinstance(arg1, NDArray) else _nd.array(np.asarray(arg1), ctx=ctx, dtype=dtype)
        if shape is not None and tuple(shape) != dense.shape:
            raise ShapeError(f"row_sparse_array: shape {tuple(shape)} differs from the source's {dense.shape}")
        return _cast_dense(dense.as_in_context(ctx).astype(dtype, copy=False), "row_sparse")
    raise ValueError(f"Unexpected input type: {type(arg1)}")


def array(source_array, ctx=None, dtype=None):
    """A sparse array from a sparse array or a ``scipy.sparse`` matrix (copied)."""
    ctx = _ctx_of(ctx)
    if isinstance(source_array, BaseSparseNDArray):
        res = source_array.copyto(ctx)
        return res if dtype is None else res.astype(dtype)
    if _is_scipy(source_array):
        return csr_matrix(source_array, ctx=ctx, dtype=dtype)
    raise ValueError("Unexpected source_array type: expected a sparse NDArray or a scipy.sparse csr matrix")
