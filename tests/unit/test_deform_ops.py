"""The deformable and position-sensitive ops against MXNet 1.9.1 (``ops_deform_golden.json``,
written by ``tools/golden/deform_ops.py``): ``contrib.DeformableConvolution``,
``contrib.ModulatedDeformableConvolution`` (gradients from a NumPy transcription of MXNet's
GPU-only backward), ``contrib.PSROIPooling``, ``contrib.DeformablePSROIPooling`` and
``Correlation``; forward through ``mx.nd`` and a bound ``mx.sym`` graph, gradients through the
executor and ``autograd``, finite-difference checks, and shape errors."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import IS_MXNET, mx

CASES = load("deform")


def _fn(module, op):
    for part in op.split("."):
        module = getattr(module, part)
    return module


def _inputs(case):
    return {n: mx.nd.array(np.array(v["data"]).reshape(v["shape"])) for n, v in case["inputs"].items()}


def _attrs(case):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_symbol_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_executor_gradients_match_mxnet(name):
    if IS_MXNET and name.startswith("mdcn"):
        pytest.skip("MXNet 1.9.1 runs ModulatedDeformableConvolution's backward on GPU only")
    check_gradients(CASES[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_imperative_forward_and_autograd_match_mxnet(name):
    case = CASES[name]
    if IS_MXNET and name.startswith("mdcn"):
        pytest.skip("MXNet 1.9.1 runs ModulatedDeformableConvolution's backward on GPU only")
    ins = _inputs(case)
    for n in case["grads"]:
        ins[n].attach_grad()
    with mx.autograd.record():
        y = _fn(mx.nd, case["op"])(**ins, **_attrs(case))
    want = case["outputs"][0]
    assert y.shape == tuple(want["shape"])
    np.testing.assert_allclose(y.asnumpy().ravel(), want["data"], rtol=1e-4, atol=1e-5)
    y.backward(mx.nd.array(np.array(case["heads"][0]).reshape(want["shape"])))
    for n, g in case["grads"].items():
        np.testing.assert_allclose(ins[n].grad.asnumpy().ravel(), g, rtol=1e-4, atol=1e-5, err_msg=n)


def test_namespaces_and_symbol_arguments():
    assert callable(mx.nd.contrib.DeformableConvolution) and callable(mx.sym.contrib.DeformableConvolution)
    assert callable(mx.nd.contrib.ModulatedDeformableConvolution)
    assert callable(mx.nd.contrib.PSROIPooling) and callable(mx.sym.contrib.DeformablePSROIPooling)
    assert callable(mx.nd.Correlation) and callable(mx.sym.Correlation)
    d = mx.sym.Variable("data")
    s = mx.sym.contrib.DeformableConvolution(d, mx.sym.Variable("offset"), kernel=(3, 3), num_filter=2, name="dc")
    assert s.list_arguments() == ["data", "offset", "dc_weight", "dc_bias"]
    s = mx.sym.contrib.ModulatedDeformableConvolution(
        d, mx.sym.Variable("offset"), mx.sym.Variable("mask"), kernel=(3, 3), num_filter=2, no_bias=True, name="m"
    )
    assert s.list_arguments() == ["data", "offset", "mask", "m_weight"]
    c = mx.sym.Correlation(mx.sym.Variable("a"), mx.sym.Variable("b"), name="corr")
    assert c.list_outputs() == ["corr_output"]
    p = mx.sym.contrib.DeformablePSROIPooling(
        d, mx.sym.Variable("rois"), spatial_scale=1.0, output_dim=2, group_size=2, pooled_size=2, no_trans=True
    )
    assert p.list_arguments() == ["data", "rois"]


def test_weight_shape_is_inferred_from_data():
    s = mx.sym.contrib.DeformableConvolution(
        mx.sym.Variable("data"), mx.sym.Variable("offset"), kernel=(3, 3), num_filter=6, num_group=2, name="dc"
    )
    args, outs, _ = s.infer_shape(data=(2, 4, 7, 7), offset=(2, 18, 5, 5))
    assert dict(zip(s.list_arguments(), args)) == {
        "data": (2, 4, 7, 7),
        "offset": (2, 18, 5, 5),
        "dc_weight": (6, 2, 3, 3),
        "dc_bias": (6,),
    }
    assert outs == [(2, 6, 5, 5)]


def test_zero_offsets_give_a_convolution():
    rng = np.random.RandomState(3)
    x = mx.nd.array(rng.uniform(-1, 1, (2, 4, 6, 5)))
    w = mx.nd.array(rng.uniform(-1, 1, (6, 2, 3, 3)))
    b = mx.nd.array(rng.uniform(-1, 1, (6,)))
    kw = {"kernel": (3, 3), "pad": (1, 1), "stride": (2, 1), "num_filter": 6, "num_group": 2}
    want = mx.nd.Convolution(x, w, b, **kw).asnumpy()
    off = mx.nd.zeros((2, 18) + want.shape[2:])
    got = mx.nd.contrib.DeformableConvolution(x, off, w, b, **kw).asnumpy()
    # Zero padding reads as zero in both, so the two agree everywhere.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    mask = mx.nd.ones((2, 9) + want.shape[2:])
    got = mx.nd.contrib.ModulatedDeformableConvolution(x, off, mask, w, b, **kw).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _numeric(op, inputs, attrs, grad_nodes, rtol=1e-2, atol=1e-3):
    syms = [mx.sym.Variable(n) for n in inputs]
    sym = _fn(mx.sym, op)(*syms, **attrs)
    loc = {n: np.asarray(v, dtype=np.float64) for n, v in inputs.items()}
    mx.test_utils.check_numeric_gradient(
        sym, loc, grad_nodes=grad_nodes, numeric_eps=1e-4, rtol=rtol, atol=atol, dtype=np.float64
    )


def test_numeric_gradient_deformable_convolution():
    rng = np.random.RandomState(4)
    inputs = {
        "data": rng.uniform(-1, 1, (1, 2, 4, 4)),
        "offset": rng.uniform(-0.8, 0.8, (1, 8, 3, 3)) + 0.13,
        "weight": rng.uniform(-1, 1, (2, 2, 2, 2)),
        "bias": rng.uniform(-1, 1, (2,)),
    }
    _numeric(
        "contrib.DeformableConvolution",
        inputs,
        {"kernel": (2, 2), "num_filter": 2},
        ["data", "offset", "weight", "bias"],
    )


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 runs this backward on GPU only")
def test_numeric_gradient_modulated_deformable_convolution():
    rng = np.random.RandomState(5)
    inputs = {
        "data": rng.uniform(-1, 1, (2, 2, 4, 3)),
        "offset": rng.uniform(-0.8, 0.8, (2, 8, 5, 2)) + 0.13,
        "mask": rng.uniform(0, 1, (2, 4, 5, 2)),
        "weight": rng.uniform(-1, 1, (2, 2, 2, 2)),
    }
    attrs = {"kernel": (2, 2), "pad": (1, 0), "num_filter": 2, "no_bias": True, "im2col_step": 1}
    _numeric("contrib.ModulatedDeformableConvolution", inputs, attrs, ["data", "offset", "mask", "weight"])


def test_numeric_gradient_poolings_and_correlation():
    rng = np.random.RandomState(6)
    rois = np.array([[0, 0, 1, 5, 4], [0, 2, 0, 4, 5]], dtype=np.float64)
    data = rng.uniform(-1, 1, (1, 8, 6, 6))
    _numeric(
        "contrib.PSROIPooling",
        {"data": data, "rois": rois},
        {"spatial_scale": 1.0, "output_dim": 2, "pooled_size": 2},
        ["data"],
    )
    attrs = {"spatial_scale": 1.0, "output_dim": 2, "group_size": 2, "pooled_size": 2, "trans_std": 0.1}
    trans = rng.uniform(-1, 1, (2, 2, 2, 2))
    _numeric(
        "contrib.DeformablePSROIPooling",
        {"data": data, "rois": rois, "trans": trans},
        dict(attrs, sample_per_part=2),
        ["data", "trans"],
    )
    a, b = rng.uniform(-1, 1, (1, 2, 5, 4)), rng.uniform(-1, 1, (1, 2, 5, 4))
    for mult in (True, False):
        attrs = {"kernel_size": 3, "max_displacement": 1, "pad_size": 2, "is_multiply": mult}
        _numeric("Correlation", {"data1": a, "data2": b}, attrs, ["data1", "data2"])


def test_hidden_outputs():
    a = mx.nd.ones((1, 2, 4, 4))
    y = mx.nd.Correlation(a, a, max_displacement=1, pad_size=1)
    assert y.shape == (1, 9, 4, 4)
    # Mean products of ones are 1 inside, less where the patch meets the zero padding.
    np.testing.assert_allclose(y.asnumpy()[0, 4], 1.0)
    assert y.asnumpy()[0, 0, 0, 0] == 0.0


@pytest.mark.skipif(IS_MXNET, reason="the messages are mxrs's (MXNet's name neither op nor shapes)")
def test_bad_inputs_raise_mxnet_errors():
    x = mx.nd.ones((1, 2, 5, 5))
    w = mx.nd.ones((4, 2, 3, 3))
    with pytest.raises(mx.base.MXNetError, match=r"DeformableConvolution.*offset.*\(1,9,3,3\)"):
        mx.nd.contrib.DeformableConvolution(x, mx.nd.ones((1, 9, 3, 3)), w, mx.nd.ones(4), kernel=(3, 3), num_filter=4)
    with pytest.raises(mx.base.MXNetError, match=r"DeformableConvolution.*weight.*\(4,1,3,3\)"):
        mx.nd.contrib.DeformableConvolution(
            x, mx.nd.ones((1, 18, 3, 3)), mx.nd.ones((4, 1, 3, 3)), kernel=(3, 3), num_filter=4, no_bias=True
        )
    with pytest.raises(mx.base.MXNetError, match=r"ModulatedDeformableConvolution.*mask.*\(1,8,3,3\)"):
        mx.nd.contrib.ModulatedDeformableConvolution(
            x, mx.nd.ones((1, 18, 3, 3)), mx.nd.ones((1, 8, 3, 3)), w, kernel=(3, 3), num_filter=4, no_bias=True
        )
    with pytest.raises(mx.base.MXNetError, match=r"ModulatedDeformableConvolution.*im2col_step"):
        mx.nd.contrib.ModulatedDeformableConvolution(
            mx.nd.ones((3, 2, 5, 5)),
            mx.nd.ones((3, 18, 3, 3)),
            mx.nd.ones((3, 9, 3, 3)),
            w,
            kernel=(3, 3),
            num_filter=4,
            no_bias=True,
            im2col_step=2,
        )
    with pytest.raises(mx.base.MXNetError, match="DeformableConvolution.*kernel"):
        mx.nd.contrib.DeformableConvolution(x, mx.nd.ones((1, 6, 5, 5)), w, kernel=(3,), num_filter=4, no_bias=True)
    with pytest.raises(mx.base.MXNetError, match=r"PSROIPooling.*\(1,2,5,5\)"):
        mx.nd.contrib.PSROIPooling(x, mx.nd.zeros((1, 5)), spatial_scale=1.0, output_dim=2, pooled_size=2)
    with pytest.raises(mx.base.MXNetError, match=r"PSROIPooling.*\(1,4\)"):
        mx.nd.contrib.PSROIPooling(
            mx.nd.ones((1, 8, 5, 5)), mx.nd.zeros((1, 4)), spatial_scale=1.0, output_dim=2, pooled_size=2
        )
    with pytest.raises(mx.base.MXNetError, match="PSROIPooling.*batch index"):
        rois = mx.nd.array([[3, 0, 0, 2, 2]])
        y = mx.nd.contrib.PSROIPooling(mx.nd.ones((1, 8, 5, 5)), rois, spatial_scale=1.0, output_dim=2, pooled_size=2)
        y.asnumpy()
    with pytest.raises(mx.base.MXNetError, match=r"DeformablePSROIPooling.*trans.*\(1,2,3,3\)"):
        mx.nd.contrib.DeformablePSROIPooling(
            mx.nd.ones((1, 8, 5, 5)),
            mx.nd.zeros((1, 5)),
            mx.nd.zeros((1, 2, 3, 3)),
            spatial_scale=1.0,
            output_dim=2,
            group_size=2,
            pooled_size=2,
        )
    with pytest.raises(mx.base.MXNetError, match=r"Correlation.*\(1,3,5,5\)"):
        mx.nd.Correlation(x, mx.nd.ones((1, 3, 5, 5)))
    with pytest.raises(mx.base.MXNetError, match="Correlation.*odd"):
        mx.nd.Correlation(x, x, kernel_size=2)
    with pytest.raises(mx.base.MXNetError, match="Correlation.*do not fit"):
        mx.nd.Correlation(x, x, max_displacement=3)
