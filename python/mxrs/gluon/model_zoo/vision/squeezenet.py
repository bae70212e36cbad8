"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016) as in MXNet 1.9.1's model zoo."""

from __future__ import annotations

from typing import Any

from mxrs.gluon import nn
from mxrs.gluon.block import HybridBlock
from mxrs.gluon.model_zoo.vision._common import Concurrent, load_pretrained

__all__ = ["SqueezeNet", "get_squeezenet", "squeezenet1_0", "squeezenet1_1"]


def _fire_conv(channels: int, kernel_size: int, padding: int = 0) -> nn.HybridSequential:
    out = nn.HybridSequential(prefix="")
    out.add(nn.Conv2D(channels, kernel_size, padding=padding), nn.Activation("relu"))
    return out


def _fire(squeeze: int, expand1x1: int, expand3x3: int) -> nn.HybridSequential:
    """A fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated on channels."""
    out = nn.HybridSequential(prefix="")
    out.add(_fire_conv(squeeze, 1))
    paths = Concurrent(axis=1, prefix="")
    paths.add(_fire_conv(expand1x1, 1), _fire_conv(expand3x3, 3, 1))
    out.add(paths)
    return out


# Layer plans: ("pool",) or (squeeze, expand) fire modules after the stem.
_PLANS: dict[str, tuple[int, int, list[Any]]] = {
    "1.0": (
        96,
        7,
        [(16, 64), (16, 64), (32, 128), "pool", (32, 128), (48, 192), (48, 192), (64, 256), "pool", (64, 256)],
    ),
    "1.1": (
        64,
        3,
        [(16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192), (48, 192), (64, 256), (64, 256)],
    ),
}


class SqueezeNet(HybridBlock):
    """SqueezeNet ``version`` '1.0' or '1.1'; the classifier is a 1x1 conv and a 13x13 average
    pool, so inputs are 224x224."""

    def __init__(self, version: str, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if version not in _PLANS:
            raise ValueError("Unsupported SqueezeNet version %s: 1.0 or 1.1 expected" % version)
        stem, kernel, plan = _PLANS[version]
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(stem, kernel_size=kernel, strides=2), nn.Activation("relu"))
            self.features.add(nn.MaxPool2D(pool_size=3, strides=2, ceil_mode=True))
            for step in plan:
                if step == "pool":
                    self.features.add(nn.MaxPool2D(pool_size=3, strides=2, ceil_mode=True))
                else:
                    squeeze, expand = step
                    self.features.add(_fire(squeeze, expand, expand))
            self.features.add(nn.Dropout(0.5))
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.Conv2D(classes, kernel_size=1), nn.Activation("relu"))
            self.output.add(nn.AvgPool2D(13), nn.Flatten())

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def get_squeezenet(
    version: str, pretrained: bool = False, ctx: Any = None, root: str | None = None, **kwargs: Any
) -> SqueezeNet:
    """SqueezeNet '1.0' or '1.1'; ``pretrained=True`` loads MXNet's weights from a local file."""
    net = SqueezeNet(version, **kwargs)
    if pretrained:
        load_pretrained(net, "squeezenet%s" % version, ctx, root)
    return net


def squeezenet1_0(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0."""
    return get_squeezenet("1.0", **kwargs)


def squeezenet1_1(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1."""
    return get_squeezenet("1.1", **kwargs)
