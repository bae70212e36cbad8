"""Contrib ops of branch h-cmisc against MXNet 1.9.1 (``ops_cmisc_golden.json``, written by
``tools/golden/cases_cmisc.py``): fft / ifft and count_sketch (MXNet's GPU kernels transcribed
to NumPy), hawkesll, the exposed gradient ops, BatchNormWithReLU / SyncBatchNorm /
SparseEmbedding, getnnz and the DGL graph ops, and the symbolic group_adagrad_update; through
``mx.nd.contrib`` and ``mx.sym.contrib`` (with JSON round trips), with gradients and errors."""

import json
import pathlib

import numpy as np
import pytest
from _target import IS_MXNET, mx

pytestmark = pytest.mark.skipif(IS_MXNET, reason="several of these ops are GPU-only in MXNet 1.9.1")

GOLD = json.loads((pathlib.Path(__file__).resolve().parents[1] / "data" / "ops_cmisc_golden.json").read_text())
TOL = {"rtol": 1e-5, "atol": 1e-5}


def A(x, dtype="float32"):
    return mx.nd.array(np.array(x), dtype=dtype)


def close(got, want, rtol=1e-5, atol=1e-5):
    got = got.asnumpy() if hasattr(got, "asnumpy") else np.asarray(got)
    np.testing.assert_allclose(got.astype(np.float64), np.array(want, dtype=np.float64), rtol=rtol, atol=atol)


def sym_run(sym, args, heads=None, grad_names=()):
    """Forward (and backward with ``heads``) of ``sym`` bound to ``args``, after a JSON round trip."""
    sym = mx.sym.load_json(sym.tojson())
    grads = {n: mx.nd.zeros(args[n].shape, dtype=args[n].dtype) for n in grad_names}
    req = {n: ("write" if n in grads else "null") for n in sym.list_arguments()}
    exe = sym.bind(mx.cpu(), args, args_grad=grads or None, grad_req=req if grads else "null")
    outs = exe.forward(is_train=bool(heads))
    if heads:
        exe.backward(heads)
    return outs, grads


# --- fft / ifft -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(len(GOLD["fft"])))
def test_fft_ifft_nd_and_gradients(case):
    c = GOLD["fft"][case]
    x, og = A(c["x"]), A(c["og"])
    close(mx.nd.contrib.fft(x), c["fft"], rtol=1e-4, atol=1e-4)
    close(mx.nd.contrib.ifft(og, compute_size=1), c["ifft_of_og"], rtol=1e-4, atol=1e-4)
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.contrib.fft(x)
    y.backward(og)
    close(x.grad, c["fft_grad"], rtol=1e-4, atol=1e-4)
    # ifft's gradient is fft of its output gradient: ifft of input og, head x.
    o = og.copy()
    o.attach_grad()
    with mx.autograd.record():
        z = mx.nd.contrib.ifft(o)
    z.backward(x)
    close(o.grad, c["ifft_grad_of_x"], rtol=1e-4, atol=1e-4)


def test_fft_symbol_round_trip_and_inverse():
    c = GOLD["fft"][0]
    x = A(c["x"])
    s = mx.sym.contrib.fft(mx.sym.var("x"), compute_size=2)
    assert s.infer_shape(x=(3, 5))[1] == [(3, 10)]
    (y,), g = sym_run(s, {"x": x}, heads=[A(c["og"])], grad_names=["x"])
    close(y, c["fft"], rtol=1e-4, atol=1e-4)
    close(g["x"], c["fft_grad"], rtol=1e-4, atol=1e-4)
    back = mx.sym.contrib.ifft(mx.sym.contrib.fft(mx.sym.var("x")))
    (z,), _ = sym_run(back, {"x": x})
    close(z, np.array(c["x"]) * 5, rtol=1e-4, atol=1e-4)


def test_fft_errors():
    with pytest.raises(mx.base.MXNetError, match=r"_contrib_fft.*\(3\)"):
        mx.nd.contrib.fft(mx.nd.ones((3,)))
    with pytest.raises(mx.base.MXNetError, match=r"_contrib_ifft.*\(2,5\)"):
        mx.nd.contrib.ifft(mx.nd.ones((2, 5)))
    with pytest.raises(mx.base.MXNetError, match="compute_size"):
        mx.nd.contrib.fft(mx.nd.ones((2, 2)), compute_size=0)


