"""Sparse arrays (csr, row_sparse): storage classes, creation, conversion, dot and save/load,
against values computed by real MXNet 1.9.1 (tests/data/ops_sparse_golden.json and
tests/data/mxnet_fixtures/sparse_mx.params, written by tools/golden/sparse.py)."""

import json
import pathlib

import numpy as np
import pytest
from _fixtures import FIXTURES
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
G = json.loads((DATA / "ops_sparse_golden.json").read_text())
INP = {k: np.array(v, dtype=np.float32) for k, v in G["inputs"].items()}
sp = mx.nd.sparse


def nd(k):
    return mx.nd.array(INP[k])


def csr(k="A"):
    return nd(k).tostype("csr")


def rsp(k="R"):
    return nd(k).tostype("row_sparse")


def check(x, want, components=True, rtol=1e-5, atol=1e-6):
    """``x`` has MXNet's storage type, shape, dtype and values (and components)."""
    assert x.stype == want["stype"], (x.stype, want["stype"])
    assert x.shape == tuple(want["shape"])
    assert np.dtype(x.dtype).name == want["dtype"]
    assert_allclose(x.asnumpy(), np.array(want["dense"]), rtol=rtol, atol=atol)
    if not components or want["stype"] == "default":
        return
    assert x.indices.dtype == np.int64
    if want["stype"] == "csr":
        assert x.indptr.dtype == np.int64
        assert_array_equal(x.indptr.asnumpy(), want["indptr"])
        nnz = want["indptr"][-1]
        assert_array_equal(x.indices.asnumpy(), want["indices"][:nnz])
        assert_allclose(x.data.asnumpy(), np.array(want["data"][:nnz]).reshape(x.data.shape), rtol=rtol, atol=atol)
    else:
        assert_array_equal(x.indices.asnumpy(), want["indices"])
        assert_allclose(x.data.asnumpy(), np.array(want["data"]).reshape(x.data.shape), rtol=rtol, atol=atol)


# ----- classes and conversion ---------------------------------------------------------------
def test_tostype_csr_components():
    a = csr()
    assert isinstance(a, sp.CSRNDArray) and isinstance(a, mx.nd.NDArray)
    check(a, G["ops"]["tostype_csr"])
    assert repr(a) == "\n<CSRNDArray 4x5 @cpu(0)>"


def test_tostype_rsp_components():
    r = rsp()
    assert isinstance(r, sp.RowSparseNDArray)
    check(r, G["ops"]["tostype_rsp"])
    assert repr(r) == "\n<RowSparseNDArray 6x3 @cpu(0)>"


def test_tostype_back_and_cast_storage():
    check(csr().tostype("default"), G["ops"]["tostype_back"])
    assert csr().tostype("default").stype == "default"
    check(mx.nd.cast_storage(nd("R"), stype="row_sparse"), G["ops"]["cast_storage_rsp"])
    check(mx.nd.cast_storage(rsp(), stype="default"), {**G["ops"]["tostype_rsp"], "stype": "default"})
    assert mx.nd.array([[1.0, 0.0]]).stype == "default"


def test_csr_to_row_sparse_is_refused():
    with pytest.raises(ValueError, match="csr to row_sparse"):
        csr().tostype("row_sparse")


def test_rsp_to_csr():
    c = rsp().tostype("csr")
    assert c.stype == "csr"
    assert_array_equal(c.asnumpy(), INP["R"])


def test_astype_copy_copyto():
    check(rsp().astype("float64"), G["ops"]["rsp_astype"])
    a = csr()
    b = a.copy()
    assert b.stype == "csr" and b is not a
    assert_array_equal(b.asnumpy(), INP["A"])
    c = sp.zeros("csr", (4, 5))
    a.copyto(c)
    assert_array_equal(c.asnumpy(), INP["A"])
    d = mx.nd.zeros((4, 5))
    a.copyto(d)
    assert_array_equal(d.asnumpy(), INP["A"])
    e = a.copyto(mx.cpu(0))
    assert e.stype == "csr" and e.context == mx.cpu(0)
    assert a.as_in_context(mx.cpu(0)) is a


