"""mx.nd.sparse operators, lazy optimizer updates and KVStore.row_sparse_pull, against real
MXNet 1.9.1 (tests/data/ops_sparse_golden.json, written by tools/golden/sparse.py)."""

import numpy as np
import pytest
from _target import mx
from numpy.testing import assert_allclose, assert_array_equal
from test_sparse import INP, G, check, csr, nd, rsp, sp

OPS = G["ops"]
LAZY = G["lazy"]


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("add_csr", lambda: csr() + csr("A2")),
        ("sub_csr", lambda: csr() - csr("A2")),
        ("mul_csr", lambda: csr() * csr("A2")),
        ("add_rsp", lambda: rsp() + rsp("R2")),
        ("sub_rsp", lambda: rsp() - rsp("R2")),
        ("mul_rsp", lambda: rsp() * rsp("R2")),
        ("elemwise_add_rsp", lambda: sp.elemwise_add(rsp(), rsp("R2"))),
        ("scalar_mul_csr", lambda: csr() * 2.5),
        ("scalar_div_rsp", lambda: rsp() / 4.0),
    ],
)
def test_binary_keeps_storage(name, fn):
    # csr results: MXNet's own entry order within a row is an implementation detail (and it
    # keeps explicit entries), so csr results are compared by storage type and value.
    check(fn(), OPS[name], components=not name.endswith("csr") or name.startswith("scalar"))


UNARY = ["sqrt", "square", "abs", "sign", "relu", "tanh", "negative", "expm1", "floor"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("st", ["csr", "rsp"])
def test_zero_preserving_unary_keeps_storage(name, st):
    x = csr() if st == "csr" else rsp()
    if name == "sqrt":
        x = sp.abs(x)
    check(getattr(sp, name)(x), OPS[f"unary_{name}_{st}"])


def test_unary_methods_and_mx_nd_functions():
    r = rsp()
    assert r.square().stype == "row_sparse"
    assert (-r).stype == "row_sparse"
    assert_array_equal((-r).asnumpy(), -INP["R"])
    assert abs(r).stype == "row_sparse"


def test_non_zero_preserving_unary_is_dense():
    check(sp.exp(csr()), OPS["unary_exp_csr"])


def test_mixed_operands():
    a, d = csr(), nd("A2")
    assert sp.elemwise_add(a, d).stype == "default"
    m = sp.elemwise_mul(a, d)
    assert m.stype == "csr"
    assert_allclose(m.asnumpy(), INP["A"] * INP["A2"], rtol=1e-6)
    r = rsp()
    rm = sp.elemwise_mul(r, nd("W"))
    assert rm.stype == "row_sparse"
    assert_array_equal(rm.indices.asnumpy(), [0, 2, 5])
    assert_allclose(rm.asnumpy(), INP["R"] * INP["W"], rtol=1e-6)
    assert (csr() + 1).stype == "default"
    assert_allclose((2.0 * rsp()).asnumpy(), 2 * INP["R"], rtol=1e-6)
    assert (rsp() / rsp()).stype == "default"
    bm = sp.broadcast_mul(csr(), mx.nd.array([[2.0], [3.0], [4.0], [5.0]]))
    assert bm.stype == "csr"
    assert_allclose(bm.asnumpy(), INP["A"] * np.array([[2], [3], [4], [5]]), rtol=1e-6)


def test_inplace_operators():
    r = rsp()
    r += rsp("R2")
    assert r.stype == "row_sparse"
    assert_allclose(r.asnumpy(), INP["R"] + INP["R2"], rtol=1e-6)
    r *= 2.0
    assert_allclose(r.asnumpy(), 2 * (INP["R"] + INP["R2"]), rtol=1e-6)


def test_add_n_and_concat():
    s = sp.add_n(rsp(), rsp("R2"), rsp())
    assert s.stype == "row_sparse"
    assert_allclose(s.asnumpy(), 2 * INP["R"] + INP["R2"], rtol=1e-6)
    c = sp.concat(csr(), csr("A2"), dim=0)
    assert c.stype == "csr" and c.shape == (8, 5)
    assert_array_equal(c.asnumpy(), np.concatenate([INP["A"], INP["A2"]]))


def test_clip_and_zeros_like():
    c = sp.clip(rsp(), -0.5, 0.5)
    assert c.stype == "row_sparse"
    assert_allclose(c.asnumpy(), np.clip(INP["R"], -0.5, 0.5))
    z = sp.zeros_like(csr())
    assert z.stype == "csr" and z.asnumpy().sum() == 0


def test_retain():
    check(sp.retain(rsp(), mx.nd.array([0, 3, 5], dtype="int64")), OPS["retain"])
    with pytest.raises(mx.base.MXNetError, match="retain"):
        sp.retain(csr(), mx.nd.array([0], dtype="int64"))


def test_slice_csr_rows():
    check(sp.slice(csr(), begin=(1,), end=(3,)), OPS["slice_csr"])
    cols = sp.slice(csr(), begin=(0, 1), end=(4, 3))
    assert cols.stype == "csr"
    assert_array_equal(cols.asnumpy(), INP["A"][:, 1:3])


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("sum_csr_0", lambda: sp.sum(csr(), axis=0)),
        ("sum_csr_1", lambda: sp.sum(csr(), axis=1)),
        ("mean_csr_0", lambda: sp.mean(csr(), axis=0)),
        ("sum_rsp_0", lambda: sp.sum(rsp(), axis=0)),
    ],
)
def test_reductions(name, fn):
    check(fn(), OPS[name])


