"""Write tests/data/image_golden.npz from real MXNet 1.9.1 (``mx.image``, ``mx.nd.image``,
the vision transforms).

Run with the reference venv from the repository root::

    /work/mxref/bin/python tools/golden/image.py

The images are the committed files under tests/data/image (written by mxrs's encoder; MXNet's
OpenCV decodes them). Random augmenters draw from Python's ``random`` and numpy's global
generator, which both libraries share, so seeded runs are compared draw for draw.
"""

import os
import random
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG = os.path.join(ROOT, "tests", "data", "image")
OUT = os.path.join(ROOT, "tests", "data", "image_golden.npz")

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.join(ROOT, "tools", "golden")]
import mxnet as mx  # noqa: E402

G = {}


def put(name, value):
    G[name] = value.asnumpy() if isinstance(value, mx.nd.NDArray) else np.asarray(value)


def read(name):
    with open(os.path.join(IMG, name), "rb") as f:
        return f.read()


def decode_cases():
    put("dec_rgb", mx.image.imdecode(read("rgb.png")))
    put("dec_rgb_bgr", mx.image.imdecode(read("rgb.png"), to_rgb=0))
    put("dec_rgb_gray", mx.image.imdecode(read("rgb.png"), flag=0))
    put("dec_gray", mx.image.imdecode(read("gray.png")))
    put("dec_gray_gray", mx.image.imdecode(read("gray.png"), flag=0))
    put("dec_jpg", mx.image.imdecode(read("photo.jpg")))
    put("imread_rgb", mx.image.imread(os.path.join(IMG, "rgb.png")))
    put("dec_jpg_gray", mx.image.imdecode(read("photo.jpg"), flag=0))
    put("imread_gray", mx.image.imread(os.path.join(IMG, "rgb.png"), flag=0))


def resize_cases():
    rng = np.random.RandomState(1)
    u8 = rng.randint(0, 256, (17, 23, 3)).astype(np.uint8)
    f32 = rng.uniform(0, 255, (17, 23, 3)).astype(np.float32)
    big = mx.image.imdecode(read("rgb.png"))  # 24 x 32
    put("rs_u8", u8)
    put("rs_f32", f32)
    sizes = [(31, 29), (11, 7), (40, 10), (5, 30), (23, 17)]
    for interp in range(5):
        for w, h in sizes:
            put(f"rs_u8_{interp}_{w}x{h}", mx.image.imresize(mx.nd.array(u8, dtype="uint8"), w, h, interp=interp))
            put(f"rs_f32_{interp}_{w}x{h}", mx.image.imresize(mx.nd.array(f32), w, h, interp=interp))
        gray = mx.nd.array(u8[:, :, :1], dtype="uint8")
        put(f"rs_gray_{interp}", mx.image.imresize(gray, 30, 9, interp=interp))
        for w, h in [(16, 12), (8, 6), (64, 48), (20, 15)]:
            put(f"rs_big_{interp}_{w}x{h}", mx.image.imresize(big, w, h, interp=interp))


def border_cases():
    rng = np.random.RandomState(2)
    src = mx.nd.array(rng.randint(0, 256, (4, 5, 3)), dtype="uint8")
    put("bd_src", src)
    for t in range(5):
        put(f"bd_{t}", mx.image.copyMakeBorder(src, 1, 2, 3, 4, type=t))
    put("bd_value", mx.image.copyMakeBorder(src, 2, 0, 1, 0, type=0, value=7))
    put("bd_values", mx.image.copyMakeBorder(src, 0, 1, 2, 1, type=0, values=(9, 8, 7)))
    put("bd_big", mx.image.copyMakeBorder(src, 6, 5, 7, 8, type=2))
    put("bd_big101", mx.image.copyMakeBorder(src, 5, 5, 6, 6, type=4))


def helper_cases():
    img = mx.image.imdecode(read("rgb.png"))
    put("short_20", mx.image.resize_short(img, 20))
    put("short_40_1", mx.image.resize_short(img, 40, interp=1))
    put("short_9_9", mx.image.resize_short(img, 9, interp=9))
    put("fixed", mx.image.fixed_crop(img, 3, 2, 10, 8))
    put("fixed_size", mx.image.fixed_crop(img, 3, 2, 10, 8, size=(15, 12)))
    out, rect = mx.image.center_crop(img, (20, 14))
    put("center", out)
    put("center_rect", rect)
    out, rect = mx.image.center_crop(img, (40, 10), interp=1)
    put("center_up", out)
    put("center_up_rect", rect)
    put("scale_down", [mx.image.scale_down((640, 480), (720, 120)), mx.image.scale_down((10, 20), (5, 5))])
    f = img.astype("float32")
    put("cnorm", mx.image.color_normalize(f.copy(), mx.nd.array([100, 110, 120]), mx.nd.array([50, 60, 70])))
    random.seed(5)
    out, rect = mx.image.random_crop(img, (12, 10))
    put("rcrop", out)
    put("rcrop_rect", rect)
    random.seed(6)
    out, rect = mx.image.random_size_crop(img, (16, 16), 0.3, (0.75, 1.333))
    put("rscrop", out)
    put("rscrop_rect", rect)


