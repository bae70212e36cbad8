"""Image kernels of the vision transforms, on numpy arrays (HWC, or NHWC where noted).

Each follows the MXNet 1.9.1 operator the transform calls (``_image_to_tensor``,
``_image_normalize``, ``_image_resize``, ``_image_random_*``, ``image.center_crop``...):
float32 arithmetic, and for ``uint8`` results MXNet's ``saturate_cast`` (clamp to 0..255,
then truncate). The random draws use numpy's global RNG (MXNet's operators use their own
generator, so random transforms match MXNet in distribution, not draw for draw).
"""

import math
import random

import numpy as np

from mxrs import _imgcv
from mxrs.base import MXNetValueError

_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_EIG = np.array(
    [
        [55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009],
        [55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140],
        [55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203],
    ],
    dtype=np.float32,
)


def check_image(x, op, ndims=(3,)):
    """Raise MXNetValueError unless ``x`` is an image of 1 or 3 channels with ``ndims`` dims."""
    if x.ndim not in ndims or x.shape[-1] not in (1, 3):
        want = " or ".join({3: "(H, W, C)", 4: "(N, H, W, C)"}[n] for n in ndims)
        raise MXNetValueError(f"{op}: input image must have shape {want} with C 1 or 3, but got {x.shape}")


def saturate(val, dtype):
    """float32 results in ``dtype`` as MXNet's ``saturate_cast``."""
    if dtype == np.uint8:
        return np.clip(val, 0.0, 255.0).astype(np.uint8)
    return val.astype(dtype)


def to_tensor(x):
    """HWC (or NHWC) of any dtype -> CHW (NCHW) float32 divided by 255."""
    if x.ndim not in (3, 4):
        raise MXNetValueError(f"to_tensor: input must have shape (H, W, C) or (N, H, W, C), but got {x.shape}")
    out = x.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(np.moveaxis(out, -1, -3))


def normalize(x, mean, std):
    """CHW (or NCHW) ``(x - mean[c]) / std[c]`` in ``x``'s dtype; a scalar applies to all."""
    if x.ndim not in (3, 4):
        raise MXNetValueError(f"normalize: input must have shape (C, H, W) or (N, C, H, W), but got {x.shape}")
    channels = x.shape[-3]
    mean = np.atleast_1d(np.asarray(mean, dtype=x.dtype))
    std = np.atleast_1d(np.asarray(std, dtype=x.dtype))
    for name, v in (("mean", mean), ("std", std)):
        if v.size not in (1, channels):
            raise MXNetValueError(f"normalize: {name} must have 1 or {channels} elements, but got {v.size}")
    mean = np.broadcast_to(mean, (channels,)).reshape(channels, 1, 1)
    std = np.broadcast_to(std, (channels,)).reshape(channels, 1, 1)
    return ((x - mean) / std).astype(x.dtype)


def resized_hw(h, w, size, keep_ratio):
    """Output (height, width) of ``_image_resize``: ``size`` is an int or ``(width, height)``."""
    if isinstance(size, (tuple, list)):
        if len(size) == 1:
            size = size[0]
        elif len(size) == 2:
            if size[0] <= 0 or size[1] <= 0:
                raise MXNetValueError(f"resize: size must be positive, but got {size}")
            return int(size[1]), int(size[0])
        else:
            raise MXNetValueError(f"resize: size must be an int or (width, height), but got {size}")
    size = int(size)
    if size <= 0:
        raise MXNetValueError(f"resize: size must be positive, but got {size}")
    if not keep_ratio:
        return size, size
    if h > w:
        return int(h * size / w), size
    return size, int(w * size / h)


def resize_hwc(img, new_h, new_w, interp=1):
    """Resize one HWC image as OpenCV's ``cv::resize`` (``interp``: 0 nearest, 1 bilinear,
    2 bicubic, 3 area, 4 Lanczos-4; see :mod:`mxrs._imgcv`)."""
    return _imgcv.resize(img, new_w, new_h, interp, "resize")


def resize(x, size, keep_ratio=False, interp=1):
    """``_image_resize`` of an HWC or NHWC array."""
    check_image(x, "resize", (3, 4))
    h, w = x.shape[-3], x.shape[-2]
    new_h, new_w = resized_hw(h, w, size, keep_ratio)
    if x.ndim == 3:
        return resize_hwc(x, new_h, new_w, interp)
    return np.stack([resize_hwc(i, new_h, new_w, interp) for i in x])


def fixed_crop(img, x0, y0, w, h, size=None, interp=1):
    """Crop ``(x0, y0, w, h)`` and resize to ``size`` ``(width, height)`` if it differs."""
    out = img[y0 : y0 + h, x0 : x0 + w]
    if size is not None and (w, h) != tuple(size):
        out = resize_hwc(out, size[1], size[0], interp)
    return out


def _scale_down(src_size, size):
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def center_crop(img, size, interp=1):
    """``mxnet.image.center_crop``: the centred crop of aspect ``size`` ``(width, height)``
    (scaled down to fit), resized to ``size``."""
    h, w = img.shape[:2]
    new_w, new_h = _scale_down((w, h), size)
    x0 = int((w - new_w) / 2)
    y0 = int((h - new_h) / 2)
    return fixed_crop(img, x0, y0, new_w, new_h, size, interp)


