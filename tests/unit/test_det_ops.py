"""The detection ops against real MXNet 1.9.1: ``MultiBoxPrior``, ``MultiBoxTarget``,
``MultiBoxDetection``, ``Proposal``, ``MultiProposal`` and ``RROIAlign`` of ``mx.nd.contrib`` and
``mx.sym.contrib`` (``ops_det_golden.json``, from ``tools/golden/cases_det.py``), their zero
gradients, shape and type inference, bad inputs, and a tiny SSD training graph
(``ops_det_ssd_golden.json``, from ``tools/golden/det_ssd.py``)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _op_golden import DATA, check_forward, check_gradients, load
from _target import IS_MXNET, mx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "golden"))
from det_ssd import ssd_symbol  # noqa: E402

CASES = load("det")
OPS = ("MultiBoxPrior", "MultiBoxTarget", "MultiBoxDetection", "Proposal", "MultiProposal", "RROIAlign")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    """Through a bound ``mx.sym.contrib`` graph (mxrs) or ``mx.nd.contrib`` (MXNet)."""
    check_forward(CASES[name], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_imperative_forward_matches_mxnet(name):
    case = CASES[name]
    fn = getattr(mx.nd.contrib, case["op"].split(".")[1])
    ins = {n: mx.nd.array(np.array(v["data"]).reshape(v["shape"]), dtype=v["dtype"]) for n, v in case["inputs"].items()}
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}
    y = fn(**ins, **attrs)
    outs = y if isinstance(y, (list, tuple)) else [y]
    assert len(outs) == len(case["outputs"])
    for got, want in zip(outs, case["outputs"], strict=True):
        assert got.shape == tuple(want["shape"]) and got.dtype == np.dtype(want["dtype"])
        np.testing.assert_allclose(got.asnumpy().ravel(), want["data"], rtol=1e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["grads"]))
def test_zero_gradients_match_mxnet(name):
    case = CASES[name]
    assert all(not any(g) for g in case["grads"].values())  # MXNet's backward writes zeros
    check_gradients(case)


def test_namespaces_and_outputs():
    for op in OPS:
        assert callable(getattr(mx.nd.contrib, op)) and callable(getattr(mx.sym.contrib, op)), op
    v = mx.sym.var
    t = mx.sym.contrib.MultiBoxTarget(v("a"), v("l"), v("c"), name="t")
    assert t.list_arguments() == ["a", "l", "c"]
    assert t.list_outputs() == ["t_loc_target", "t_loc_mask", "t_cls_target"]
    _, out, _ = t.infer_shape(a=(1, 5, 4), l=(2, 3, 5), c=(2, 3, 5))
    assert out == [(2, 20), (2, 20), (2, 5)]
    p = mx.sym.contrib.Proposal(v("c"), v("b"), v("i"), name="p")
    assert p.list_outputs() == ["p_output"]
    p2 = mx.sym.contrib.Proposal(v("c"), v("b"), v("i"), output_score=True, name="p")
    assert p2.list_outputs() == ["p_output", "p_score"]
    args, out, _ = p2.infer_shape(c=(1, 24, 3, 4))  # bbox_pred and im_info follow from cls_prob
    assert args == [(1, 24, 3, 4), (1, 48, 3, 4), (1, 3)] and out == [(300, 5), (300, 1)]
    mp = mx.sym.contrib.MultiProposal(v("c"), v("b"), v("i"), rpn_post_nms_top_n=7, output_score=True)
    assert mp.infer_shape(c=(3, 24, 2, 2))[1] == [(21, 5), (21, 1)]
    types = p2.infer_type(c="float32")
    assert types[0] == [np.float32] * 3 and types[1] == [np.float32] * 2
    d = mx.sym.contrib.MultiBoxDetection(v("c"), v("l"), v("a"), name="d")
    assert d.list_outputs() == ["d_output"] and d.infer_shape(c=(2, 3, 5), l=(2, 20), a=(1, 5, 4))[1] == [(2, 5, 6)]
    pr = mx.sym.contrib.MultiBoxPrior(v("x"), sizes=(0.5, 0.25), ratios=(1, 2, 0.5))
    assert pr.infer_shape(x=(2, 3, 5, 6))[1] == [(1, 5 * 6 * 4, 4)]
    r = mx.sym.contrib.RROIAlign(v("x"), v("r"), pooled_size=(2, 3), spatial_scale=0.5)
    assert r.list_arguments() == ["x", "r"]
    assert r.infer_shape(x=(2, 4, 8, 8), r=(5, 6))[1] == [(5, 4, 2, 3)]
    assert r.infer_type(x="float64", r="float64")[1] == [np.float64]


def test_multibox_prior_formula():
    """Caffe SSD's order: every size at the first ratio, then the other ratios at the first size."""
    y = mx.nd.contrib.MultiBoxPrior(mx.nd.zeros((1, 1, 2, 4)), sizes=(0.5, 0.2), ratios=(1, 4)).asnumpy()[0]
    assert y.shape == (2 * 4 * 3, 4)
    cx, cy = 0.5 / 4, 0.5 / 2  # first position's center
    w = [0.5 * 2 / 4 / 2, 0.2 * 2 / 4 / 2, 0.5 * 2 / 4 * 2 / 2]
    h = [0.5 / 2, 0.2 / 2, 0.5 / 2 / 2]
    want = np.array([[cx - a, cy - b, cx + a, cy + b] for a, b in zip(w, h)])
    np.testing.assert_allclose(y[:3], want, rtol=1e-6)
    clipped = mx.nd.contrib.MultiBoxPrior(mx.nd.zeros((1, 1, 2, 4)), sizes=(2,), clip=True).asnumpy()
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_detection_keeps_best_and_suppresses_overlaps():
    anchors = mx.nd.array([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9]]])
    prob = mx.nd.array([[[0.1, 0.2, 0.9], [0.8, 0.7, 0.05], [0.1, 0.1, 0.05]]])  # background, class 0, class 1
    y = mx.nd.contrib.MultiBoxDetection(prob, mx.nd.zeros((1, 12)), anchors, threshold=0.1).asnumpy()[0]
    np.testing.assert_allclose(y[0], [0, 0.8, 0.1, 0.1, 0.5, 0.5], rtol=1e-6)
    assert y[1][0] == -1  # the second anchor's class-0 box overlaps the first
    assert y[2][0] == -1  # the third anchor's best class is below the threshold


