"""Inception v3 (Szegedy et al., 2015) as in MXNet 1.9.1's model zoo (299x299 inputs)."""

from __future__ import annotations

from typing import Any

from mxrs.gluon import nn
from mxrs.gluon.block import HybridBlock
from mxrs.gluon.model_zoo.vision._common import Concurrent, load_pretrained

__all__ = ["Inception3", "inception_v3"]

# A conv setting is (channels, kernel_size, strides, padding); None keeps Conv2D's default.
_Setting = tuple[Any, Any, Any, Any]


def _basic_conv(**kwargs: Any) -> nn.HybridSequential:
    """Conv (no bias) + BN (eps 1e-3) + ReLU."""
    out = nn.HybridSequential(prefix="")
    out.add(nn.Conv2D(use_bias=False, **kwargs), nn.BatchNorm(epsilon=0.001), nn.Activation("relu"))
    return out


def _branch(pool: str | None, *settings: _Setting) -> nn.HybridSequential:
    """An optional pool ('avg' 3x3/1 pad 1, 'max' 3x3/2) followed by basic convs."""
    out = nn.HybridSequential(prefix="")
    if pool == "avg":
        out.add(nn.AvgPool2D(pool_size=3, strides=1, padding=1))
    elif pool == "max":
        out.add(nn.MaxPool2D(pool_size=3, strides=2))
    names = ("channels", "kernel_size", "strides", "padding")
    for setting in settings:
        out.add(_basic_conv(**{k: v for k, v in zip(names, setting) if v is not None}))
    return out


def _concurrent(prefix: str, branches: list[Any]) -> Concurrent:
    """Branches (made inside the block's name scope, in order) concatenated on channels."""
    out = Concurrent(axis=1, prefix=prefix)
    with out.name_scope():
        for make in branches:
            out.add(make())
    return out


def _make_a(pool_features: int, prefix: str) -> Concurrent:
    return _concurrent(
        prefix,
        [
            lambda: _branch(None, (64, 1, None, None)),
            lambda: _branch(None, (48, 1, None, None), (64, 5, None, 2)),
            lambda: _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, None, 1)),
            lambda: _branch("avg", (pool_features, 1, None, None)),
        ],
    )


def _make_b(prefix: str) -> Concurrent:
    return _concurrent(
        prefix,
        [
            lambda: _branch(None, (384, 3, 2, None)),
            lambda: _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, 2, None)),
            lambda: _branch("max"),
        ],
    )


def _make_c(c7: int, prefix: str) -> Concurrent:
    row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    return _concurrent(
        prefix,
        [
            lambda: _branch(None, (192, 1, None, None)),
            lambda: _branch(None, (c7, 1, None, None), (c7, row[0], None, row[1]), (192, col[0], None, col[1])),
            lambda: _branch(
                None,
                (c7, 1, None, None),
                (c7, col[0], None, col[1]),
                (c7, row[0], None, row[1]),
                (c7, col[0], None, col[1]),
                (192, row[0], None, row[1]),
            ),
            lambda: _branch("avg", (192, 1, None, None)),
        ],
    )


def _make_d(prefix: str) -> Concurrent:
    return _concurrent(
        prefix,
        [
            lambda: _branch(None, (192, 1, None, None), (320, 3, 2, None)),
            lambda: _branch(
                None, (192, 1, None, None), (192, (1, 7), None, (0, 3)), (192, (7, 1), None, (3, 0)), (192, 3, 2, None)
            ),
            lambda: _branch("max"),
        ],
    )


def _split_3x3(*first: _Setting) -> nn.HybridSequential:
    """``first`` convs, then parallel 1x3 and 3x1 convs of 384 channels concatenated."""
    out = nn.HybridSequential(prefix="")
    out.add(_branch(None, *first))
    split = Concurrent(axis=1, prefix="")
    split.add(_branch(None, (384, (1, 3), None, (0, 1))), _branch(None, (384, (3, 1), None, (1, 0))))
    out.add(split)
    return out


def _make_e(prefix: str) -> Concurrent:
    return _concurrent(
        prefix,
        [
            lambda: _branch(None, (320, 1, None, None)),
            lambda: _split_3x3((384, 1, None, None)),
            lambda: _split_3x3((448, 1, None, None), (384, 3, None, 1)),
            lambda: _branch("avg", (192, 1, None, None)),
        ],
    )


class Inception3(HybridBlock):
    """Inception v3; ends with an 8x8 average pool, so inputs are 299x299."""

    def __init__(self, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            f = self.features
            f.add(_basic_conv(channels=32, kernel_size=3, strides=2))
            f.add(_basic_conv(channels=32, kernel_size=3))
            f.add(_basic_conv(channels=64, kernel_size=3, padding=1))
            f.add(nn.MaxPool2D(pool_size=3, strides=2))
            f.add(_basic_conv(channels=80, kernel_size=1))
            f.add(_basic_conv(channels=192, kernel_size=3))
            f.add(nn.MaxPool2D(pool_size=3, strides=2))
            f.add(_make_a(32, "A1_"), _make_a(64, "A2_"), _make_a(64, "A3_"))
            f.add(_make_b("B_"))
            f.add(_make_c(128, "C1_"), _make_c(160, "C2_"), _make_c(160, "C3_"), _make_c(192, "C4_"))
            f.add(_make_d("D_"))
            f.add(_make_e("E1_"), _make_e("E2_"))
            f.add(nn.AvgPool2D(pool_size=8), nn.Dropout(0.5))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def inception_v3(pretrained: bool = False, ctx: Any = None, root: str | None = None, **kwargs: Any) -> Inception3:
    """Inception v3; ``pretrained=True`` loads MXNet's weights from a local file."""
    net = Inception3(**kwargs)
    if pretrained:
        load_pretrained(net, "inceptionv3", ctx, root)
    return net
