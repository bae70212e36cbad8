"""Image transforms, as ``mxnet.gluon.data.vision.transforms``.

Each transform is a Gluon Block (a HybridBlock where MXNet's is one) taking an NDArray image,
HWC (``(H, W, C)``, some also NHWC) before :class:`ToTensor`, CHW after it. The pixel kernels
are in :mod:`mxrs._imgproc` and follow MXNet's image operators; :class:`Cast`,
:class:`ToTensor` and :class:`Normalize` are traced into a Symbol graph when hybridized
(through ``F.image``), the others stay imperative when hybridized (``mx.sym.image`` has no
resize or hue operators, and the random ones draw per call), and
:class:`Compose` does not group its members into a hybridized HybridSequential as MXNet's does.
"""

import random

import numpy as np

from mxrs import _imgproc as _image
from mxrs import image
from mxrs import ndarray as nd
from mxrs.base import MXNetValueError, NotSupported
from mxrs.gluon.block import Block, HybridBlock
from mxrs.gluon.nn import HybridSequential, Sequential

__all__ = [
    "Compose",
    "HybridSequential",
    "Sequential",
    "Cast",
    "CropResize",
    "Rotate",
    "RandomRotation",
    "RandomApply",
    "ToTensor",
    "Normalize",
    "Resize",
    "CenterCrop",
    "RandomResizedCrop",
    "RandomFlipLeftRight",
    "RandomFlipTopBottom",
    "RandomBrightness",
    "RandomContrast",
    "RandomSaturation",
    "RandomHue",
    "RandomColorJitter",
    "RandomLighting",
]


def _apply(F, x, fn, name):
    """``fn`` on ``x``'s pixels as numpy, back to an NDArray on ``x``'s context."""
    if not isinstance(x, nd.NDArray):
        raise NotSupported(f"transforms.{name} runs on NDArrays only (it cannot be hybridized yet); got {type(x)}")
    out = fn(x.asnumpy())
    return nd.array(out, ctx=x.context, dtype=out.dtype)


class _ImageTransform(HybridBlock):
    """A HybridBlock whose kernel runs imperatively: ``hybridize()`` leaves it imperative (there
    are no image operators to trace yet), so hybridizing a Compose of them works."""

    def hybridize(self, active=True, static_alloc=False, static_shape=False, **kwargs):
        """Kept imperative (see the class)."""


class Compose(Sequential):
    """Apply ``transforms`` (a list of Blocks) one after another. As MXNet's, runs of two or
    more consecutive traceable HybridBlocks are grouped into a hybridized HybridSequential (the
    transforms whose kernels run imperatively are kept apart, see the module)."""

    def __init__(self, transforms):
        super().__init__()
        hybrid = []
        for t in list(transforms) + [None]:
            if isinstance(t, HybridBlock) and not isinstance(t, _ImageTransform):
                hybrid.append(t)
                continue
            if len(hybrid) == 1:
                self.add(hybrid[0])
            elif len(hybrid) > 1:
                block = HybridSequential()
                block.add(*hybrid)
                block.hybridize()
                self.add(block)
            hybrid = []
            if t is not None:
                self.add(t)

    def hybridize(self, active=True, **kwargs):
        """Hybridize the members (without Sequential's advice to use HybridSequential: MXNet's
        Compose makes one itself)."""
        Block.hybridize(self, active, **kwargs)


class Cast(HybridBlock):
    """Cast to ``dtype`` (float32 by default)."""

    def __init__(self, dtype="float32"):
        super().__init__()
        self._dtype = dtype

    def hybrid_forward(self, F, x):
        return F.cast(x, self._dtype)


class ToTensor(HybridBlock):
    """HWC (or NHWC) image of values 0..255 -> CHW (NCHW) float32 in [0, 1]."""

    def hybrid_forward(self, F, x):
        return F.image.to_tensor(x)


class Normalize(HybridBlock):
    """``(x - mean[c]) / std[c]`` per channel of a CHW (or NCHW) tensor."""

    def __init__(self, mean=0.0, std=1.0):
        super().__init__()
        self._mean = mean
        self._std = std

    def hybrid_forward(self, F, x):
        return F.image.normalize(x, self._mean, self._std)


class Resize(_ImageTransform):
    """Resize an HWC (or NHWC) image to ``size``: an int (a square, or with ``keep_ratio``
    the shorter side) or ``(width, height)``. ``interpolation``: 0 nearest, 1 bilinear."""

    def __init__(self, size, keep_ratio=False, interpolation=1):
        super().__init__()
        self._keep = keep_ratio
        self._size = size
        self._interpolation = interpolation

    def hybrid_forward(self, F, x):
        return _apply(F, x, lambda a: _image.resize(a, self._size, self._keep, self._interpolation), "Resize")


def _wh(size):
    return (size, size) if isinstance(size, (int, np.integer)) else tuple(size)


class CenterCrop(Block):
    """The centre crop of ``size`` (an int or ``(width, height)``); a smaller image is cropped
    to the aspect of ``size`` and scaled up."""

    def __init__(self, size, interpolation=1):
        super().__init__()
        self._args = (_wh(size), interpolation)

    def forward(self, x):
        return _apply(nd, x, lambda a: _image.center_crop(a, *self._args), "CenterCrop")


