"""The CSR graph operators of ``mx.sym.contrib`` (``getnnz``, ``dgl_adjacency``, ``edge_id``
and the DGL sampling ops).

mxrs graphs compute densely (see ``mx.sym.sparse``): a CSR input is its dense array, so an
entry counts as stored when it is nonzero. ``getnnz``, ``dgl_adjacency`` and ``edge_id`` are
built from dense ops and give MXNet's values whenever no stored value is 0 (give edge ids from
1 in graphs; ``dgl_adjacency`` returns a dense float32 matrix and ``getnnz`` int64 counts).
The samplers, ``dgl_subgraph`` and ``dgl_graph_compact`` produce new CSR structures from the
stored entries and raise ``NotImplementedError`` here: use them on ``CSRNDArray`` through
``mx.nd.contrib``.
"""

from mxrs.base import MXNetError
from mxrs.symbol import _ops

__all__ = [
    "dgl_adjacency",
    "dgl_csr_neighbor_non_uniform_sample",
    "dgl_csr_neighbor_uniform_sample",
    "dgl_graph_compact",
    "dgl_subgraph",
    "edge_id",
    "getnnz",
]


def getnnz(data=None, axis=None, name=None, attr=None, **kwargs):
    """The number of nonzero entries of a 2-d ``data`` (int64): shape ``(1,)`` for
    ``axis=None``, per row for ``axis=1``, per column for ``axis=0``."""
    if kwargs:
        raise MXNetError(f"_contrib_getnnz: unexpected arguments {sorted(kwargs)}")
    stored = _ops._not_equal_scalar(data, scalar=0)
    if axis is None:
        count = _ops.reshape(_ops.sum(stored), shape=(1,))
    elif axis in (0, 1, -1, -2):
        count = _ops.sum(stored, axis=axis)
    else:
        raise MXNetError(f"_contrib_getnnz: unexpected axis {axis}")
    return _ops.cast(count, dtype="int64", name=name, attr=attr)


def dgl_adjacency(data=None, name=None, attr=None, **kwargs):
    """1 (float32) where ``data`` has an edge (a nonzero edge id), else 0."""
    if kwargs:
        raise MXNetError(f"_contrib_dgl_adjacency: unexpected arguments {sorted(kwargs)}")
    return _ops.cast(_ops._not_equal_scalar(data, scalar=0), dtype="float32", name=name, attr=attr)


def edge_id(data=None, u=None, v=None, name=None, attr=None, **kwargs):
    """``data[u[i], v[i]]`` where it is nonzero (an edge), else -1."""
    if kwargs:
        raise MXNetError(f"_contrib_edge_id: unexpected arguments {sorted(kwargs)}")
    picked = _ops.gather_nd(data, _ops.stack(u, v, axis=0))
    missing = _ops.ones_like(picked) * -1
    return _ops.where(_ops._not_equal_scalar(picked, scalar=0), picked, missing, name=name, attr=attr)


def _structural(op):
    def fn(*args, **kwargs):
        raise NotImplementedError(
            f"mx.sym.contrib.{op} builds new CSR structures, which mxrs graphs (dense) do not have; "
            f"use mx.nd.contrib.{op} on a CSRNDArray"
        )

    fn.__name__ = op
    fn.__doc__ = f"Not available in mxrs graphs (``mx.nd.contrib.{op}`` works on a CSRNDArray)."
    return fn


dgl_csr_neighbor_uniform_sample = _structural("dgl_csr_neighbor_uniform_sample")
dgl_csr_neighbor_non_uniform_sample = _structural("dgl_csr_neighbor_non_uniform_sample")
dgl_subgraph = _structural("dgl_subgraph")
dgl_graph_compact = _structural("dgl_graph_compact")
