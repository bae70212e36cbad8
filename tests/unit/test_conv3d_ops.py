"""3-D (NCDHW) Convolution, Deconvolution and Pooling against real MXNet 1.9.1.

Golden values: ``ops_conv3d_golden.json`` (Convolution and Pooling, MXNet's own kernels) and
``ops_deconv3d_golden.json`` (Deconvolution, which MXNet 1.9.1 runs only through oneDNN in 3-D),
written by ``tools/golden/extra_ops.py`` (cases in ``tools/golden/extra_ops_cases.py``).
Gradients go through a bound Symbol on mxrs (the fused ``_backward_*`` ops).
"""

import numpy as np
import pytest
from _op_golden import attrs, check_forward, check_gradients, close, forward, inputs, load
from _target import IS_MXNET, mx

CONV = load("conv3d")
DECONV = load("deconv3d")
ALL = {**CONV, **DECONV}


@pytest.mark.parametrize("name", sorted(ALL))
def test_forward_matches_mxnet(name):
    check_forward(ALL[name])


@pytest.mark.parametrize("name", sorted(ALL))
def test_gradients_match_mxnet(name):
    check_gradients(ALL[name])


@pytest.mark.parametrize("name", ["conv_stride_pad", "deconv_stride_pad_adj_bias", "avg_full_exclude_pad", "lp2_pad"])
@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_float_dtypes(name, dtype):
    case = ALL[name]
    if IS_MXNET and dtype == "float16" and case["op"] != "Pooling":
        pytest.skip("MXNet has no float16 gemm on the CPU")
    y = forward(case, dtype)[0]
    assert y.dtype == np.dtype(dtype)
    tol = 2e-2 if dtype == "float16" else 1e-5
    close(y, case["outputs"][0], f"{name} in {dtype}", rtol=tol, atol=tol)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 cannot run a 3-D Deconvolution with target_shape")
def test_deconvolution_target_shape_is_its_pad_and_adj():
    case = DECONV["deconv_as_target_shape_654"]
    a = {k: v for k, v in attrs(case).items() if k not in ("pad", "adj")}
    ins = inputs(case)
    y = mx.nd.Deconvolution(**ins, target_shape=(6, 5, 4), **a)
    assert y.shape == (1, 2, 6, 5, 4)
    close(y, case["outputs"][0], "target_shape=(6, 5, 4)")
    sym = mx.sym.Deconvolution(
        mx.sym.var("data"), mx.sym.var("weight"), mx.sym.var("bias"), target_shape=(6, 5, 4), **a
    )
    grads = {n: mx.nd.zeros(v.shape) for n, v in ins.items()}
    exe = sym.bind(mx.cpu(), ins, args_grad=grads)
    exe.forward(is_train=True)
    exe.backward(mx.nd.array(np.array(case["heads"][0]).reshape(1, 2, 6, 5, 4)))
    for n, want in case["grads"].items():
        close(grads[n], want, f"target_shape: gradient of {n}")


def test_symbol_shape_inference():
    data = mx.sym.var("data")
    conv = mx.sym.Convolution(
        data, kernel=(2, 3, 2), stride=(1, 2, 1), dilate=(2, 1, 1), pad=(1, 1, 0), num_filter=6, num_group=2, name="c"
    )
    args, outs, _ = conv.infer_shape(data=(2, 4, 3, 4, 5))
    assert dict(zip(conv.list_arguments(), args)) == {
        "data": (2, 4, 3, 4, 5),
        "c_weight": (6, 2, 2, 3, 2),
        "c_bias": (6,),
    }
    assert outs == [(2, 6, 3, 2, 4)]
    deconv = mx.sym.Deconvolution(
        data, kernel=(2, 3, 2), stride=(2, 2, 1), adj=(1, 1, 0), num_filter=6, num_group=2, name="d"
    )
    args, outs, _ = deconv.infer_shape(data=(2, 4, 3, 4, 5))
    assert args == [(2, 4, 3, 4, 5), (4, 3, 2, 3, 2)] and outs == [(2, 6, 7, 10, 6)]
    pool = mx.sym.Pooling(data, kernel=(2, 3, 2), stride=(2, 2, 3), pooling_convention="full")
    assert pool.infer_shape(data=(1, 2, 5, 6, 7))[1] == [(1, 2, 3, 3, 3)]
    gpool = mx.sym.Pooling(data, global_pool=True, pool_type="avg")
    assert gpool.infer_shape(data=(2, 3, 4, 5, 6))[1] == [(2, 3, 1, 1, 1)]