# --- count_sketch -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(len(GOLD["count_sketch"])))
def test_count_sketch_nd_sym_and_gradient(case):
    c = GOLD["count_sketch"][case]
    x, h, s, og = A(c["x"]), A(c["h"]), A(c["s"]), A(c["og"])
    close(mx.nd.contrib.count_sketch(x, h, s, out_dim=c["out_dim"]), c["out"])
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.contrib.count_sketch(x, h, s, out_dim=c["out_dim"], processing_batch_size=4)
    y.backward(og)
    close(x.grad, c["grad"])
    sym = mx.sym.contrib.count_sketch(mx.sym.var("x"), mx.sym.var("h"), mx.sym.var("s"), out_dim=c["out_dim"])
    (out,), g = sym_run(sym, {"x": x, "h": h, "s": s}, heads=[og], grad_names=["x"])
    close(out, c["out"])
    close(g["x"], c["grad"])


def test_count_sketch_errors():
    x = mx.nd.ones((2, 4))
    with pytest.raises(mx.base.MXNetError, match=r"_contrib_count_sketch.*\(1,3\)"):
        mx.nd.contrib.count_sketch(x, mx.nd.zeros((1, 3)), mx.nd.ones((1, 3)), out_dim=2)
    with pytest.raises(mx.base.MXNetError, match="out of range"):
        mx.nd.contrib.count_sketch(x, mx.nd.array([[0, 1, 5, 0]]), mx.nd.ones((1, 4)), out_dim=2).asnumpy()
    with pytest.raises(mx.base.MXNetError, match="out_dim"):
        mx.nd.contrib.count_sketch(x, mx.nd.zeros((1, 4)), mx.nd.ones((1, 4)))


# --- hawkesll -----------------------------------------------------------------------------------


def _hawkes_inputs():
    c = GOLD["hawkesll"]
    dts = ["float32"] * 5 + ["int32", "float32", "float32"]
    return c, [A(v, d) for v, d in zip(c["inputs"], dts)]


def test_hawkesll_nd_and_gradient():
    c, ins = _hawkes_inputs()
    for a in ins[:3]:
        a.attach_grad()
    with mx.autograd.record():
        ll, st = mx.nd.contrib.hawkesll(*ins)
    close(ll, c["ll"], rtol=1e-4)
    close(st, c["states"], rtol=1e-4)
    mx.autograd.backward([ll], [A(c["og"])])
    for a, want in zip(ins[:3], c["grads"]):
        close(a.grad, want, rtol=1e-4, atol=1e-4)


def test_hawkesll_symbol_and_backward_op():
    c, ins = _hawkes_inputs()
    names = ["lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time"]
    sym = mx.sym.contrib.hawkesll(*(mx.sym.var(n) for n in names))
    assert sym.list_arguments() == names and len(sym.list_outputs()) == 2
    heads = [A(c["og"]), mx.nd.zeros(ins[3].shape)]
    (ll, st), g = sym_run(sym, dict(zip(names, ins)), heads=heads, grad_names=names[:3])
    close(ll, c["ll"], rtol=1e-4)
    for n, want in zip(names[:3], c["grads"]):
        close(g[n], want, rtol=1e-4, atol=1e-4)
    outs = mx.nd.contrib.backward_hawkesll(*heads, *ins)
    assert len(outs) == 8
    for got, want in zip(outs[:3], c["grads"]):
        close(got, want, rtol=1e-4, atol=1e-4)
    assert not outs[3].asnumpy().any()


def test_hawkesll_errors():
    _, ins = _hawkes_inputs()
    with pytest.raises(mx.base.MXNetError, match=r"_contrib_hawkesll.*\(3,2\)"):
        mx.nd.contrib.hawkesll(ins[0], ins[1], ins[2], ins[3], ins[4][:, :2], *ins[5:])
    bad = ins[5].copy()
    bad[0, 0] = 7
    with pytest.raises(mx.base.MXNetError, match="mark 7"):
        mx.nd.contrib.hawkesll(*ins[:5], bad, *ins[6:])[0].asnumpy()


# --- exposed gradient ops -----------------------------------------------------------------------


