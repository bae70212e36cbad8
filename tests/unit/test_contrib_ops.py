"""``mx.nd.contrib`` / ``mx.sym.contrib`` ops against real MXNet 1.9.1 (``ops_contrib_golden.json``):
BilinearResize2D, AdaptiveAvgPooling2D, box_nms, box_iou, bipartite_matching, ROIAlign, the
interleaved attention products, div_sqrt_dim, arange_like, index_copy, index_array, quadratic,
gradientmultiplier and allclose, forward and gradient; their namespaces and errors."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import IS_MXNET, mx

CASES = load("contrib")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["grads"]))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_imperative_forward_matches_mxnet(name):
    """The same values through ``mx.nd.contrib`` (the golden tests bind ``mx.sym.contrib``)."""
    case = CASES[name]
    fn = mx.nd
    for part in case["op"].split("."):
        fn = getattr(fn, part)
    ins = {n: mx.nd.array(np.array(v["data"]).reshape(v["shape"]), dtype=v["dtype"]) for n, v in case["inputs"].items()}
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}
    y = fn(*ins.values(), **attrs) if case["positional"] else fn(**ins, **attrs)
    outs = y if isinstance(y, (list, tuple)) else [y]
    for got, want in zip(outs, case["outputs"], strict=True):
        assert got.shape == tuple(want["shape"])
        np.testing.assert_allclose(got.asnumpy().ravel(), want["data"], rtol=1e-5, atol=1e-6)


def test_namespaces():
    assert mx.nd.contrib.box_non_maximum_suppression is not None
    for ns in (mx.contrib.nd, mx.contrib.ndarray, mx.contrib.sym, mx.contrib.symbol):
        assert ns.box_nms.__name__.endswith("box_nms") and ns.ROIAlign.__name__.endswith("ROIAlign")
    x = mx.nd.array([[0, 0.9, 0, 0, 1, 1]])
    np.testing.assert_array_equal(mx.contrib.nd.box_nms(x).asnumpy(), x.asnumpy())
    for name in ("CTCLoss", "ctc_loss", "foreach", "while_loop", "cond", "isnan", "rand_zipfian"):
        assert hasattr(mx.nd.contrib, name), name
    sym = mx.sym.contrib.box_nms(mx.sym.var("x"))
    assert sym.name.startswith("box_nms")
    assert sym.list_arguments() == ["x"]
    assert len(sym.list_outputs()) == 1
    _, out, _ = sym.infer_shape(x=(2, 5, 6))
    assert out == [(2, 5, 6)]
    r = mx.sym.contrib.BilinearResize2D(mx.sym.var("d"), mx.sym.var("l"), mode="like")
    assert r.list_arguments() == ["d", "l"]
    assert r.infer_shape(d=(1, 2, 3, 3), l=(1, 1, 6, 5))[1] == [(1, 2, 6, 5)]
    ia = mx.sym.contrib.index_array(mx.sym.var("x"), axes=(1,))
    assert ia.infer_type(x="float32")[1] == [np.int64]


def test_integer_and_half_dtypes():
    x = mx.nd.array(np.arange(6).reshape(2, 3), dtype="int32")
    np.testing.assert_array_equal(mx.nd.contrib.arange_like(x, start=1.5).asnumpy(), [[1, 2, 3], [4, 5, 6]])
    idx = mx.nd.contrib.index_array(mx.nd.ones((2, 2), dtype="float16"), axes=(-1,))
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.asnumpy()[..., 0], [[0, 1], [0, 1]])
    r = mx.nd.contrib.allclose(mx.nd.array([np.nan]), mx.nd.array([np.nan]), equal_nan=False)
    assert r.dtype == np.uint8 and r.shape == () and r.asscalar() == 0


def test_isinf_isnan_isfinite():
    x = mx.nd.array([np.inf, -np.inf, np.nan, 1.0])
    np.testing.assert_array_equal(mx.nd.contrib.isinf(x).asnumpy(), [1, 1, 0, 0])
    np.testing.assert_array_equal(mx.nd.contrib.isnan(x).asnumpy(), [0, 0, 1, 0])
    np.testing.assert_array_equal(mx.nd.contrib.isfinite(x).asnumpy(), [0, 0, 0, 1])


def test_rand_zipfian():
    mx.random.seed(3)
    samples, exp_true, exp_sampled = mx.nd.contrib.rand_zipfian(mx.nd.array([3]), 50, 5)
    assert samples.dtype == np.int64 and samples.shape == (50,)
    s = samples.asnumpy()
    assert s.min() >= 0 and s.max() < 5
    np.testing.assert_allclose(exp_true.asnumpy(), [np.log(5 / 4) / np.log(6) * 50], rtol=1e-6)
    np.testing.assert_allclose(exp_sampled.asnumpy(), np.log((s + 2.0) / (s + 1.0)) / np.log(6) * 50, rtol=1e-6)


def test_boolean_mask_forward_and_gradient():
    data = mx.nd.array(np.arange(12, dtype=np.float32).reshape(4, 3))
    index = mx.nd.array([0, 1, 0, 1])
    data.attach_grad()
    with mx.autograd.record():
        out = mx.nd.contrib.boolean_mask(data, index)
    out.backward(mx.nd.ones(out.shape) * 2)
    np.testing.assert_array_equal(out.asnumpy(), [[3, 4, 5], [9, 10, 11]])
    np.testing.assert_array_equal(data.grad.asnumpy(), [[0] * 3, [2] * 3, [0] * 3, [2] * 3])
    if IS_MXNET:
        return  # MXNet 1.9.1 supports axis 0 only
    cols = mx.nd.contrib.boolean_mask(data, mx.nd.array([1, 0, 1]), axis=1)
    np.testing.assert_array_equal(cols.asnumpy(), np.arange(12).reshape(4, 3)[:, [0, 2]])


@pytest.mark.skipif(IS_MXNET, reason="error texts are mxrs's")
def test_bad_inputs_name_the_op_and_shapes():
    with pytest.raises(mx.base.MXNetError, match=r"box_nms.*\(2,3,4\)"):
        mx.nd.contrib.box_nms(mx.nd.ones((2, 3, 4)))
    with pytest.raises(mx.base.MXNetError, match=r"ROIAlign.*\(1,2,3\)"):
        mx.nd.contrib.ROIAlign(mx.nd.ones((1, 2, 3)), mx.nd.ones((2, 5)), pooled_size=(2, 2), spatial_scale=1.0)
    with pytest.raises(mx.base.MXNetError, match=r"selfatt_qk.*\(3,2,12\)"):
        mx.nd.contrib.interleaved_matmul_selfatt_qk(mx.nd.ones((3, 2, 12)), heads=5)
    with pytest.raises(mx.base.MXNetError, match=r"box_iou.*\(3,5\)"):
        mx.nd.contrib.box_iou(mx.nd.ones((3, 5)), mx.nd.ones((2, 4)))
    with pytest.raises(mx.base.MXNetError, match=r"index_copy.*\(3,3\)"):
        mx.nd.contrib.index_copy(mx.nd.ones((4, 3)), mx.nd.array([0, 1]), mx.nd.ones((3, 3)))
    with pytest.raises(mx.base.MXNetError, match="index_copy"):
        mx.nd.contrib.index_copy(mx.nd.ones((4, 3)), mx.nd.array([0, 7]), mx.nd.ones((2, 3))).asnumpy()
    with pytest.raises(mx.base.MXNetError, match=r"allclose.*\(1,4\)"):
        mx.nd.contrib.allclose(mx.nd.ones((2, 4)), mx.nd.ones((1, 4)))
    with pytest.raises(mx.base.MXNetError, match=r"boolean_mask.*\(4, 3\).*\(3,\)"):
        mx.nd.contrib.boolean_mask(mx.nd.ones((4, 3)), mx.nd.ones((3,)))
    with pytest.raises(mx.base.MXNetError, match="BilinearResize2D"):
        mx.nd.contrib.BilinearResize2D(mx.nd.ones((1, 2, 3)), height=2, width=2)
    with pytest.raises(mx.base.MXNetError, match="boolean_mask"):
        mx.sym.contrib.boolean_mask(mx.sym.var("x"), mx.sym.var("i"))


@pytest.mark.skipif(IS_MXNET, reason="error texts are mxrs's")
def test_wrong_input_counts_are_errors():
    calls = [
        lambda: mx.nd.contrib.box_iou(mx.nd.ones((2, 4))),
        lambda: mx.nd.contrib.index_copy(mx.nd.ones((2, 4))),
        lambda: mx.nd.contrib.box_encode(mx.nd.ones((2, 3))),
        lambda: mx.nd.contrib.BilinearResize2D(mx.nd.ones((1, 1, 2, 2)), mode="like"),
        lambda: mx.nd.contrib.ROIAlign(mx.nd.ones((1, 1, 2, 2)), pooled_size=(1, 1), spatial_scale=1.0),
    ]
    for call in calls:
        with pytest.raises(mx.base.MXNetError, match="_contrib_.*input"):
            call()
