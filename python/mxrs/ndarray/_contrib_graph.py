"""MXNet 1.9.1's CSR graph operators of ``mx.nd.contrib``: ``getnnz`` and the DGL ops
(``src/operator/contrib/nnz.cc``, ``dgl_graph.cc``), over a ``CSRNDArray``'s host buffers.

A DGL graph is a CSR matrix whose row ``u`` stores, at column ``v``, the id of the edge
``u -> v`` (edge ids may be 0: what matters is which entries are stored). The outputs have
MXNet's shapes, dtypes and storage types. The neighbour samplers are random: each call draws
its seed from mxrs's generator of the graph's context (so ``mx.random.seed`` makes them
reproducible); where a vertex has at most ``num_neighbor`` neighbours all of them are kept, as
in MXNet, so those results match MXNet exactly.
"""

import numpy as np

from mxrs.base import MXNetError
from mxrs.ndarray import _ops
from mxrs.ndarray._sparse_base import CSRNDArray
from mxrs.ndarray.ndarray import NDArray, array

__all__ = [
    "dgl_adjacency",
    "dgl_csr_neighbor_non_uniform_sample",
    "dgl_csr_neighbor_uniform_sample",
    "dgl_graph_compact",
    "dgl_subgraph",
    "edge_id",
    "getnnz",
]


def _csr(op, x):
    """``(data, indices, indptr, shape)`` of the CSRNDArray ``x`` as NumPy arrays."""
    if not isinstance(x, CSRNDArray):
        raise MXNetError(
            f"_contrib_{op}: expects a CSRNDArray, got {type(x).__name__} of shape {getattr(x, 'shape', None)}"
        )
    return x.data.asnumpy(), x.indices.asnumpy().astype(np.int64), x.indptr.asnumpy().astype(np.int64), x.shape


