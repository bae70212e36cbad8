"""3x3 convolutions with unit stride on enough tiles for mxrs's Winograd kernels (at least 16
channels each way, and at least 192 2x2 output tiles in the batch for F(2x2, 3x3) or 128 4x4
tiles for F(4x4, 3x3)): forward, data, weight and bias gradients, and Deconvolution (whose
forward pass is the data gradient), against float64 NumPy sums. The same test passes on real
MXNet 1.9.1 (``MXRS_TEST_TARGET=mxnet``)."""

import numpy as np
import pytest
from _target import mx
from numpy.lib.stride_tricks import sliding_window_view
from numpy.testing import assert_allclose


def _reference(x, w, b, dy, pad):
    """(y, dx, dw, db) of the convolution, in float64."""
    x, w, dy = (a.astype(np.float64) for a in (x, w, dy))
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    y = np.einsum("ncyxij,kcij->nkyx", sliding_window_view(xp, (3, 3), axis=(2, 3)), w) + b[None, :, None, None]
    oh, ow = y.shape[2:]
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i : i + oh, j : j + ow] += np.einsum("nkyx,kc->ncyx", dy, w[:, :, i, j])
            dw[:, :, i, j] = np.einsum("nkyx,ncyx->kc", dy, xp[:, :, i : i + oh, j : j + ow])
    dx = dxp[:, :, pad[0] : pad[0] + x.shape[2], pad[1] : pad[1] + x.shape[3]]
    return y, dx, dw, dy.sum(axis=(0, 2, 3))


@pytest.mark.parametrize(
    "shape,k,pad",
    [
        ((12, 16, 9, 11), 16, (1, 1)),
        ((12, 16, 9, 11), 24, (0, 0)),
        ((6, 20, 13, 12), 16, (2, 1)),
        ((2, 16, 32, 32), 32, (1, 1)),
        ((8, 16, 18, 17), 16, (0, 2)),
    ],
)
def test_convolution_and_gradients(shape, k, pad):
    rng = np.random.default_rng(sum(shape) + k)
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((k, shape[1], 3, 3)) * 0.2).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    oh, ow = shape[2] + 2 * pad[0] - 2, shape[3] + 2 * pad[1] - 2
    dy = rng.standard_normal((shape[0], k, oh, ow)).astype(np.float32)
    want = _reference(x, w, b, dy, pad)

    X, W, B = mx.nd.array(x), mx.nd.array(w), mx.nd.array(b)
    for a in (X, W, B):
        a.attach_grad()
    with mx.autograd.record():
        Y = mx.nd.Convolution(X, W, B, kernel=(3, 3), pad=pad, num_filter=k)
    Y.backward(mx.nd.array(dy))
    # F(4x4, 3x3) (the last two shapes) errs by up to about 4e-6 of the largest value.
    for got, ref, what in zip((Y, X.grad, W.grad, B.grad), want, ("y", "dx", "dw", "db")):
        scale = np.abs(ref).max()
        assert_allclose(got.asnumpy(), ref, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


def test_deconvolution_forward():
    """Deconvolution with a 3x3 kernel, unit stride and pad 1 is the data gradient of the
    convolution from its output: the transposed weight, turned by 180 degrees."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 16, 10, 12)).astype(np.float32)
    w = (rng.standard_normal((16, 24, 3, 3)) * 0.2).astype(np.float32)  # (in, out, kh, kw)
    got = mx.nd.Deconvolution(mx.nd.array(x), mx.nd.array(w), kernel=(3, 3), pad=(1, 1), num_filter=24, no_bias=True)
    turned = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    want = _reference(x, turned, np.zeros(24), np.zeros((8, 24, 10, 12)), (1, 1))[0]
    assert_allclose(got.asnumpy(), want, rtol=1e-4, atol=2e-6 * np.abs(want).max())
