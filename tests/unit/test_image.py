"""mx.image against MXNet 1.9.1: decoding, OpenCV resize/border, crops and the augmenters.

Golden values: tests/data/image_golden.npz, written by tools/golden/image.py with MXNet 1.9.1
from the images in tests/data/image.
"""

import os
import random

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
IMG = os.path.join(DATA, "image")
G = np.load(os.path.join(DATA, "image_golden.npz"))


def read(name):
    with open(os.path.join(IMG, name), "rb") as f:
        return f.read()


def same(got, want):
    """Equal values, shape and dtype (OpenCV's uint8 resize is reproduced exactly)."""
    got = got.asnumpy() if isinstance(got, mx.nd.NDArray) else got
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_namespace():
    assert mx.img is mx.image
    for name in [
        "imread", "imdecode", "imresize", "scale_down", "resize_short", "fixed_crop", "random_crop",
        "center_crop", "color_normalize", "random_size_crop", "copyMakeBorder", "imrotate", "random_rotate",
        "ResizeAug", "ForceResizeAug", "RandomCropAug", "RandomSizedCropAug", "CenterCropAug", "RandomOrderAug",
        "BrightnessJitterAug", "ContrastJitterAug", "SaturationJitterAug", "HueJitterAug", "ColorJitterAug",
        "LightingAug", "ColorNormalizeAug", "RandomGrayAug", "HorizontalFlipAug", "CastAug", "SequentialAug",
        "Augmenter", "CreateAugmenter", "ImageIter",
    ]:  # fmt: skip
        assert hasattr(mx.image, name), name


@pytest.mark.parametrize(
    "key,name,kwargs",
    [
        ("dec_rgb", "rgb.png", {}),
        ("dec_rgb_bgr", "rgb.png", {"to_rgb": 0}),
        ("dec_rgb_gray", "rgb.png", {"flag": 0}),
        ("dec_gray", "gray.png", {}),
        ("dec_gray_gray", "gray.png", {"flag": 0}),
    ],
)
def test_imdecode_png(key, name, kwargs):
    got = mx.image.imdecode(read(name), **kwargs)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got.asnumpy(), G[key])


def test_imdecode_jpeg_and_inputs():
    got = mx.image.imdecode(read("photo.jpg"))
    # libjpeg (OpenCV) and the image crate's decoder differ by a few units on some pixels
    assert got.shape == G["dec_jpg"].shape
    assert np.abs(got.asnumpy().astype(int) - G["dec_jpg"]).mean() < 1.5
    buf = read("rgb.png")
    np.testing.assert_array_equal(mx.image.imdecode(bytearray(buf)).asnumpy(), G["dec_rgb"])
    np.testing.assert_array_equal(mx.image.imdecode(np.frombuffer(buf, np.uint8)).asnumpy(), G["dec_rgb"])
    nd_buf = mx.nd.array(np.frombuffer(buf, np.uint8), dtype="uint8")
    np.testing.assert_array_equal(mx.image.imdecode(nd_buf).asnumpy(), G["dec_rgb"])
    out = mx.nd.zeros((24, 32, 3), dtype="uint8")
    mx.image.imdecode(buf, out=out)
    np.testing.assert_array_equal(out.asnumpy(), G["dec_rgb"])


def test_imread():
    np.testing.assert_array_equal(mx.image.imread(os.path.join(IMG, "rgb.png")).asnumpy(), G["imread_rgb"])
    np.testing.assert_array_equal(mx.image.imread(os.path.join(IMG, "rgb.png"), flag=0).asnumpy(), G["imread_gray"])
    gray = mx.image.imdecode(read("photo.jpg"), flag=0).asnumpy()
    assert gray.shape == G["dec_jpg_gray"].shape
    assert np.abs(gray.astype(int) - G["dec_jpg_gray"]).mean() < 0.5
    with pytest.raises(MXNetError, match="imread.*nope.png"):
        mx.image.imread(os.path.join(IMG, "nope.png"))


def test_decode_errors():
    with pytest.raises(MXNetError, match="imdecode: cannot decode a buffer of 5 bytes"):
        mx.image.imdecode(b"abcde")
    with pytest.raises(ValueError, match="buf must be of type bytes"):
        mx.image.imdecode("abc")