def _make_csr(data, indices, indptr, shape, ctx, dtype):
    from mxrs.ndarray.sparse import csr_matrix

    return csr_matrix(
        (np.asarray(data, dtype=dtype), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=shape,
        ctx=ctx,
        dtype=dtype,
    )


def _vector(op, what, x):
    if not isinstance(x, NDArray) or x.ndim != 1:
        raise MXNetError(f"_contrib_{op}: {what} must be a 1-D NDArray, got shape {getattr(x, 'shape', None)}")
    return x.asnumpy()


def getnnz(data=None, axis=None, out=None, name=None):
    """The number of stored values of a CSRNDArray (int64): ``(1,)`` for ``axis=None``, per row
    ``(rows,)`` for ``axis=1``. MXNet 1.9.1 does not support ``axis=0``; here it gives the
    number per column ``(cols,)``."""
    vals, idx, ptr, shape = _csr("getnnz", data)
    if axis is None:
        res = np.array([len(vals)], dtype=np.int64)
    elif axis in (1, -1):
        res = np.diff(ptr).astype(np.int64)
    elif axis in (0, -2):
        res = np.bincount(idx[: ptr[-1]], minlength=shape[1]).astype(np.int64)
    else:
        raise MXNetError(f"_contrib_getnnz: unexpected axis {axis} for a matrix of shape {shape}")
    return _out(array(res, ctx=data.context, dtype="int64"), out)


def _out(res, out):
    if out is None:
        return res
    res.copyto(out)
    return out


def dgl_adjacency(data=None, out=None, name=None):
    """The adjacency matrix of a graph: its CSR structure with every stored value 1 (a float32
    CSRNDArray). The graph's values must be int64 edge ids."""
    vals, idx, ptr, shape = _csr("dgl_adjacency", data)
    if data.dtype != np.int64:
        raise MXNetError(f"_contrib_dgl_adjacency: expects int64 edge ids, got {np.dtype(data.dtype).name}")
    return _make_csr(np.ones(len(vals), np.float32), idx, ptr, shape, data.context, np.float32)


def edge_id(data=None, u=None, v=None, out=None, name=None):
    """``out[i] = data[u[i], v[i]]`` where that entry is stored, else -1 (data's dtype)."""
    vals, idx, ptr, shape = _csr("edge_id", data)
    uu, vv = _vector("edge_id", "u", u), _vector("edge_id", "v", v)
    if uu.shape != vv.shape:
        raise MXNetError(f"_contrib_edge_id: u and v must have the same length, got {uu.shape} and {vv.shape}")
    res = np.full(uu.shape, -1, dtype=vals.dtype)
    for i, (r, c) in enumerate(zip(uu.astype(np.int64), vv.astype(np.int64))):
        if not 0 <= r < shape[0]:
            raise MXNetError(f"_contrib_edge_id: u[{i}] = {r} is out of range for a graph of shape {shape}")
        hit = np.flatnonzero(idx[ptr[r] : ptr[r + 1]] == c)
        if hit.size:
            res[i] = vals[ptr[r] + hit[0]]
    return _out(array(res, ctx=data.context, dtype=vals.dtype), out)


def _seed(ctx):
    """A seed for one sampling call, from mxrs's generator of ``ctx``."""
    r = _ops._random_uniform(low=0, high=2.0**31, shape=(1,), dtype="float64", ctx=ctx)
    return int(r.asnumpy()[0])


def _uniform(rng, n, k):
    """Sorted positions of ``k`` of ``n`` neighbours, drawn uniformly without replacement."""
    return np.sort(rng.choice(n, size=k, replace=False))


def _non_uniform(rng, weights, k):
    """Positions of ``k`` neighbours drawn without replacement with probability ``weights``."""
    p = np.asarray(weights, np.float64)
    if p.sum() <= 0 or (p > 0).sum() < k:
        p = p + 1e-12
    return rng.choice(len(p), size=k, replace=False, p=p / p.sum())


def _sample(op, graph, seeds, prob, num_hops, num_neighbor, max_num_vertices, rng):
    """MXNet's ``SampleSubgraph``: a breadth-first walk from ``seeds`` keeping at most
    ``num_neighbor`` neighbours of each vertex, ``num_hops`` deep, ``max_num_vertices`` in all."""
    vals, idx, ptr, shape = graph
    if len(seeds) > max_num_vertices:
        raise MXNetError(f"_contrib_{op}: {len(seeds)} seeds exceed max_num_vertices {max_num_vertices}")
    seen, queue = set(), []
    for s in seeds.astype(np.int64):
        if not 0 <= s < shape[0]:
            raise MXNetError(f"_contrib_{op}: seed vertex {s} is not in a graph of shape {shape}")
        if s not in seen:
            seen.add(int(s))
            queue.append((int(s), 0))
    neigh = {}
    pos = 0
    while pos < len(queue) and len(seen) < max_num_vertices:
        dst, level = queue[pos]
        pos += 1
        if level >= num_hops:
            continue
        cols, eids = idx[ptr[dst] : ptr[dst + 1]], vals[ptr[dst] : ptr[dst + 1]]
        if len(cols) > num_neighbor:
            if prob is None:
                keep = _uniform(rng, len(cols), num_neighbor)
                cols, eids = cols[keep], eids[keep]
            else:
                keep = _non_uniform(rng, prob[cols], num_neighbor)
                # MXNet sorts the sampled vertices and edge ids separately.
                cols, eids = np.sort(cols[keep]), np.sort(eids[keep])
        neigh[dst] = (cols, eids)
        for c in cols:
            if len(seen) >= max_num_vertices:
                break
            if int(c) not in seen:
                seen.add(int(c))
                queue.append((int(c), level + 1))
    queue.sort(key=lambda t: t[0])
    n = len(queue)
    ids = np.zeros(max_num_vertices + 1, np.int64)
    layer = np.zeros(max_num_vertices, np.int64)
    ids[:n] = [q[0] for q in queue]
    layer[:n] = [q[1] for q in queue]
    ids[max_num_vertices] = n
    sub_idx, sub_val, sub_ptr = [], [], [0]
    for v in ids[:n]:
        cols, eids = neigh.get(int(v), ((), ()))
        sub_idx.extend(cols)
        sub_val.extend(eids)
        sub_ptr.append(len(sub_idx))
    sub_ptr.extend([len(sub_idx)] * (max_num_vertices - n))
    return ids, (sub_val, sub_idx, sub_ptr), layer


def _sampler(op, csr, prob, seed_arrays, num_hops, num_neighbor, max_num_vertices):
    graph = _csr(op, csr)
    if graph[0].dtype != np.int64:
        raise MXNetError(f"_contrib_{op}: expects int64 edge ids, got {graph[0].dtype}")
    if not seed_arrays:
        raise MXNetError(f"_contrib_{op}: expects at least one seed array")
    num_hops, num_neighbor, max_num_vertices = int(num_hops), int(num_neighbor), int(max_num_vertices)
    rng = np.random.RandomState(_seed(csr.context))
    ctx = csr.context
    ids, subs, layers, probs = [], [], [], []
    for seeds in seed_arrays:
        s = _vector(op, "a seed array", seeds)
        v, (val, ind, ptr), lay = _sample(op, graph, s, prob, num_hops, num_neighbor, max_num_vertices, rng)
        ids.append(array(v, ctx=ctx, dtype="int64"))
        subs.append(_make_csr(val, ind, ptr, (max_num_vertices, graph[3][1]), ctx, np.int64))
        layers.append(array(lay, ctx=ctx, dtype="int64"))
        if prob is not None:
            p = np.zeros(max_num_vertices, np.float32)
            n = int(v[-1])
            p[:n] = prob[v[:n]]
            probs.append(array(p, ctx=ctx, dtype="float32"))
    return ids + subs + (probs if prob is not None else []) + layers


def dgl_csr_neighbor_uniform_sample(
    csr_matrix, *seed_arrays, num_hops=1, num_neighbor=2, max_num_vertices=100, num_args=None, **kwargs
):
    """Sample sub-graphs of ``csr_matrix`` around each seed array, uniformly. Returns, for
    ``n`` seed arrays, ``n`` sampled-vertex arrays (int64, ``max_num_vertices + 1`` long, the
    last value the number of vertices), ``n`` sub-graph CSRNDArrays ``(max_num_vertices,
    csr_matrix.shape[1])`` (row ``i``: the sampled edges into the ``i``-th sampled vertex, by
    original column and edge id) and ``n`` layer arrays (the hop at which each vertex was
    reached)."""
    _check_args("dgl_csr_neighbor_uniform_sample", kwargs, num_args, 1 + len(seed_arrays))
    return _sampler(
        "dgl_csr_neighbor_uniform_sample", csr_matrix, None, seed_arrays, num_hops, num_neighbor, max_num_vertices
    )


def dgl_csr_neighbor_non_uniform_sample(
    csr_matrix, probability, *seed_arrays, num_hops=1, num_neighbor=2, max_num_vertices=100, num_args=None, **kwargs
):
    """As :func:`dgl_csr_neighbor_uniform_sample`, drawing neighbours in proportion to
    ``probability`` (one float per vertex); also returns, before the layers, each sub-graph's
    vertex probabilities (float32, ``max_num_vertices`` long)."""
    _check_args("dgl_csr_neighbor_non_uniform_sample", kwargs, num_args, 2 + len(seed_arrays))
    prob = _vector("dgl_csr_neighbor_non_uniform_sample", "probability", probability)
    n = csr_matrix.shape[0] if isinstance(csr_matrix, NDArray) else None
    if n is not None and prob.shape[0] != n:
        raise MXNetError(
            f"_contrib_dgl_csr_neighbor_non_uniform_sample: probability {prob.shape} must have one value "
            f"per vertex of the graph {csr_matrix.shape}"
        )
    return _sampler(
        "dgl_csr_neighbor_non_uniform_sample", csr_matrix, prob, seed_arrays, num_hops, num_neighbor, max_num_vertices
    )


def _check_args(op, kwargs, num_args, got):
    kwargs.pop("name", None)
    kwargs.pop("out", None)
    if kwargs:
        raise MXNetError(f"_contrib_{op}: unexpected arguments {sorted(kwargs)}")
    if num_args is not None and int(num_args) != got:
        raise MXNetError(f"_contrib_{op}: num_args is {num_args} but {got} arrays were given")


def dgl_subgraph(graph, *data, return_mapping=False, num_args=None, **kwargs):
    """The sub-graphs of ``graph`` induced by each sorted int64 vertex array: a CSRNDArray
    ``(len(v), len(v))`` with new edge ids ``0, 1, ...``, and with ``return_mapping`` also the
    same structure holding the parent graph's edge ids."""
    _check_args("dgl_subgraph", kwargs, num_args, 1 + len(data))
    vals, idx, ptr, shape = _csr("dgl_subgraph", graph)
    subs, maps = [], []
    for varr in data:
        v = _vector("dgl_subgraph", "a vertex array", varr).astype(np.int64)
        if np.any(np.diff(v) < 0):
            raise MXNetError("_contrib_dgl_subgraph: the input vertex list has to be sorted")
        if len(v) and (v.min() < 0 or v.max() >= shape[0]):
            raise MXNetError(
                f"_contrib_dgl_subgraph: vertex ids {v.tolist()} are not all in a graph of {shape[0]} vertices"
            )
        new_of = {int(x): i for i, x in enumerate(v)}
        cols, eids, rptr = [], [], [0]
        for x in v:
            for c, e in zip(idx[ptr[x] : ptr[x + 1]], vals[ptr[x] : ptr[x + 1]]):
                if int(c) in new_of:
                    cols.append(new_of[int(c)])
                    eids.append(e)
            rptr.append(len(cols))
        m = (len(v), len(v))
        subs.append(_make_csr(np.arange(len(cols)), cols, rptr, m, graph.context, vals.dtype))
        maps.append(_make_csr(eids, cols, rptr, m, graph.context, vals.dtype))
    res = subs + (maps if return_mapping else [])
    return res[0] if len(res) == 1 else res


def dgl_graph_compact(*graph_data, graph_sizes=None, return_mapping=False, num_args=None, **kwargs):
    """Compact sampled sub-graphs: ``graph_data`` is ``n`` sub-graph CSRNDArrays then their
    ``n`` sampled-vertex arrays; each output ``(size, size)`` keeps the sub-graph's first
    ``size`` rows with columns renumbered to positions in the vertex array and edge ids
    ``0, 1, ...``. With ``return_mapping`` the n graphs are followed by the same structures holding the
    sub-graph's edge ids (MXNet 1.9.1 declares these outputs but leaves them empty)."""
    _check_args("dgl_graph_compact", kwargs, num_args, len(graph_data))
    if len(graph_data) % 2 or not graph_data:
        raise MXNetError("_contrib_dgl_graph_compact: expects n sub-graphs followed by their n vertex arrays")
    n = len(graph_data) // 2
    sizes = [int(s) for s in np.atleast_1d(np.asarray(graph_sizes, dtype=np.int64))]
    if len(sizes) != n:
        raise MXNetError(f"_contrib_dgl_graph_compact: graph_sizes {graph_sizes} must have one size per graph ({n})")
    subs, maps = [], []
    for g, varr, size in zip(graph_data[:n], graph_data[n:], sizes):
        vals, idx, ptr, _ = _csr("dgl_graph_compact", g)
        v = _vector("dgl_graph_compact", "a vertex array", varr).astype(np.int64)
        if v.shape[0] != ptr.shape[0] or int(v[-1]) != size:
            raise MXNetError(
                f"_contrib_dgl_graph_compact: vertex array {v.shape} must be the sampler's (last value {size})"
            )
        new_of = {int(x): i for i, x in enumerate(v[:size])}
        try:
            cols = [new_of[int(c)] for c in idx]
        except KeyError as e:
            raise MXNetError(f"_contrib_dgl_graph_compact: column {e} is not a sampled vertex") from None
        rptr = ptr[: size + 1]
        m = (size, size)
        subs.append(_make_csr(np.arange(len(cols)), cols, rptr, m, g.context, np.int64))
        maps.append(_make_csr(vals, cols, rptr, m, g.context, np.int64))
    res = subs + (maps if return_mapping else [])
    return res[0] if len(res) == 1 else res
