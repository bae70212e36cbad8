"""``mx.nd.image``: MXNet 1.9.1's image operators on NDArrays (``_image_*``).

Images are HWC (or NHWC) before :func:`to_tensor` and CHW (NCHW) after it. The kernels are
those of :mod:`mxrs._imgproc` (float32 arithmetic, MXNet's saturating casts for ``uint8``)
and, for ``resize`` with another interpolation than bilinear, :mod:`mxrs._imgcv` (OpenCV's).
The random operators draw from numpy's global generator (seeded by ``mx.random.seed``'s
numpy counterpart ``np.random.seed``), so they match MXNet in distribution, not draw for draw.
"""

import numpy as np

from mxrs import _imgcv, _imgproc, _native
from mxrs.base import MXNetValueError
from mxrs.ndarray import _ops
from mxrs.ndarray.ndarray import NDArray, array

__all__ = [
    "adjust_lighting",
    "crop",
    "flip_left_right",
    "flip_top_bottom",
    "normalize",
    "random_brightness",
    "random_color_jitter",
    "random_contrast",
    "random_flip_left_right",
    "random_flip_top_bottom",
    "random_hue",
    "random_lighting",
    "random_saturation",
    "resize",
    "to_tensor",
]


def _run(data, op, fn, out=None):
    if not isinstance(data, NDArray):
        raise MXNetValueError(f"image.{op}: data must be an NDArray, but got {type(data).__name__}")
    x = data.asnumpy()
    _imgproc.check_image(x, op, (3, 4))
    res = fn(x)
    return _write(array(res, ctx=data.context, dtype=res.dtype), out, op)


def _write(res, out, op):
    """``res``, or ``res`` copied into ``out``."""
    if out is None:
        return res
    if tuple(out.shape) != tuple(res.shape):
        raise MXNetValueError(f"image.{op}: out has shape {tuple(out.shape)}, the result {tuple(res.shape)}")
    out[:] = res
    return out


def _check_nd(data, op, ndims, what):
    if not isinstance(data, NDArray):
        raise MXNetValueError(f"image.{op}: data must be an NDArray, but got {type(data).__name__}")
    if data.ndim not in ndims:
        raise MXNetValueError(f"{op}: input must have shape {what}, but got {tuple(data.shape)}")


def to_tensor(data, out=None, name=None):
    """HWC (NHWC) image of values 0..255 -> CHW (NCHW) float32 in [0, 1] (NDArray operators,
    so autograd records it)."""
    _check_nd(data, "to_tensor", (3, 4), "(H, W, C) or (N, H, W, C)")
    axes = (2, 0, 1) if data.ndim == 3 else (0, 3, 1, 2)
    scaled = _ops.cast(data, dtype="float32") / 255.0
    return _write(_ops.transpose(scaled, axes=axes), out, "to_tensor")


def normalize(data, mean=(0.0, 0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0, 1.0), out=None, name=None):
    """``(data - mean[c]) / std[c]`` per channel of a CHW (NCHW) tensor; ``mean`` and ``std``
    have one value per channel, or one for all (MXNet's four-value defaults are cut to C).
    NDArray operators, so autograd records it."""
    _check_nd(data, "normalize", (3, 4), "(C, H, W) or (N, C, H, W)")
    c = data.shape[-3]
    res = data
    for label, values, fn in (("mean", mean, _ops.broadcast_sub), ("std", std, _ops.broadcast_div)):
        v = np.atleast_1d(np.asarray(values, np.float32))
        v = v[:c] if v.size > c else v
        if v.size not in (1, c):
            raise MXNetValueError(f"normalize: {label} must have 1 or {c} elements, but got {v.size}")
        const = array(np.broadcast_to(v, (c,)).reshape(c, 1, 1), ctx=data.context, dtype=data.dtype)
        res = fn(res, const)
    return _write(res, out, "normalize")