@pytest.mark.parametrize("interp", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("size", [(31, 29), (11, 7), (40, 10), (5, 30), (23, 17)])
def test_imresize(interp, size):
    w, h = size
    got = mx.image.imresize(mx.nd.array(G["rs_u8"], dtype="uint8"), w, h, interp=interp)
    same(got, G[f"rs_u8_{interp}_{w}x{h}"])
    got = mx.image.imresize(mx.nd.array(G["rs_f32"]), w, h, interp=interp)
    np.testing.assert_allclose(got.asnumpy(), G[f"rs_f32_{interp}_{w}x{h}"], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("interp", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("size", [(16, 12), (8, 6), (64, 48), (20, 15)])
def test_imresize_decoded(interp, size):
    w, h = size
    got = mx.image.imresize(mx.nd.array(G["dec_rgb"], dtype="uint8"), w, h, interp)
    same(got, G[f"rs_big_{interp}_{w}x{h}"])


@pytest.mark.parametrize("interp", [0, 1, 2, 3, 4])
def test_imresize_gray(interp):
    got = mx.image.imresize(mx.nd.array(G["rs_u8"][:, :, :1], dtype="uint8"), 30, 9, interp=interp)
    np.testing.assert_array_equal(got.asnumpy(), G[f"rs_gray_{interp}"])


def test_imresize_errors():
    img = mx.nd.zeros((4, 5, 3), dtype="uint8")
    with pytest.raises(MXNetError, match=r"imresize: the output size \(w=0, h=3\)"):
        mx.image.imresize(img, 0, 3)
    with pytest.raises(MXNetError, match=r"imresize: .*\(2, 3, 4, 5\)"):
        mx.image.imresize(mx.nd.zeros((2, 3, 4, 5)), 3, 3)
    with pytest.raises(MXNetError, match="imresize: unknown interpolation 7"):
        mx.image.imresize(img, 3, 3, interp=7)


@pytest.mark.parametrize("t", range(5))
def test_copy_make_border(t):
    src = mx.nd.array(G["bd_src"], dtype="uint8")
    np.testing.assert_array_equal(mx.image.copyMakeBorder(src, 1, 2, 3, 4, type=t).asnumpy(), G[f"bd_{t}"])


def test_copy_make_border_values():
    src = mx.nd.array(G["bd_src"], dtype="uint8")
    np.testing.assert_array_equal(mx.image.copyMakeBorder(src, 2, 0, 1, 0, type=0, value=7).asnumpy(), G["bd_value"])
    got = mx.image.copyMakeBorder(src, 0, 1, 2, 1, type=0, values=(9, 8, 7))
    np.testing.assert_array_equal(got.asnumpy(), G["bd_values"])
    np.testing.assert_array_equal(mx.image.copyMakeBorder(src, 6, 5, 7, 8, type=2).asnumpy(), G["bd_big"])
    np.testing.assert_array_equal(mx.image.copyMakeBorder(src, 5, 5, 6, 6, type=4).asnumpy(), G["bd_big101"])
    with pytest.raises(MXNetError, match=r"copyMakeBorder: the margins must be >= 0, but got \(-1, 0, 0, 0\)"):
        mx.image.copyMakeBorder(src, -1, 0, 0, 0)


def test_helpers():
    img = mx.image.imdecode(read("rgb.png"))
    np.testing.assert_array_equal(mx.image.resize_short(img, 20).asnumpy(), G["short_20"])
    same(mx.image.resize_short(img, 40, interp=1), G["short_40_1"])
    np.testing.assert_array_equal(mx.image.resize_short(img, 9, interp=9).asnumpy(), G["short_9_9"])
    np.testing.assert_array_equal(mx.image.fixed_crop(img, 3, 2, 10, 8).asnumpy(), G["fixed"])
    np.testing.assert_array_equal(mx.image.fixed_crop(img, 3, 2, 10, 8, size=(15, 12)).asnumpy(), G["fixed_size"])
    out, rect = mx.image.center_crop(img, (20, 14))
    np.testing.assert_array_equal(out.asnumpy(), G["center"])
    assert rect == tuple(G["center_rect"])
    out, rect = mx.image.center_crop(img, (40, 10), interp=1)
    same(out, G["center_up"])
    assert rect == tuple(G["center_up_rect"])
    assert [mx.image.scale_down((640, 480), (720, 120)), mx.image.scale_down((10, 20), (5, 5))] == [
        tuple(r) for r in G["scale_down"]
    ]
    got = mx.image.color_normalize(img.astype("float32"), mx.nd.array([100, 110, 120]), mx.nd.array([50, 60, 70]))
    np.testing.assert_allclose(got.asnumpy(), G["cnorm"], rtol=1e-6)


def test_seeded_crops():
    img = mx.image.imdecode(read("rgb.png"))
    random.seed(5)
    out, rect = mx.image.random_crop(img, (12, 10))
    np.testing.assert_array_equal(out.asnumpy(), G["rcrop"])
    assert rect == tuple(G["rcrop_rect"])
    random.seed(6)
    out, rect = mx.image.random_size_crop(img, (16, 16), 0.3, (0.75, 1.333))
    np.testing.assert_array_equal(out.asnumpy(), G["rscrop"])
    assert rect == tuple(G["rscrop_rect"])


def test_crop_errors():
    img = mx.nd.zeros((4, 5, 3), dtype="uint8")
    with pytest.raises(MXNetError, match=r"fixed_crop: the crop .* outside the image \(4, 5, 3\)"):
        mx.image.fixed_crop(img, 3, 0, 4, 2)
    with pytest.raises(MXNetError, match=r"center_crop: the image must have shape \(H, W, C\), but got \(4, 5\)"):
        mx.image.center_crop(mx.nd.zeros((4, 5)), (2, 2))


@pytest.mark.parametrize("size", [(31, 29), (11, 7), (40, 10), (5, 30), (23, 17)])
def test_native_bilinear_matches_opencv(size):
    """The Rust bilinear kernel (ImageRecordIter's resize, im2rec) gives MXNet's values too."""
    from mxrs import _native

    w, h = size
    src = G["rs_u8"]
    out = _native.imresize(np.ascontiguousarray(src).tobytes(), src.shape[0], src.shape[1], 3, w, h)
    np.testing.assert_array_equal(np.frombuffer(out, np.uint8).reshape(h, w, 3), G[f"rs_u8_1_{w}x{h}"])
    big = G["dec_rgb"]
    for w, h in [(16, 12), (64, 48), (20, 15)]:
        out = _native.imresize(big.tobytes(), 24, 32, 3, w, h)
        np.testing.assert_array_equal(np.frombuffer(out, np.uint8).reshape(h, w, 3), G[f"rs_big_1_{w}x{h}"])
