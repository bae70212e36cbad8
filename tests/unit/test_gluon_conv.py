"""gluon.nn convolution and pooling layers against real MXNet 1.9.1.

Golden values: tests/fixtures/gluon_layers/conv.npz, written by gen_fixtures.py beside it
(layer outputs for seeded weights and inputs, and the gradients of a small conv net), and for
the later 3-D cases conv3d.npz (MXNet's own kernels) and conv3d_onednn.npz (3-D transposed
convolutions and a 3-D net with its gradients: MXNet 1.9.1 runs a 3-D Deconvolution only
through oneDNN).
"""

from pathlib import Path

import numpy as np
import pytest
from _target import mx

nn = mx.gluon.nn
_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "gluon_layers"
FIX = {k: v for f in ("conv.npz", "conv3d.npz", "conv3d_onednn.npz") for k, v in np.load(_DIR / f).items()}

CASES = {
    "conv1d": lambda: nn.Conv1D(4, 3),
    "conv1d_s2p1d2": lambda: nn.Conv1D(4, 3, strides=2, padding=1, dilation=2),
    "conv1d_g2_nobias": lambda: nn.Conv1D(4, 3, groups=2, use_bias=False),
    "conv2d": lambda: nn.Conv2D(5, (3, 2)),
    "conv2d_relu_s2p1": lambda: nn.Conv2D(4, 3, strides=2, padding=1, activation="relu"),
    "conv2d_d2_g3": lambda: nn.Conv2D(6, 3, dilation=2, groups=3),
    "conv3d": lambda: nn.Conv3D(3, 2),
    "deconv1d": lambda: nn.Conv1DTranspose(3, 3, strides=2, padding=1, output_padding=1),
    "deconv2d": lambda: nn.Conv2DTranspose(3, (3, 2)),
    "deconv2d_s2p1op1": lambda: nn.Conv2DTranspose(2, 3, strides=2, padding=1, output_padding=1),
    "deconv2d_g2": lambda: nn.Conv2DTranspose(4, 3, groups=2, use_bias=False, in_channels=4),
    "maxpool1d": lambda: nn.MaxPool1D(),
    "maxpool1d_ceil": lambda: nn.MaxPool1D(3, 2, ceil_mode=True),
    "maxpool2d": lambda: nn.MaxPool2D(),
    "maxpool2d_k3s2p1": lambda: nn.MaxPool2D(3, 2, 1),
    "maxpool2d_ceil": lambda: nn.MaxPool2D((3, 2), ceil_mode=True),
    "maxpool3d": lambda: nn.MaxPool3D(),
    "avgpool1d": lambda: nn.AvgPool1D(3, 2, 1),
    "avgpool1d_nopad": lambda: nn.AvgPool1D(3, 2, 1, count_include_pad=False),
    "avgpool2d": lambda: nn.AvgPool2D(),
    "avgpool2d_p1": lambda: nn.AvgPool2D(3, 2, 1),
    "avgpool2d_p1_nopad": lambda: nn.AvgPool2D(3, 2, 1, count_include_pad=False),
    "avgpool2d_ceil": lambda: nn.AvgPool2D(3, 2, ceil_mode=True),
    "avgpool3d": lambda: nn.AvgPool3D(2, 1, 1, count_include_pad=False),
    "gmaxpool1d": lambda: nn.GlobalMaxPool1D(),
    "gmaxpool2d": lambda: nn.GlobalMaxPool2D(),
    "gmaxpool3d": lambda: nn.GlobalMaxPool3D(),
    "gavgpool1d": lambda: nn.GlobalAvgPool1D(),
    "gavgpool2d": lambda: nn.GlobalAvgPool2D(),
    "gavgpool3d": lambda: nn.GlobalAvgPool3D(),
    "conv3d_s2p1g2": lambda: nn.Conv3D(4, (3, 2, 3), strides=(2, 1, 2), padding=1, groups=2),
    "conv3d_d2_relu": lambda: nn.Conv3D(3, 2, dilation=(2, 1, 1), activation="relu"),
    "maxpool3d_k3s2p1": lambda: nn.MaxPool3D(3, 2, 1),
    "maxpool3d_ceil": lambda: nn.MaxPool3D((2, 3, 2), ceil_mode=True),
    "avgpool3d_p1_ceil": lambda: nn.AvgPool3D(3, 2, 1, ceil_mode=True),
    "deconv3d": lambda: nn.Conv3DTranspose(3, (2, 3, 2)),
    "deconv3d_s2p1op1": lambda: nn.Conv3DTranspose(2, 3, strides=2, padding=1, output_padding=(1, 0, 1)),
    "deconv3d_g2": lambda: nn.Conv3DTranspose(4, 2, strides=(1, 2, 2), groups=2, use_bias=False, in_channels=4),
}