def test_zeros_empty_array():
    check(sp.zeros("csr", (3, 4)), G["ops"]["zeros_csr"])
    check(sp.zeros("row_sparse", (3, 4)), G["ops"]["zeros_rsp"])
    assert mx.nd.zeros((3, 4), stype="csr").stype == "csr"
    assert mx.nd.zeros((3, 4), stype="row_sparse").stype == "row_sparse"
    assert sp.empty("row_sparse", (2, 2)).asnumpy().sum() == 0
    z = sp.zeros("row_sparse", (3, 4), dtype="float64")
    assert z.dtype == np.float64 and z.data.shape == (0, 4)
    b = sp.array(csr())
    assert b.stype == "csr"
    assert_array_equal(b.asnumpy(), INP["A"])


def test_csr_matrix_forms():
    check(sp.csr_matrix(([1.0, 2.0, 3.0], [1, 0, 2], [0, 1, 1, 3]), shape=(3, 4)), G["ops"]["csr_from_def"])
    # COO input (data, (row, col)): duplicates summed, sorted by row then column, as scipy.
    c = sp.csr_matrix(([1.0, 2.0, 3.0, 4.0], ([2, 0, 2, 0], [1, 3, 0, 3])), shape=(3, 4))
    assert_array_equal(c.asnumpy(), [[0, 0, 0, 6], [0, 0, 0, 0], [3, 1, 0, 0]])
    assert_array_equal(c.indptr.asnumpy(), [0, 1, 1, 3])
    assert_array_equal(c.indices.asnumpy(), [3, 0, 1])
    e = sp.csr_matrix((2, 3))
    assert e.shape == (2, 3) and e.data.shape == (0,) and e.indptr.asnumpy().tolist() == [0, 0, 0]
    d = sp.csr_matrix(INP["A"])
    check(d, G["ops"]["tostype_csr"])
    d2 = sp.csr_matrix(nd("A"))
    check(d2, G["ops"]["tostype_csr"])
    assert sp.csr_matrix(np.eye(2, dtype=np.float64)).dtype == np.float64
    # shape inferred from indptr and the largest column index
    assert sp.csr_matrix(([1.0], [2], [0, 1])).shape == (1, 3)


def test_csr_matrix_from_scipy_and_asscipy():
    spsp = pytest.importorskip("scipy.sparse")
    m = spsp.csr_matrix(INP["A"])
    a = sp.csr_matrix(m)
    check(a, G["ops"]["tostype_csr"])
    back = a.asscipy()
    assert isinstance(back, spsp.csr_matrix)
    assert_array_equal(back.toarray(), INP["A"])
    coo = spsp.coo_matrix(INP["A"])
    check(sp.csr_matrix(coo), G["ops"]["tostype_csr"])
    check(sp.array(m), G["ops"]["tostype_csr"])


def test_row_sparse_array_forms():
    check(sp.row_sparse_array(([[1.0, 2.0], [3.0, 4.0]], [0, 2]), shape=(4, 2)), G["ops"]["rsp_from_def"])
    r = sp.row_sparse_array((4, 2))
    assert r.shape == (4, 2) and r.indices.shape == (0,)
    check(sp.row_sparse_array(INP["R"]), G["ops"]["tostype_rsp"])
    check(sp.row_sparse_array(nd("R")), G["ops"]["tostype_rsp"])
    assert sp.row_sparse_array(([[1.0, 2.0]], [3])).shape == (4, 2)


def test_bad_components_raise():
    with pytest.raises(mx.base.MXNetError, match="indptr"):
        sp.csr_matrix(([1.0, 2.0], [0, 1], [0, 1, 3]), shape=(2, 2))
    with pytest.raises(mx.base.MXNetError, match="column"):
        sp.csr_matrix(([1.0], [5], [0, 1]), shape=(1, 2))
    with pytest.raises(mx.base.MXNetError, match="shape"):
        sp.csr_matrix(([1.0, 2.0], [0], [0, 1]), shape=(1, 2))
    with pytest.raises(mx.base.MXNetError, match="row"):
        sp.row_sparse_array(([[1.0, 2.0]], [7]), shape=(4, 2))
    with pytest.raises(mx.base.MXNetError, match="shape"):
        sp.row_sparse_array(([[1.0, 2.0, 3.0]], [0]), shape=(4, 2))