def augmenter_cases():
    img = mx.image.imdecode(read("rgb.png"))
    f = img.astype("float32")
    put("aug_resize", mx.image.ResizeAug(18)(img))
    put("aug_force", mx.image.ForceResizeAug((20, 30), interp=1)(img))
    put("aug_center", mx.image.CenterCropAug((16, 16))(img))
    put("aug_cast", mx.image.CastAug()(img))
    put("aug_cnorm", mx.image.ColorNormalizeAug([1, 2, 3], [2, 2, 2])(f.copy()))
    seeded = {
        "aug_bright": lambda: mx.image.BrightnessJitterAug(0.4)(f.copy()),
        "aug_contrast": lambda: mx.image.ContrastJitterAug(0.4)(f.copy()),
        "aug_sat": lambda: mx.image.SaturationJitterAug(0.4)(f.copy()),
        "aug_hue": lambda: mx.image.HueJitterAug(0.4)(f.copy()),
        "aug_color": lambda: mx.image.ColorJitterAug(0.3, 0.3, 0.3)(f.copy()),
        "aug_gray": lambda: mx.image.RandomGrayAug(1.0)(f.copy()),
        "aug_flip": lambda: mx.image.HorizontalFlipAug(1.0)(img),
        "aug_rcrop": lambda: mx.image.RandomCropAug((12, 10))(img),
        "aug_rscrop": lambda: mx.image.RandomSizedCropAug((10, 10), 0.2, (0.5, 2.0))(img),
        "aug_lighting": lambda: mx.image.LightingAug(
            0.1,
            np.array([55.46, 4.794, 1.148]),
            np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]),
        )(f.copy()),
    }
    for name, fn in seeded.items():
        random.seed(11)
        np.random.seed(11)
        put(name, fn())
    random.seed(3)
    np.random.seed(3)
    augs = mx.image.CreateAugmenter(
        (3, 16, 16),
        resize=20,
        rand_crop=True,
        rand_mirror=True,
        mean=True,
        std=True,
        brightness=0.1,
        contrast=0.1,
        saturation=0.1,
        hue=0.1,
        pca_noise=0.1,
        rand_gray=0.5,
    )
    put("create_names", [type(a).__name__ for a in augs])
    put("create_dumps", [str(a.dumps()) for a in augs])
    out = img
    for a in augs:
        out = a(out)
    put("create_out", out)


def iter_cases():
    it = mx.image.ImageIter(2, (3, 8, 8), path_imglist=os.path.join(IMG, "s.lst"), path_root=IMG)
    batches = list(it)
    put("iter_lst_data", np.stack([b.data[0].asnumpy() for b in batches]))
    put("iter_lst_label", np.stack([b.label[0].asnumpy() for b in batches]))
    put("iter_lst_pad", [b.pad for b in batches])
    it = mx.image.ImageIter(2, (3, 8, 8), path_imgrec=os.path.join(IMG, "s.rec"), last_batch_handle="discard")
    batches = list(it)
    put("iter_rec_data", np.stack([b.data[0].asnumpy() for b in batches]))
    put("iter_rec_label", np.stack([b.label[0].asnumpy() for b in batches]))
    it = mx.image.ImageIter(
        3, (3, 9, 13), label_width=2, path_imglist=os.path.join(IMG, "s2.lst"), path_root=IMG, resize=9
    )
    b = it.next()
    put("iter_lst2_data", b.data[0])
    put("iter_lst2_label", b.label[0])
    it = mx.image.ImageIter(
        2,
        (3, 8, 8),
        path_imgrec=os.path.join(IMG, "s.rec"),
        path_imgidx=os.path.join(IMG, "s.idx"),
        last_batch_handle="roll_over",
    )
    first = [b.data[0].asnumpy() for b in it]
    it.reset()
    second = [b.data[0].asnumpy() for b in it]
    put("iter_roll_n", [len(first), len(second)])
    put("iter_roll_second0", second[0])