def _load(block, case):
    """Initialize ``block`` on the case's input and give it the fixture's weights."""
    x = mx.nd.array(FIX[case + "/x"])
    block.initialize()
    block(x)
    for name, p in block.collect_params().items():
        p.set_data(mx.nd.array(FIX["%s/%s" % (case, name[len(block.prefix) :])]))
    return x


def _run(block, case):
    return block(_load(block, case)).asnumpy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_mxnet(case):
    out = _run(CASES[case](), case)
    np.testing.assert_allclose(out, FIX[case + "/out"], rtol=1e-5, atol=1e-5)


HYBRID_CASES = ["conv2d_relu_s2p1", "deconv2d_s2p1op1", "avgpool2d_p1_nopad", "maxpool1d_ceil"]
HYBRID_CASES += ["conv3d_s2p1g2", "deconv3d_s2p1op1", "maxpool3d_ceil", "avgpool3d", "gavgpool3d", "gmaxpool3d"]


@pytest.mark.parametrize("case", HYBRID_CASES)
def test_hybridized_equals_imperative(case):
    block = CASES[case]()
    x = _load(block, case)
    imperative = block(x).asnumpy()
    block.hybridize()
    np.testing.assert_allclose(block(x).asnumpy(), imperative, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(block(x).asnumpy(), FIX[case + "/out"], rtol=1e-5, atol=1e-5)


def _net():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(3, 3, padding=1, activation="relu"), nn.MaxPool2D(), nn.Conv2D(2, 2))
        net.add(nn.GlobalAvgPool2D(), nn.Flatten())
    return net


@pytest.mark.parametrize("hybridize", [False, True])
def test_conv_net_gradients_match_mxnet(hybridize):
    if not hasattr(mx, "autograd"):
        pytest.skip("mx.autograd is not merged yet")
    net = _net()
    x = _load(net, "net")
    if hybridize:
        net.hybridize()
    x.attach_grad()
    with mx.autograd.record():
        y = net(x)
    np.testing.assert_allclose(y.asnumpy(), FIX["net/out"], rtol=1e-5, atol=1e-5)
    y.backward(mx.nd.array(np.arange(1, y.size + 1, dtype=np.float32).reshape(y.shape)))
    np.testing.assert_allclose(x.grad.asnumpy(), FIX["net/xgrad"], rtol=1e-4, atol=1e-5)
    for name, p in net.collect_params().items():
        want = FIX["net/grad/" + name[len(net.prefix) :]]
        np.testing.assert_allclose(p.grad().asnumpy(), want, rtol=1e-4, atol=1e-5, err_msg=name)


def _net3d():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv3D(3, 3, padding=1, activation="relu"), nn.MaxPool3D(), nn.Conv3DTranspose(2, 2, strides=2))
        net.add(nn.AvgPool3D(2, 1, 1, count_include_pad=False), nn.GlobalMaxPool3D(), nn.Flatten())
    return net


