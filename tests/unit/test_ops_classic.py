"""MXNet 1.x's classic operators against real MXNet 1.9.1 (``ops_classic_*_golden.json``, from
``tools/golden/cases_ops.py``): gather_nd, scatter_nd, ravel/unravel, batch_take,
choose_element_0index, fill_element_0index, nanprod, khatri_rao, histogram, split_v2,
make_loss, softmax_cross_entropy, SVMOutput; and onehot_encode, concatenate,
IdentityAttachKLSparseReg and bad inputs."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import IS_MXNET, mx

FAMILIES = ("classic_index", "classic_misc", "classic_loss", "classic_im2col", "classic_crop", "classic_roi")
CASES = {f"{fam}/{name}": case for fam in FAMILIES for name, case in load(fam).items()}


@pytest.mark.parametrize("key", sorted(CASES))
def test_forward_matches_mxnet(key):
    check_forward(CASES[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("key", sorted(k for k, c in CASES.items() if c["grads"]))
def test_gradients_match_mxnet(key):
    check_gradients(CASES[key], rtol=1e-5, atol=1e-6)


def test_gradients_through_autograd():
    """The same gradients through mx.autograd (the eager tape), not only a bound graph."""
    for key in (
        "classic_index/gather_nd_elements_repeated",
        "classic_index/scatter_nd_rows",
        "classic_misc/nanprod_axis1",
    ):
        case = CASES[key]
        ins = {
            n: mx.nd.array(np.array(v["data"]).reshape(v["shape"]), dtype=v["dtype"]) for n, v in case["inputs"].items()
        }
        x = next(iter(ins.values()))
        x.attach_grad()
        attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}
        with mx.autograd.record():
            y = getattr(mx.nd, case["op"])(**ins, **attrs)
        out = case["outputs"][0]
        y.backward(mx.nd.array(np.array(case["heads"][0]).reshape(out["shape"])))
        want = next(iter(case["grads"].values()))
        np.testing.assert_allclose(x.grad.asnumpy().ravel(), want, rtol=1e-5, atol=1e-6, err_msg=key)


def test_gather_nd_negative_and_out_of_range():
    a = mx.nd.array(np.arange(12).reshape(3, 4))
    np.testing.assert_array_equal(mx.nd.gather_nd(a, mx.nd.array([[-1, 2], [0, -4]])).asnumpy(), [8, 8])
    with pytest.raises(IndexError):
        mx.nd.gather_nd(a, mx.nd.array([[3], [0]])).wait_to_read()
    with pytest.raises(mx.base.MXNetError, match=r"gather_nd.*\(3,4\)"):
        mx.nd.gather_nd(a, mx.nd.array([0, 1]))
    with pytest.raises(mx.base.MXNetError, match="scatter_nd"):
        mx.nd.scatter_nd(mx.nd.ones((3,)), mx.nd.array([[0, 1]]), shape=(2, 2))
    with pytest.raises(mx.base.MXNetError, match="shape"):
        mx.nd.scatter_nd(mx.nd.ones((2,)), mx.nd.array([[0, 1]]))


def test_index_conversions_and_legacy_helpers():
    idx = mx.nd.array([[3, 6, 6], [4, 5, 1]])
    flat = mx.nd.ravel_multi_index(idx, shape=(-1, 6))
    np.testing.assert_array_equal(flat.asnumpy(), [22, 41, 37])
    np.testing.assert_array_equal(mx.nd.unravel_index(flat, shape=(7, 6)).asnumpy(), idx.asnumpy())
    with pytest.raises(mx.base.MXNetError, match="_ravel_multi_index"):
        mx.nd.ravel_multi_index(idx, shape=(7, 6, 2))
    out = mx.nd.zeros((3, 5))
    ret = mx.nd.onehot_encode(mx.nd.array([1, 4, 0]), out)
    np.testing.assert_array_equal(out.asnumpy(), np.eye(5)[[1, 4, 0]])
    assert ret is out or np.array_equal(ret.asnumpy(), out.asnumpy())
    a = mx.nd.ones((2, 3))
    b = mx.nd.zeros((2, 2))
    np.testing.assert_array_equal(
        mx.nd.concatenate([a, b], axis=1).asnumpy(), np.hstack([np.ones((2, 3)), np.zeros((2, 2))])
    )
    assert mx.nd.concatenate([a], always_copy=False) is a
    with pytest.raises(mx.base.MXNetError):
        mx.nd.concatenate([a, b], axis=0)
    with pytest.raises(mx.base.MXNetError, match="fill_element_0index"):
        mx.nd.fill_element_0index(mx.nd.ones((2, 3)), mx.nd.ones((3,)), mx.nd.zeros((3,)))
    with pytest.raises(mx.base.MXNetError, match=r"batch_take.*\(4\)"):
        mx.nd.batch_take(mx.nd.ones((3, 2)), mx.nd.zeros((4,), dtype="int32"))


def test_histogram_numpy_bins_and_symbols():
    a = mx.nd.array([0, 1, 2, 2, 3, 4, 5])
    with pytest.warns(UserWarning):
        counts, edges = mx.nd.histogram(a, bins=3)
    np.testing.assert_array_equal(counts.asnumpy(), [2, 3, 2])
    np.testing.assert_allclose(edges.asnumpy(), np.linspace(0, 5, 4), rtol=1e-6)
    counts, _ = mx.nd.histogram(a, bins=5, range=(0, 5))
    assert counts.dtype == np.int64
    sym = mx.sym.histogram(mx.sym.var("a"), bins=4, range=(0, 1))
    assert [o.rsplit("_", 1)[1] for o in sym.list_outputs()] == ["output0", "output1"]
    assert sym.infer_shape(a=(10,))[1] == [(4,), (5,)]
    assert sym.infer_type(a=np.float32)[1] == [np.int64, np.float32]
    with pytest.raises(ValueError):
        mx.sym.histogram(mx.sym.var("a"), bins=4)
    with pytest.raises(mx.base.MXNetError, match="_histogram"):
        mx.nd.histogram(a, bins=mx.nd.array([1.0]))


def test_split_v2_symbols_and_errors():
    parts = mx.sym.split_v2(mx.sym.var("x"), 3, axis=1)
    assert parts.infer_shape(x=(2, 7))[1] == [(2, 3), (2, 2), (2, 2)]
    parts = mx.sym.split_v2(mx.sym.var("x"), (1, 4), axis=-1)
    assert parts.infer_shape(x=(2, 7))[1] == [(2, 1), (2, 3), (2, 3)]
    with pytest.raises(ValueError):
        mx.nd.split_v2(mx.nd.ones((2, 7)), 3, axis=1)
    with pytest.raises(mx.base.MXNetError, match="_split_v2"):
        mx.nd.split_v2(mx.nd.ones((2, 7)), (1, 9), axis=1)


def test_khatri_rao_and_nanprod_symbols():
    s = mx.sym.khatri_rao(mx.sym.var("a"), mx.sym.var("b"))
    assert s.list_arguments() == ["a", "b"]
    assert s.infer_shape(a=(2, 3), b=(4, 3))[1] == [(8, 3)]
    with pytest.raises(mx.base.MXNetError, match="khatri_rao"):
        mx.nd.khatri_rao(mx.nd.ones((2, 3)), mx.nd.ones((2, 2)))
    x = mx.nd.array([[1.0, np.nan], [3.0, 2.0]])
    np.testing.assert_array_equal(mx.nd.nanprod(x, axis=1).asnumpy(), [1.0, 6.0])
    np.testing.assert_array_equal(mx.nd.nanprod(x).asnumpy(), [6.0])


def test_loss_heads_shapes_and_errors():
    s = mx.sym.softmax_cross_entropy(mx.sym.var("d"), mx.sym.var("l"))
    args, outs, _ = s.infer_shape(d=(4, 5))
    assert args == [(4, 5), (4,)] and outs == [(1,)]
    s = mx.sym.SVMOutput(mx.sym.var("d"), mx.sym.var("l"))
    assert s.infer_shape(d=(4, 5))[0] == [(4, 5), (4,)]
    with pytest.raises(mx.base.MXNetError, match=r"softmax_cross_entropy.*\(3\)"):
        mx.nd.softmax_cross_entropy(mx.nd.ones((4, 5)), mx.nd.ones((3,)))
    with pytest.raises(IndexError):
        mx.nd.softmax_cross_entropy(mx.nd.ones((2, 3)), mx.nd.array([0, 3])).wait_to_read()
    with pytest.raises(mx.base.MXNetError, match="SVMOutput"):
        mx.nd.SVMOutput(mx.nd.ones((4, 5)), mx.nd.ones((5,)))


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 updates moving_avg in backward only")
def test_identity_attach_kl_sparse_reg_matches_mxnet():
    """Values from MXNet 1.9.1's executor (forward is_train=True, then backward)."""
    x = np.array([[0.2, 0.7, 0.4], [0.6, 0.1, 0.9]], np.float32)
    s = mx.sym.IdentityAttachKLSparseReg(
        mx.sym.var("data"), sparseness_target=0.2, penalty=0.01, momentum=0.8, name="r"
    )
    assert s.list_arguments() == ["data"] and s.list_auxiliary_states() == ["r_moving_avg"]
    exe = s.simple_bind(mx.cpu(), data=(2, 3))
    exe.arg_dict["data"][:] = x
    exe.aux_dict["r_moving_avg"][:] = mx.nd.array([0.3, 0.5, 0.6])
    y = exe.forward(is_train=True)[0]
    exe.backward(mx.nd.array([[1, -1, 0.5], [0, 2, -0.5]]))
    np.testing.assert_allclose(y.asnumpy(), x)
    want = [[1.0055147, -0.98878205, 0.51723415], [0.005514706, 2.0112178, -0.48276585]]
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), want, rtol=1e-5)
    np.testing.assert_allclose(exe.aux_dict["r_moving_avg"].asnumpy(), [0.32, 0.48, 0.61], rtol=1e-6)