def test_target_marks_matches_and_ignores_padding():
    anchors = mx.nd.array([[[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0]]])
    label = mx.nd.array([[[2, 0.0, 0.0, 0.5, 0.5], [-1, -1, -1, -1, -1]]])
    loc, mask, cls = mx.nd.contrib.MultiBoxTarget(anchors, label, mx.nd.zeros((1, 4, 3)))
    np.testing.assert_array_equal(cls.asnumpy(), [[3, 0, 0]])
    np.testing.assert_array_equal(mask.asnumpy(), [[1, 1, 1, 1] + [0] * 8])
    np.testing.assert_allclose(loc.asnumpy(), np.zeros((1, 12)), atol=1e-7)  # a perfect match
    _, _, cls = mx.nd.contrib.MultiBoxTarget(anchors, -mx.nd.ones((1, 2, 5)), mx.nd.zeros((1, 4, 3)), ignore_label=-3)
    np.testing.assert_array_equal(cls.asnumpy(), [[-3, -3, -3]])  # no ground truth: all ignored


def _raises(fn, pattern):
    with pytest.raises(mx.base.MXNetError, match=None if IS_MXNET else pattern):
        fn()
        mx.nd.waitall()


def test_bad_shapes_name_the_op_and_shapes():
    nd = mx.nd
    _raises(lambda: nd.contrib.MultiBoxPrior(nd.zeros((2, 3))), r"MultiBoxPrior.*\(2,3\)")
    _raises(
        lambda: nd.contrib.MultiBoxTarget(nd.zeros((5, 4)), nd.zeros((1, 2, 5)), nd.zeros((1, 2, 5))),
        r"MultiBoxTarget.*\(5,4\)",
    )
    _raises(
        lambda: nd.contrib.MultiBoxTarget(nd.zeros((1, 5, 4)), nd.zeros((1, 2, 4)), nd.zeros((1, 2, 5))),
        r"MultiBoxTarget.*label \(1,2,4\)",
    )
    _raises(
        lambda: nd.contrib.MultiBoxTarget(nd.zeros((1, 5, 4)), nd.zeros((1, 2, 5)), nd.zeros((1, 2, 6))),
        r"MultiBoxTarget.*cls_pred \(1,2,6\)",
    )
    _raises(
        lambda: nd.contrib.MultiBoxDetection(nd.zeros((1, 2, 5)), nd.zeros((1, 16)), nd.zeros((1, 5, 4))),
        r"MultiBoxDetection.*loc_pred \(1,16\)",
    )
    _raises(
        lambda: nd.contrib.MultiBoxDetection(nd.zeros((2, 5)), nd.zeros((1, 20)), nd.zeros((1, 5, 4))),
        r"MultiBoxDetection.*\(2,5\)",
    )
    _raises(
        lambda: nd.contrib.Proposal(nd.zeros((1, 24, 3)), nd.zeros((1, 48, 3)), nd.zeros((1, 3))),
        r"Proposal.*\(1,24,3\)",
    )
    _raises(
        lambda: nd.contrib.Proposal(nd.zeros((1, 24, 3, 3)), nd.zeros((1, 40, 3, 3)), nd.zeros((1, 3))),
        r"Proposal.*bbox_pred \(1,40,3,3\)",
    )
    _raises(
        lambda: nd.contrib.RROIAlign(nd.zeros((1, 2, 4, 4)), nd.zeros((3, 5)), pooled_size=(2, 2), spatial_scale=1.0),
        r"RROIAlign.*\(3,5\)",
    )
    _raises(
        lambda: nd.contrib.RROIAlign(nd.zeros((2, 4, 4)), nd.zeros((3, 6)), pooled_size=(2, 2), spatial_scale=1.0),
        r"RROIAlign.*\(2,4,4\)",
    )