def nd_image_cases():
    rng = np.random.RandomState(4)
    u8 = mx.nd.array(rng.randint(0, 256, (6, 7, 3)), dtype="uint8")
    f32 = mx.nd.array(rng.uniform(0, 1, (3, 6, 7)))
    put("ndi_u8", u8)
    put("ndi_f32", f32)
    put("ndi_to_tensor", mx.nd.image.to_tensor(u8))
    put("ndi_to_tensor4", mx.nd.image.to_tensor(mx.nd.stack(u8, u8)))
    put("ndi_normalize", mx.nd.image.normalize(f32, mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7)))
    put("ndi_normalize4", mx.nd.image.normalize(mx.nd.stack(f32, f32), mean=0.5, std=0.25))
    put("ndi_resize", mx.nd.image.resize(u8, (9, 5)))
    put("ndi_resize_keep", mx.nd.image.resize(u8, 4, keep_ratio=True))
    put("ndi_resize_int", mx.nd.image.resize(u8, 10))
    for interp in (0, 2, 3, 4):
        put(f"ndi_resize_i{interp}", mx.nd.image.resize(u8, (9, 11), interp=interp))
    put("ndi_resize_f32", mx.nd.image.resize(u8.astype("float32"), (9, 5)))
    put("ndi_resize4", mx.nd.image.resize(mx.nd.stack(u8, u8), (3, 4)))
    put("ndi_crop", mx.nd.image.crop(u8, 1, 2, 4, 3))
    put("ndi_crop4", mx.nd.image.crop(mx.nd.stack(u8, u8), 0, 1, 5, 2))
    put("ndi_flip_lr", mx.nd.image.flip_left_right(u8))
    put("ndi_flip_tb", mx.nd.image.flip_top_bottom(u8))
    put("ndi_lighting", mx.nd.image.adjust_lighting(u8.astype("float32"), alpha=(0.1, -0.2, 0.3)))
    put("ndi_lighting_u8", mx.nd.image.adjust_lighting(u8, alpha=(1.0, -2.0, 3.0)))
    for name in ("random_brightness", "random_contrast", "random_saturation", "random_hue"):
        put(f"ndi_{name}_fixed", getattr(mx.nd.image, name)(u8, min_factor=0.7, max_factor=0.7))


def transform_cases():
    T = mx.gluon.data.vision.transforms
    rng = np.random.RandomState(7)
    u8 = mx.nd.array(rng.randint(0, 256, (10, 12, 3)), dtype="uint8")
    put("tf_u8", u8)
    put("tf_cropresize", T.CropResize(1, 2, 6, 5)(u8))
    put("tf_cropresize_size", T.CropResize(1, 2, 6, 5, size=(8, 7), interpolation=1)(u8))
    put("tf_cropresize4", T.CropResize(0, 0, 4, 4, size=3, interpolation=1)(mx.nd.stack(u8, u8)))
    x = mx.nd.array(rng.uniform(0, 1, (3, 7, 9)))
    put("tf_rot_x", x)
    for deg in (30.0, -90.0, 180.0):
        put(f"tf_rot_{int(deg)}", T.Rotate(deg)(x))
    put("tf_rot_zoom_in", T.Rotate(45.0, zoom_in=True)(x))
    put("tf_rot_zoom_out", T.Rotate(45.0, zoom_out=True)(x))
    xb = mx.nd.stack(x, x * 2)
    put("tf_imrotate_batch", mx.image.imrotate(xb, mx.nd.array([10.0, -20.0])))


def det_cases():
    img = mx.image.imdecode(read("rgb.png"))
    label = np.array([[1, 0.1, 0.2, 0.6, 0.7], [0, 0.5, 0.1, 0.9, 0.4]], dtype=np.float32)
    put("det_label", label)
    out, lab = mx.image.DetHorizontalFlipAug(1.0)(img, label.copy())
    put("det_flip", out)
    put("det_flip_label", lab)
    for seed in range(3):
        random.seed(20 + seed)
        out, lab = mx.image.DetRandomCropAug(min_object_covered=0.3, area_range=(0.2, 1.0))(img, label.copy())
        put(f"det_crop{seed}", out)
        put(f"det_crop{seed}_label", lab)
        random.seed(30 + seed)
        out, lab = mx.image.DetRandomPadAug(area_range=(1.0, 2.5), pad_val=(1, 2, 3))(img, label.copy())
        put(f"det_pad{seed}", out)
        put(f"det_pad{seed}_label", lab)
    random.seed(40)
    np.random.seed(40)
    augs = mx.image.CreateDetAugmenter(
        (3, 20, 20),
        resize=30,
        rand_crop=0.7,
        rand_pad=0.7,
        rand_mirror=True,
        mean=True,
        std=True,
        brightness=0.1,
        contrast=0.1,
        saturation=0.1,
        hue=0.1,
        pca_noise=0.1,
        rand_gray=0.3,
        min_object_covered=[0.1, 0.5],
        area_range=(0.1, 2.0),
    )
    put("det_create_dumps", [str(a.dumps()) for a in augs])
    out, lab = img, label.copy()
    for a in augs:
        out, lab = a(out, lab)
    put("det_create_out", out)
    put("det_create_label", lab)
    it = mx.image.ImageDetIter(2, (3, 8, 8), path_imglist=os.path.join(IMG, "det.lst"), path_root=IMG)
    put("det_iter_label_shape", it.label_shape)
    batches = list(it)
    put("det_iter_data", np.stack([b.data[0].asnumpy() for b in batches]))
    put("det_iter_label", np.stack([b.label[0].asnumpy() for b in batches]))
    put("det_iter_pad", [b.pad for b in batches])


def main():
    decode_cases()
    resize_cases()
    border_cases()
    helper_cases()
    augmenter_cases()
    iter_cases()
    nd_image_cases()
    transform_cases()
    det_cases()
    np.savez_compressed(OUT, **G)
    print(f"wrote {len(G)} arrays to {OUT}")


if __name__ == "__main__":
    main()
