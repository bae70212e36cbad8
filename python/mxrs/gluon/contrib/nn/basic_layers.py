"""MXNet 1.9.1's ``gluon.contrib.nn`` layers on mxrs's Gluon blocks.

``SparseEmbedding`` keeps a dense weight and gives a dense gradient (mxrs has no row-sparse
storage for parameters); its values are MXNet's. ``SyncBatchNorm`` synchronises the statistics
across ``num_devices`` devices in MXNet; mxrs runs one device per process, where it is exactly
``BatchNorm`` over axis 1.
"""

import numpy as np

from mxrs import ndarray as nd
from mxrs.base import MXNetError
from mxrs.gluon.block import Block, HybridBlock
from mxrs.gluon.nn import BatchNorm, HybridSequential, Sequential
from mxrs.ndarray import NDArray

__all__ = [
    "Concurrent",
    "HybridConcurrent",
    "Identity",
    "SparseEmbedding",
    "SyncBatchNorm",
    "PixelShuffle1D",
    "PixelShuffle2D",
    "PixelShuffle3D",
]


class Concurrent(Sequential):
    """Feed the input to every child and concatenate their outputs along ``axis``."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def forward(self, x):
        out = [block(x) for block in self._children.values()]
        _check_concat(self, out, self.axis)
        return nd.concat(*out, dim=self.axis)


class HybridConcurrent(HybridSequential):
    """Hybridizable :class:`Concurrent`: the children's outputs concatenated along ``axis``."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def hybrid_forward(self, F, x):
        out = [block(x) for block in self._children.values()]
        if F is nd:
            _check_concat(self, out, self.axis)
        return F.concat(*out, dim=self.axis)


def _check_concat(block, outs, axis):
    """MXNetError naming the block and the children's output shapes when they cannot be joined."""
    name = type(block).__name__
    if not outs:
        raise MXNetError(f"{name}: has no children to concatenate")
    shapes = [tuple(o.shape) for o in outs]
    ndim = len(shapes[0])
    if any(len(s) != ndim for s in shapes) or not -ndim <= axis < ndim:
        raise MXNetError(f"{name}: cannot concatenate children's outputs of shapes {shapes} on axis {axis}")
    ax = axis % ndim
    rest = {s[:ax] + s[ax + 1 :] for s in shapes}
    if len(rest) != 1:
        raise MXNetError(f"{name}: children's outputs of shapes {shapes} differ outside the concatenation axis {axis}")


