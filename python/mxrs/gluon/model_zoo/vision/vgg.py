"""VGG 11/13/16/19, with and without batch norm (Simonyan & Zisserman, 2014), as in MXNet 1.9.1."""

from __future__ import annotations

from typing import Any

from mxrs.gluon import nn
from mxrs.gluon.block import HybridBlock
from mxrs.gluon.model_zoo.vision._common import load_pretrained
from mxrs.initializer import Xavier

__all__ = [
    "VGG",
    "get_vgg",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "vgg11_bn",
    "vgg13_bn",
    "vgg16_bn",
    "vgg19_bn",
]


class VGG(HybridBlock):
    """``layers[i]`` 3x3 convolutions of ``filters[i]`` channels then a 2x2 max pool per
    stage, two 4096-unit dense layers with dropout, and the classifier."""

    def __init__(
        self, layers: list[int], filters: list[int], classes: int = 1000, batch_norm: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if len(layers) != len(filters):
            raise ValueError("VGG: %d stages but %d filter counts" % (len(layers), len(filters)))
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            conv_init = Xavier(rnd_type="gaussian", factor_type="out", magnitude=2)
            for num, channels in zip(layers, filters):
                for _ in range(num):
                    self.features.add(
                        nn.Conv2D(
                            channels, kernel_size=3, padding=1, weight_initializer=conv_init, bias_initializer="zeros"
                        )
                    )
                    if batch_norm:
                        self.features.add(nn.BatchNorm())
                    self.features.add(nn.Activation("relu"))
                self.features.add(nn.MaxPool2D(strides=2))
            for _ in range(2):
                self.features.add(
                    nn.Dense(4096, activation="relu", weight_initializer="normal", bias_initializer="zeros")
                )
                self.features.add(nn.Dropout(rate=0.5))
            self.output = nn.Dense(classes, weight_initializer="normal", bias_initializer="zeros")

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


vgg_spec = {
    11: ([1, 1, 2, 2, 2], [64, 128, 256, 512, 512]),
    13: ([2, 2, 2, 2, 2], [64, 128, 256, 512, 512]),
    16: ([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]),
    19: ([2, 2, 4, 4, 4], [64, 128, 256, 512, 512]),
}


def get_vgg(num_layers: int, pretrained: bool = False, ctx: Any = None, root: str | None = None, **kwargs: Any) -> VGG:
    """VGG with ``num_layers`` (11, 13, 16, 19); ``batch_norm=True`` for the _bn variants."""
    if num_layers not in vgg_spec:
        raise ValueError("Invalid number of layers: %d. Options are %s" % (num_layers, sorted(vgg_spec)))
    layers, filters = vgg_spec[num_layers]
    net = VGG(layers, filters, **kwargs)
    if pretrained:
        name = "vgg%d%s" % (num_layers, "_bn" if kwargs.get("batch_norm") else "")
        load_pretrained(net, name, ctx, root)
    return net


def vgg11(**kwargs: Any) -> VGG:
    """VGG-11."""
    return get_vgg(11, **kwargs)


def vgg13(**kwargs: Any) -> VGG:
    """VGG-13."""
    return get_vgg(13, **kwargs)


def vgg16(**kwargs: Any) -> VGG:
    """VGG-16."""
    return get_vgg(16, **kwargs)


def vgg19(**kwargs: Any) -> VGG:
    """VGG-19."""
    return get_vgg(19, **kwargs)


def vgg11_bn(**kwargs: Any) -> VGG:
    """VGG-11 with batch normalization."""
    return get_vgg(11, batch_norm=True, **kwargs)


def vgg13_bn(**kwargs: Any) -> VGG:
    """VGG-13 with batch normalization."""
    return get_vgg(13, batch_norm=True, **kwargs)


def vgg16_bn(**kwargs: Any) -> VGG:
    """VGG-16 with batch normalization."""
    return get_vgg(16, batch_norm=True, **kwargs)


def vgg19_bn(**kwargs: Any) -> VGG:
    """VGG-19 with batch normalization."""
    return get_vgg(19, batch_norm=True, **kwargs)
