"""Convolution and Pooling on ``mx.gpu(0)`` (the native kernels of backend/cuda/conv.rs) against
``mx.cpu()``: forward values and autograd gradients, float32 and float16.

Skipped on machines without a GPU. Small shapes: the whole file runs in a few seconds.
"""

from __future__ import annotations

import mxrs as mx
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(mx.num_gpus() == 0, reason="needs a CUDA GPU")


def _run(ctx, fn, arrays, dtype, grads=None):
    """``fn(*arrays)`` on ``ctx`` under autograd with a fixed head gradient: the output, then the
    gradients of the arrays flagged in ``grads`` (all by default), as float64 numpy arrays."""
    grads = grads or [True] * len(arrays)
    nds = [mx.nd.array(a, ctx=ctx, dtype=dtype) for a in arrays]
    for a, g in zip(nds, grads):
        if g:
            a.attach_grad()
    with mx.autograd.record():
        y = fn(*nds)
    assert y.context == ctx
    head = np.random.default_rng(7).standard_normal(y.shape)
    y.backward(mx.nd.array(head, ctx=ctx, dtype=dtype))
    outs = [y.asnumpy().astype(np.float64)]
    outs += [a.grad.asnumpy().astype(np.float64) for a, g in zip(nds, grads) if g]
    return outs


def _compare(fn, arrays, dtype="float32", rtol=1e-4, atol=1e-4, grads=None):
    got = _run(mx.gpu(0), fn, arrays, dtype, grads)
    want = _run(mx.cpu(), fn, arrays, dtype, grads)
    names = ["output"] + [f"grad {i}" for i in range(len(got) - 1)]
    for name, g, w in zip(names, got, want):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)


# (data shape, kernel, stride, pad, dilate, num_group, num_filter, no_bias)
CONV_CASES = [
    ((2, 4, 9, 8), (3, 3), (2, 1), (1, 2), (1, 2), 2, 6, False),
    ((3, 3, 7, 7), (3, 3), (1, 1), (0, 0), (1, 1), 1, 4, True),
    ((2, 8, 5, 5), (1, 1), (1, 1), (0, 0), (1, 1), 1, 4, False),
    ((2, 3, 8, 8), (5, 5), (3, 3), (2, 2), (1, 1), 1, 5, False),
    ((4, 1, 28, 28), (5, 5), (1, 1), (0, 0), (1, 1), 1, 8, False),
    ((2, 4, 11), (3,), (2,), (1,), (2,), 4, 4, False),
    ((2, 3, 13), (4,), (1,), (0,), (1,), 1, 2, True),
    ((2, 2, 5, 6, 5), (2, 3, 2), (2, 1, 2), (1, 1, 0), (1, 2, 1), 1, 3, False),
    ((1, 4, 4, 5, 4), (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 2, 4, True),
]


def _conv_inputs(shape, kernel, groups, filters, no_bias, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((filters, shape[1] // groups, *kernel)) * 0.5
    b = rng.standard_normal(filters)
    return [x, w] if no_bias else [x, w, b]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{len(c[1])}d-{c[0]}-k{c[1]}-s{c[2]}-g{c[5]}")
def test_convolution_forward_and_gradients(case):
    shape, kernel, stride, pad, dilate, groups, filters, no_bias = case
    kw = dict(kernel=kernel, stride=stride, pad=pad, dilate=dilate, num_group=groups, num_filter=filters)

    def fn(*a):
        return mx.nd.Convolution(*a, no_bias=no_bias, **kw)

    _compare(fn, _conv_inputs(shape, kernel, groups, filters, no_bias))


def test_convolution_data_gradient_only():
    # Only the data asks for a gradient: _backward_Convolution computes a subset of its outputs.
    arrays = _conv_inputs((2, 4, 9, 9), (3, 3), 1, 6, False)

    def fn(x, w, b):
        return mx.nd.Convolution(x, w, b, kernel=(3, 3), pad=(1, 1), num_filter=6)

    _compare(fn, arrays, grads=[True, False, False])
    _compare(fn, arrays, grads=[False, True, True])


def test_convolution_float16():
    arrays = _conv_inputs((2, 4, 10, 10), (3, 3), 2, 6, False, seed=1)

    def fn(x, w, b):
        return mx.nd.Convolution(x, w, b, kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2, num_filter=6)

    _compare(fn, arrays, dtype="float16", rtol=2e-2, atol=5e-2)


def test_convolution_then_pooling_float64():
    # A LeNet-style block in float64: the kernels' arithmetic matches the host's closely.
    arrays = _conv_inputs((4, 1, 28, 28), (5, 5), 1, 6, False, seed=2)

    def fn(x, w, b):
        c = mx.nd.Convolution(x, w, b, kernel=(5, 5), num_filter=6)
        return mx.nd.Pooling(mx.nd.tanh(c), kernel=(2, 2), stride=(2, 2), pool_type="max")

    _compare(fn, arrays, dtype="float64", rtol=1e-10, atol=1e-10)


def test_deconvolution_still_runs_on_gpu_arrays():
    # No device kernel: it runs through host memory, its result on the GPU.
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((3, 4, 3, 3))

    def fn(x, w):
        return mx.nd.Deconvolution(x, w, kernel=(3, 3), stride=(2, 2), num_filter=4)

    _compare(fn, [x, w])


# (data shape, kernel, stride, pad, pooling_convention)
POOL_SHAPES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), "valid"),
    ((2, 2, 7, 9), (3, 3), (2, 2), (1, 1), "full"),
    ((2, 2, 7, 9), (3, 3), (2, 2), (1, 1), "valid"),
    ((2, 2, 6, 7), (3, 2), (1, 3), (1, 0), "valid"),
    ((2, 2, 11), (3,), (2,), (1,), "full"),
    ((1, 2, 5, 6, 5), (2, 3, 2), (2, 2, 1), (1, 1, 0), "full"),
]


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("case", POOL_SHAPES, ids=lambda c: f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-{c[4]}")
def test_pooling_forward_and_gradient(case, pool_type):
    shape, kernel, stride, pad, conv = case
    # Small integers: many ties, where the first maximum of a window must take the gradient.
    x = np.random.default_rng(4).integers(-3, 4, shape).astype(np.float64)
    for include in [True, False] if pool_type == "avg" else [True]:

        def fn(a, include=include):
            return mx.nd.Pooling(
                a,
                kernel=kernel,
                stride=stride,
                pad=pad,
                pool_type=pool_type,
                pooling_convention=conv,
                count_include_pad=include,
            )

        _compare(fn, [x], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (2, 3, 7), (1, 2, 3, 4, 2)])
def test_global_pooling(shape, pool_type):
    x = np.random.default_rng(5).standard_normal(shape)

    def fn(a):
        return mx.nd.Pooling(a, global_pool=True, pool_type=pool_type)

    _compare(fn, [x], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_pooling_float16(pool_type):
    x = np.random.default_rng(6).standard_normal((2, 3, 9, 9))

    def fn(a):
        return mx.nd.Pooling(a, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type=pool_type)

    _compare(fn, [x], dtype="float16", rtol=1e-2, atol=1e-2)


def test_lp_pooling_falls_back():
    # No device kernel for lp pooling: still correct, through host memory.
    x = np.random.default_rng(8).standard_normal((2, 2, 6, 6))

    def fn(a):
        return mx.nd.Pooling(a, kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=2)

    _compare(fn, [x], rtol=1e-5, atol=1e-5)