def test_pointwise_conv_is_a_channel_matmul():
    rng = np.random.RandomState(3)
    x = rng.uniform(-1, 1, (2, 3, 2, 3, 4)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 3, 1, 1, 1)).astype(np.float32)
    y = mx.nd.Convolution(mx.nd.array(x), mx.nd.array(w), kernel=(1, 1, 1), num_filter=5, no_bias=True)
    np.testing.assert_allclose(y.asnumpy(), np.einsum("ncdhw,fc->nfdhw", x, w[:, :, 0, 0, 0]), rtol=1e-5, atol=1e-6)


def _raises_naming(fn, *fragments):
    with pytest.raises(mx.base.MXNetError) as info:
        fn()
        mx.nd.waitall()
    if not IS_MXNET:
        for f in fragments:
            assert f in str(info.value), str(info.value)


def test_kernel_rank_must_match_data_rank():
    x5 = mx.nd.ones((1, 2, 4, 5, 6))
    _raises_naming(
        lambda: mx.nd.Convolution(x5, mx.nd.ones((3, 2, 2, 2)), kernel=(2, 2), num_filter=3, no_bias=True),
        "Convolution",
        "(1,2,4,5,6)",
        "4 dimensions",
    )
    x4 = mx.nd.ones((1, 2, 5, 6))
    _raises_naming(
        lambda: mx.nd.Convolution(x4, mx.nd.ones((3, 2, 2, 2, 2)), kernel=(2, 2, 2), num_filter=3, no_bias=True),
        "Convolution",
        "(1,2,5,6)",
        "5 dimensions",
    )
    _raises_naming(
        lambda: mx.nd.Deconvolution(x4, mx.nd.ones((2, 3, 2, 2, 2)), kernel=(2, 2, 2), num_filter=3),
        "Deconvolution",
        "(1,2,5,6)",
    )
    _raises_naming(lambda: mx.nd.Pooling(x5, kernel=(2, 2)), "Pooling", "(1,2,4,5,6)", "4 dimensions")
    _raises_naming(lambda: mx.nd.Pooling(x4, kernel=(2, 2, 2)), "Pooling", "(1,2,5,6)", "5 dimensions")


def test_bad_3d_parameters():
    x = mx.nd.ones((1, 2, 4, 5, 6))
    w = mx.nd.ones((3, 2, 2, 2, 2))
    _raises_naming(
        lambda: mx.nd.Convolution(x, w, kernel=(2, 2, 2), stride=(1, 0, 1), num_filter=3, no_bias=True),
        "Convolution",
        "stride",
    )
    _raises_naming(
        lambda: mx.nd.Convolution(x, w, kernel=(2, 2, 2), pad=(1, 1), num_filter=3, no_bias=True),
        "Convolution",
        "pad",
    )
    _raises_naming(lambda: mx.nd.Pooling(x, kernel=(2, 2, 2), stride=(0, 1, 1)), "Pooling", "stride")
    _raises_naming(
        lambda: mx.nd.Convolution(x, w, kernel=(2, 2, 2), num_filter=3, no_bias=True, layout="NCHW"),
        "Convolution",
        "NCHW",
    )
    _raises_naming(
        lambda: mx.nd.Convolution(x, mx.nd.ones((3, 2, 5, 2, 2)), kernel=(5, 2, 2), num_filter=3, no_bias=True),
        "Convolution",
        "(1,2,4,5,6)",
        "exceeds",
    )
    wd = mx.nd.ones((2, 3, 2, 2, 2))
    _raises_naming(
        lambda: mx.nd.Deconvolution(x, wd, kernel=(2, 2, 2), stride=(2, 2, 2), adj=(2, 0, 0), num_filter=3),
        "Deconvolution",
        "adj",
    )
    _raises_naming(
        lambda: mx.nd.Convolution(x, mx.nd.ones((3, 2, 2, 3, 2)), kernel=(2, 2, 2), num_filter=3, no_bias=True),
        "Convolution",
        "(3,2,2,3,2)",
        "(3,2,2,2,2)",
    )
    _raises_naming(lambda: mx.nd.Pooling(x, kernel=(2, 2, 2), pooling_convention="same"), "Pooling", "same")