def random_size_crop(img, size, area, ratio, interp=1):
    """``mxnet.image.random_size_crop`` with Python's ``random`` as MXNet (10 tries of a crop
    of random area and aspect, else the centre crop), resized to ``size``."""
    h, w = img.shape[:2]
    src_area = h * w
    if isinstance(area, (int, float)):
        area = (area, 1.0)
    for _ in range(10):
        target_area = random.uniform(area[0], area[1]) * src_area
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        new_ratio = math.exp(random.uniform(*log_ratio))
        new_w = int(round(math.sqrt(target_area * new_ratio)))
        new_h = int(round(math.sqrt(target_area / new_ratio)))
        if new_w <= w and new_h <= h:
            x0 = random.randint(0, w - new_w)
            y0 = random.randint(0, h - new_h)
            return fixed_crop(img, x0, y0, new_w, new_h, size, interp)
    return center_crop(img, size, interp)


def adjust_brightness(x, alpha):
    """Every value times ``alpha``."""
    return saturate(x.astype(np.float32) * np.float32(alpha), x.dtype)


def adjust_contrast(x, alpha):
    """Blend with the mean gray level: ``x * alpha + (1 - alpha) * mean(gray)``."""
    f = x.astype(np.float32)
    gray = f @ _GRAY if x.shape[-1] == 3 else f[..., 0]
    mean = np.float32(gray.sum(dtype=np.float32) / np.float32(gray.size))
    beta = np.float32(1 - np.float32(alpha)) * mean
    return saturate(f * np.float32(alpha) + beta, x.dtype)


def adjust_saturation(x, alpha):
    """Blend each pixel with a gray value. MXNet 1.9.1's kernel assigns rather than sums the
    weighted channels, so its "gray" is ``0.114 * blue``; that is what is reproduced here."""
    if x.shape[-1] == 1:
        return x.copy()
    f = x.astype(np.float32)
    gray = f[..., 2:3] * np.float32(0.114) * np.float32(1 - np.float32(alpha))
    return saturate(gray + f * np.float32(alpha), x.dtype)


def _rgb_to_hls(f):
    r, g, b = (f[..., i] / np.float32(255.0) for i in range(3))
    vmax = np.maximum(np.maximum(r, g), b)
    vmin = np.minimum(np.minimum(r, g), b)
    diff = vmax - vmin
    l_ = (vmax + vmin) * np.float32(0.5)
    colourful = diff > np.finfo(np.float32).eps
    safe = np.where(colourful, diff, np.float32(1))
    s = np.where(l_ < 0.5, diff / np.where(colourful, vmax + vmin, 1), diff / np.where(colourful, 2 - vmax - vmin, 1))
    k = np.float32(60.0) / safe
    h = np.where(vmax == r, (g - b) * k, np.where(vmax == g, (b - r) * k + 120, (r - g) * k + 240))
    h = np.where(h < 0, h + 360, h)
    return np.where(colourful, h, 0).astype(np.float32), l_, np.where(colourful, s, 0).astype(np.float32)


_SECTORS = np.array([[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]])


def _hls_to_rgb(h, l_, s):
    p2 = np.where(l_ <= 0.5, l_ * (1 + s), l_ + s - l_ * s).astype(np.float32)
    p1 = 2 * l_ - p2
    h = np.mod(h * np.float32(1.0 / 60.0), np.float32(6.0))
    sector = np.minimum(h.astype(np.int64), 5)
    h = h - sector
    tab = np.stack([p2, p1, p1 + (p2 - p1) * (1 - h), p1 + (p2 - p1) * h], axis=-1)
    idx = _SECTORS[sector]
    b, g, r = (np.take_along_axis(tab, idx[..., i : i + 1], axis=-1)[..., 0] for i in range(3))
    grey = s == 0
    rgb = np.stack([np.where(grey, l_, r), np.where(grey, l_, g), np.where(grey, l_, b)], axis=-1)
    return rgb * np.float32(255.0)


def adjust_hue(x, alpha):
    """Rotate the hue by ``alpha * 360`` degrees in HLS space (MXNet's kernel)."""
    if x.shape[-1] == 1:
        return x.copy()
    h, l_, s = _rgb_to_hls(x.astype(np.float32))
    return saturate(_hls_to_rgb(h + np.float32(alpha) * 360, l_, s), x.dtype)


def adjust_lighting(x, alpha):
    """AlexNet's PCA lighting noise: add ``eig @ alpha`` to the RGB values."""
    if x.shape[-1] == 1:
        return x.copy()
    pca = _EIG @ np.asarray(alpha, dtype=np.float32)
    return saturate(x.astype(np.float32) + pca, x.dtype)


def color_jitter(x, brightness, contrast, saturation, hue):
    """MXNet's ``random_color_jitter``: the four adjustments in a random order, each with a
    factor ``1 + U(-v, v)`` (hue: ``U(-v, v)``), skipping those whose ``v`` is 0."""
    steps = [
        (brightness, lambda y, v: adjust_brightness(y, 1 + np.random.uniform(-v, v))),
        (contrast, lambda y, v: adjust_contrast(y, 1 + np.random.uniform(-v, v))),
        (saturation, lambda y, v: adjust_saturation(y, 1 + np.random.uniform(-v, v))),
        (hue, lambda y, v: adjust_hue(y, np.random.uniform(-v, v))),
    ]
    for i in np.random.permutation(4):
        value, fn = steps[i]
        if value > 0:
            x = fn(x, value)
    return x