def test_backward_ops_match_mxnet_gradients():
    c = GOLD["backward_ops"]
    q = c["quadratic"]
    close(mx.nd.contrib.backward_quadratic(A(q["og"]), A(q["x"]), a=0.5, b=-2.0, c=1.0), q["grad"])
    gm = c["gradientmultiplier"]
    close(mx.nd.contrib.backward_gradientmultiplier(A(gm["og"]), scalar=2.5), gm["out"])
    ic = c["index_copy"]
    d_old, d_idx, d_new = mx.nd.contrib.backward_index_copy(
        A(ic["og"]), A(ic["old"]), A(ic["idx"], "int64"), A(ic["new"])
    )
    close(d_old, ic["d_old"])
    close(d_new, ic["d_new"])
    assert d_idx.shape == (2,) and not d_idx.asnumpy().any()
    sym = mx.sym.contrib.backward_quadratic(mx.sym.var("g"), mx.sym.var("x"), a=0.5, b=-2.0)
    (y,), _ = sym_run(sym, {"g": A(q["og"]), "x": A(q["x"])})
    close(y, q["grad"])


def test_backward_op_errors():
    with pytest.raises(mx.base.MXNetError, match=r"backward_quadratic.*\(2,3\)"):
        mx.nd.contrib.backward_quadratic(mx.nd.ones((2, 3)), mx.nd.ones((3, 2)), a=1)
    with pytest.raises(mx.base.MXNetError, match=r"backward_index_copy.*\(4,3\)"):
        mx.nd.contrib.backward_index_copy(mx.nd.ones((4, 3)), mx.nd.ones((5, 3)), mx.nd.zeros((1,)), mx.nd.ones((1, 3)))


# --- BatchNormWithReLU / SyncBatchNorm / SparseEmbedding ----------------------------------------


@pytest.mark.parametrize("op", ["BatchNormWithReLU", "SyncBatchNorm"])
def test_batch_norm_variants(op):
    c = GOLD["layers"][op]
    kw = {"key": "k", "ndev": 1} if op == "SyncBatchNorm" else {}
    ins = [A(c[n]) for n in ("x", "gamma", "beta")]
    for a in ins:
        a.attach_grad()
    mm, mv = mx.nd.zeros(3), mx.nd.ones(3)
    with mx.autograd.record():
        y, mean, var = getattr(mx.nd.contrib, op)(*ins, mm, mv, output_mean_var=True, fix_gamma=False, **kw)
    close(y, c["out"], rtol=1e-4, atol=1e-4)
    close(mean, c["mean"], rtol=1e-4, atol=1e-5)
    close(var, c["var"], rtol=1e-4, atol=1e-5)
    y.backward(A(c["og"]))
    for a, want in zip(ins, c["grads"]):
        close(a.grad, want, rtol=1e-3, atol=1e-4)
    sym = getattr(mx.sym.contrib, op)(mx.sym.var("x"), name="bn", fix_gamma=False, **kw)
    assert sym.list_arguments() == ["x", "bn_gamma", "bn_beta"]
    assert sym.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert sym.list_outputs() == ["bn_output"]
    sym = mx.sym.load_json(sym.tojson())
    args = {"x": A(c["x"]), "bn_gamma": A(c["gamma"]), "bn_beta": A(c["beta"])}
    grads = {n: mx.nd.zeros(a.shape) for n, a in args.items()}
    aux = {"bn_moving_mean": mx.nd.zeros(3), "bn_moving_var": mx.nd.ones(3)}
    exe = sym.bind(mx.cpu(), args, args_grad=grads, aux_states=aux)
    close(exe.forward(is_train=True)[0], c["out"], rtol=1e-4, atol=1e-4)
    exe.backward([A(c["og"])])
    for n, want in zip(args, c["grads"]):
        close(grads[n], want, rtol=1e-3, atol=1e-4)
    # The moving averages move towards the batch statistics (momentum 0.9).
    close(aux["bn_moving_mean"], 0.1 * np.array(c["mean"]), rtol=1e-4, atol=1e-5)


def test_batch_norm_variant_errors():
    with pytest.raises(mx.base.MXNetError, match="key"):
        mx.nd.contrib.SyncBatchNorm(mx.nd.ones((2, 3)), mx.nd.ones(3), mx.nd.ones(3), mx.nd.zeros(3), mx.nd.ones(3))
    with pytest.raises(mx.base.MXNetError, match=r"_contrib_BatchNormWithReLU.*\(4"):
        mx.nd.contrib.BatchNormWithReLU(mx.nd.ones((2, 3)), mx.nd.ones(4), mx.nd.ones(3), mx.nd.zeros(3), mx.nd.ones(3))


