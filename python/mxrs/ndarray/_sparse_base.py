"""Sparse NDArrays (MXNet's ``CSRNDArray`` and ``RowSparseNDArray``): the classes, storage
conversion and creation. :mod:`mxrs.ndarray.sparse` adds the operators.

A sparse array holds its components as ordinary dense NDArrays on its context, as MXNet
exposes them: a ``csr`` matrix ``data`` (nnz values), ``indices`` (nnz int64 column indices,
sorted within each row) and ``indptr`` (rows + 1 int64 row offsets); a ``row_sparse`` array
``data`` (the stored rows, shape ``(nnr,) + shape[1:]``) and ``indices`` (nnr int64 row
indices, increasing). The kernels over components are registered ops (``_sparse_*``).

Any op without a sparse kernel takes a sparse array through its dense value (MXNet's
"storage fallback"): ``_handle``, which ops read, is the dense array computed from the
components, and writing an op's result into a sparse array (``out=``) converts it back.
"""

import numpy as np

from mxrs.base import MXNetError, MXNetTypeError, ShapeError
from mxrs.context import Context, current_context
from mxrs.ndarray import ndarray as _nd
from mxrs.ndarray.ndarray import NDArray, _dtype_name, _wrap, invoke

__all__ = ["BaseSparseNDArray", "CSRNDArray", "RowSparseNDArray", "cast_storage", "zeros", "empty"]

_STORAGE_TYPE_UNDEFINED = -1
_STORAGE_TYPE_DEFAULT = 0
_STORAGE_TYPE_ROW_SPARSE = 1
_STORAGE_TYPE_CSR = 2
_STORAGE_TYPE_STR_TO_ID = {"undefined": -1, "default": 0, "row_sparse": 1, "csr": 2}
_STORAGE_TYPE_ID_TO_STR = {v: k for k, v in _STORAGE_TYPE_STR_TO_ID.items()}
_STORAGE_AUX_TYPES = {"row_sparse": [np.int64], "csr": [np.int64, np.int64]}


class NotSupportedForSparseNDArray(MXNetError):
    """An NDArray method that sparse arrays do not have (MXNet's class of that name)."""

    def __init__(self, function, alias, *args):
        name = getattr(function, "__name__", str(function))
        what = f"{name} (namely operator {alias})" if alias else name
        super().__init__(f"Function {what} is not supported for SparseNDArray and only available in NDArray.")


def _idx(a, ctx):
    """Indices as an int64 NDArray on ``ctx``."""
    if isinstance(a, NDArray):
        a = a if a.dtype == np.int64 else a.astype("int64")
        return a.as_in_context(ctx)
    return _nd.array(np.asarray(a, dtype=np.int64).reshape(-1), ctx=ctx, dtype="int64")


def _vals(a, ctx, dtype):
    """Values as an NDArray of ``dtype`` on ``ctx``."""
    if isinstance(a, NDArray):
        a = a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
        return a.as_in_context(ctx)
    return _nd.array(np.asarray(a, dtype=dtype or np.float32), ctx=ctx, dtype=dtype or np.float32)


def _host(a):
    """An int64 NumPy copy of an index component."""
    return a.asnumpy().astype(np.int64, copy=False)