def test_where_is_dense():
    w = sp.where(csr(), csr(), nd("A2"))
    assert w.stype == "default"
    assert_allclose(w.asnumpy(), np.where(INP["A"] != 0, INP["A"], INP["A2"]))


# ----- lazy optimizer updates ---------------------------------------------------------------
def _check_all(got, want):
    for g, w in zip(got, want, strict=True):
        check(g, w, rtol=1e-5, atol=1e-6)


def test_sgd_update_lazy():
    w = nd("W")
    sp.sgd_update(w, rsp(), lr=0.1, wd=0.01, rescale_grad=0.5, out=w)
    check(w, LAZY["sgd"])


def test_sgd_mom_update_lazy():
    w, m = nd("W"), nd("M")
    sp.sgd_mom_update(w, rsp(), m, lr=0.1, momentum=0.9, wd=0.01, out=w)
    _check_all([w, m], LAZY["sgd_mom"])


def test_adam_update_lazy():
    w, m, v = nd("W"), nd("M"), nd("V")
    sp.adam_update(w, rsp(), m, v, lr=0.01, beta1=0.9, beta2=0.99, epsilon=1e-6, wd=0.01, out=w)
    _check_all([w, m, v], LAZY["adam"])


def test_adagrad_update_lazy():
    w, h = nd("W"), nd("V")
    sp.adagrad_update(w, rsp(), h, lr=0.1, epsilon=1e-7, wd=0.0, out=w)
    _check_all([w, h], LAZY["adagrad"])


def test_adagrad_update_epsilon_inside_sqrt_and_clip():
    w, h = nd("W"), nd("V")
    sp.adagrad_update(w, rsp(), h, lr=0.1, epsilon=0.5, rescale_grad=2.0, clip_gradient=0.8, out=w)
    _check_all([w, h], LAZY["adagrad_eps_clip"])


def test_ftrl_update_row_sparse_grad_is_dense_as_mxnet():
    w, z, n = nd("W"), nd("M"), nd("V")
    sp.ftrl_update(w, rsp(), z, n, lr=0.1, lamda1=0.01, beta=1.0, wd=0.01, out=w)
    _check_all([w, z, n], LAZY["ftrl"])


def test_mx_nd_sgd_update_dispatches_on_row_sparse_grad():
    w = nd("W")
    mx.nd.sgd_update(w, rsp(), lr=0.1, wd=0.01, rescale_grad=0.5, out=w)
    check(w, LAZY["sgd"])


def test_non_lazy_update_touches_every_row():
    w = nd("W")
    sp.sgd_update(w, rsp(), lr=0.1, wd=0.01, lazy_update=False, out=w)
    assert_allclose(w.asnumpy(), INP["W"] - 0.1 * (INP["R"] + 0.01 * INP["W"]), rtol=1e-5)


def test_lazy_update_with_empty_gradient():
    w = nd("W")
    sp.sgd_update(w, sp.zeros("row_sparse", (6, 3)), lr=0.1, wd=0.5, out=w)
    assert_array_equal(w.asnumpy(), INP["W"])


