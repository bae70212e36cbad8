"""The vision transforms added for issue 18 (CropResize, Rotate, RandomRotation, RandomApply,
HybridSequential) and mx.image.imrotate against MXNet 1.9.1 (tests/data/image_golden.npz)."""

import os
import random

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

G = np.load(os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "image_golden.npz"))
T = mx.gluon.data.vision.transforms


def test_names():
    for name in ["CropResize", "RandomRotation", "Rotate", "RandomApply", "HybridSequential", "Sequential"]:
        assert hasattr(T, name), name
    assert T.HybridSequential is mx.gluon.nn.HybridSequential


def test_crop_resize():
    x = mx.nd.array(G["tf_u8"], dtype="uint8")
    np.testing.assert_array_equal(T.CropResize(1, 2, 6, 5)(x).asnumpy(), G["tf_cropresize"])
    got = T.CropResize(1, 2, 6, 5, size=(8, 7), interpolation=1)(x).asnumpy()
    np.testing.assert_array_equal(got, G["tf_cropresize_size"])
    got = T.CropResize(0, 0, 4, 4, size=3, interpolation=1)(mx.nd.stack(x, x)).asnumpy()
    np.testing.assert_array_equal(got, G["tf_cropresize4"])
    with pytest.raises(MXNetError, match=r"crop: the window .* \(10, 12, 3\)"):
        T.CropResize(10, 0, 6, 5)(x)


@pytest.mark.parametrize("deg", [30, -90, 180])
def test_rotate(deg):
    x = mx.nd.array(G["tf_rot_x"])
    np.testing.assert_allclose(T.Rotate(float(deg))(x).asnumpy(), G[f"tf_rot_{deg}"], rtol=1e-4, atol=1e-5)


def test_rotate_zoom_and_batch():
    x = mx.nd.array(G["tf_rot_x"])
    np.testing.assert_allclose(T.Rotate(45.0, zoom_in=True)(x).asnumpy(), G["tf_rot_zoom_in"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(T.Rotate(45.0, zoom_out=True)(x).asnumpy(), G["tf_rot_zoom_out"], rtol=1e-4, atol=1e-5)
    xb = mx.nd.stack(x, x * 2)
    got = mx.image.imrotate(xb, mx.nd.array([10.0, -20.0]))
    np.testing.assert_allclose(got.asnumpy(), G["tf_imrotate_batch"], rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="float32"):
        T.Rotate(10.0)(x.astype("uint8"))
    with pytest.raises(ValueError, match="cannot be both True"):
        mx.image.imrotate(x, 10.0, zoom_in=True, zoom_out=True)


def test_random_rotation():
    x = mx.nd.array(G["tf_rot_x"])
    np.random.seed(1)
    got = T.RandomRotation((-30, 30))(x).asnumpy()
    np.random.seed(1)
    np.random.random()  # the rotate-or-not draw
    angle = np.random.uniform(-30, 30)
    np.testing.assert_allclose(got, mx.image.imrotate(x, angle).asnumpy(), rtol=1e-6)
    np.testing.assert_array_equal(T.RandomRotation((-30, 30), rotate_with_proba=0.0)(x).asnumpy(), x.asnumpy())
    with pytest.raises(ValueError, match="ordered"):
        T.RandomRotation((30, -30))


def test_random_apply():
    x = mx.nd.ones((2, 2, 3))
    aug = T.RandomApply(T.Compose([T.Cast("float64")]), p=0.3)
    random.seed(0)
    kinds = [aug(x).dtype == np.float64 for _ in range(400)]
    assert 0.22 < np.mean(kinds) < 0.38
    assert T.RandomApply(T.Compose([T.Cast("float64")]), p=1.0)(x).dtype == np.float64


def test_hybridized_to_tensor_normalize():
    x = mx.nd.array(G["tf_u8"], dtype="uint8")
    net = T.HybridSequential()
    net.add(T.ToTensor(), T.Normalize(mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7)))
    want = net(x).asnumpy()
    net.hybridize()
    got = net(x).asnumpy()
    assert got.shape == (3, 10, 12)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    ref = (
        G["tf_u8"].astype(np.float32).transpose(2, 0, 1) / 255 - np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]
    ) / np.array([0.5, 0.6, 0.7], np.float32)[:, None, None]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_compose_groups_hybrid_blocks():
    composed = T.Compose([T.Resize(4), T.Cast("float32"), T.ToTensor(), T.Normalize(0.5, 0.5), T.RandomFlipLeftRight()])
    kinds = [type(c).__name__ for c in composed._children.values()]
    assert kinds == ["Resize", "HybridSequential", "RandomFlipLeftRight"]
    x = mx.nd.array(G["tf_u8"], dtype="uint8")
    np.random.seed(0)
    got = composed(x).asnumpy()
    np.random.seed(0)
    ref = T.RandomFlipLeftRight()(T.Normalize(0.5, 0.5)(T.ToTensor()(T.Resize(4)(x)))).asnumpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)