class BaseSparseNDArray(NDArray):
    """The base class of sparse arrays: a logical shape and dense component arrays."""

    __slots__ = ("_sp_shape", "_sp_data", "_sp_aux")
    _stype = "undefined"
    _aux_names: tuple[str, ...] = ()

    def __init__(self, data, aux, shape, writable=True):
        self._sp_shape = tuple(int(d) for d in shape)
        self._sp_data = data
        self._sp_aux = list(aux)
        self.writable = writable

    # -- the dense value that ops without a sparse kernel read (storage fallback) ----------
    @property
    def _handle(self):
        return self.todense()._handle

    @_handle.setter
    def _handle(self, h):
        # An op wrote its (dense) result into this array: store it in this storage type.
        self._set_from(_cast_dense(_wrap(h), self._stype))

    def _set_from(self, other):
        if other.shape != self.shape:
            raise ShapeError(
                f"cannot assign an array of shape {other.shape} to a {self._stype} array of shape {self.shape}"
            )
        self._sp_data = other._sp_data
        self._sp_aux = list(other._sp_aux)

    @property
    def handle(self):
        """The native handle of the dense value (MXNet's is the sparse array's own)."""
        return self._handle

    # -- attributes -----------------------------------------------------------------------
    @property
    def shape(self):
        """The logical shape."""
        return self._sp_shape

    @property
    def stype(self):
        """The storage type: ``'csr'`` or ``'row_sparse'``."""
        return self._stype

    @property
    def dtype(self):
        """The element type of the values."""
        return self._sp_data.dtype

    @property
    def context(self):
        """The context of the components."""
        return self._sp_data.context

    ctx = context

    @property
    def size(self):
        """Number of elements of the logical shape."""
        return int(np.prod(self._sp_shape))

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self._sp_shape)

    @property
    def data(self):
        """The stored values (an NDArray sharing this array's storage)."""
        return self._sp_data

    @property
    def indices(self):
        """The int64 indices: column indices (csr) or row indices (row_sparse)."""
        return self._sp_aux[-1]

    @property
    def _num_aux(self):
        return len(self._sp_aux)

    @property
    def _aux_types(self):
        return [a.dtype for a in self._sp_aux]

    def _aux_data(self, i):
        return self._sp_aux[i]

    def _data(self):
        return self._sp_data

    def __repr__(self):
        shape = "x".join(str(d) for d in self.shape)
        return f"\n<{type(self).__name__} {shape} @{self.context}>"

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        raise NotSupportedForSparseNDArray(self.__iter__, None)

    def __reduce__(self):
        return _rebuild, (self._stype, self._sp_data.asnumpy(), [a.asnumpy() for a in self._sp_aux], self.shape)

    # -- conversion -------------------------------------------------------------------------
    def wait_to_read(self):
        """Wait for pending writes to the components."""
        self._sp_data.wait_to_read()
        for a in self._sp_aux:
            a.wait_to_read()

    def todense(self):
        """The dense array of the same values (``tostype('default')``)."""
        raise NotImplementedError

    def asnumpy(self):
        """A dense NumPy copy."""
        return self.todense().asnumpy()

    def tostype(self, stype):
        """A copy in storage type ``stype`` (``'default'``, ``'csr'`` or ``'row_sparse'``)."""
        if stype == self._stype:
            return self.copy()
        if stype == "default":
            return self.todense()
        if stype not in ("csr", "row_sparse"):
            raise MXNetError(f"cast_storage: unknown storage type {stype!r}")
        if self._stype == "csr" and stype == "row_sparse":
            raise ValueError("cast_storage from csr to row_sparse is not supported")
        return _cast_dense(self.todense(), stype)

    def astype(self, dtype, copy=True):
        """A copy with values of ``dtype`` (the indices stay int64)."""
        name = _dtype_name(dtype)
        if not copy and self._sp_data._handle.dtype == name:
            return self
        return type(self)(self._sp_data.astype(name), [a.copy() for a in self._sp_aux], self.shape)

    def copy(self):
        """A deep copy on the same context."""
        return self.copyto(self.context)

    def copyto(self, other):
        """Copy into ``other`` (an array of this storage type, or dense) or onto a context."""
        if isinstance(other, Context):
            return type(self)(self._sp_data.copyto(other), [a.copyto(other) for a in self._sp_aux], self.shape)
        if isinstance(other, BaseSparseNDArray):
            if other is self:
                return other
            if other.stype != self.stype:
                other._set_from(self.tostype(other.stype))
            else:
                if other.shape != self.shape:
                    raise ShapeError(f"copyto: source shape {self.shape} and target shape {other.shape} differ")
                ctx = other.context
                other._sp_data = self._sp_data.copyto(ctx)
                other._sp_aux = [a.copyto(ctx) for a in self._sp_aux]
            return other
        if isinstance(other, NDArray):
            return self.todense().copyto(other)
        raise MXNetTypeError(f"copyto does not support type {type(other)}")

    def as_in_context(self, context):
        """This array on ``context`` (itself when it already lives there)."""
        return self if self.context == context else self.copyto(context)

    def check_format(self, full_check=True):
        """Raise MXNetError when the components do not form a valid array of this type."""
        _check(self._stype, self.shape, self._sp_data, self._sp_aux, full_check)

    def zeros_like(self, *args, **kwargs):
        """Zeros of the same shape, dtype and storage type."""
        return zeros(self._stype, self.shape, ctx=self.context, dtype=self.dtype)

    # -- assignment -------------------------------------------------------------------------
    def __setitem__(self, key, value):
        if not self.writable:
            raise ValueError("Failed to assign to a readonly NDArray")
        if not (isinstance(key, slice) and key == slice(None)):
            raise MXNetError(f"{type(self).__name__} only supports [:] for assignment")
        if isinstance(value, BaseSparseNDArray):
            value.copyto(self)
        elif isinstance(value, NDArray):
            self._set_from(_cast_dense(value.as_in_context(self.context), self._stype))
        elif isinstance(value, (int, float, np.generic)):
            dense = _nd.full(self.shape, float(value), ctx=self.context, dtype=self.dtype)
            self._set_from(_cast_dense(dense, self._stype))
        elif isinstance(value, np.ndarray):
            dense = _nd.array(value, ctx=self.context, dtype=self.dtype)
            self._set_from(_cast_dense(dense, self._stype))
        else:
            raise MXNetTypeError(f"type {type(value)} not supported")

    def _unsupported(self, *args, **kwargs):
        raise NotSupportedForSparseNDArray(self._unsupported, None)

    reshape = _unsupported
    broadcast_to = _unsupported
    attach_grad = _unsupported