class RandomResizedCrop(Block):
    """A crop of random area (``scale`` of the image's) and aspect (``ratio``), resized to
    ``size``; draws with Python's ``random`` as MXNet's does."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation=1):
        super().__init__()
        self._args = (_wh(size), scale, ratio, interpolation)

    def forward(self, x):
        return _apply(nd, x, lambda a: _image.random_size_crop(a, *self._args), "RandomResizedCrop")


class RandomFlipLeftRight(_ImageTransform):
    """Flip an HWC image left-right with probability 0.5."""

    def hybrid_forward(self, F, x):
        return _apply(F, x, lambda a: a[:, ::-1].copy() if np.random.rand() < 0.5 else a, "RandomFlipLeftRight")


class RandomFlipTopBottom(_ImageTransform):
    """Flip an HWC image top-bottom with probability 0.5."""

    def hybrid_forward(self, F, x):
        return _apply(F, x, lambda a: a[::-1].copy() if np.random.rand() < 0.5 else a, "RandomFlipTopBottom")


class _RandomEnhance(_ImageTransform):
    _kernel = staticmethod(_image.adjust_brightness)

    def __init__(self, value):
        super().__init__()
        self._args = (max(0, 1 - value), 1 + value)

    def hybrid_forward(self, F, x):
        def run(a):
            _image.check_image(a, type(self).__name__)
            return self._kernel(a, np.random.uniform(*self._args))

        return _apply(F, x, run, type(self).__name__)


class RandomBrightness(_RandomEnhance):
    """Scale all values by a factor drawn from ``[max(0, 1 - brightness), 1 + brightness]``."""


class RandomContrast(_RandomEnhance):
    """Blend with the mean gray level by a factor from ``[max(0, 1 - contrast), 1 + contrast]``."""

    _kernel = staticmethod(_image.adjust_contrast)


class RandomSaturation(_RandomEnhance):
    """Blend with gray by a factor from ``[max(0, 1 - saturation), 1 + saturation]``."""

    _kernel = staticmethod(_image.adjust_saturation)


class RandomHue(_RandomEnhance):
    """Rotate the hue by ``alpha * 360`` degrees, ``alpha`` drawn from
    ``[max(0, 1 - hue), 1 + hue]`` (MXNet 1.9.1's range)."""

    _kernel = staticmethod(_image.adjust_hue)


class RandomColorJitter(_ImageTransform):
    """Brightness, contrast, saturation and hue jitter in a random order."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        super().__init__()
        self._args = (brightness, contrast, saturation, hue)

    def hybrid_forward(self, F, x):
        return _apply(F, x, lambda a: _image.color_jitter(a, *self._args), "RandomColorJitter")


class RandomLighting(_ImageTransform):
    """AlexNet-style PCA lighting noise with ``alpha ~ N(0, alpha)`` per component."""

    def __init__(self, alpha):
        super().__init__()
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return _apply(F, x, lambda a: _image.adjust_lighting(a, np.random.normal(0, self._alpha, 3)), "RandomLighting")


class CropResize(_ImageTransform):
    """Crop the ``(x, y, width, height)`` window of an HWC (NHWC) image, then resize it to
    ``size`` (an int for a square, or ``(width, height)``) when given. ``interpolation`` is
    OpenCV's code; None means bilinear (MXNet 1.9.1 fails on None with a size)."""

    def __init__(self, x, y, width, height, size=None, interpolation=None):
        super().__init__()
        self._box = (x, y, width, height)
        self._size = size
        self._interpolation = 1 if interpolation is None else interpolation

    def hybrid_forward(self, F, x):
        if not isinstance(x, nd.NDArray):
            raise NotSupported(f"transforms.CropResize runs on NDArrays only; got {type(x)}")
        out = nd.image.crop(x, *self._box)
        if self._size:
            out = nd.image.resize(out, self._size, False, self._interpolation)
        return out


class Rotate(Block):
    """Rotate a float32 CHW image (or NCHW batch) by ``rotation_degrees`` about its centre,
    keeping its shape (``zoom_in``: no padding shows; ``zoom_out``: all of the image shows)."""

    def __init__(self, rotation_degrees, zoom_in=False, zoom_out=False):
        super().__init__()
        self._args = (rotation_degrees, zoom_in, zoom_out)

    def forward(self, x):
        if x.dtype != np.float32:
            raise TypeError("This transformation only supports float32. Consider calling it after ToTensor")
        return image.imrotate(x, *self._args)


class RandomRotation(Block):
    """Rotate a float32 CHW (NCHW) image by an angle drawn from ``angle_limits`` (lower,
    upper), with probability ``rotate_with_proba``."""

    def __init__(self, angle_limits, zoom_in=False, zoom_out=False, rotate_with_proba=1.0):
        super().__init__()
        lower, upper = angle_limits
        if lower >= upper:
            raise ValueError("`angle_limits` must be an ordered tuple")
        if rotate_with_proba < 0 or rotate_with_proba > 1:
            raise ValueError("Probability of rotating the image should be between 0 and 1")
        self._args = (angle_limits, zoom_in, zoom_out)
        self._rotate_with_proba = rotate_with_proba

    def forward(self, x):
        if np.random.random() > self._rotate_with_proba:
            return x
        if x.dtype != np.float32:
            raise TypeError("This transformation only supports float32. Consider calling it after ToTensor")
        return image.random_rotate(x, *self._args)


class RandomApply(Sequential):
    """Apply ``transforms`` (a Block, e.g. a Compose) with probability ``p`` (Python's
    ``random``, as MXNet)."""

    def __init__(self, transforms, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise MXNetValueError(f"RandomApply: p must be in [0, 1], but got {p}")
        self.transforms = transforms
        self.p = p

    def forward(self, x):
        if self.p < random.random():
            return x
        return self.transforms(x)
