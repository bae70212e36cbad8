"""Containers and basic layers of ``mx.gluon.nn``."""

import warnings

import numpy as np

from mxrs import ndarray as nd
from mxrs.gluon.block import Block, HybridBlock
from mxrs.gluon.nn.activations import Activation
from mxrs.gluon.parameter import _indent

__all__ = [
    "Sequential",
    "HybridSequential",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "BatchNorm",
    "BatchNormReLU",
    "InstanceNorm",
    "LayerNorm",
    "GroupNorm",
    "Lambda",
    "HybridLambda",
]


def _children_repr(block):
    modstr = "\n".join(f"  ({key}): {_indent(repr(b), 2)}" for key, b in block._children.items())
    return f"{block.__class__.__name__}(\n{modstr}\n)"


def _sequential_getitem(self, key):
    layers = list(self._children.values())[key]
    if isinstance(layers, list):
        net = type(self)(prefix=self._prefix)
        with net.name_scope():
            net.add(*layers)
        return net
    return layers


class Sequential(Block):
    """Blocks run one after the other."""

    _is_container = True

    def add(self, *blocks):
        """Append ``blocks``."""
        for block in blocks:
            self.register_child(block)

    def forward(self, x):
        for block in self._children.values():
            x = block(x)
        return x

    def __repr__(self):
        return _children_repr(self)

    __getitem__ = _sequential_getitem

    def __len__(self):
        return len(self._children)

    def hybridize(self, active=True, **kwargs):
        """Hybridize the children (and warn when HybridSequential would do better)."""
        if self._children and all(isinstance(c, HybridBlock) for c in self._children.values()):
            warnings.warn(
                f"All children of this Sequential layer '{self.prefix}' are HybridBlocks. Consider using "
                "HybridSequential for the best performance.",
                stacklevel=2,
            )
        super().hybridize(active, **kwargs)


class HybridSequential(HybridBlock):
    """HybridBlocks run one after the other; hybridizes as one graph."""

    _is_container = True

    def add(self, *blocks):
        """Append ``blocks``."""
        for block in blocks:
            self.register_child(block)

    def hybrid_forward(self, F, x):
        for block in self._children.values():
            x = block(x)
        return x

    def __repr__(self):
        return _children_repr(self)

    __getitem__ = _sequential_getitem

    def __len__(self):
        return len(self._children)