class CSRNDArray(BaseSparseNDArray):
    """A 2-D compressed sparse row matrix (MXNet's ``CSRNDArray``)."""

    __slots__ = ()
    _stype = "csr"
    _aux_names = ("indptr", "indices")

    @property
    def indptr(self):
        """The int64 row offsets into ``data`` / ``indices`` (rows + 1 of them)."""
        return self._sp_aux[0]

    def todense(self):
        """The dense matrix."""
        return invoke("_sparse_csr_to_dense", [self._sp_data, self._sp_aux[1], self._sp_aux[0]], {"shape": self.shape})

    def asscipy(self):
        """A ``scipy.sparse.csr_matrix`` with copies of the components."""
        import scipy.sparse as spsp  # type: ignore[import-untyped]  # noqa: PLC0415 - optional dependency

        return spsp.csr_matrix((self.data.asnumpy(), _host(self.indices), _host(self.indptr)), shape=self.shape)

    def __getitem__(self, key):
        if isinstance(key, int):
            n = self.shape[0]
            if not -n <= key < n:
                raise IndexError(f"index {key} is out of bounds for axis 0 with size {n}")
            key = key % n
            return _csr_rows(self, key, key + 1)
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise ValueError("CSRNDArray only supports continuous slicing on axis 0")
            begin, end, _ = key.indices(self.shape[0])
            return _csr_rows(self, begin, max(begin, end))
        if isinstance(key, tuple):
            raise ValueError("Multi-dimension indexing is not supported")
        raise ValueError(f"Undefined behaviour for {key}")


class RowSparseNDArray(BaseSparseNDArray):
    """An array of which only some rows (slices on axis 0) are stored (MXNet's
    ``RowSparseNDArray``)."""

    __slots__ = ()
    _stype = "row_sparse"
    _aux_names = ("indices",)

    def todense(self):
        """The dense array."""
        return invoke("_sparse_rsp_to_dense", [self._sp_data, self._sp_aux[0]], {"shape": self.shape})

    def __getitem__(self, key):
        if isinstance(key, slice) and key == slice(None):
            return self
        raise Exception("__getitem__ with int or slice with step is not supported for RowSparseNDArray")


def _rebuild(stype, data, aux, shape):
    cls = CSRNDArray if stype == "csr" else RowSparseNDArray
    ctx = current_context()
    return cls(_nd.array(data, ctx=ctx, dtype=data.dtype), [_idx(a, ctx) for a in aux], shape)


def _csr_rows(a, begin, end):
    """Rows ``begin:end`` of a csr matrix (components sliced; values and indices copied)."""
    ptr = _host(a.indptr)
    lo, hi = int(ptr[begin]), int(ptr[end])
    ctx = a.context
    data = a.data[lo:hi].copy() if hi > lo else _nd.zeros((0,), ctx=ctx, dtype=a.dtype)
    idx = a.indices[lo:hi].copy() if hi > lo else _idx(np.zeros(0, np.int64), ctx)
    return CSRNDArray(data, [_idx(ptr[begin : end + 1] - lo, ctx), idx], (end - begin, a.shape[1]))


