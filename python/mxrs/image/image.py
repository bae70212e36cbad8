"""Read individual images and augment them, as MXNet 1.9.1's ``mxnet.image.image``.

Images are HWC NDArrays (``uint8`` after decoding, RGB). The OpenCV calls of MXNet
(``imdecode``, ``imresize``, ``copyMakeBorder``) run on the kernels of :mod:`mxrs._imgcv`
(see there for how closely each interpolation matches OpenCV); the augmenters are MXNet's
code on NDArrays, drawing from Python's ``random`` (and numpy's generator for
:class:`LightingAug` and :func:`random_rotate`) exactly as MXNet's do, so a seeded run draws the
same crops and factors.
"""

import json
import random
import warnings
from numbers import Number
from typing import Any

import numpy as np

from mxrs import _imgcv, _native
from mxrs import ndarray as nd
from mxrs.base import MXNetError, MXNetValueError

numeric_types = (float, int, np.generic)

__all__ = [
    "imread",
    "imresize",
    "imdecode",
    "scale_down",
    "copyMakeBorder",
    "resize_short",
    "fixed_crop",
    "random_crop",
    "center_crop",
    "color_normalize",
    "random_size_crop",
    "imrotate",
    "random_rotate",
    "Augmenter",
    "SequentialAug",
    "ResizeAug",
    "ForceResizeAug",
    "RandomCropAug",
    "RandomSizedCropAug",
    "CenterCropAug",
    "RandomOrderAug",
    "BrightnessJitterAug",
    "ContrastJitterAug",
    "SaturationJitterAug",
    "HueJitterAug",
    "ColorJitterAug",
    "LightingAug",
    "ColorNormalizeAug",
    "RandomGrayAug",
    "HorizontalFlipAug",
    "CastAug",
    "CreateAugmenter",
]


def _to_numpy(src, op):
    if isinstance(src, nd.NDArray):
        return src.asnumpy()
    if isinstance(src, np.ndarray):
        return src
    raise MXNetValueError(f"{op}: expected an NDArray image, but got {type(src).__name__}")


def _result(arr, src, out=None):
    ctx = src.context if isinstance(src, nd.NDArray) else None
    res = nd.array(arr, ctx=ctx, dtype=arr.dtype)
    if out is not None:
        if tuple(out.shape) != arr.shape:
            raise MXNetValueError(f"out has shape {tuple(out.shape)}, but the result has shape {arr.shape}")
        out[:] = res
        return out
    return res


