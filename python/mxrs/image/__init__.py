"""``mx.image`` / ``mx.img``: image decoding, OpenCV-style helpers, augmenters and the Python
image iterators, as MXNet 1.9.1's ``mxnet.image``."""

from mxrs.image import detection, image
from mxrs.image.detection import *  # noqa: F401,F403
from mxrs.image.detection import __all__ as _detection_all
from mxrs.image.image import *  # noqa: F401,F403
from mxrs.image.image import __all__ as _image_all
from mxrs.image.iterator import ImageIter

det = detection

__all__ = ["image", "detection", "det", "ImageIter"] + _image_all + _detection_all