def _check(stype, shape, data, aux, full_check=True):
    """Validate components (shapes always; index values when ``full_check``)."""
    name = "csr_matrix" if stype == "csr" else "row_sparse_array"
    if stype == "csr":
        indptr, indices = aux
        if len(shape) != 2:
            raise ShapeError(f"{name}: a csr array is 2-D, got shape {shape}")
        if data.ndim != 1 or indices.shape != data.shape or indptr.shape != (shape[0] + 1,):
            raise ShapeError(
                f"{name}: data shape {data.shape}, indices shape {indices.shape} and indptr shape "
                f"{indptr.shape} do not fit shape {shape}"
            )
        if full_check:
            p, c = _host(indptr), _host(indices)
            if p[0] != 0 or p[-1] != len(c) or (np.diff(p) < 0).any():
                raise MXNetError(f"{name}: indptr {p.tolist()} must start at 0, not decrease and end at nnz={len(c)}")
            if len(c) and (c.min() < 0 or c.max() >= shape[1]):
                raise MXNetError(f"{name}: column indices must be in [0, {shape[1]}), got {c.tolist()}")
    else:
        (indices,) = aux
        if len(shape) < 1 or indices.ndim != 1 or data.shape != (indices.shape[0],) + tuple(shape[1:]):
            raise ShapeError(
                f"{name}: data shape {data.shape} and indices shape {indices.shape} do not fit shape {shape}"
            )
        if full_check:
            r = _host(indices)
            if len(r) and (r.min() < 0 or r.max() >= shape[0] or (np.diff(r) <= 0).any()):
                raise MXNetError(f"{name}: row indices must increase within [0, {shape[0]}), got {r.tolist()}")


def _count(h):
    """The last element of an int64 count array (waits for it)."""
    return int(h.asnumpy()[-1])


def _cast_dense(x, stype):
    """A dense NDArray in storage type ``stype``."""
    if stype == "default":
        return x
    ctx = x.context
    if stype == "csr":
        if x.ndim != 2:
            raise ShapeError(f"cast_storage: csr storage needs a 2-D array, got shape {x.shape}")
        indptr = invoke("_sparse_csr_indptr", [x])
        data, indices = invoke("_sparse_csr_from_dense", [x, indptr], {"nnz": _count(indptr)})
        return CSRNDArray(data.as_in_context(ctx), [indptr.as_in_context(ctx), indices.as_in_context(ctx)], x.shape)
    if stype == "row_sparse":
        if x.ndim < 1:
            raise ShapeError(f"cast_storage: row_sparse storage needs at least 1 dimension, got shape {x.shape}")
        rowptr = invoke("_sparse_rsp_rowptr", [x])
        data, indices = invoke("_sparse_rsp_from_dense", [x, rowptr], {"nnr": _count(rowptr)})
        return RowSparseNDArray(data.as_in_context(ctx), [indices.as_in_context(ctx)], x.shape)
    raise MXNetError(f"cast_storage: unknown storage type {stype!r} (expected 'default', 'csr' or 'row_sparse')")


def cast_storage(data, stype, out=None, name=None):
    """``data`` in storage type ``stype`` (``'default'``, ``'csr'``, ``'row_sparse'``)."""
    res = data.tostype(stype) if isinstance(data, BaseSparseNDArray) else _cast_dense(data, stype)
    if out is not None:
        out[:] = res
        return out
    return res


def _dense_tostype(self, stype):
    """A copy of this dense array in storage type ``stype``."""
    return self.copy() if stype == "default" else _cast_dense(self, stype)


NDArray.tostype = _dense_tostype  # type: ignore[attr-defined]


def _ctx_of(ctx):
    return Context(ctx) if ctx is not None else current_context()


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):
    """An all-zero array of storage type ``stype`` (no stored values)."""
    if stype == "default":
        return _nd.zeros(shape, ctx=ctx, dtype=dtype, **kwargs)
    shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    ctx = _ctx_of(ctx)
    dtype = dtype or np.float32
    if stype == "csr":
        if len(shape) != 2:
            raise ShapeError(f"zeros: a csr array is 2-D, got shape {shape}")
        data = _nd.zeros((0,), ctx=ctx, dtype=dtype)
        res: BaseSparseNDArray = CSRNDArray(data, [_idx(np.zeros(shape[0] + 1), ctx), _idx(np.zeros(0), ctx)], shape)
    elif stype == "row_sparse":
        data = _nd.zeros((0,) + shape[1:], ctx=ctx, dtype=dtype)
        res = RowSparseNDArray(data, [_idx(np.zeros(0), ctx)], shape)
    else:
        raise MXNetError(f"zeros: unknown storage type {stype!r}")
    out = kwargs.get("out")
    if out is not None:
        out[:] = res
        return out
    return res


def empty(stype, shape, ctx=None, dtype=None):
    """An array of storage type ``stype`` (sparse ones are empty: all zeros)."""
    return zeros(stype, shape, ctx=ctx, dtype=dtype)


def _is_scipy(x):
    mod = type(x).__module__ or ""
    return mod.startswith("scipy.sparse")


def _install_dense_hooks():
    """Let ``mx.nd.zeros(..., stype=...)`` / ``mx.nd.empty`` make sparse arrays."""
    _nd._SPARSE_ZEROS = zeros


_install_dense_hooks()
