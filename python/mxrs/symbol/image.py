"""``mx.sym.image``: MXNet 1.9.1's image operators as Symbols.

There are no registered image operators in mxrs, so each function builds its graph from the
generic operators (casts, axis swaps, slices, ``reverse``, broadcasts, ``dot`` and the random
samplers), which gives the same values as :mod:`mxrs.ndarray.image` with these differences:

- the colour operators (``random_brightness``, ``random_contrast``, ``random_saturation``,
  ``adjust_lighting``, ``random_lighting``) compute in float32 and return float32 (a Symbol's
  input type is not known when the graph is built, so a ``uint8`` input is not cast back);
- ``resize``, ``random_hue`` and ``random_color_jitter`` are not expressible with those
  operators (OpenCV interpolation, the HLS round trip, a random order of operations): they
  raise :class:`mxrs.base.NotSupported`; use the ``mx.nd.image`` versions (or the vision
  transforms, which run them imperatively).
"""

import numpy as np

from mxrs import _imgproc
from mxrs.base import MXNetValueError, NotSupported
from mxrs.symbol import _ops

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


def _const(values, shape):
    """A float32 constant Symbol of ``values`` reshaped to ``shape``."""
    parts = [_ops._full(shape=(1,), value=float(v)) for v in np.ravel(values)]
    return _ops.reshape(_ops.concat(*parts, dim=0), shape=shape)


def _float(data):
    return _ops.cast(data, dtype="float32")


def _uniform(low, high, op):
    if low > high:
        raise MXNetValueError(f"{op}: min_factor {low} is larger than max_factor {high}")
    return _ops._random_uniform(low=float(low), high=float(high), shape=(1,))


def to_tensor(data, name=None, **kwargs):
    """HWC (NHWC) image of values 0..255 -> CHW (NCHW) float32 in [0, 1]."""
    scaled = _ops._div_scalar(_float(data), scalar=255.0)
    cwh = _ops.SwapAxis(scaled, dim1=-1, dim2=-3)
    return _ops.SwapAxis(cwh, dim1=-1, dim2=-2, name=name)


def normalize(data, mean=(0.0, 0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0, 1.0), name=None, **kwargs):
    """``(data - mean[c]) / std[c]`` per channel of a CHW (NCHW) tensor. ``mean`` and ``std``
    hold one value per channel, or one value (or all equal values) for every channel."""
    out = data
    for values, scalar_op, bcast_op in (
        (mean, _ops._minus_scalar, _ops.broadcast_sub),
        (std, _ops._div_scalar, _ops.broadcast_div),
    ):
        v = np.atleast_1d(np.asarray(values, np.float64))
        if np.all(v == v[0]):
            out = scalar_op(out, scalar=float(v[0]))
        else:
            out = bcast_op(out, _const(v, (len(v), 1, 1)))
    return _ops.identity(out, name=name)


def crop(data, x, y, width, height, name=None, **kwargs):
    """The ``(x, y, width, height)`` window of an HWC (NHWC) image."""
    rows = _ops.slice_axis(data, axis=-3, begin=int(y), end=int(y + height))
    return _ops.slice_axis(rows, axis=-2, begin=int(x), end=int(x + width), name=name)


def flip_left_right(data, name=None, **kwargs):
    """Mirror an HWC (NHWC) image left-right."""
    return _ops.reverse(data, axis=-2, name=name)


def flip_top_bottom(data, name=None, **kwargs):
    """Mirror an HWC (NHWC) image top-bottom."""
    return _ops.reverse(data, axis=-3, name=name)


def _random_flip(data, axis, name):
    coin = _ops.broadcast_like(_ops._random_uniform(low=0.0, high=1.0, shape=(1,)) < 0.5, data)
    return _ops.where(coin, _ops.reverse(data, axis=axis), data, name=name)


def random_flip_left_right(data, name=None, **kwargs):
    """:func:`flip_left_right` with probability 0.5 (a new draw per run)."""
    return _random_flip(data, -2, name)


def random_flip_top_bottom(data, name=None, **kwargs):
    """:func:`flip_top_bottom` with probability 0.5 (a new draw per run)."""
    return _random_flip(data, -3, name)


def random_brightness(data, min_factor, max_factor, name=None, **kwargs):
    """Scale by a factor from ``[min_factor, max_factor]`` (float32 result)."""
    alpha = _uniform(min_factor, max_factor, "random_brightness")
    return _ops.broadcast_mul(_float(data), alpha, name=name)


def _gray_weights():
    return _const(_imgproc._GRAY, (3,))


def random_contrast(data, min_factor, max_factor, name=None, **kwargs):
    """Blend an RGB image with its mean gray level by a factor from ``[min_factor,
    max_factor]`` (float32 result)."""
    alpha = _uniform(min_factor, max_factor, "random_contrast")
    x = _float(data)
    mean_gray = _ops.mean(_ops.dot(x, _gray_weights()))
    beta = _ops.broadcast_mul(_ops._rminus_scalar(alpha, scalar=1.0), mean_gray)
    return _ops.broadcast_add(_ops.broadcast_mul(x, alpha), beta, name=name)


def random_saturation(data, min_factor, max_factor, name=None, **kwargs):
    """MXNet 1.9.1's saturation kernel (gray is ``0.114 * blue``) with a factor from
    ``[min_factor, max_factor]`` (float32 result)."""
    alpha = _uniform(min_factor, max_factor, "random_saturation")
    x = _float(data)
    blue = _ops._mul_scalar(_ops.slice_axis(x, axis=-1, begin=2, end=3), scalar=0.114)
    gray = _ops.broadcast_mul(blue, _ops._rminus_scalar(alpha, scalar=1.0))
    return _ops.broadcast_add(_ops.broadcast_mul(x, alpha), gray, name=name)


def adjust_lighting(data, alpha, name=None, **kwargs):
    """AlexNet's PCA lighting: add ``eig @ alpha`` to the RGB values (float32 result)."""
    if len(alpha) != 3:
        raise MXNetValueError(f"adjust_lighting: alpha must have 3 values, but got {len(alpha)}")
    pca = _imgproc._EIG @ np.asarray(alpha, np.float32)
    return _ops.broadcast_add(_float(data), _const(pca, (3,)), name=name)


def random_lighting(data, alpha_std=0.05, name=None, **kwargs):
    """:func:`adjust_lighting` with ``alpha ~ N(0, alpha_std)`` (a new draw per run)."""
    alpha = _ops._random_normal(loc=0.0, scale=float(alpha_std), shape=(3,))
    pca = _ops.dot(_const(_imgproc._EIG, (3, 3)), alpha)
    return _ops.broadcast_add(_float(data), pca, name=name)


def _not_supported(op, why):
    def fn(*args, **kwargs):
        raise NotSupported(f"sym.image.{op}: {why}; use mx.nd.image.{op}")

    fn.__name__ = op
    fn.__doc__ = f"Not supported on Symbols ({why}): raises NotSupported."
    return fn


resize = _not_supported("resize", "OpenCV's interpolation has no Symbol operator in mxrs")
random_hue = _not_supported("random_hue", "the HLS hue rotation has no Symbol operator in mxrs")
random_color_jitter = _not_supported("random_color_jitter", "a random order of operations cannot be a static graph")
