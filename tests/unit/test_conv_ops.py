"""Convolution, Deconvolution and Pooling against golden values from real MXNet 1.9.1.

The golden file is written by ``tools/golden/conv_ops.py`` (run with MXNet's interpreter).
Gradients are checked through the fused backward ops (``_backward_Convolution`` ...) on mxrs,
and through ``mx.autograd`` when the suite runs against MXNet itself. Run that with
``MXNET_MKLDNN_ENABLED=0``: the golden values come from MXNet's own kernels, and its oneDNN
path differs from them for Deconvolution with ``target_shape`` and for the gradient of
full-convention average pooling.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "conv_ops_golden.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}


def _attrs(case):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}


def _inputs(case, dtype="float32"):
    return {n: mx.nd.array(np.array(v["data"]).reshape(v["shape"]), dtype=dtype) for n, v in case["inputs"].items()}


def _forward(case, dtype="float32"):
    return getattr(mx.nd, case["op"])(**_inputs(case, dtype), **_attrs(case))


def _gradients(case):
    """Gradients of every input for the case's head gradient, in input order."""
    ins = _inputs(case)
    attrs = _attrs(case)
    head = mx.nd.array(np.array(case["head"]).reshape(case["output"]["shape"]))
    if IS_MXNET:
        for a in ins.values():
            a.attach_grad()
        with mx.autograd.record():
            y = getattr(mx.nd, case["op"])(**ins, **attrs)
        y.backward(head)
        return [a.grad for a in ins.values()]
    # mxrs: through a bound Symbol (the gradient graph the executor builds from the registry).
    names = list(ins)
    sym = getattr(mx.sym, case["op"])(**{n: mx.sym.Variable(n) for n in names}, **attrs)
    grads = {n: mx.nd.zeros(a.shape) for n, a in ins.items()}
    exe = sym.bind(mx.cpu(), ins, args_grad=grads)
    exe.forward(is_train=True)
    exe.backward(head)
    return [grads[n] for n in sym.list_arguments()]


def _close(got, want, what):
    want = np.array(want["data"] if isinstance(want, dict) else want, dtype=np.float64)
    got = got.asnumpy().astype(np.float64).ravel()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    case = CASES[name]
    y = _forward(case)
    assert y.shape == tuple(case["output"]["shape"])
    assert y.dtype == np.float32
    _close(y, case["output"], name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    case = CASES[name]
    grads = _gradients(case)
    assert len(grads) == len(case["inputs"])
    for g, (n, want) in zip(grads, case["grads"].items(), strict=True):
        assert g.shape == tuple(case["inputs"][n]["shape"])
        _close(g, want, f"{name}: gradient of {n}")


@pytest.mark.parametrize("name", ["conv_stride_pad", "deconv_stride_adj_bias", "pool_avg_full_pad"])
@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_float_dtypes(name, dtype):
    case = CASES[name]
    if IS_MXNET and dtype == "float16" and case["op"] != "Pooling":
        pytest.skip("MXNet has no float16 gemm on the CPU")
    y = _forward(case, dtype)
    assert y.dtype == np.dtype(dtype)
    want = np.array(case["output"]["data"])
    tol = 1e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(y.asnumpy().astype(np.float64).ravel(), want, rtol=tol, atol=tol)


def test_lenet_shapes():
    x = mx.nd.ones((64, 1, 28, 28))
    w1, b1 = mx.nd.ones((20, 1, 5, 5)) * 0.01, mx.nd.zeros((20,))
    y = mx.nd.Convolution(x, w1, b1, kernel=(5, 5), num_filter=20)
    assert y.shape == (64, 20, 24, 24)
    p = mx.nd.Pooling(y, kernel=(2, 2), stride=(2, 2), pool_type="max")
    assert p.shape == (64, 20, 12, 12)
    w2 = mx.nd.ones((50, 20, 5, 5)) * 0.01
    z = mx.nd.Convolution(p, w2, kernel=(5, 5), num_filter=50, no_bias=True)
    assert z.shape == (64, 50, 8, 8)
    np.testing.assert_allclose(z.asnumpy(), np.full((64, 50, 8, 8), 0.25 * 20 * 25 * 0.01, np.float32), rtol=1e-5)


def _raises_naming(fn, *fragments):
    with pytest.raises(mx.base.MXNetError) as info:
        fn()
        mx.nd.waitall()
    if not IS_MXNET:
        for f in fragments:
            assert f in str(info.value), str(info.value)


def test_wrong_weight_shape():
    x = mx.nd.ones((1, 3, 5, 5))
    w = mx.nd.ones((4, 2, 3, 3))
    _raises_naming(
        lambda: mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=4, no_bias=True),
        "Convolution",
        "(4,2,3,3)",
        "(4,3,3,3)",
    )
    wd = mx.nd.ones((3, 3, 3, 3))
    _raises_naming(lambda: mx.nd.Deconvolution(x, wd, kernel=(3, 3), num_filter=4), "Deconvolution", "(3,4,3,3)")


def test_kernel_larger_than_padded_input():
    x = mx.nd.ones((1, 3, 2, 2))
    w = mx.nd.ones((4, 3, 5, 5))
    _raises_naming(
        lambda: mx.nd.Convolution(x, w, kernel=(5, 5), pad=(1, 1), num_filter=4, no_bias=True),
        "Convolution",
        "(1,3,2,2)",
    )
    _raises_naming(lambda: mx.nd.Pooling(x, kernel=(3, 3)), "Pooling", "(1,3,2,2)")


def test_num_filter_not_divisible_by_num_group():
    x = mx.nd.ones((1, 4, 5, 5))
    w = mx.nd.ones((5, 2, 3, 3))
    _raises_naming(
        lambda: mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=5, num_group=2, no_bias=True),
        "Convolution",
        "num_filter (5)",
        "num_group (2)",
    )
