"""The CSR graph operators of ``mx.sym.contrib`` (``getnnz``, ``dgl_adjacency``, ``edge_id``
and the DGL sampling ops).

mxrs graphs compute densely (see ``mx.sym.sparse``): a CSR input is its dense array, so an
entry counts as stored when it is nonzero. ``getnnz``, ``dgl_adjacency`` and ``edge_id`` are
built from dense ops and give MXNet's values whenever no stored value is 0 (give edge ids from
1 in graphs; ``dgl_adjacency`` returns a dense float32 matrix and ``getnnz`` int64 counts).
The samplers, ``dgl_subgraph`` and ``dgl_graph_compact`` produce new CSR structures: in a graph
each is a ``Custom`` node running the ``mx.nd.contrib`` operator on the dense inputs turned into
CSRNDArrays, its CSR outputs returned densely (see the note above ``_OP_TYPE``).
"""

import json

import numpy as np

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


# ----- the ops that build new CSR structures: Python operators over the nd implementations -----
#
# In a graph these run as one ``Custom`` node each (op_type ``_mxrs_dense_graph``): the forward
# turns the dense graph inputs into CSRNDArrays, calls the ``mx.nd.contrib`` operator and
# returns its CSR outputs densely. The output shapes are MXNet's, so graphs infer shapes; the
# outputs have no gradient (MXNet registers none). A dense result cannot show an edge whose id
# is 0 (the first edge of a new sub-graph, numbered from 0 as MXNet numbers them): the mapping
# outputs (``return_mapping=True``) carry the parent graph's ids.

_OP_TYPE = "_mxrs_dense_graph"


def _counts(op, n_in, attrs):
    """(number of graph inputs, number of vertex/seed arrays) of a structural op."""
    if op == "dgl_subgraph":
        return 1, n_in - 1
    if op == "dgl_graph_compact":
        return n_in // 2, n_in // 2
    if op == "dgl_csr_neighbor_non_uniform_sample":
        return 1, n_in - 2
    return 1, n_in - 1


def _out_specs(op, attrs, in_shapes):
    """MXNet's output shapes and dtypes of a structural op for input shapes ``in_shapes``."""
    if op in ("dgl_csr_neighbor_uniform_sample", "dgl_csr_neighbor_non_uniform_sample"):
        m = int(attrs.get("max_num_vertices", 100))
        n = len(in_shapes) - (2 if op.endswith("non_uniform_sample") else 1)
        specs = [((m + 1,), "int64")] * n + [((m, in_shapes[0][1]), "int64")] * n
        if op.endswith("non_uniform_sample"):
            specs += [((m,), "float32")] * n
        return specs + [((m,), "int64")] * n
    if op == "dgl_subgraph":
        subs = [((v[0], v[0]), "int64") for v in in_shapes[1:]]
    else:
        sizes = [int(x) for x in _as_list(attrs.get("graph_sizes"))]
        subs = [((k, k), "int64") for k in sizes]
    return subs + (subs if _flag(attrs.get("return_mapping", False)) else [])


def _as_list(v):
    if v is None:
        return []
    if isinstance(v, str):
        return json.loads(v.replace("(", "[").replace(")", "]").replace("L", "")) if v.strip() else []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _flag(v):
    return v in (True, 1) or str(v).lower() in ("true", "1")


def _nd_call(op, attrs, inputs):
    """Run ``mx.nd.contrib.op`` on dense ``inputs`` (graphs become CSRNDArrays); dense outputs."""
    from mxrs.ndarray import _contrib_graph as nd_graph  # noqa: PLC0415  (mx.nd loads first)

    n_graphs, _ = _counts(op, len(inputs), attrs)
    args = [x.tostype("csr") if i < n_graphs else x for i, x in enumerate(inputs)]
    kwargs = {k: v for k, v in attrs.items() if k != "num_args"}
    if op == "dgl_graph_compact":
        kwargs["graph_sizes"] = _as_list(kwargs.get("graph_sizes"))
    for k in ("num_hops", "num_neighbor", "max_num_vertices"):
        if k in kwargs:
            kwargs[k] = int(kwargs[k])
    if "return_mapping" in kwargs:
        kwargs["return_mapping"] = _flag(kwargs["return_mapping"])
    res = getattr(nd_graph, op)(*args, **kwargs)
    res = res if isinstance(res, list) else [res]
    return [r.tostype("default") if r.stype != "default" else r for r in res]


def _register_prop():
    from mxrs import operator  # noqa: PLC0415  (mxrs.operator imports mxrs.ndarray)

    if _OP_TYPE in operator.get_all_registered_operators():
        return

    class DenseGraphOp(operator.CustomOp):
        def __init__(self, op, attrs):
            super().__init__()
            self.op, self.attrs = op, attrs

        def forward(self, is_train, req, in_data, out_data, aux):
            for dst, r, src in zip(out_data, req, _nd_call(self.op, self.attrs, list(in_data))):
                self.assign(dst, r, src.astype(dst.dtype))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            for g, r in zip(in_grad, req):
                self.assign(g, r, g * 0)

    @operator.register(_OP_TYPE)
    class DenseGraphProp(operator.CustomOpProp):
        def __init__(self, graph_op, num_inputs, attrs="{}"):
            super().__init__(need_top_grad=False)
            self.op, self.n_in, self.attrs = graph_op, int(num_inputs), json.loads(attrs)

        def list_arguments(self):
            n_graphs, n_arrays = _counts(self.op, self.n_in, self.attrs)
            names = [f"graph{i}" for i in range(n_graphs)]
            if self.op == "dgl_csr_neighbor_non_uniform_sample":
                names.append("probability")
            return names + [f"data{i}" for i in range(n_arrays)]

        def list_outputs(self):
            n = len(_out_specs(self.op, self.attrs, [(1, 1)] * self.n_in))
            return [f"output{i}" for i in range(n)]

        def infer_shape(self, in_shape):
            return in_shape, [s for s, _ in _out_specs(self.op, self.attrs, in_shape)], []

        def infer_type(self, in_type):
            dummy = [(1, 1)] * self.n_in
            return in_type, [np.dtype(t) for _, t in _out_specs(self.op, self.attrs, dummy)], []

        def create_operator(self, ctx, in_shapes, in_dtypes):
            return DenseGraphOp(self.op, self.attrs)


def _structural(op):
    def fn(*data, name=None, attr=None, **kwargs):
        from mxrs.symbol._custom import Custom  # noqa: PLC0415  (loaded at first use)

        if len(data) == 1 and isinstance(data[0], (list, tuple)):
            data = tuple(data[0])
        num_args = kwargs.pop("num_args", None)
        if num_args is not None and int(num_args) != len(data):
            raise MXNetError(f"_contrib_{op}: num_args={num_args} but {len(data)} inputs were given")
        _register_prop()
        attrs = json.dumps({k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()})
        return Custom(*data, op_type=_OP_TYPE, graph_op=op, num_inputs=len(data), attrs=attrs, name=name, attr=attr)

    fn.__name__ = op
    fn.__doc__ = (
        f"``mx.nd.contrib.{op}`` in a graph, on dense graph inputs (a nonzero entry is an edge, its "
        "value the edge id) with dense outputs; runs as a ``Custom`` node."
    )
    return fn


dgl_csr_neighbor_uniform_sample = _structural("dgl_csr_neighbor_uniform_sample")
dgl_csr_neighbor_non_uniform_sample = _structural("dgl_csr_neighbor_non_uniform_sample")
dgl_subgraph = _structural("dgl_subgraph")
dgl_graph_compact = _structural("dgl_graph_compact")