def test_csr_row_indexing():
    a = csr()
    check(a[1:3], G["ops"]["slice_csr"])
    assert a[1].shape == (1, 5) and a[1].stype == "csr"
    assert_array_equal(a[-1].asnumpy(), INP["A"][-1:])


def test_setitem_and_out():
    r = sp.zeros("row_sparse", (6, 3))
    r[:] = rsp()
    check(r, G["ops"]["tostype_rsp"])
    r[:] = nd("R")
    check(r, G["ops"]["tostype_rsp"])
    c = sp.zeros("csr", (4, 5))
    mx.nd.elemwise_add(nd("A"), nd("A2"), out=c)  # a dense op writing into a csr array
    assert c.stype == "csr"
    assert_allclose(c.asnumpy(), INP["A"] + INP["A2"], rtol=1e-6)


def test_storage_fallback_dense_ops():
    a = csr()
    assert_allclose(mx.nd.exp(a).asnumpy(), np.exp(INP["A"]), rtol=1e-6)
    assert_allclose((nd("A") + a).asnumpy(), 2 * INP["A"], rtol=1e-6)
    assert_allclose(mx.nd.sum(a).asscalar(), INP["A"].sum(), rtol=1e-5)


# ----- dot ----------------------------------------------------------------------------------
def test_dot_csr_dense():
    check(sp.dot(csr(), nd("B")), G["ops"]["dot_csr_dense"])


def test_dot_csr_transposed_dense_is_row_sparse():
    check(sp.dot(csr(), nd("C"), transpose_a=True), G["ops"]["dot_csrT_dense"])


def test_dot_dense_csr_is_csr():
    check(sp.dot(nd("D"), csr()), G["ops"]["dot_dense_csr"])


def test_dot_rsp_dense():
    check(sp.dot(rsp("R3"), nd("E")), G["ops"]["dot_rsp_dense"])
    got = sp.dot(rsp("R3"), mx.nd.ones((5, 2)), transpose_a=True)
    assert_allclose(got.asnumpy(), INP["R3"].T @ np.ones((5, 2), np.float32), rtol=1e-5)


def test_dot_transpose_b_and_vectors():
    a, b = csr(), nd("B")
    assert_allclose(sp.dot(a, b.T, transpose_b=True).asnumpy(), INP["A"] @ INP["B"], rtol=1e-5, atol=1e-6)
    v = mx.nd.array(np.arange(5, dtype=np.float32))
    assert_allclose(sp.dot(a, v).asnumpy(), INP["A"] @ np.arange(5), rtol=1e-5, atol=1e-6)
    d = nd("D")
    at = mx.nd.array(INP["A"].T).tostype("csr")
    assert_allclose(sp.dot(d, at, transpose_b=True).asnumpy(), INP["D"] @ INP["A"], rtol=1e-5, atol=1e-6)


def test_dot_float64_and_large_parallel():
    rng = np.random.RandomState(0)
    m = rng.uniform(-1, 1, (300, 200))
    m[rng.uniform(size=m.shape) > 0.05] = 0
    b = rng.uniform(-1, 1, (200, 400))
    got = sp.dot(mx.nd.array(m, dtype="float64").tostype("csr"), mx.nd.array(b, dtype="float64"))
    assert got.dtype == np.float64
    assert_allclose(got.asnumpy(), m @ b, rtol=1e-12, atol=1e-12)
    got32 = sp.dot(mx.nd.array(m).tostype("csr"), mx.nd.array(b))
    assert_allclose(got32.asnumpy(), m @ b, rtol=1e-4, atol=1e-4)


def test_dot_shape_errors_name_op_and_shapes():
    with pytest.raises(mx.base.MXNetError, match=r"_sparse_dot_csr.*\(4,5\).*\(3,3\)"):
        sp.dot(csr(), mx.nd.ones((3, 3)))
    with pytest.raises(mx.base.MXNetError, match="dot"):
        sp.dot(rsp(), mx.nd.ones((4, 2)))


