"""Model definitions of MXNet 1.9.1's ``gluon.model_zoo`` (pretrained weights are not bundled)."""

from mxrs.gluon.model_zoo import vision
from mxrs.gluon.model_zoo.vision import get_model

__all__ = ["vision", "get_model"]
