"""mx.image augmenters and ImageIter against MXNet 1.9.1 (tests/data/image_golden.npz).

The augmenters draw from Python's ``random`` and numpy's generator like MXNet's, so seeded
runs are compared value for value."""

import json
import os
import random

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
IMG = os.path.join(DATA, "image")
G = np.load(os.path.join(DATA, "image_golden.npz"))
EIGVAL = np.array([55.46, 4.794, 1.148])
EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


def image():
    return mx.nd.array(G["dec_rgb"], dtype="uint8")


def test_deterministic_augmenters():
    img = image()
    np.testing.assert_array_equal(mx.image.ResizeAug(18)(img).asnumpy(), G["aug_resize"])
    np.testing.assert_array_equal(mx.image.ForceResizeAug((20, 30), interp=1)(img).asnumpy(), G["aug_force"])
    np.testing.assert_array_equal(mx.image.CenterCropAug((16, 16))(img).asnumpy(), G["aug_center"])
    cast = mx.image.CastAug()(img)
    assert cast.dtype == np.float32
    np.testing.assert_array_equal(cast.asnumpy(), G["aug_cast"])
    got = mx.image.ColorNormalizeAug([1, 2, 3], [2, 2, 2])(img.astype("float32"))
    np.testing.assert_allclose(got.asnumpy(), G["aug_cnorm"], rtol=1e-6)


SEEDED = {
    "aug_bright": lambda f, i: mx.image.BrightnessJitterAug(0.4)(f),
    "aug_contrast": lambda f, i: mx.image.ContrastJitterAug(0.4)(f),
    "aug_sat": lambda f, i: mx.image.SaturationJitterAug(0.4)(f),
    "aug_hue": lambda f, i: mx.image.HueJitterAug(0.4)(f),
    "aug_color": lambda f, i: mx.image.ColorJitterAug(0.3, 0.3, 0.3)(f),
    "aug_gray": lambda f, i: mx.image.RandomGrayAug(1.0)(f),
    "aug_flip": lambda f, i: mx.image.HorizontalFlipAug(1.0)(i),
    "aug_rcrop": lambda f, i: mx.image.RandomCropAug((12, 10))(i),
    "aug_rscrop": lambda f, i: mx.image.RandomSizedCropAug((10, 10), 0.2, (0.5, 2.0))(i),
    "aug_lighting": lambda f, i: mx.image.LightingAug(0.1, EIGVAL, EIGVEC)(f),
}


@pytest.mark.parametrize("key", sorted(SEEDED))
def test_seeded_augmenters(key):
    img = image()
    random.seed(11)
    np.random.seed(11)
    got = SEEDED[key](img.astype("float32"), img).asnumpy()
    want = G[key]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_create_augmenter():
    random.seed(3)
    np.random.seed(3)
    augs = mx.image.CreateAugmenter(
        (3, 16, 16), resize=20, rand_crop=True, rand_mirror=True, mean=True, std=True, brightness=0.1,
        contrast=0.1, saturation=0.1, hue=0.1, pca_noise=0.1, rand_gray=0.5,
    )  # fmt: skip
    assert [type(a).__name__ for a in augs] == list(G["create_names"])
    assert [str(a.dumps()) for a in augs] == list(G["create_dumps"])
    out = image()
    for a in augs:
        out = a(out)
    np.testing.assert_allclose(out.asnumpy(), G["create_out"], rtol=1e-4, atol=1e-4)


def test_augmenter_dumps_and_sequence():
    aug = mx.image.ResizeAug(10, interp=1)
    assert json.loads(aug.dumps()) == ["resizeaug", {"size": 10, "interp": 1}]
    seq = mx.image.SequentialAug([mx.image.CastAug(), mx.image.ColorNormalizeAug(np.array([1.0, 2, 3]), None)])
    assert seq.dumps()[0] == "sequentialaug" and len(seq.dumps()[1]) == 2
    out = seq(mx.nd.ones((2, 2, 3), dtype="uint8"))
    np.testing.assert_array_equal(out.asnumpy()[0, 0], [0, -1, -2])


