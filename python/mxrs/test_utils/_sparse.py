"""Random sparse arrays for tests (``mx.test_utils``), as MXNet 1.9.1's helpers make them."""

import numpy as np
import numpy.random as rnd

from mxrs import ndarray as nd
from mxrs.context import current_context
from mxrs.test_utils._compare import default_dtype

__all__ = [
    "shuffle_csr_column_indices",
    "rand_sparse_ndarray",
    "create_sparse_array",
    "create_sparse_array_zd",
]


def _check_csr_inputs(num_rows, num_cols, density, distribution="uniform"):
    """Raise ValueError for a density or a shape MXNet's csr generators refuse."""
    if density < 0 or density > 1:
        raise ValueError("density has to be between 0 and 1")
    if num_rows <= 0 or num_cols <= 0:
        raise ValueError("num_rows or num_cols should be greater than 0")
    if distribution == "powerlaw" and int(num_rows * num_cols * density) < 2 * num_rows:
        raise ValueError(
            f"not supported for this density: {density} for this shape ({num_rows}, {num_cols})"
            " Please keep : num_rows * num_cols * density >= 2 * num_rows"
        )


def shuffle_csr_column_indices(csr):
    """Shuffle the column indices within each row of ``csr`` in place (a scipy csr matrix or
    any object with numpy ``indptr``/``indices``): a valid csr matrix need not sort them."""
    for i in range(len(csr.indptr) - 1):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        sub = np.array(csr.indices[lo:hi])
        rnd.shuffle(sub)
        csr.indices[lo:hi] = sub


def _uniform_csr(num_rows, num_cols, density, dtype, data_init, shuffle):
    """A csr array with ``int(rows*cols*density)`` nonzeros at uniformly drawn positions."""
    _check_csr_inputs(num_rows, num_cols, density)
    try:
        from scipy import sparse as spsp  # type: ignore[import-untyped]
    except ImportError:
        if data_init is not None or shuffle:
            raise ValueError("data_init and shuffle_csr_indices need scipy") from None
        dns = nd.random.uniform(shape=(num_rows, num_cols), dtype=dtype)
        return (dns * (dns < density)).tostype("csr")
    csr = spsp.rand(num_rows, num_cols, density, dtype=dtype, format="csr")
    if data_init is not None:
        csr.data.fill(data_init)
    if shuffle:
        shuffle_csr_column_indices(csr)
    return nd.sparse.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(num_rows, num_cols), dtype=dtype)


def _powerlaw_csr(num_rows, num_cols, density, dtype):
    """A csr array whose row ``i+1`` holds twice the nonzeros of row ``i`` (MXNet's layout:
    one value at the start of every row first, then doubling runs until the count is used)."""
    _check_csr_inputs(num_rows, num_cols, density, "powerlaw")
    unused = int(num_rows * num_cols * density)
    out = np.zeros((num_rows, num_cols), dtype=dtype)
    for row in range(num_rows):
        out[row][0] = 1 + rnd.uniform(0.001, 2)
        unused -= 1
        if unused <= 0:
            return nd.array(out, dtype=dtype).tostype("csr")
    col_max = 2
    for row in range(num_rows):
        limit = min(num_cols, col_max)
        if limit == num_cols and unused > limit:
            out[row] = 1 + rnd.uniform(0.001, 2)
            unused -= limit - 1
            if unused <= 0:
                return nd.array(out, dtype=dtype).tostype("csr")
            continue
        for col in range(1, limit):
            out[row][col] = 1 + rnd.uniform(0.001, 2)
            unused -= 1
            if unused <= 0:
                return nd.array(out, dtype=dtype).tostype("csr")
        col_max *= 2
    if unused > 0:
        raise ValueError(f"not supported for this density: {density} for this shape ({num_rows},{num_cols})")
    return nd.array(out, dtype=dtype).tostype("csr")