@pytest.mark.parametrize(("name", "kw"), [("sgd", {"momentum": 0.9}), ("adam", {}), ("adagrad", {"wd": 0.0})])
def test_optimizer_with_row_sparse_gradient(name, kw):
    opt = mx.optimizer.create(name, learning_rate=0.1, **{"wd": 0.01, **kw})
    upd = mx.optimizer.get_updater(opt)
    w = nd("W")
    upd(0, rsp(), w)
    upd(0, rsp(), w)
    check(w, LAZY[f"optimizer_{name}"])


# ----- kvstore ------------------------------------------------------------------------------
def test_row_sparse_pull():
    kv = mx.kv.create("local")
    kv.init("w", rsp())
    out = sp.zeros("row_sparse", (6, 3))
    kv.row_sparse_pull("w", out=out, row_ids=mx.nd.array([5, 0, 3, 0], dtype="int64"))
    check(out, LAZY["row_sparse_pull"])


def test_row_sparse_pull_several_outputs_and_errors():
    kv = mx.kv.create("local")
    kv.init(3, nd("W"))
    a, b = sp.zeros("row_sparse", (6, 3)), sp.zeros("row_sparse", (6, 3))
    kv.row_sparse_pull(3, out=[a, b], row_ids=[mx.nd.array([1], dtype="int64"), mx.nd.array([4, 2], dtype="int64")])
    assert_array_equal(a.indices.asnumpy(), [1])
    assert_array_equal(b.indices.asnumpy(), [2, 4])
    assert_allclose(b.data.asnumpy(), INP["W"][[2, 4]])
    with pytest.raises(mx.base.MXNetError, match="row_sparse"):
        kv.row_sparse_pull(3, out=mx.nd.zeros((6, 3)), row_ids=mx.nd.array([1], dtype="int64"))
    with pytest.raises(mx.base.MXNetError, match="row ids"):
        kv.row_sparse_pull(3, out=a, row_ids=mx.nd.array([9], dtype="int64"))


# ----- namespaces ---------------------------------------------------------------------------
ND_NAMES = [
    n
    for n in "abs adagrad_update adam_update add add_n arccos dot retain slice sum mean where "
    "csr_matrix row_sparse_array zeros empty array cast_storage CSRNDArray RowSparseNDArray "
    "BaseSparseNDArray ElementWiseSum Embedding FullyConnected elemwise_add broadcast_plus "
    "sgd_update sgd_mom_update ftrl_update zeros_like concat clip norm".split()
]


def test_namespaces_have_mxnet_names():
    for n in ND_NAMES:
        assert hasattr(mx.nd.sparse, n), n
    for n in ("cast_storage", "dot", "sgd_update", "retain", "elemwise_add", "sum", "where", "zeros_like"):
        assert hasattr(mx.sym.sparse, n), n
    assert hasattr(mx.nd, "cast_storage") and hasattr(mx.sym, "cast_storage")


def test_sym_sparse_dot_computes_dense_values():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    y = mx.sym.sparse.dot(mx.sym.cast_storage(a, stype="csr"), b)
    ex = y.bind(mx.cpu(), {"a": nd("A"), "b": nd("B")})
    out = ex.forward()[0]
    assert_allclose(out.asnumpy(), INP["A"] @ INP["B"], rtol=1e-5, atol=1e-6)


def test_lazy_update_shape_errors_name_op_and_shapes():
    g = sp.row_sparse_array(([[1.0, 1.0, 1.0]], [0]), shape=(4, 3))
    with pytest.raises(mx.base.MXNetError, match=r"sgd_update: weight shape \(4, 2\) and gradient shape \(4, 3\)"):
        sp.sgd_update(mx.nd.ones((4, 2)), g, lr=0.1)
    with pytest.raises(mx.base.MXNetError, match=r"adam_update: .*state shape \(2, 3\)"):
        sp.adam_update(mx.nd.ones((4, 3)), g, mx.nd.zeros((4, 3)), mx.nd.zeros((2, 3)), lr=0.1)


def test_pull_into_sparse_output_is_refused():
    kv = mx.kv.create("local")
    kv.init(1, nd("W"))
    with pytest.raises(mx.base.MXNetError, match="row_sparse_pull"):
        kv.pull(1, out=sp.zeros("row_sparse", (6, 3)))