def test_random_augmenter_distributions():
    random.seed(0)
    img = mx.nd.ones((4, 4, 3)) * 100
    vals = [mx.image.BrightnessJitterAug(0.2)(img.copy()).asnumpy()[0, 0, 0] for _ in range(300)]
    assert 80 <= min(vals) < 85 and 115 < max(vals) <= 120 and abs(np.mean(vals) - 100) < 2
    flips = [
        mx.image.HorizontalFlipAug(0.3)(mx.nd.array(np.arange(6).reshape(1, 2, 3))).asnumpy()[0, 0, 0]
        for _ in range(400)
    ]
    assert 0.22 < np.mean(np.array(flips) == 3) < 0.38
    crops = {mx.image.random_crop(image(), (10, 10))[1][:2] for _ in range(200)}
    assert all(0 <= x <= 22 and 0 <= y <= 14 for x, y in crops) and len(crops) > 50


def iter_batches(it):
    return [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in it]


def test_image_iter_lst():
    it = mx.image.ImageIter(2, (3, 8, 8), path_imglist=os.path.join(IMG, "s.lst"), path_root=IMG)
    assert it.provide_data == [("data", (2, 3, 8, 8))] and it.provide_label == [("softmax_label", (2,))]
    got = iter_batches(it)
    np.testing.assert_allclose(np.stack([g[0] for g in got]), G["iter_lst_data"])
    np.testing.assert_array_equal(np.stack([g[1] for g in got]), G["iter_lst_label"])
    assert [g[2] for g in got] == list(G["iter_lst_pad"])


def test_image_iter_rec():
    it = mx.image.ImageIter(2, (3, 8, 8), path_imgrec=os.path.join(IMG, "s.rec"), last_batch_handle="discard")
    got = iter_batches(it)
    np.testing.assert_allclose(np.stack([g[0] for g in got]), G["iter_rec_data"])
    np.testing.assert_array_equal(np.stack([g[1] for g in got]), G["iter_rec_label"])


def test_image_iter_label_width_and_resize():
    it = mx.image.ImageIter(
        3, (3, 9, 13), label_width=2, path_imglist=os.path.join(IMG, "s2.lst"), path_root=IMG, resize=9
    )
    b = it.next()
    np.testing.assert_allclose(b.data[0].asnumpy(), G["iter_lst2_data"])
    np.testing.assert_array_equal(b.label[0].asnumpy(), G["iter_lst2_label"])


def test_image_iter_roll_over_and_imglist():
    it = mx.image.ImageIter(
        2, (3, 8, 8), path_imgrec=os.path.join(IMG, "s.rec"), path_imgidx=os.path.join(IMG, "s.idx"),
        last_batch_handle="roll_over",
    )  # fmt: skip
    first = iter_batches(it)
    it.reset()
    second = iter_batches(it)
    assert [len(first), len(second)] == list(G["iter_roll_n"])
    np.testing.assert_allclose(second[0][0], G["iter_roll_second0"])
    lst = [[1.0, "s0.png"], [2.0, "s1.png"]]
    it = mx.image.ImageIter(2, (3, 8, 8), imglist=lst, path_root=IMG)
    b = it.next()
    np.testing.assert_allclose(b.data[0].asnumpy(), G["iter_lst_data"][0])
    np.testing.assert_array_equal(b.label[0].asnumpy(), [1.0, 2.0])


def test_image_iter_errors(tmp_path):
    lst = tmp_path / "bad.lst"
    lst.write_text("0\t1.0\tmissing.png\n")
    it = mx.image.ImageIter(1, (3, 8, 8), path_imglist=str(lst), path_root=str(tmp_path))
    with pytest.raises(MXNetError, match="missing.png"):
        it.next()
    (tmp_path / "broken.png").write_bytes(b"not an image")
    lst.write_text("0\t1.0\tbroken.png\n")
    it = mx.image.ImageIter(1, (3, 8, 8), path_imglist=str(lst), path_root=str(tmp_path))
    with pytest.raises(MXNetError, match="Broken image filename: broken.png"):
        it.next()
    with pytest.raises(ValueError, match="3 channels"):
        mx.image.ImageIter(1, (1, 8, 8), path_imglist=str(lst), path_root=str(tmp_path))