def rand_sparse_ndarray(
    shape,
    stype,
    density=None,
    dtype=None,
    distribution=None,
    data_init=None,
    rsp_indices=None,
    modifier_func=None,
    shuffle_csr_indices=False,
    ctx=None,
):
    """A random ``csr`` or ``row_sparse`` array and its parts, as MXNet's helper.

    Returns ``(array, (values, indices))`` for row_sparse and ``(array, (indptr, indices,
    data))`` for csr. ``density`` (random when None) is the chance of a row (row_sparse) or an
    element (csr, ``distribution='uniform'``) being stored; ``distribution='powerlaw'`` (csr)
    doubles the nonzeros of each row. ``data_init`` fills the values, ``modifier_func`` maps
    each value, ``rsp_indices`` picks the stored rows.
    """
    ctx = ctx if ctx else current_context()
    density = rnd.rand() if density is None else density
    dtype = default_dtype() if dtype is None else dtype
    distribution = "uniform" if distribution is None else distribution
    if stype == "row_sparse":
        if distribution != "uniform":
            raise ValueError(f"Distribution {distribution} not supported for row_sparse")
        if rsp_indices is not None:
            indices = np.asarray(rsp_indices)
            if len(indices) > shape[0]:
                raise ValueError(f"rsp_indices has {len(indices)} rows, more than shape[0]={shape[0]}")
        else:
            indices = np.argwhere(rnd.rand(shape[0]) < density).flatten()
        if indices.shape[0] == 0:
            arr = nd.zeros(shape, stype="row_sparse", dtype=dtype, ctx=ctx)
            return arr, (np.array([], dtype=dtype), np.array([]))
        val = rnd.rand(indices.shape[0], *shape[1:]).astype(dtype)
        if data_init is not None:
            val.fill(data_init)
        if modifier_func is not None:
            val = np.vectorize(modifier_func)(val).astype(dtype)
        arr = nd.sparse.row_sparse_array((val, indices), shape=shape, dtype=dtype, ctx=ctx)
        return arr, (val, indices)
    if stype == "csr":
        if len(shape) != 2:
            raise ValueError(f"a csr array is 2-d, got shape {tuple(shape)}")
        if distribution == "uniform":
            csr = _uniform_csr(shape[0], shape[1], density, dtype, data_init, shuffle_csr_indices)
        elif distribution == "powerlaw":
            csr = _powerlaw_csr(shape[0], shape[1], density, dtype)
        else:
            raise ValueError(f"Distribution not supported: {distribution}")
        csr = csr.as_in_context(ctx)
        return csr, (csr.indptr, csr.indices, csr.data)
    raise ValueError(f"unknown storage type {stype!r}: use 'csr' or 'row_sparse'")


def create_sparse_array(
    shape,
    stype,
    data_init=None,
    rsp_indices=None,
    dtype=None,
    modifier_func=None,
    density=0.5,
    shuffle_csr_indices=False,
):
    """A random sparse array (``rsp_indices`` sorted first, so row_sparse stays canonical)."""
    if stype not in ("row_sparse", "csr"):
        raise AssertionError("Unknown storage type: " + stype)
    if stype == "row_sparse" and rsp_indices is not None:
        rsp_indices = np.sort(np.asarray(rsp_indices))
    arr, _ = rand_sparse_ndarray(
        shape,
        stype,
        density=density,
        data_init=data_init,
        rsp_indices=rsp_indices if stype == "row_sparse" else None,
        dtype=dtype,
        modifier_func=modifier_func,
        shuffle_csr_indices=shuffle_csr_indices and stype == "csr",
    )
    return arr


def create_sparse_array_zd(
    shape, stype, density, data_init=None, rsp_indices=None, dtype=None, modifier_func=None, shuffle_csr_indices=False
):
    """As :func:`create_sparse_array`, but for row_sparse only ``rsp_indices`` decides which
    rows are stored (density 0 otherwise)."""
    if stype == "row_sparse":
        density = 0.0
        if rsp_indices is not None and len(rsp_indices) > shape[0]:
            raise ValueError(f"rsp_indices has {len(rsp_indices)} rows, more than shape[0]={shape[0]}")
    return create_sparse_array(
        shape,
        stype,
        data_init=data_init,
        rsp_indices=rsp_indices,
        dtype=dtype,
        modifier_func=modifier_func,
        density=density,
        shuffle_csr_indices=shuffle_csr_indices,
    )
