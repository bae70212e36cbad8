"""mx.test_utils' random sparse arrays (rand_sparse_ndarray, create_sparse_array...)."""

import mxrs as mx
import numpy as np
import pytest
from mxrs import test_utils as tu


def test_row_sparse_rows_and_values():
    arr, (val, idx) = tu.rand_sparse_ndarray((6, 3), "row_sparse", rsp_indices=np.array([1, 4]), data_init=2.5)
    assert arr.stype == "row_sparse" and arr.shape == (6, 3)
    assert arr.indices.asnumpy().tolist() == [1, 4]
    dense = arr.asnumpy()
    assert (dense[[1, 4]] == 2.5).all() and (dense[[0, 2, 3, 5]] == 0).all()
    np.testing.assert_array_equal(val, np.full((2, 3), 2.5, dtype=np.float32))


def test_row_sparse_modifier_and_empty():
    arr, _ = tu.rand_sparse_ndarray((4, 2), "row_sparse", rsp_indices=np.array([0, 3]), modifier_func=lambda x: -1.0)
    assert (arr.asnumpy()[[0, 3]] == -1).all()
    empty, (val, _) = tu.rand_sparse_ndarray((4, 2), "row_sparse", density=0.0)
    assert empty.stype == "row_sparse" and not empty.asnumpy().any() and val.size == 0


def test_csr_uniform_density():
    np.random.seed(0)
    arr, (indptr, indices, data) = tu.rand_sparse_ndarray((40, 50), "csr", density=0.2)
    assert arr.stype == "csr" and arr.shape == (40, 50)
    assert data.shape[0] == int(40 * 50 * 0.2)
    dense = arr.asnumpy()
    assert np.count_nonzero(dense) == data.shape[0]
    np.testing.assert_array_equal(np.diff(indptr.asnumpy()), np.count_nonzero(dense, axis=1))


def test_csr_powerlaw_doubles_rows():
    arr, (indptr, _, _) = tu.rand_sparse_ndarray((5, 16), "csr", density=0.5, distribution="powerlaw")
    nnz = np.diff(indptr.asnumpy())
    assert nnz[2] == 2 * nnz[1] and nnz[3] == 2 * nnz[2]


def test_csr_shuffled_indices_same_matrix():
    np.random.seed(3)
    arr, _ = tu.rand_sparse_ndarray((8, 30), "csr", density=0.5, data_init=1.0, shuffle_csr_indices=True)
    dense = arr.asnumpy()
    assert set(np.unique(dense)) <= {0.0, 1.0}
    rebuilt = mx.nd.sparse.csr_matrix((arr.data, arr.indices, arr.indptr), shape=(8, 30)).asnumpy()
    np.testing.assert_array_equal(rebuilt, dense)


def test_create_sparse_array_and_zd():
    rsp = tu.create_sparse_array((5, 2), "row_sparse", rsp_indices=[3, 0], data_init=1.0)
    assert rsp.indices.asnumpy().tolist() == [0, 3]
    zd = tu.create_sparse_array_zd((5, 2), "row_sparse", density=0.9)
    assert not zd.asnumpy().any()
    csr = tu.create_sparse_array((4, 4), "csr", density=0.5)
    assert csr.stype == "csr"
    with pytest.raises(AssertionError, match="Unknown storage type"):
        tu.create_sparse_array((2, 2), "coo")


def test_rand_ndarray_sparse_and_errors():
    assert tu.rand_ndarray((3, 3), "csr", density=0.5).stype == "csr"
    assert tu.rand_ndarray((3, 3), "row_sparse", density=0.5).stype == "row_sparse"
    with pytest.raises(ValueError, match="density"):
        tu.rand_sparse_ndarray((3, 3), "csr", density=1.5)
    with pytest.raises(ValueError, match="2-d"):
        tu.rand_sparse_ndarray((3, 3, 3), "csr", density=0.5)
    with pytest.raises(ValueError, match="row_sparse"):
        tu.rand_sparse_ndarray((3, 3), "row_sparse", distribution="powerlaw")


def test_shuffle_csr_column_indices_keeps_each_rows_columns():
    sp = pytest.importorskip("scipy.sparse")
    m = sp.random(6, 40, density=0.5, format="csr", random_state=1)
    before = m.indices.copy()
    np.random.seed(2)
    tu.shuffle_csr_column_indices(m)
    assert not np.array_equal(m.indices, before)
    for i in range(6):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        assert sorted(m.indices[lo:hi]) == sorted(before[lo:hi])