def test_sparse_embedding():
    c = GOLD["layers"]["SparseEmbedding"]
    w = A(c["w"])
    w.attach_grad()
    with mx.autograd.record():
        y = mx.nd.contrib.SparseEmbedding(A(c["idx"]), w, input_dim=5, output_dim=2, sparse_grad=True)
    close(y, c["out"])
    y.backward(A(c["og"]))
    close(w.grad.tostype("default") if hasattr(w.grad, "tostype") else w.grad, c["grad"])
    sym = mx.sym.contrib.SparseEmbedding(mx.sym.var("d"), input_dim=5, output_dim=2, name="emb")
    assert sym.list_arguments() == ["d", "emb_weight"]
    (out,), g = sym_run(sym, {"d": A(c["idx"]), "emb_weight": A(c["w"])}, heads=[A(c["og"])], grad_names=["emb_weight"])
    close(out, c["out"])
    close(g["emb_weight"], c["grad"])


# --- getnnz and the DGL graph ops ---------------------------------------------------------------


def csr(d):
    return mx.nd.sparse.csr_matrix(
        (np.array(d["data"], np.int64), np.array(d["indices"], np.int64), np.array(d["indptr"], np.int64)),
        shape=tuple(d["shape"]),
        dtype="int64",
    )


def dense(d):
    m = np.zeros(d["shape"], np.int64)
    for r in range(d["shape"][0]):
        if not d["indptr"]:
            break
        for k in range(d["indptr"][r], d["indptr"][r + 1]):
            m[r, d["indices"][k]] = d["data"][k]
    return m


def shifted(d):
    """The CSR ``d`` with every stored value + 1 (edge ids from 1, for dense graphs)."""
    return {**d, "data": [x + 1 for x in d["data"]]}


def same_csr(got, want):
    assert got.stype == "csr" and got.shape == tuple(want["shape"])
    np.testing.assert_array_equal(got.asnumpy(), dense(want))
    if want["indptr"]:
        np.testing.assert_array_equal(got.indptr.asnumpy(), want["indptr"])
        np.testing.assert_array_equal(got.indices.asnumpy(), want["indices"])
        np.testing.assert_array_equal(got.data.asnumpy(), want["data"])


G = GOLD["graph"]


