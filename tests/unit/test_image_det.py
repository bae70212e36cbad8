"""mx.image detection augmenters and ImageDetIter against MXNet 1.9.1
(tests/data/image_golden.npz, tools/golden/image.py); seeded draws match MXNet's."""

import os
import random

import mxrs as mx
import numpy as np
import pytest

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
IMG = os.path.join(DATA, "image")
G = np.load(os.path.join(DATA, "image_golden.npz"))


def image():
    return mx.nd.array(G["dec_rgb"], dtype="uint8")


def test_det_flip():
    out, lab = mx.image.DetHorizontalFlipAug(1.0)(image(), G["det_label"].copy())
    np.testing.assert_array_equal(out.asnumpy(), G["det_flip"])
    np.testing.assert_allclose(lab, G["det_flip_label"], rtol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_det_random_crop_and_pad(seed):
    random.seed(20 + seed)
    out, lab = mx.image.DetRandomCropAug(min_object_covered=0.3, area_range=(0.2, 1.0))(image(), G["det_label"].copy())
    np.testing.assert_array_equal(out.asnumpy(), G[f"det_crop{seed}"])
    np.testing.assert_allclose(lab, G[f"det_crop{seed}_label"], rtol=1e-6)
    random.seed(30 + seed)
    out, lab = mx.image.DetRandomPadAug(area_range=(1.0, 2.5), pad_val=(1, 2, 3))(image(), G["det_label"].copy())
    np.testing.assert_array_equal(out.asnumpy(), G[f"det_pad{seed}"])
    np.testing.assert_allclose(lab, G[f"det_pad{seed}_label"], rtol=1e-6)


def test_create_det_augmenter():
    random.seed(40)
    np.random.seed(40)
    augs = mx.image.CreateDetAugmenter(
        (3, 20, 20), resize=30, rand_crop=0.7, rand_pad=0.7, rand_mirror=True, mean=True, std=True,
        brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1, pca_noise=0.1, rand_gray=0.3,
        min_object_covered=[0.1, 0.5], area_range=(0.1, 2.0),
    )  # fmt: skip
    assert [str(a.dumps()) for a in augs] == list(G["det_create_dumps"])
    out, lab = image(), G["det_label"].copy()
    for a in augs:
        out, lab = a(out, lab)
    np.testing.assert_allclose(out.asnumpy(), G["det_create_out"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(lab, G["det_create_label"], rtol=1e-6)


def test_image_det_iter():
    it = mx.image.ImageDetIter(2, (3, 8, 8), path_imglist=os.path.join(IMG, "det.lst"), path_root=IMG)
    assert it.label_shape == tuple(G["det_iter_label_shape"])
    assert it.provide_label == [("label", (2, 2, 5))]
    batches = list(it)
    np.testing.assert_allclose(np.stack([b.data[0].asnumpy() for b in batches]), G["det_iter_data"])
    np.testing.assert_allclose(np.stack([b.label[0].asnumpy() for b in batches]), G["det_iter_label"])
    assert [b.pad for b in batches] == list(G["det_iter_pad"])


def test_image_det_iter_reshape_sync_and_draw():
    a = mx.image.ImageDetIter(1, (3, 8, 8), path_imglist=os.path.join(IMG, "det.lst"), path_root=IMG)
    b = mx.image.ImageDetIter(1, (3, 8, 8), imglist=[[[2, 5, 1, 0.1, 0.1, 0.5, 0.5], "s0.png"]], path_root=IMG)
    assert b.label_shape == (1, 5)
    a.sync_label_shape(b)
    assert b.label_shape == (2, 5) and b.provide_label[0][1] == (1, 2, 5)
    lab = b.next().label[0].asnumpy()
    np.testing.assert_allclose(lab, [[[1, 0.1, 0.1, 0.5, 0.5], [-1] * 5]])
    with pytest.raises(ValueError, match="reduce label count"):
        b.reshape(label_shape=(1, 5))
    a.reset()
    drawn = next(a.draw_next(color=(255, 0, 0), thickness=1))
    assert drawn.shape == (8, 8, 3) and drawn.dtype == np.uint8
    assert (drawn == [0, 0, 255]).all(axis=-1).any()  # BGR red boxes


def test_det_parse_errors():
    it = mx.image.ImageDetIter(1, (3, 8, 8), path_imglist=os.path.join(IMG, "det.lst"), path_root=IMG)
    with pytest.raises(RuntimeError, match="Label shape is invalid"):
        it._parse_label(np.array([2, 5, 1]))
    with pytest.raises(RuntimeError, match="inconsistent with annotation width 5"):
        it._parse_label(np.array([2, 5, 1, 0.1, 0.1, 0.5, 0.5, 3]))
