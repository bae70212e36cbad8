"""DenseNet 121/161/169/201 (Huang et al., 2016) as in MXNet 1.9.1's model zoo."""

from __future__ import annotations

from typing import Any

from mxrs.gluon import nn
from mxrs.gluon.block import HybridBlock
from mxrs.gluon.model_zoo.vision._common import Concurrent, Identity, load_pretrained

__all__ = ["DenseNet", "get_densenet", "densenet121", "densenet161", "densenet169", "densenet201"]


def _dense_layer(growth_rate: int, bn_size: int, dropout: float) -> Concurrent:
    """BN-ReLU-1x1 conv, BN-ReLU-3x3 conv; the result is concatenated to the input."""
    new = nn.HybridSequential(prefix="")
    new.add(nn.BatchNorm(), nn.Activation("relu"))
    new.add(nn.Conv2D(bn_size * growth_rate, kernel_size=1, use_bias=False))
    new.add(nn.BatchNorm(), nn.Activation("relu"))
    new.add(nn.Conv2D(growth_rate, kernel_size=3, padding=1, use_bias=False))
    if dropout:
        new.add(nn.Dropout(dropout))
    out = Concurrent(axis=1, prefix="")
    out.add(Identity(), new)
    return out


def _dense_block(num_layers: int, bn_size: int, growth_rate: int, dropout: float, stage: int) -> Any:
    out = nn.HybridSequential(prefix="stage%d_" % stage)
    with out.name_scope():
        for _ in range(num_layers):
            out.add(_dense_layer(growth_rate, bn_size, dropout))
    return out


def _transition(channels: int) -> nn.HybridSequential:
    out = nn.HybridSequential(prefix="")
    out.add(nn.BatchNorm(), nn.Activation("relu"))
    out.add(nn.Conv2D(channels, kernel_size=1, use_bias=False), nn.AvgPool2D(pool_size=2, strides=2))
    return out


class DenseNet(HybridBlock):
    """DenseNet-BC: dense blocks of ``block_config[i]`` layers joined by halving transitions;
    ends with a 7x7 average pool, so inputs are 224x224."""

    def __init__(
        self,
        num_init_features: int,
        growth_rate: int,
        block_config: list[int],
        bn_size: int = 4,
        dropout: float = 0,
        classes: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(num_init_features, kernel_size=7, strides=2, padding=3, use_bias=False))
            self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            features = num_init_features
            for i, num_layers in enumerate(block_config):
                self.features.add(_dense_block(num_layers, bn_size, growth_rate, dropout, i + 1))
                features += num_layers * growth_rate
                if i != len(block_config) - 1:
                    features //= 2
                    self.features.add(_transition(features))
            self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.AvgPool2D(pool_size=7), nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


densenet_spec = {
    121: (64, 32, [6, 12, 24, 16]),
    161: (96, 48, [6, 12, 36, 24]),
    169: (64, 32, [6, 12, 32, 32]),
    201: (64, 32, [6, 12, 48, 32]),
}


def get_densenet(
    num_layers: int, pretrained: bool = False, ctx: Any = None, root: str | None = None, **kwargs: Any
) -> DenseNet:
    """DenseNet with ``num_layers`` (121, 161, 169, 201)."""
    if num_layers not in densenet_spec:
        raise ValueError("Invalid number of layers: %d. Options are %s" % (num_layers, sorted(densenet_spec)))
    init_features, growth_rate, config = densenet_spec[num_layers]
    net = DenseNet(init_features, growth_rate, config, **kwargs)
    if pretrained:
        load_pretrained(net, "densenet%d" % num_layers, ctx, root)
    return net


def densenet121(**kwargs: Any) -> DenseNet:
    """DenseNet-121."""
    return get_densenet(121, **kwargs)


def densenet161(**kwargs: Any) -> DenseNet:
    """DenseNet-161."""
    return get_densenet(161, **kwargs)


def densenet169(**kwargs: Any) -> DenseNet:
    """DenseNet-169."""
    return get_densenet(169, **kwargs)


def densenet201(**kwargs: Any) -> DenseNet:
    """DenseNet-201."""
    return get_densenet(201, **kwargs)