class Dense(HybridBlock):
    """A fully connected layer: ``activation(dot(x, weight.T) + bias)``.

    ``in_units`` 0 defers the weight's shape to the first input; ``flatten`` False applies the
    layer to the last axis only.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        flatten=True,
        dtype="float32",
        weight_initializer=None,
        bias_initializer="zeros",
        in_units=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._flatten = flatten
        with self.name_scope():
            self._units = units
            self._in_units = in_units
            self.weight = self.params.get(
                "weight", shape=(units, in_units), init=weight_initializer, dtype=dtype, allow_deferred_init=True
            )
            if use_bias:
                self.bias = self.params.get(
                    "bias", shape=(units,), init=bias_initializer, dtype=dtype, allow_deferred_init=True
                )
            else:
                self.bias = None
            self.act: Activation | None = None
            if activation is not None:
                self.act = Activation(activation, prefix=activation + "_")

    def hybrid_forward(self, F, x, weight, bias=None):
        act = F.FullyConnected(
            x, weight, bias, no_bias=bias is None, num_hidden=self._units, flatten=self._flatten, name="fwd"
        )
        if self.act is not None:
            act = self.act(act)
        return act

    def __repr__(self):
        shape = self.weight.shape
        layout = f"{shape[1] if shape[1] else None} -> {shape[0]}"
        return f"{self.__class__.__name__}({layout}, {self.act if self.act else 'linear'})"


class Dropout(HybridBlock):
    """Zero a fraction ``rate`` of the inputs in training (``axes``: share the mask along them)."""

    def __init__(self, rate, axes=(), **kwargs):
        super().__init__(**kwargs)
        self._rate = rate
        self._axes = axes

    def hybrid_forward(self, F, x):
        if self._rate > 0:
            return F.Dropout(x, p=self._rate, axes=self._axes, name="fwd", cudnn_off=False)
        return F._copy(x)

    def __repr__(self):
        return f"{self.__class__.__name__}(p = {self._rate}, axes={self._axes})"


class Embedding(HybridBlock):
    """Map integer indices to rows of an ``(input_dim, output_dim)`` weight."""

    def __init__(self, input_dim, output_dim, dtype="float32", weight_initializer=None, sparse_grad=False, **kwargs):
        super().__init__(**kwargs)
        self._kwargs = {"input_dim": input_dim, "output_dim": output_dim, "dtype": dtype, "sparse_grad": sparse_grad}
        self.weight = self.params.get(
            "weight", shape=(input_dim, output_dim), init=weight_initializer, dtype=dtype, allow_deferred_init=True
        )

    def hybrid_forward(self, F, x, weight):
        return F.Embedding(x, weight, name="fwd", **self._kwargs)

    def __repr__(self):
        k = self._kwargs
        return f"{self.__class__.__name__}({k['input_dim']} -> {k['output_dim']}, {k['dtype']})"


class Flatten(HybridBlock):
    """Reshape to ``(batch, -1)``."""

    def hybrid_forward(self, F, x):
        return F.Flatten(x)

    def __repr__(self):
        return self.__class__.__name__


def _kwargs_repr(block, in_channels):
    content = ", ".join(f"{k}={v!r}" for k, v in block._kwargs.items())
    return f"{block.__class__.__name__}({content}, in_channels={in_channels})"


class _BatchNorm(HybridBlock):
    """Batch normalization over axis ``axis``, with moving statistics as aux Parameters;
    followed by a ReLU when ``fuse_relu`` (MXNet's common base of the two layers)."""

    def __init__(
        self,
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=True,
        scale=True,
        use_global_stats=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        running_mean_initializer="zeros",
        running_variance_initializer="ones",
        in_channels=0,
        fuse_relu=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.fuse_relu = fuse_relu
        self._kwargs = {
            "axis": axis,
            "eps": epsilon,
            "momentum": momentum,
            "fix_gamma": not scale,
            "use_global_stats": use_global_stats,
        }
        self._axis = axis
        if in_channels != 0:
            self.in_channels = in_channels
        get = self.params.get
        self.gamma = get(
            "gamma", grad_req="write" if scale else "null", shape=(in_channels,), init=gamma_initializer,
            allow_deferred_init=True, differentiable=scale,
        )  # fmt: skip
        self.beta = get(
            "beta", grad_req="write" if center else "null", shape=(in_channels,), init=beta_initializer,
            allow_deferred_init=True, differentiable=center,
        )  # fmt: skip
        self.running_mean = get(
            "running_mean", grad_req="null", shape=(in_channels,), init=running_mean_initializer,
            allow_deferred_init=True, differentiable=False,
        )  # fmt: skip
        self.running_var = get(
            "running_var", grad_req="null", shape=(in_channels,), init=running_variance_initializer,
            allow_deferred_init=True, differentiable=False,
        )  # fmt: skip

    def cast(self, dtype):
        """Cast (float16 keeps float32 statistics, as MXNet)."""
        if np.dtype(dtype).name == "float16":
            dtype = "float32"
        super().cast(dtype)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        out = F.BatchNorm(x, gamma, beta, running_mean, running_var, name="fwd", **self._kwargs)
        # MXNet calls its fused ``contrib.BatchNormWithReLU``: the same values and gradients.
        return F.relu(out) if self.fuse_relu else out

    def __repr__(self):
        in_channels = self.gamma.shape[0]
        return _kwargs_repr(self, in_channels if in_channels else None)


class BatchNorm(_BatchNorm):
    """Batch normalization over axis ``axis``, with moving statistics as aux Parameters."""

    def __init__(
        self,
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=True,
        scale=True,
        use_global_stats=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        running_mean_initializer="zeros",
        running_variance_initializer="ones",
        in_channels=0,
        **kwargs,
    ):
        super().__init__(
            axis, momentum, epsilon, center, scale, use_global_stats, beta_initializer, gamma_initializer,
            running_mean_initializer, running_variance_initializer, in_channels, fuse_relu=False, **kwargs,
        )  # fmt: skip


class BatchNormReLU(_BatchNorm):
    """Batch normalization followed by a ReLU, as one layer (MXNet 1.9's ``BatchNormReLU``)."""

    def __init__(
        self,
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=True,
        scale=True,
        use_global_stats=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        running_mean_initializer="zeros",
        running_variance_initializer="ones",
        in_channels=0,
        **kwargs,
    ):
        super().__init__(
            axis, momentum, epsilon, center, scale, use_global_stats, beta_initializer, gamma_initializer,
            running_mean_initializer, running_variance_initializer, in_channels, fuse_relu=True, **kwargs,
        )  # fmt: skip


class _AffineNorm(HybridBlock):
    """Shared setup of the norms with a gamma and a beta of ``(channels,)``."""

    def _make_params(self, channels, center, scale, beta_initializer, gamma_initializer):
        self.gamma = self.params.get(
            "gamma", grad_req="write" if scale else "null", shape=(channels,), init=gamma_initializer,
            allow_deferred_init=True,
        )  # fmt: skip
        self.beta = self.params.get(
            "beta", grad_req="write" if center else "null", shape=(channels,), init=beta_initializer,
            allow_deferred_init=True,
        )  # fmt: skip

    def __repr__(self):
        return _kwargs_repr(self, self.gamma.shape[0])


class InstanceNorm(_AffineNorm):
    """Normalize each sample and channel over the remaining axes (channels on ``axis``)."""

    def __init__(
        self, axis=1, epsilon=1e-5, center=True, scale=False, beta_initializer="zeros", gamma_initializer="ones",
        in_channels=0, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self._kwargs = {"eps": epsilon, "axis": axis, "center": center, "scale": scale}
        self._axis = axis
        self._epsilon = epsilon
        self._make_params(in_channels, center, scale, beta_initializer, gamma_initializer)

    def hybrid_forward(self, F, x, gamma, beta):
        if self._axis == 1:
            return F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon)
        x = F.swapaxes(x, 1, self._axis)
        return F.swapaxes(F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon), 1, self._axis)


class LayerNorm(_AffineNorm):
    """Normalize each sample over axis ``axis`` (the last by default)."""

    def __init__(
        self, axis=-1, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros", gamma_initializer="ones",
        in_channels=0, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self._kwargs = {"eps": epsilon, "axis": axis, "center": center, "scale": scale}
        self._axis = axis
        self._epsilon = epsilon
        self._make_params(in_channels, center, scale, beta_initializer, gamma_initializer)

    def hybrid_forward(self, F, data, gamma, beta):
        return F.LayerNorm(data, gamma=gamma, beta=beta, axis=self._axis, eps=self._epsilon)


class GroupNorm(_AffineNorm):
    """Normalize each group of ``channels / num_groups`` channels of each sample."""

    def __init__(
        self, num_groups=1, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros", gamma_initializer="ones",
        **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self._kwargs = {"eps": epsilon, "num_groups": num_groups, "center": center, "scale": scale}
        self._num_groups = num_groups
        self._epsilon = epsilon
        self._make_params(num_groups, center, scale, beta_initializer, gamma_initializer)

    def hybrid_forward(self, F, data, gamma, beta):
        return F.GroupNorm(data, gamma=gamma, beta=beta, num_groups=self._num_groups, eps=self._epsilon)

    def __repr__(self):
        content = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{self.__class__.__name__}({content})"


class Lambda(Block):
    """An ``mx.nd`` function (by name) or any callable as a Block."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            if not hasattr(nd, function):
                raise AssertionError(f"Function name {function} is not found in ndarray.")
            self._func_impl = getattr(nd, function)
        elif callable(function):
            self._func_impl = function
        else:
            raise ValueError(f"Unrecognized function in lambda: {function} of type {type(function)}")

    def forward(self, *args):
        return self._func_impl(*args)

    def __repr__(self):
        return f"{self.__class__.__name__}({getattr(self._func_impl, '__name__', self._func_impl)})"


class HybridLambda(HybridBlock):
    """An op name (found in F) or a callable ``f(F, x, *args)`` as a HybridBlock."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            if not hasattr(nd, function):
                raise AssertionError(f"Function name {function} is not found in ndarray.")
            self._func = lambda F, *args: getattr(F, function)(*args)
            self._func_name = function
        elif callable(function):
            self._func = function
            self._func_name = getattr(function, "__name__", repr(function))
        else:
            raise ValueError(f"Unrecognized function in lambda: {function} of type {type(function)}")

    def hybrid_forward(self, F, x, *args):
        return self._func(F, x, *args)

    def __repr__(self):
        return f"{self.__class__.__name__}({self._func_name})"