def _resize_one(img, size, keep_ratio, interp):
    h, w = img.shape[:2]
    new_h, new_w = _imgproc.resized_hw(h, w, size, keep_ratio)
    if interp == 1:
        return _imgproc.resize_hwc(img, new_h, new_w, 1)
    return _imgcv.resize(img, new_w, new_h, interp, "image.resize")


def resize(data, size=(), keep_ratio=False, interp=1, out=None, name=None):
    """Resize an HWC (NHWC) image to ``size``: ``(width, height)``, or an int (a square, or
    with ``keep_ratio`` the shorter edge). ``interp`` is OpenCV's code (0 to 4)."""

    def fn(x):
        if x.ndim == 3:
            return _resize_one(x, size, keep_ratio, interp)
        return np.stack([_resize_one(i, size, keep_ratio, interp) for i in x])

    return _run(data, "resize", fn, out)


def crop(data, x, y, width, height, out=None, name=None):
    """The ``(x, y, width, height)`` window of an HWC (NHWC) image (NDArray operators, so
    autograd records it)."""
    _check_nd(data, "crop", (3, 4), "(H, W, C) or (N, H, W, C)")
    h, w = data.shape[-3], data.shape[-2]
    if x < 0 or y < 0 or width <= 0 or height <= 0 or x + width > w or y + height > h:
        raise MXNetValueError(
            f"crop: the window (x={x}, y={y}, width={width}, height={height}) is outside the image {tuple(data.shape)}"
        )
    rows = _ops.slice_axis(data, axis=data.ndim - 3, begin=y, end=y + height)
    return _write(_ops.slice_axis(rows, axis=data.ndim - 2, begin=x, end=x + width), out, "crop")


def flip_left_right(data, out=None, name=None):
    """Mirror an HWC (NHWC) image left-right."""
    _check_nd(data, "flip_left_right", (3, 4), "(H, W, C) or (N, H, W, C)")
    return _write(_ops.reverse(data, axis=data.ndim - 2), out, "flip_left_right")


def flip_top_bottom(data, out=None, name=None):
    """Mirror an HWC (NHWC) image top-bottom."""
    _check_nd(data, "flip_top_bottom", (3, 4), "(H, W, C) or (N, H, W, C)")
    return _write(_ops.reverse(data, axis=data.ndim - 3), out, "flip_top_bottom")


def random_flip_left_right(data, out=None, name=None):
    """:func:`flip_left_right` with probability 0.5."""
    if np.random.rand() < 0.5:
        return flip_left_right(data, out)
    _check_nd(data, "random_flip_left_right", (3, 4), "(H, W, C) or (N, H, W, C)")
    return _write(data.copy(), out, "random_flip_left_right")


def random_flip_top_bottom(data, out=None, name=None):
    """:func:`flip_top_bottom` with probability 0.5."""
    if np.random.rand() < 0.5:
        return flip_top_bottom(data, out)
    _check_nd(data, "random_flip_top_bottom", (3, 4), "(H, W, C) or (N, H, W, C)")
    return _write(data.copy(), out, "random_flip_top_bottom")


def _factor_op(op, kernel):
    def fn(data, min_factor, max_factor, out=None, name=None):
        if min_factor > max_factor:
            raise MXNetValueError(f"{op}: min_factor {min_factor} is larger than max_factor {max_factor}")
        alpha = np.random.uniform(min_factor, max_factor)
        return _run(data, op, lambda a: kernel(a, alpha), out)

    fn.__name__ = op
    return fn


random_brightness = _factor_op("random_brightness", _imgproc.adjust_brightness)
random_brightness.__doc__ = "Scale every value by a factor drawn from ``[min_factor, max_factor]``."
random_contrast = _factor_op("random_contrast", _imgproc.adjust_contrast)
random_contrast.__doc__ = "Blend with the mean gray level by a factor from ``[min_factor, max_factor]``."
random_saturation = _factor_op("random_saturation", _imgproc.adjust_saturation)
random_saturation.__doc__ = (
    "Blend each pixel with gray by a factor from ``[min_factor, max_factor]`` (MXNet 1.9.1's "
    "kernel, whose gray is ``0.114 * blue``)."
)
random_hue = _factor_op("random_hue", _imgproc.adjust_hue)
random_hue.__doc__ = "Rotate the hue by ``alpha * 360`` degrees, ``alpha`` from ``[min_factor, max_factor]``."