@pytest.mark.parametrize("hybridize", [False, True])
def test_conv3d_net_gradients_match_mxnet(hybridize):
    net = _net3d()
    x = _load(net, "net3d")
    if hybridize:
        net.hybridize()
    x.attach_grad()
    with mx.autograd.record():
        y = net(x)
    np.testing.assert_allclose(y.asnumpy(), FIX["net3d/out"], rtol=1e-5, atol=1e-5)
    y.backward(mx.nd.array(np.arange(1, y.size + 1, dtype=np.float32).reshape(y.shape)))
    np.testing.assert_allclose(x.grad.asnumpy(), FIX["net3d/xgrad"], rtol=1e-4, atol=1e-5)
    for name, p in net.collect_params().items():
        want = FIX["net3d/grad/" + name[len(net.prefix) :]]
        np.testing.assert_allclose(p.grad().asnumpy(), want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_conv3d_layer_gradient_matches_finite_differences():
    """Conv3DTranspose then Conv3D, float64: autograd against central differences of the sum."""
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv3DTranspose(2, (2, 2, 3), strides=(2, 1, 1), padding=(0, 1, 1), output_padding=(1, 0, 0)))
        net.add(nn.Conv3D(2, 2, strides=(1, 2, 1), padding=(1, 0, 0)), nn.AvgPool3D(2, 1, 1))
    net.initialize(mx.init.Uniform(0.5))
    net.cast("float64")
    rng = np.random.RandomState(5)
    x0 = rng.uniform(-1, 1, (1, 2, 2, 3, 3))
    head = rng.uniform(-1, 1, net(mx.nd.array(x0, dtype="float64")).shape)
    net.hybridize()
    x = mx.nd.array(x0, dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = net(x)
    y.backward(mx.nd.array(head, dtype="float64"))

    def f(v):
        return float((net(mx.nd.array(v, dtype="float64")).asnumpy() * head).sum())

    num = np.zeros_like(x0)
    eps = 1e-6
    for i in np.ndindex(*x0.shape):
        up, dn = x0.copy(), x0.copy()
        up[i] += eps
        dn[i] -= eps
        num[i] = (f(up) - f(dn)) / (2 * eps)
    np.testing.assert_allclose(x.grad.asnumpy(), num, rtol=1e-6, atol=1e-8)


def test_deferred_in_channels_and_names():
    conv = nn.Conv2D(8, 3, in_channels=0)
    assert conv.weight.shape == (8, 0, 3, 3)
    assert conv.weight.name.endswith("_weight") and conv.bias.name.endswith("_bias")
    conv.initialize()
    conv(mx.nd.ones((1, 5, 6, 6)))
    assert conv.weight.shape == (8, 5, 3, 3)
    grouped = nn.Conv2D(6, 3, groups=3, in_channels=9)
    assert grouped.weight.shape == (6, 3, 3, 3)
    deconv = nn.Conv2DTranspose(4, 2, in_channels=3, use_bias=False)
    assert deconv.weight.shape == (3, 4, 2, 2) and deconv.bias is None
    assert nn.Conv3D(2, 3).weight.shape == (2, 0, 3, 3, 3)


def test_repr_and_arguments():
    assert (
        repr(nn.Conv2D(4, 3, padding=1, in_channels=2))
        == "Conv2D(2 -> 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    )
    # MXNet prints a transposed convolution's weight dims as they are: (in, out) -> "out -> in"
    deconv = nn.Conv1DTranspose(3, 2, strides=2, output_padding=1, use_bias=False)
    assert repr(deconv) == "Conv1DTranspose(3 -> 0, kernel_size=(2,), stride=(2,), bias=False)"
    assert (
        repr(nn.Conv2D(3, 2, activation="relu"))
        == "Conv2D(None -> 3, kernel_size=(2, 2), stride=(1, 1), Activation(relu))"
    )
    assert repr(nn.MaxPool2D(3, 2, ceil_mode=True)) == (
        "MaxPool2D(size=(3, 3), stride=(2, 2), padding=(0, 0), ceil_mode=True, global_pool=False, "
        "pool_type=max, layout=NCHW)"
    )
    with pytest.raises((ValueError, AssertionError)):
        nn.Conv2D(4, 3, layout="NCW")
    with pytest.raises((ValueError, AssertionError)):
        nn.MaxPool1D(layout="NCHW")


def test_global_pool_shapes():
    x = mx.nd.ones((2, 3, 5, 7))
    assert nn.GlobalAvgPool2D()(x).shape == (2, 3, 1, 1)
    assert nn.GlobalMaxPool1D()(mx.nd.ones((2, 3, 5))).shape == (2, 3, 1)


def test_reflection_pad_matches_mxnet():
    if not hasattr(mx.nd, "pad"):
        pytest.skip("the Pad op is not in mxrs's registry yet")
    pad = nn.ReflectionPad2D(2)
    x = mx.nd.array(FIX["reflpad/x"])
    np.testing.assert_allclose(pad(x).asnumpy(), FIX["reflpad/out"])
    pad.hybridize()
    np.testing.assert_allclose(pad(x).asnumpy(), FIX["reflpad/out"])