@pytest.mark.skipif(IS_MXNET, reason="MXNet aborts or reads out of bounds on some of these")
def test_bad_values_and_params_raise():
    nd = mx.nd
    ok = {"pooled_size": (2, 2), "spatial_scale": 1.0}
    _raises(
        lambda: nd.contrib.RROIAlign(nd.zeros((1, 2, 4, 4)), nd.array([[3, 1, 1, 2, 2, 0]]), **ok),
        r"RROIAlign.*batch index 3",
    )
    cls, bbox = nd.zeros((2, 24, 2, 2)), nd.zeros((2, 48, 2, 2))
    _raises(lambda: nd.contrib.Proposal(cls, bbox, nd.ones((2, 3))), r"Proposal.*one image.*\(2,24,2,2\)")
    _raises(lambda: nd.contrib.Proposal(cls[:1], bbox[:1], nd.array([[100, 20, 1]])), r"Proposal.*im_info")
    label = nd.array([[[-1, 0.1, 0.1, 0.2, 0.2]]])
    _raises(
        lambda: nd.contrib.MultiBoxTarget(nd.zeros((1, 2, 4)), label, nd.zeros((1, 2, 2))), r"MultiBoxTarget.*padding"
    )
    _raises(lambda: nd.contrib.MultiBoxPrior(nd.zeros((1, 1, 2, 2)), steps=(0.5,)), r"MultiBoxPrior.*steps")
    _raises(lambda: nd.contrib.MultiBoxPrior(nd.zeros((1, 1, 2, 2)), offsets=(0.5, 1.5)), r"MultiBoxPrior.*offsets")
    _raises(
        lambda: nd.contrib.MultiBoxDetection(
            nd.zeros((1, 2, 1)), nd.zeros((1, 4)), nd.zeros((1, 1, 4)), variances=(1, 2)
        ),
        "variances",
    )
    _raises(
        lambda: nd.contrib.RROIAlign(nd.zeros((1, 2, 4, 4)), nd.zeros((1, 6)), pooled_size=(2, 2), spatial_scale=2.0),
        "spatial_scale",
    )