def _png_gray(rgb):
    """libpng's RGB to gray (what OpenCV asks of it for a gray read): 15-bit weights from
    (0.299, 0.587), truncated; gray pixels pass through."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    gray = (9797 * r + 19234 * g + 3737 * b) >> 15
    return np.where((r == g) & (r == b), r, gray).astype(np.uint8)[..., None]


def _decode(buf, flag, to_rgb, op, where):
    buf = bytes(buf)
    png_gray = int(flag) == 0 and buf[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        data, h, w, c = _native.imdecode(buf, 1 if png_gray else int(flag), not to_rgb)
    except Exception as e:  # the native decoder raises on a corrupt or unknown format
        raise MXNetError(f"{op}: cannot decode {where}: {e}") from None
    img = np.frombuffer(data, dtype=np.uint8).reshape(h, w, c)
    return _png_gray(img) if png_gray else img.copy()


def imread(filename, flag=1, to_rgb=True, out=None):
    """Read and decode an image file to an HWC ``uint8`` NDArray: ``flag`` 1 colour (3
    channels), 0 gray (1 channel); ``to_rgb`` False keeps OpenCV's BGR order."""
    try:
        with open(filename, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise MXNetError(f"imread: cannot read image file {filename!r}: {e.strerror}") from None
    return _result(_decode(buf, flag, to_rgb, "imread", f"image file {filename!r}"), None, out)


def imdecode(buf, flag=1, to_rgb=True, out=None):
    """Decode an encoded image (bytes, bytearray, a numpy or NDArray of ``uint8``) to an HWC
    ``uint8`` NDArray; ``flag`` and ``to_rgb`` as :func:`imread`."""
    if isinstance(buf, nd.NDArray):
        buf = buf.asnumpy().astype(np.uint8).tobytes()
    elif isinstance(buf, np.ndarray):
        buf = buf.astype(np.uint8, copy=False).tobytes()
    elif not isinstance(buf, (bytes, bytearray)):
        raise ValueError(
            "buf must be of type bytes, bytearray or numpy.ndarray,"
            "if you would like to input type str, please convert to bytes"
        )
    return _result(_decode(buf, flag, to_rgb, "imdecode", f"a buffer of {len(buf)} bytes"), None, out)


def imresize(src, w, h, interp=1, out=None):
    """Resize an HWC image to width ``w`` and height ``h`` (OpenCV's ``cv::resize``);
    ``interp``: 0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos-4."""
    return _result(_imgcv.resize(_to_numpy(src, "imresize"), w, h, interp, "imresize"), src, out)


def scale_down(src_size, size):
    """Scale the crop ``size`` (w, h) down to fit ``src_size`` (w, h), keeping its aspect."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def copyMakeBorder(src, top, bot, left, right, type=0, value=0.0, values=(), out=None):  # noqa: A002
    """Pad an HWC image's border (OpenCV's ``cv::copyMakeBorder``). ``type`` is OpenCV's
    code: 0 constant, 1 replicate, 2 reflect, 3 wrap, 4 reflect-101; a constant border is ``values`` per
    channel, else ``value`` in every channel."""
    img = _to_numpy(src, "copyMakeBorder")
    return _result(_imgcv.copy_make_border(img, top, bot, left, right, type, value, values), src, out)


def _get_interp_method(interp, sizes=()):
    """MXNet's choice of interpolation: 9 picks by the resize direction (cubic to enlarge,
    area to shrink, else bilinear), 10 picks at random."""
    if interp == 9:
        if sizes:
            assert len(sizes) == 4
            oh, ow, nh, nw = sizes
            if nh > oh and nw > ow:
                return 2
            if nh < oh and nw < ow:
                return 3
            return 1
        return 2
    if interp == 10:
        return random.randint(0, 4)
    if interp not in (0, 1, 2, 3, 4):
        raise ValueError("Unknown interp method %d" % interp)
    return interp


def _hw(src, op):
    if len(src.shape) != 3:
        raise MXNetValueError(f"{op}: the image must have shape (H, W, C), but got {tuple(src.shape)}")
    return src.shape[0], src.shape[1]


def resize_short(src, size, interp=2):
    """Resize so that the shorter edge is ``size`` (the other keeps the aspect ratio)."""
    h, w = _hw(src, "resize_short")
    if h > w:
        new_h, new_w = size * h // w, size
    else:
        new_h, new_w = size, size * w // h
    return imresize(src, new_w, new_h, interp=_get_interp_method(interp, (h, w, new_h, new_w)))


def fixed_crop(src, x0, y0, w, h, size=None, interp=2):
    """Crop ``(x0, y0, w, h)`` and resize to ``size`` (w, h) when given and different."""
    ih, iw = _hw(src, "fixed_crop")
    if x0 < 0 or y0 < 0 or w <= 0 or h <= 0 or x0 + w > iw or y0 + h > ih:
        raise MXNetValueError(
            f"fixed_crop: the crop (x0={x0}, y0={y0}, w={w}, h={h}) is outside the image {tuple(src.shape)}"
        )
    out = src[y0 : y0 + h, x0 : x0 + w]
    if size is not None and (w, h) != tuple(size):
        sizes = (h, w, size[1], size[0])
        out = imresize(out, size[0], size[1], interp=_get_interp_method(interp, sizes))
    return out


def random_crop(src, size, interp=2):
    """A random crop of ``size`` (w, h), scaled down to fit and then resized to ``size``;
    returns ``(image, (x0, y0, w, h))``."""
    h, w = _hw(src, "random_crop")
    new_w, new_h = scale_down((w, h), size)
    x0 = random.randint(0, w - new_w)
    y0 = random.randint(0, h - new_h)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def center_crop(src, size, interp=2):
    """The centre crop of ``size`` (w, h), scaled down to fit and then resized to ``size``;
    returns ``(image, (x0, y0, w, h))``."""
    h, w = _hw(src, "center_crop")
    new_w, new_h = scale_down((w, h), size)
    x0 = int((w - new_w) / 2)
    y0 = int((h - new_h) / 2)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def color_normalize(src, mean, std=None):
    """``src -= mean``, then ``src /= std`` (in place, as MXNet)."""
    if mean is not None:
        src -= mean
    if std is not None:
        src /= std
    return src


def random_size_crop(src, size, area, ratio, interp=2, **kwargs):
    """A crop of random area (``area``: a minimum fraction or a (min, max) range of the
    image's) and aspect (``ratio`` range, drawn log-uniformly), resized to ``size``; after 10
    failed draws the centre crop. Returns ``(image, (x0, y0, w, h))``."""
    h, w = _hw(src, "random_size_crop")
    src_area = h * w
    if "min_area" in kwargs:
        warnings.warn("`min_area` is deprecated. Please use `area` instead.", DeprecationWarning, stacklevel=2)
        area = kwargs.pop("min_area")
    assert not kwargs, "unexpected keyword arguments for `random_size_crop`."
    if isinstance(area, numeric_types):
        area = (area, 1.0)
    for _ in range(10):
        target_area = random.uniform(area[0], area[1]) * src_area
        log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
        new_ratio = np.exp(random.uniform(*log_ratio))
        new_w = int(round(np.sqrt(target_area * new_ratio)))
        new_h = int(round(np.sqrt(target_area / new_ratio)))
        if new_w <= w and new_h <= h:
            x0 = random.randint(0, w - new_w)
            y0 = random.randint(0, h - new_h)
            out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
            return out, (x0, y0, new_w, new_h)
    return center_crop(src, size, interp)


def _rotation_grid(n, h, w, rad, zoom_in, zoom_out):
    """MXNet's ``imrotate`` sampling grid (N, 2, H, W) in float32."""
    f32 = np.float32
    hscale, wscale = f32((h - 1) / 2), f32((w - 1) / 2)
    hm = (np.repeat(np.arange(h, dtype=f32).reshape(h, 1), w, axis=1) - hscale)[None]
    wm = (np.repeat(np.arange(w, dtype=f32).reshape(1, w), h, axis=0) - wscale)[None]
    rad = rad.reshape(n, 1, 1)
    c, s = np.cos(rad), np.sin(rad)
    w_rot = (wm * c - hm * s) / wscale
    h_rot = (wm * s + hm * c) / hscale
    scale = f32(1)
    if zoom_in or zoom_out:
        fh, fw = f32(h), f32(w)
        rho = np.sqrt(fh * fh + fw * fw)
        ang = np.arctan(fh / fw)
        arad = np.abs(rad)
        max_x = np.maximum(np.abs(rho * np.cos(ang + arad)), np.abs(rho * np.cos(ang - arad)))
        max_y = np.maximum(np.abs(rho * np.sin(ang + arad)), np.abs(rho * np.sin(ang - arad)))
        if zoom_out:
            scale = np.maximum(max_x / fw, max_y / fh)
        else:
            scale = np.minimum(fw / max_x, fh / max_y)
        scale = scale[:, None]
    grid = np.concatenate([w_rot[:, None], h_rot[:, None]], axis=1)
    return (grid * scale).astype(f32)


def imrotate(src, rotation_degrees, zoom_in=False, zoom_out=False):
    """Rotate a float32 CHW image (or NCHW batch) by ``rotation_degrees`` (a scalar, or one
    angle per image) about its centre, bilinear, zeros outside; ``zoom_in`` hides the
    padding, ``zoom_out`` keeps the whole image."""
    if zoom_in and zoom_out:
        raise ValueError("`zoom_in` and `zoom_out` cannot be both True")
    if src.dtype != np.float32:
        raise TypeError("Only `float32` images are supported by this function")
    data = src.asnumpy()
    expanded = False
    if data.ndim == 3:
        expanded = True
        data = data[None]
        if not isinstance(rotation_degrees, Number):
            raise TypeError("When a single image is passed the rotation angle is required to be a scalar.")
    elif data.ndim != 4:
        raise ValueError("Only 3D and 4D are supported by this function")
    if isinstance(rotation_degrees, Number):
        degrees = np.full(len(data), rotation_degrees, np.float32)
    else:
        degrees = _to_numpy(rotation_degrees, "imrotate").astype(np.float32).reshape(-1)
    if len(data) != len(degrees):
        raise ValueError("The number of images must be equal to the number of rotation angles")
    rad = (degrees * np.float32(np.pi)) / np.float32(180)
    grid = _rotation_grid(len(data), data.shape[2], data.shape[3], rad, zoom_in, zoom_out)
    out = _imgcv.bilinear_sample(data, grid)
    return nd.array(out[0] if expanded else out, ctx=src.context)


def random_rotate(src, angle_limits, zoom_in=False, zoom_out=False):
    """:func:`imrotate` by an angle drawn (numpy's generator) from ``angle_limits``."""
    rotation_degrees: Any
    if src.ndim == 3:
        rotation_degrees = np.random.uniform(angle_limits[0], angle_limits[1])
    else:
        rotation_degrees = nd.array(np.random.uniform(angle_limits[0], angle_limits[1], size=src.shape[0]))
    return imrotate(src, rotation_degrees, zoom_in=zoom_in, zoom_out=zoom_out)


class Augmenter:
    """Image augmenter base class; the keyword arguments are kept for :meth:`dumps`."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        for k, v in self._kwargs.items():
            if isinstance(v, nd.NDArray):
                v = v.asnumpy()
            if isinstance(v, np.ndarray):
                self._kwargs[k] = v.tolist()

    def dumps(self):
        """The augmenter as a JSON string ``[name, kwargs]``."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, src):
        raise NotImplementedError("Must override implementation.")


class SequentialAug(Augmenter):
    """Apply the augmenters ``ts`` in order."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        """``[name, [dumps of each member]]``."""
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]

    def __call__(self, src):
        for aug in self.ts:
            src = aug(src)
        return src


class ResizeAug(Augmenter):
    """Resize the shorter edge to ``size``."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return resize_short(src, self.size, self.interp)


class ForceResizeAug(Augmenter):
    """Resize to ``size`` (w, h) regardless of the aspect ratio."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        sizes = (src.shape[0], src.shape[1], self.size[1], self.size[0])
        return imresize(src, self.size[0], self.size[1], interp=_get_interp_method(self.interp, sizes))


class RandomCropAug(Augmenter):
    """Random crop of ``size`` (w, h)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return random_crop(src, self.size, self.interp)[0]


class RandomSizedCropAug(Augmenter):
    """Random crop of random area and aspect ratio, resized to ``size`` (w, h)."""

    def __init__(self, size, area, ratio, interp=2, **kwargs):
        super().__init__(size=size, area=area, ratio=ratio, interp=interp)
        self.size = size
        if "min_area" in kwargs:
            warnings.warn("`min_area` is deprecated. Please use `area` instead.", DeprecationWarning, stacklevel=2)
            self.area = kwargs.pop("min_area")
        else:
            self.area = area
        self.ratio = ratio
        self.interp = interp
        assert not kwargs, "unexpected keyword arguments for `RandomSizedCropAug`."

    def __call__(self, src):
        return random_size_crop(src, self.size, self.area, self.ratio, self.interp)[0]


class CenterCropAug(Augmenter):
    """Centre crop of ``size`` (w, h)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return center_crop(src, self.size, self.interp)[0]


class RandomOrderAug(Augmenter):
    """Apply the augmenters ``ts`` in a random order (shuffling ``ts`` in place, as MXNet)."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        """``[name, [dumps of each member]]``."""
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]

    def __call__(self, src):
        random.shuffle(self.ts)
        for t in self.ts:
            src = t(src)
        return src


class BrightnessJitterAug(Augmenter):
    """Scale by ``1 + U(-brightness, brightness)`` (in place on a float image)."""

    def __init__(self, brightness):
        super().__init__(brightness=brightness)
        self.brightness = brightness

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.brightness, self.brightness)
        src *= alpha
        return src


class ContrastJitterAug(Augmenter):
    """Blend with the mean gray level by ``alpha = 1 + U(-contrast, contrast)``."""

    def __init__(self, contrast):
        super().__init__(contrast=contrast)
        self.contrast = contrast
        self.coef = nd.array([[[0.299, 0.587, 0.114]]])

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.contrast, self.contrast)
        gray = src * self.coef
        gray = (3.0 * (1.0 - alpha) / gray.size) * nd.sum(gray)
        src *= alpha
        src += gray
        return src


class SaturationJitterAug(Augmenter):
    """Blend each pixel with its gray value by ``alpha = 1 + U(-saturation, saturation)``."""

    def __init__(self, saturation):
        super().__init__(saturation=saturation)
        self.saturation = saturation
        self.coef = nd.array([[[0.299, 0.587, 0.114]]])

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.saturation, self.saturation)
        gray = src * self.coef
        gray = nd.sum(gray, axis=2, keepdims=True)
        gray *= 1.0 - alpha
        src *= alpha
        src += gray
        return src


class HueJitterAug(Augmenter):
    """Rotate the hue by ``U(-hue, hue) * 180`` degrees in YIQ space (a linear map)."""

    def __init__(self, hue):
        super().__init__(hue=hue)
        self.hue = hue
        self.tyiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321], [0.211, -0.523, 0.311]])
        self.ityiq = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.107, 1.705]])

    def __call__(self, src):
        alpha = random.uniform(-self.hue, self.hue)
        u = np.cos(alpha * np.pi)
        w = np.sin(alpha * np.pi)
        bt = np.array([[1.0, 0.0, 0.0], [0.0, u, -w], [0.0, w, u]])
        t = np.dot(np.dot(self.ityiq, bt), self.tyiq).T
        return nd.dot(src, nd.array(t))


class ColorJitterAug(RandomOrderAug):
    """Brightness, contrast and saturation jitter (those > 0) in a random order."""

    def __init__(self, brightness, contrast, saturation):
        ts: list[Augmenter] = []
        if brightness > 0:
            ts.append(BrightnessJitterAug(brightness))
        if contrast > 0:
            ts.append(ContrastJitterAug(contrast))
        if saturation > 0:
            ts.append(SaturationJitterAug(saturation))
        super().__init__(ts)


class LightingAug(Augmenter):
    """AlexNet's PCA lighting noise: add ``eigvec * N(0, alphastd) @ eigval``."""

    def __init__(self, alphastd, eigval, eigvec):
        super().__init__(alphastd=alphastd, eigval=eigval, eigvec=eigvec)
        self.alphastd = alphastd
        self.eigval = eigval
        self.eigvec = eigvec

    def __call__(self, src):
        alpha = np.random.normal(0, self.alphastd, size=(3,))
        rgb = np.dot(self.eigvec * alpha, self.eigval)
        src += nd.array(rgb)
        return src


class ColorNormalizeAug(Augmenter):
    """Subtract ``mean`` and divide by ``std`` (either may be None)."""

    def __init__(self, mean, std):
        super().__init__(mean=mean, std=std)
        self.mean = mean if mean is None or isinstance(mean, nd.NDArray) else nd.array(mean)
        self.std = std if std is None or isinstance(std, nd.NDArray) else nd.array(std)

    def __call__(self, src):
        return color_normalize(src, self.mean, self.std)


class RandomGrayAug(Augmenter):
    """Convert to gray (kept 3 channels) with probability ``p``."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p
        self.mat = nd.array([[0.21, 0.21, 0.21], [0.72, 0.72, 0.72], [0.07, 0.07, 0.07]])

    def __call__(self, src):
        if random.random() < self.p:
            src = nd.dot(src, self.mat)
        return src


class HorizontalFlipAug(Augmenter):
    """Flip left-right with probability ``p``."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src):
        if random.random() < self.p:
            src = nd.flip(src, axis=1)
        return src


class CastAug(Augmenter):
    """Cast to ``typ`` (float32)."""

    def __init__(self, typ="float32"):
        super().__init__(type=typ)
        self.typ = typ

    def __call__(self, src):
        return src.astype(self.typ)


def CreateAugmenter(
    data_shape,
    resize=0,
    rand_crop=False,
    rand_resize=False,
    rand_mirror=False,
    mean=None,
    std=None,
    brightness=0,
    contrast=0,
    saturation=0,
    hue=0,
    pca_noise=0,
    rand_gray=0,
    inter_method=2,
):
    """The standard augmenter list for ``data_shape`` (C, H, W): optional shorter-edge
    resize, a centre/random/random-sized crop, mirror, cast to float32, colour jitter, hue,
    PCA noise, gray, and mean/std normalisation (``True`` for the ImageNet values)."""
    auglist: list[Augmenter] = []
    if resize > 0:
        auglist.append(ResizeAug(resize, inter_method))
    crop_size = (data_shape[2], data_shape[1])
    if rand_resize:
        assert rand_crop
        auglist.append(RandomSizedCropAug(crop_size, 0.08, (3.0 / 4.0, 4.0 / 3.0), inter_method))
    elif rand_crop:
        auglist.append(RandomCropAug(crop_size, inter_method))
    else:
        auglist.append(CenterCropAug(crop_size, inter_method))
    if rand_mirror:
        auglist.append(HorizontalFlipAug(0.5))
    auglist.append(CastAug())
    if brightness or contrast or saturation:
        auglist.append(ColorJitterAug(brightness, contrast, saturation))
    if hue:
        auglist.append(HueJitterAug(hue))
    if pca_noise > 0:
        eigval = np.array([55.46, 4.794, 1.148])
        eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
        auglist.append(LightingAug(pca_noise, eigval, eigvec))
    if rand_gray > 0:
        auglist.append(RandomGrayAug(rand_gray))
    if mean is True:
        mean = nd.array([123.68, 116.28, 103.53])
    elif mean is not None:
        assert isinstance(mean, (np.ndarray, nd.NDArray)) and mean.shape[0] in [1, 3]
    if std is True:
        std = nd.array([58.395, 57.12, 57.375])
    elif std is not None:
        assert isinstance(std, (np.ndarray, nd.NDArray)) and std.shape[0] in [1, 3]
    if mean is not None or std is not None:
        auglist.append(ColorNormalizeAug(mean, std))
    return auglist