# ----- save / load --------------------------------------------------------------------------
def test_load_mxnet_written_sparse_file():
    got = mx.nd.load(str(FIXTURES / "sparse_mx.params"))
    assert list(got) == list(G["file"])
    for k, want in G["file"].items():
        check(got[k], want)


def test_load_reference_fixture_nd_sparse():
    r = mx.nd.load(str(FIXTURES / "nd_sparse.params"))
    assert r["rsp"].stype == "row_sparse" and r["csr"].stype == "csr"
    assert_array_equal(r["csr"].indptr.asnumpy(), [0, 2, 2, 3])


def _file_arrays():
    f64 = mx.nd.array(INP["A"], dtype="float64").tostype("csr")
    rsp3 = mx.nd.array(np.arange(24, dtype=np.float32).reshape(4, 3, 2) * (np.arange(4) % 2)[:, None, None])
    return {
        "csr": csr(),
        "rsp": rsp(),
        "dense": nd("B"),
        "csr_f64": f64,
        "rsp_3d": rsp3.tostype("row_sparse"),
        "csr_zero": sp.zeros("csr", (2, 3)),
        "rsp_zero": sp.zeros("row_sparse", (3, 2)),
    }


@pytest.mark.skipif(IS_MXNET, reason="checks mxrs's writer against MXNet's bytes")
def test_save_writes_mxnet_bytes(tmp_path):
    # The same arrays saved by MXNet 1.9.1: mxrs writes byte-identical files, so MXNet loads them.
    f = tmp_path / "s.params"
    mx.nd.save(str(f), _file_arrays())
    assert f.read_bytes() == (FIXTURES / "sparse_mx_sync.params").read_bytes()


def test_save_load_roundtrip(tmp_path):
    f = tmp_path / "r.params"
    arrays = _file_arrays()
    mx.nd.save(str(f), list(arrays.values()))
    back = mx.nd.load(str(f))
    for a, b in zip(arrays.values(), back):
        assert a.stype == b.stype and a.shape == b.shape and a.dtype == b.dtype
        assert_array_equal(a.asnumpy(), b.asnumpy())
    buf = mx.nd.load_frombuffer(f.read_bytes())
    assert [x.stype for x in buf] == [a.stype for a in arrays.values()]


def test_all_zero_and_empty_conversions():
    for st in ("csr", "row_sparse"):
        z = mx.nd.zeros((3, 4)).tostype(st)
        assert z.stype == st and z.data.shape[0] == 0
        assert_array_equal(z.asnumpy(), np.zeros((3, 4)))
        assert_array_equal(sp.dot(z, mx.nd.ones((4, 2))).asnumpy(), np.zeros((3, 2)))
    assert_array_equal(sp.zeros("csr", (3, 4)).indptr.asnumpy(), [0, 0, 0, 0])


def test_integer_and_float64_values():
    a = mx.nd.array([[0, 3], [4, 0]], dtype="int32").tostype("csr")
    assert a.dtype == np.int32 and a.indices.dtype == np.int64
    assert_array_equal(a.asnumpy(), [[0, 3], [4, 0]])
    r = mx.nd.array([[0, 0], [1.5, 0]], dtype="float64").tostype("row_sparse")
    assert r.dtype == np.float64
    assert_array_equal(r.indices.asnumpy(), [1])


def test_pickle_and_check_format():
    import pickle

    a = pickle.loads(pickle.dumps(csr()))
    assert a.stype == "csr"
    assert_array_equal(a.asnumpy(), INP["A"])
    a.check_format()
    bad = sp.CSRNDArray(a.data, [mx.nd.array([0, 9, 9, 9, 7], dtype="int64"), a.indices], (4, 5))
    with pytest.raises(mx.base.MXNetError, match="indptr"):
        bad.check_format()
    with pytest.raises(mx.base.MXNetError, match="_sparse_csr_to_dense"):
        bad.asnumpy()