def test_float32_only_like_mxnet():
    """MXNet's legacy detection ops accept float32 only; RROIAlign keeps its input's dtype."""
    _raises(lambda: mx.nd.contrib.MultiBoxPrior(mx.nd.zeros((1, 1, 2, 2), dtype="float64")), "float32")
    p = mx.sym.contrib.Proposal(mx.sym.var("c"), mx.sym.var("b"), mx.sym.var("i"))
    _raises(lambda: p.infer_type(c="float64"), "float32")
    y = mx.nd.contrib.RROIAlign(
        mx.nd.ones((1, 1, 4, 4), dtype="float16"),
        mx.nd.array([[0, 2, 2, 2, 2, 30]], dtype="float16"),
        pooled_size=(1, 1),
        spatial_scale=1.0,
    )
    assert y.dtype == np.float16 and float(y.asnumpy()[0, 0, 0, 0]) == 1.0


def test_ssd_graph_trains_like_mxnet():
    """MultiBoxPrior + MultiBoxTarget + MultiBoxDetection in one graph with MXNet's SSD losses,
    bound with ``grad_req='write'``: outputs and every gradient as MXNet's."""
    gold = json.loads((DATA / "ops_det_ssd_golden.json").read_text())
    sym = ssd_symbol(mx)
    assert sym.list_outputs() == list(gold["outputs"])
    args = {k: mx.nd.array(np.array(v["data"]).reshape(v["shape"])) for k, v in gold["args"].items()}
    exe = sym.simple_bind(mx.cpu(), grad_req="write", data=args["data"].shape, label=args["label"].shape)
    for k, v in args.items():
        exe.arg_dict[k][:] = v
    outs = exe.forward(is_train=True)
    exe.backward()
    for (name, want), got in zip(gold["outputs"].items(), outs, strict=True):
        assert got.shape == tuple(want["shape"]), name
        np.testing.assert_allclose(got.asnumpy().ravel(), want["data"], rtol=1e-4, atol=1e-5, err_msg=name)
    for name, want in gold["grads"].items():
        np.testing.assert_allclose(
            exe.grad_dict[name].asnumpy().ravel(), want["data"], rtol=1e-4, atol=1e-5, err_msg=name
        )
    assert np.abs(exe.grad_dict["cls_weight"].asnumpy()).max() > 0  # the class head learns


def test_rroi_align_has_no_gradient_like_mxnet():
    """MXNet registers no gradient for RROIAlign: autograd and a bound graph needing one raise."""
    x = mx.nd.ones((1, 2, 4, 4))
    x.attach_grad()
    rois = mx.nd.array([[0, 2, 2, 2, 2, 30]])
    with pytest.raises(mx.base.MXNetError, match=None if IS_MXNET else "RROIAlign"):
        with mx.autograd.record():
            y = mx.nd.contrib.RROIAlign(x, rois, pooled_size=(2, 2), spatial_scale=1.0)
        y.backward()
    s = mx.sym.contrib.RROIAlign(mx.sym.var("x"), mx.sym.var("r"), pooled_size=(2, 2), spatial_scale=1.0)
    # MXNet's simple_bind wraps the error in a plain RuntimeError.
    with pytest.raises(RuntimeError if IS_MXNET else mx.base.MXNetError, match=None if IS_MXNET else "RROIAlign"):
        exe = s.simple_bind(mx.cpu(), x=(1, 2, 4, 4), r=(1, 6), grad_req="write")
        exe.forward(is_train=True)
        exe.backward(mx.nd.ones((1, 2, 2, 2)))
    exe = s.simple_bind(mx.cpu(), x=(1, 2, 4, 4), r=(1, 6), grad_req="null")
    exe.arg_dict["x"][:] = 1.0
    exe.arg_dict["r"][:] = rois
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), np.ones((1, 2, 2, 2)), rtol=1e-6)