def test_getnnz_adjacency_edge_id():
    g, g2 = csr(G["g"]), csr(G["g2"])
    out = mx.nd.contrib.getnnz(g)
    assert out.dtype == np.int64 and out.shape == (1,)
    np.testing.assert_array_equal(out.asnumpy(), G["getnnz"]["none"])
    np.testing.assert_array_equal(mx.nd.contrib.getnnz(g2, axis=1).asnumpy(), G["getnnz"]["axis1"])
    np.testing.assert_array_equal(mx.nd.contrib.getnnz(g2, axis=0).asnumpy(), [2, 1, 2, 1, 1])
    adj = mx.nd.contrib.dgl_adjacency(g2)
    assert adj.stype == G["adjacency"]["stype"] and adj.dtype == np.float32
    np.testing.assert_array_equal(adj.indices.asnumpy(), G["adjacency"]["indices"])
    np.testing.assert_array_equal(adj.data.asnumpy(), G["adjacency"]["data"])
    e = G["edge_id"]
    out = mx.nd.contrib.edge_id(g2, mx.nd.array(e["u"]), mx.nd.array(e["v"]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.asnumpy(), e["out"])


def test_graph_ops_in_symbols_compute_densely():
    dense_g = mx.nd.array(dense(G["g"]), dtype="float32")
    s = mx.sym.contrib.getnnz(mx.sym.var("g"), axis=1)
    (out,), _ = sym_run(s, {"g": dense_g})
    np.testing.assert_array_equal(out.asnumpy(), [4, 4, 4, 4, 4])
    (out,), _ = sym_run(mx.sym.contrib.getnnz(mx.sym.var("g")), {"g": dense_g})
    np.testing.assert_array_equal(out.asnumpy(), [20])
    (adj,), _ = sym_run(mx.sym.contrib.dgl_adjacency(mx.sym.var("g")), {"g": dense_g})
    np.testing.assert_array_equal(adj.asnumpy(), dense(G["g"]) != 0)
    s = mx.sym.contrib.edge_id(mx.sym.var("g"), mx.sym.var("u"), mx.sym.var("v"))
    (out,), _ = sym_run(s, {"g": dense_g, "u": mx.nd.array([0, 1, 2]), "v": mx.nd.array([0, 2, 4])})
    np.testing.assert_array_equal(out.asnumpy(), [-1, 6, 12])


def test_structural_graph_ops_in_symbols_match_mxnet():
    """The samplers, dgl_subgraph and dgl_graph_compact in graphs: Custom nodes on the dense
    graph, whose dense outputs equal MXNet's CSR outputs densified."""
    g = mx.nd.array(dense(G["g"]), dtype="int64")
    sub = mx.sym.contrib.dgl_subgraph(mx.sym.var("g"), mx.sym.var("v"), return_mapping=True, num_args=2)
    v = mx.nd.array(G["subgraph"]["v"], dtype="int64")
    _, out_shapes, _ = sub.infer_shape(g=g.shape, v=v.shape)
    assert out_shapes == [(len(G["subgraph"]["v"]),) * 2] * 2
    outs, _ = sym_run(sub, {"g": g, "v": v})
    np.testing.assert_array_equal(outs[0].asnumpy(), dense(G["subgraph"]["sub"]))
    np.testing.assert_array_equal(outs[1].asnumpy(), dense(G["subgraph"]["map"]))
    assert mx.sym.load_json(sub.tojson()).list_outputs() == sub.list_outputs()
    # In a dense graph an edge id 0 is no edge: g2's ids start at 0, so the graphs here have them + 1.
    g2 = mx.nd.array(dense(shifted(G["g2"])), dtype="int64")
    for c in G["samples"]:
        kw = {"num_hops": c["num_hops"], "num_neighbor": 3, "max_num_vertices": c["max_num_vertices"]}
        seeds = mx.nd.array(c["seeds"], dtype="int64")
        s = mx.sym.contrib.dgl_csr_neighbor_uniform_sample(mx.sym.var("g"), mx.sym.var("s"), **kw)
        (ids, sg, layer), _ = sym_run(s, {"g": g2, "s": seeds})
        n = int(c["ids"][-1])
        np.testing.assert_array_equal(ids.asnumpy()[:n], c["ids"][:n])
        np.testing.assert_array_equal(sg.asnumpy(), dense(shifted(c["sub"])))
        np.testing.assert_array_equal(layer.asnumpy()[:n], c["layer"][:n])
        comp = mx.sym.contrib.dgl_graph_compact(mx.sym.var("sg"), mx.sym.var("ids"), graph_sizes=(n,))
        (out,), _ = sym_run(comp, {"sg": sg, "ids": ids})
        np.testing.assert_array_equal(out.asnumpy(), dense(c["compact"]))
        nu = mx.sym.contrib.dgl_csr_neighbor_non_uniform_sample(mx.sym.var("g"), mx.sym.var("p"), mx.sym.var("s"), **kw)
        prob = mx.nd.array([0.1, 0.2, 0.3, 0.2, 0.2])
        outs, _ = sym_run(nu, {"g": g2, "p": prob, "s": seeds})
        np.testing.assert_array_equal(outs[0].asnumpy()[:n], c["nu_ids"][:n])
        np.testing.assert_array_equal(outs[1].asnumpy(), dense(shifted(c["nu_sub"])))
        close(outs[2].asnumpy()[:n], c["nu_prob"])
    with pytest.raises(mx.base.MXNetError, match="num_args=3 but 2 inputs"):
        mx.sym.contrib.dgl_subgraph(mx.sym.var("g"), mx.sym.var("v"), num_args=3)


def test_dgl_subgraph_matches_mxnet():
    sub, mapping = mx.nd.contrib.dgl_subgraph(
        csr(G["g"]), mx.nd.array(G["subgraph"]["v"], dtype="int64"), return_mapping=True
    )
    same_csr(sub, G["subgraph"]["sub"])
    same_csr(mapping, G["subgraph"]["map"])
    one = mx.nd.contrib.dgl_subgraph(csr(G["g"]), mx.nd.array([1, 4], dtype="int64"))
    assert one.shape == (2, 2)


@pytest.mark.parametrize("case", range(len(G["samples"])))
def test_samplers_match_mxnet_when_every_neighbour_is_kept(case):
    c = G["samples"][case]
    g2 = csr(G["g2"])
    seeds = mx.nd.array(c["seeds"], dtype="int64")
    kw = {"num_hops": c["num_hops"], "num_neighbor": 3, "max_num_vertices": c["max_num_vertices"]}
    ids, sub, layer = mx.nd.contrib.dgl_csr_neighbor_uniform_sample(g2, seeds, num_args=2, **kw)
    n = int(c["ids"][-1])
    # MXNet leaves the entries past the n sampled vertices uninitialised (zeros here).
    np.testing.assert_array_equal(ids.asnumpy()[:n], c["ids"][:n])
    assert ids.shape == (c["max_num_vertices"] + 1,) and ids.asnumpy()[-1] == n
    same_csr(sub, c["sub"])
    np.testing.assert_array_equal(layer.asnumpy()[:n], c["layer"][:n])
    assert layer.shape == (c["max_num_vertices"],)
    prob = mx.nd.array([0.1, 0.2, 0.3, 0.2, 0.2])
    nu = mx.nd.contrib.dgl_csr_neighbor_non_uniform_sample(g2, prob, seeds, num_args=3, **kw)
    assert [o.stype for o in nu] == ["default", "csr", "default", "default"]
    np.testing.assert_array_equal(nu[0].asnumpy()[:n], c["nu_ids"][:n])
    same_csr(nu[1], c["nu_sub"])
    close(nu[2].asnumpy()[:n], c["nu_prob"])
    np.testing.assert_array_equal(nu[3].asnumpy()[:n], c["nu_layer"][:n])
    comp, mapping = mx.nd.contrib.dgl_graph_compact(sub, ids, graph_sizes=(n,), return_mapping=True)
    same_csr(comp, c["compact"])
    assert mapping.shape == (n, n)


def test_uniform_sampler_invariants_and_seed():
    g = csr(G["g"])
    full = dense(G["g"])
    kw = {"num_hops": 2, "num_neighbor": 2, "max_num_vertices": 5}
    seeds = mx.nd.array([0, 3], dtype="int64")
    mx.random.seed(11)
    first = mx.nd.contrib.dgl_csr_neighbor_uniform_sample(g, seeds, seeds[:1], num_args=3, **kw)
    mx.random.seed(11)
    again = mx.nd.contrib.dgl_csr_neighbor_uniform_sample(g, seeds, seeds[:1], num_args=3, **kw)
    assert len(first) == 6
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    ids, sub, layer = first[0], first[2], first[4]
    n = int(ids.asnumpy()[-1])
    verts = ids.asnumpy()[:n]
    assert n <= 5 and {0, 3} <= set(verts.tolist()) and list(verts) == sorted(verts)
    assert set(layer.asnumpy()[:n].tolist()) <= {0, 1, 2}
    s = sub.asnumpy()
    for i, v in enumerate(verts):
        cols = np.flatnonzero(s[i])
        assert len(cols) <= 2
        for col in cols:
            # A sampled edge is an edge of the graph with its edge id.
            assert full[v, col] == s[i, col]


def test_graph_op_errors():
    with pytest.raises(mx.base.MXNetError, match="_contrib_getnnz.*CSRNDArray"):
        mx.nd.contrib.getnnz(mx.nd.ones((2, 2)))
    with pytest.raises(mx.base.MXNetError, match="sorted"):
        mx.nd.contrib.dgl_subgraph(csr(G["g"]), mx.nd.array([3, 1], dtype="int64"))
    with pytest.raises(mx.base.MXNetError, match="not in a graph"):
        mx.nd.contrib.dgl_csr_neighbor_uniform_sample(csr(G["g"]), mx.nd.array([9], dtype="int64"))
    with pytest.raises(mx.base.MXNetError, match="num_args"):
        mx.nd.contrib.dgl_csr_neighbor_uniform_sample(csr(G["g"]), mx.nd.array([0], dtype="int64"), num_args=3)


# --- group_adagrad_update in symbols -------------------------------------------------------------


def test_group_adagrad_update_symbol():
    c = GOLD["group_adagrad"]
    sym = mx.sym.contrib.group_adagrad_update(
        mx.sym.var("w"), mx.sym.var("g"), mx.sym.var("h"), lr=0.3, rescale_grad=0.7, clip_gradient=0.5, epsilon=1e-3
    )
    args = {"w": A(c["w"]), "g": A(c["g"]), "h": A(c["h"])}
    (out,), _ = sym_run(sym, args)
    close(out, c["out"], rtol=1e-5, atol=1e-6)
    close(args["h"], c["history"], rtol=1e-5, atol=1e-6)
    w, h = A(c["w"]), A(c["h"])
    mx.nd.contrib.group_adagrad_update(
        w, A(c["g"]), h, lr=0.3, rescale_grad=0.7, clip_gradient=0.5, epsilon=1e-3, out=w
    )
    close(w, c["out"], rtol=1e-5, atol=1e-6)
    with pytest.raises(mx.base.MXNetError, match=r"group_adagrad_update.*\(4,2\)"):
        mx.sym.contrib.group_adagrad_update(mx.sym.var("w"), mx.sym.var("g"), mx.sym.var("h"), lr=0.1).infer_shape(
            w=(4, 3), g=(4, 3), h=(4, 2)
        )