def random_color_jitter(data, brightness, contrast, saturation, hue, out=None, name=None):
    """Brightness, contrast, saturation and hue jitter (those > 0) in a random order."""
    return _run(
        data, "random_color_jitter", lambda a: _imgproc.color_jitter(a, brightness, contrast, saturation, hue), out
    )


def adjust_lighting(data, alpha, out=None, name=None):
    """AlexNet's PCA lighting: add ``eig @ alpha`` (``alpha``: 3 values) to the RGB values."""
    if len(alpha) != 3:
        raise MXNetValueError(f"adjust_lighting: alpha must have 3 values, but got {len(alpha)}")
    return _run(data, "adjust_lighting", lambda a: _imgproc.adjust_lighting(a, alpha), out)


def random_lighting(data, alpha_std=0.05, out=None, name=None):
    """:func:`adjust_lighting` with ``alpha ~ N(0, alpha_std)``."""
    alpha = np.random.normal(0, alpha_std, 3)
    return _run(data, "random_lighting", lambda a: _imgproc.adjust_lighting(a, alpha), out)


def legacy_imdecode(str_img, clip_rect=(0, 0, 0, 0), out=None, index=0, channels=3, mean=None):
    """MXNet's deprecated ``mx.nd.imdecode``: decode to a CHW float32 NDArray (the ``mean``'s
    dtype when given) in OpenCV's BGR order, optionally clipped to ``clip_rect``
    ``(x0, y0, x1, y1)`` and minus ``mean`` (C, H, W); with ``out`` (C, H, W) or
    (N, C, H, W) it is written to ``out`` (slice ``index`` of a batch). ``channels`` 1 reads
    gray. (MXNet 1.9.1's own op fails on Python 3 bytes; this is what its C++ code does.)"""
    flag = 0 if channels == 1 else -1
    try:
        data, h, w, c = _native.imdecode(bytes(str_img), flag, True)
    except Exception as e:  # the native decoder raises on a corrupt or unknown format
        raise MXNetValueError(f"imdecode: cannot decode a buffer of {len(str_img)} bytes: {e}") from None
    img = np.frombuffer(data, np.uint8).reshape(h, w, c)
    if channels > c:
        raise MXNetValueError(f"imdecode: channels={channels}, but the image has {c}")
    x0, y0, x1, y1 = (int(v) for v in clip_rect)
    if y1 - y0 == 0:
        x0, y0, x1, y1 = 0, 0, w, h
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise MXNetValueError(f"imdecode: clip_rect {tuple(clip_rect)} is outside the image of {w}x{h}")
    res = np.ascontiguousarray(img[y0:y1, x0:x1, :channels].transpose(2, 0, 1))
    dtype = np.float32 if mean is None else mean.dtype
    res = res.astype(dtype)
    if mean is not None:
        if tuple(mean.shape) != res.shape:
            raise MXNetValueError(f"imdecode: mean has shape {tuple(mean.shape)}, but the image is {res.shape}")
        res = (res - mean.asnumpy()).astype(dtype)
    if out is None:
        return array(res, dtype=dtype)
    if out.ndim == 3:
        target = out
    elif out.ndim == 4:
        target = out[index]
    else:
        raise MXNetValueError(f"imdecode: out must have shape (C, H, W) or (N, C, H, W), but got {tuple(out.shape)}")
    if tuple(target.shape) != res.shape:
        raise MXNetValueError(f"imdecode: out has shape {tuple(target.shape)}, but the image is {res.shape}")
    target[:] = array(res, dtype=dtype)
    return out