class Identity(HybridBlock):
    """Pass the input through unchanged (e.g. a residual branch of :class:`HybridConcurrent`)."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)

    def hybrid_forward(self, F, x):
        return x


class SparseEmbedding(Block):
    """Map integer indices to rows of an ``(input_dim, output_dim)`` weight.

    MXNet stores the weight and its gradient row-sparse; mxrs keeps them dense (same values,
    dense gradient)."""

    def __init__(self, input_dim, output_dim, dtype="float32", weight_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self._kwargs = {"input_dim": input_dim, "output_dim": output_dim, "dtype": dtype, "sparse_grad": False}
        self.weight = self.params.get("weight", shape=(input_dim, output_dim), init=weight_initializer, dtype=dtype)

    def forward(self, x):
        return nd.Embedding(x, self.weight.data(x.context), name="fwd", **self._kwargs)

    def __repr__(self):
        k = self._kwargs
        return f"{self.__class__.__name__}({k['input_dim']} -> {k['output_dim']}, {k['dtype']})"


class SyncBatchNorm(BatchNorm):
    """Cross-device synchronized batch normalization over axis 1.

    ``num_devices`` is accepted for MXNet compatibility (default 1: mxrs computes on one device
    per process), so the statistics are those of the whole batch: it is ``BatchNorm(axis=1)``."""

    def __init__(
        self,
        in_channels=0,
        num_devices=None,
        momentum=0.9,
        epsilon=1e-5,
        center=True,
        scale=True,
        use_global_stats=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        running_mean_initializer="zeros",
        running_variance_initializer="ones",
        **kwargs,
    ):
        super().__init__(
            axis=1, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
            use_global_stats=use_global_stats, beta_initializer=beta_initializer,
            gamma_initializer=gamma_initializer, running_mean_initializer=running_mean_initializer,
            running_variance_initializer=running_variance_initializer, in_channels=in_channels, **kwargs,
        )  # fmt: skip
        num_devices = 1 if num_devices is None else int(num_devices)
        if num_devices < 1:
            raise MXNetError(f"SyncBatchNorm: num_devices must be >= 1, got {num_devices}")
        self.num_devices = num_devices


def _factors(factor, n, name):
    try:
        return (int(factor),) * n
    except TypeError:
        factors = tuple(int(f) for f in factor)
        if len(factors) != n:
            raise MXNetError(f"{name}: factor must be an int or {n} ints, got {factor!r}") from None
        return factors


class _PixelShuffle(HybridBlock):
    _ndim = 1

    def __init__(self, factor):
        super().__init__()
        self._factors = _factors(factor, self._ndim, type(self).__name__)
        if any(f < 1 for f in self._factors):
            raise MXNetError(f"{type(self).__name__}: factors must be positive, got {self._factors}")

    def forward(self, x, *args):
        if isinstance(x, NDArray):
            shape = tuple(x.shape)
            want = int(np.prod(self._factors))
            if len(shape) != self._ndim + 2 or shape[1] % want:
                spatial = "".join(", " + d for d in "DHW"[3 - self._ndim :])
                raise MXNetError(
                    f"{type(self).__name__}: input of shape {shape} must be (N, C{spatial}) with C a multiple "
                    f"of {want} (factors {self._factors})"
                )
        return super().forward(x, *args)

    def __repr__(self):
        shown = self._factors[0] if self._ndim == 1 else self._factors
        return f"{self.__class__.__name__}({shown})"


class PixelShuffle1D(_PixelShuffle):
    """Regroup channels into width: ``(N, f*C, W)`` -> ``(N, C, W*f)``."""

    _ndim = 1

    def hybrid_forward(self, F, x):
        (f,) = self._factors
        x = F.reshape(x, (0, -4, -1, f, 0))  # (N, C, f, W)
        x = F.transpose(x, (0, 1, 3, 2))  # (N, C, W, f)
        return F.reshape(x, (0, 0, -3))  # (N, C, W*f)


class PixelShuffle2D(_PixelShuffle):
    """Regroup channels into height and width: ``(N, f1*f2*C, H, W)`` -> ``(N, C, H*f1, W*f2)``."""

    _ndim = 2

    def hybrid_forward(self, F, x):
        f1, f2 = self._factors
        x = F.reshape(x, (0, -4, -1, f1 * f2, 0, 0))  # (N, C, f1*f2, H, W)
        x = F.reshape(x, (0, 0, -4, f1, f2, 0, 0))  # (N, C, f1, f2, H, W)
        x = F.transpose(x, (0, 1, 4, 2, 5, 3))  # (N, C, H, f1, W, f2)
        return F.reshape(x, (0, 0, -3, -3))  # (N, C, H*f1, W*f2)


class PixelShuffle3D(_PixelShuffle):
    """Regroup channels into depth, height and width:
    ``(N, f1*f2*f3*C, D, H, W)`` -> ``(N, C, D*f1, H*f2, W*f3)``."""

    _ndim = 3

    def hybrid_forward(self, F, x):
        f1, f2, f3 = self._factors
        x = F.reshape(x, (0, -4, -1, f1 * f2 * f3, 0, 0, 0))  # (N, C, f1*f2*f3, D, H, W)
        x = F.swapaxes(x, 2, 3)  # (N, C, D, f1*f2*f3, H, W)
        x = F.reshape(x, (0, 0, 0, -4, f1, f2 * f3, 0, 0))  # (N, C, D, f1, f2*f3, H, W)
        x = F.reshape(x, (0, 0, -3, 0, 0, 0))  # (N, C, D*f1, f2*f3, H, W)
        x = F.swapaxes(x, 3, 4)  # (N, C, D*f1, H, f2*f3, W)
        x = F.reshape(x, (0, 0, 0, 0, -4, f2, f3, 0))  # (N, C, D*f1, H, f2, f3, W)
        x = F.reshape(x, (0, 0, 0, -3, 0, 0))  # (N, C, D*f1, H*f2, f3, W)
        x = F.swapaxes(x, 4, 5)  # (N, C, D*f1, H*f2, W, f3)
        return F.reshape(x, (0, 0, 0, 0, -3))  # (N, C, D*f1, H*f2, W*f3)
