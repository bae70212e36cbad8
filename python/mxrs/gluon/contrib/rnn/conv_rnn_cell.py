"""MXNet 1.9.1's convolutional recurrent cells (Shi et al., 2015): ``Conv{1,2,3}D{RNN,LSTM,GRU}Cell``.

The input-to-hidden and hidden-to-hidden maps are convolutions; the states keep the spatial
shape of the i2h convolution's output (the h2h convolution pads to keep it, so ``h2h_kernel``
must be odd). Parameter names, shapes and gate orders are MXNet's.
"""

from __future__ import annotations

from typing import Any

from mxrs.base import MXNetError
from mxrs.gluon.rnn.rnn_cell import HybridRecurrentCell
from mxrs.ndarray import NDArray

__all__ = [
    "Conv1DRNNCell",
    "Conv2DRNNCell",
    "Conv3DRNNCell",
    "Conv1DLSTMCell",
    "Conv2DLSTMCell",
    "Conv3DLSTMCell",
    "Conv1DGRUCell",
    "Conv2DGRUCell",
    "Conv3DGRUCell",
]


def _get_conv_out_size(dimensions: Any, kernels: Any, paddings: Any, dilations: Any) -> tuple[int, ...]:
    return tuple(
        int(x + 2 * p - d * (k - 1) - 1) + 1 if x else 0 for x, k, p, d in zip(dimensions, kernels, paddings, dilations)
    )


def _spec(value: Any, dims: int, what: str, cls: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    out = tuple(int(v) for v in value)
    if len(out) != dims:
        raise MXNetError(
            f"{cls}: for {dims}D convolution, {what} can only be an int or a list/tuple of length {dims}, got {value!r}"
        )
    return out


class _BaseConvRNNCell(HybridRecurrentCell):
    """Shared parameters and convolutions of the convolutional cells."""

    _dims = 2
    _layout = "NCHW"
    _gates = 1
    _alias_name = "conv_rnn"

    def __init__(
        self,
        input_shape: Any,
        hidden_channels: int,
        i2h_kernel: Any,
        h2h_kernel: Any,
        i2h_pad: Any = 0,
        i2h_dilate: Any = 1,
        h2h_dilate: Any = 1,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        conv_layout: str | None = None,
        activation: Any = "tanh",
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(prefix=prefix, params=params)
        name, dims = type(self).__name__, self._dims
        self._hidden_channels = hidden_channels
        self._input_shape = tuple(input_shape)
        self._conv_layout = conv_layout or self._layout
        self._activation = activation
        if len(self._conv_layout) != dims + 2 or len(self._input_shape) != dims + 1:
            raise MXNetError(
                f"{name}: input_shape {self._input_shape} and conv_layout {self._conv_layout!r} must have "
                f"{dims + 1} and {dims + 2} dimensions"
            )
        self._i2h_kernel = _spec(i2h_kernel, dims, "i2h_kernel", name)
        self._stride = (1,) * dims
        self._i2h_pad = _spec(i2h_pad, dims, "i2h_pad", name)
        self._i2h_dilate = _spec(i2h_dilate, dims, "i2h_dilate", name)
        self._h2h_kernel = _spec(h2h_kernel, dims, "h2h_kernel", name)
        if any(k % 2 == 0 for k in self._h2h_kernel):
            raise MXNetError(f"{name}: only odd h2h_kernel sizes are supported, got h2h_kernel={h2h_kernel}")
        self._h2h_dilate = _spec(h2h_dilate, dims, "h2h_dilate", name)
        i2h_shape, h2h_shape = self._decide_shapes()
        total = hidden_channels * self._gates
        get = self.params.get
        self.i2h_weight = get("i2h_weight", shape=i2h_shape, init=i2h_weight_initializer, allow_deferred_init=True)
        self.h2h_weight = get("h2h_weight", shape=h2h_shape, init=h2h_weight_initializer, allow_deferred_init=True)
        self.i2h_bias = get("i2h_bias", shape=(total,), init=i2h_bias_initializer, allow_deferred_init=True)
        self.h2h_bias = get("h2h_bias", shape=(total,), init=h2h_bias_initializer, allow_deferred_init=True)

    def _decide_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        self._channel_axis = self._conv_layout.find("C")
        shape, hidden = self._input_shape, self._hidden_channels
        self._in_channels = shape[self._channel_axis - 1]
        spatial = shape[1:] if self._channel_axis == 1 else shape[:-1]
        total = hidden * self._gates
        out = _get_conv_out_size(spatial, self._i2h_kernel, self._i2h_pad, self._i2h_dilate)
        self._h2h_pad = tuple(d * (k - 1) // 2 for d, k in zip(self._h2h_dilate, self._h2h_kernel))
        if self._channel_axis == 1:
            self._state_shape = (hidden,) + out
            return (total, self._in_channels) + self._i2h_kernel, (total, hidden) + self._h2h_kernel
        self._state_shape = out + (hidden,)
        return (total,) + self._i2h_kernel + (self._in_channels,), (total,) + self._h2h_kernel + (hidden,)

    def _alias(self) -> str:
        return self._alias_name

    def state_info(self, batch_size: int = 0) -> list[Any]:
        n = 2 if self._gates == 4 else 1
        return [{"shape": (batch_size,) + self._state_shape, "__layout__": self._conv_layout} for _ in range(n)]

    def __repr__(self) -> str:
        shape = self.i2h_weight.shape
        in_channels = shape[1 if self._channel_axis == 1 else -1]
        mapping = f"{in_channels if in_channels else None} -> {shape[0]}"
        return f"{type(self).__name__}({mapping}, {self._activation}, {self._conv_layout})"

    def forward(self, inputs: Any, states: Any) -> Any:
        if isinstance(inputs, NDArray):
            got = tuple(inputs.shape)[1:]
            st = [tuple(s.shape)[1:] for s in states] if isinstance(states, (list, tuple)) else None
            if got != self._input_shape or st != [self._state_shape] * len(self.state_info()):
                raise MXNetError(
                    f"{type(self).__name__}: input of shape {tuple(inputs.shape)} and states of shapes "
                    f"{[tuple(s.shape) for s in states] if st is not None else states} do not fit "
                    f"input_shape {self._input_shape} and state shape {self._state_shape} (batch first)"
                )
        return super().forward(inputs, states)

    def _conv_forward(self, F: Any, inputs: Any, states: Any, weights: tuple[Any, ...], prefix: str) -> Any:
        i2h_weight, h2h_weight, i2h_bias, h2h_bias = weights
        n = self._hidden_channels * self._gates
        i2h = F.Convolution(
            data=inputs, num_filter=n, kernel=self._i2h_kernel, stride=self._stride, pad=self._i2h_pad,
            dilate=self._i2h_dilate, weight=i2h_weight, bias=i2h_bias, layout=self._conv_layout, name=prefix + "i2h",
        )  # fmt: skip
        h2h = F.Convolution(
            data=states[0], num_filter=n, kernel=self._h2h_kernel, dilate=self._h2h_dilate, pad=self._h2h_pad,
            stride=self._stride, weight=h2h_weight, bias=h2h_bias, layout=self._conv_layout, name=prefix + "h2h",
        )  # fmt: skip
        return i2h, h2h


class _ConvRNNCell(_BaseConvRNNCell):
    _gates = 1
    _alias_name = "conv_rnn"

    def hybrid_forward(
        self, F: Any, inputs: Any, states: Any, i2h_weight: Any, h2h_weight: Any, i2h_bias: Any, h2h_bias: Any
    ) -> Any:
        p = "t%d_" % self._counter
        i2h, h2h = self._conv_forward(F, inputs, states, (i2h_weight, h2h_weight, i2h_bias, h2h_bias), p)
        output = self._get_activation(F, i2h + h2h, self._activation, name=p + "out")
        return output, [output]


class _ConvLSTMCell(_BaseConvRNNCell):
    _gates = 4
    _alias_name = "conv_lstm"

    def hybrid_forward(
        self, F: Any, inputs: Any, states: Any, i2h_weight: Any, h2h_weight: Any, i2h_bias: Any, h2h_bias: Any
    ) -> Any:
        p = "t%d_" % self._counter
        i2h, h2h = self._conv_forward(F, inputs, states, (i2h_weight, h2h_weight, i2h_bias, h2h_bias), p)
        gates = F.SliceChannel(i2h + h2h, num_outputs=4, name=p + "slice", axis=self._channel_axis)
        in_gate = F.Activation(gates[0], act_type="sigmoid", name=p + "i")
        forget_gate = F.Activation(gates[1], act_type="sigmoid", name=p + "f")
        in_transform = self._get_activation(F, gates[2], self._activation, name=p + "c")
        out_gate = F.Activation(gates[3], act_type="sigmoid", name=p + "o")
        next_c = F.elemwise_add(forget_gate * states[1], in_gate * in_transform, name=p + "state")
        next_h = F.elemwise_mul(out_gate, self._get_activation(F, next_c, self._activation), name=p + "out")
        return next_h, [next_h, next_c]


class _ConvGRUCell(_BaseConvRNNCell):
    _gates = 3
    _alias_name = "conv_gru"

    def hybrid_forward(
        self, F: Any, inputs: Any, states: Any, i2h_weight: Any, h2h_weight: Any, i2h_bias: Any, h2h_bias: Any
    ) -> Any:
        p = "t%d_" % self._counter
        i2h, h2h = self._conv_forward(F, inputs, states, (i2h_weight, h2h_weight, i2h_bias, h2h_bias), p)
        i2h_r, i2h_z, i2h = F.SliceChannel(i2h, num_outputs=3, name=p + "i2h_slice", axis=self._channel_axis)
        h2h_r, h2h_z, h2h = F.SliceChannel(h2h, num_outputs=3, name=p + "h2h_slice", axis=self._channel_axis)
        reset_gate = F.Activation(i2h_r + h2h_r, act_type="sigmoid", name=p + "r_act")
        update_gate = F.Activation(i2h_z + h2h_z, act_type="sigmoid", name=p + "z_act")
        next_h_tmp = self._get_activation(F, i2h + reset_gate * h2h, self._activation, name=p + "h_act")
        next_h = F.elemwise_add((1.0 - update_gate) * next_h_tmp, update_gate * states[0], name=p + "out")
        return next_h, [next_h]


class Conv1DRNNCell(_ConvRNNCell):
    """1D convolutional RNN cell; input ``(N, C, W)`` (``conv_layout='NCW'``) or ``'NWC'``."""

    _dims, _layout = 1, "NCW"


class Conv2DRNNCell(_ConvRNNCell):
    """2D convolutional RNN cell; input ``(N, C, H, W)`` (``conv_layout='NCHW'``) or ``'NHWC'``."""

    _dims, _layout = 2, "NCHW"


class Conv3DRNNCell(_ConvRNNCell):
    """3D convolutional RNN cell; input ``(N, C, D, H, W)`` (``conv_layout='NCDHW'``) or ``'NDHWC'``."""

    _dims, _layout = 3, "NCDHW"


class Conv1DLSTMCell(_ConvLSTMCell):
    """1D convolutional LSTM cell (states [h, c]); gates input, forget, cell, output."""

    _dims, _layout = 1, "NCW"


class Conv2DLSTMCell(_ConvLSTMCell):
    """2D convolutional LSTM cell (states [h, c]); gates input, forget, cell, output."""

    _dims, _layout = 2, "NCHW"


class Conv3DLSTMCell(_ConvLSTMCell):
    """3D convolutional LSTM cell (states [h, c]); gates input, forget, cell, output."""

    _dims, _layout = 3, "NCDHW"


class Conv1DGRUCell(_ConvGRUCell):
    """1D convolutional GRU cell; gates reset, update, new."""

    _dims, _layout = 1, "NCW"


class Conv2DGRUCell(_ConvGRUCell):
    """2D convolutional GRU cell; gates reset, update, new."""

    _dims, _layout = 2, "NCHW"


class Conv3DGRUCell(_ConvGRUCell):
    """3D convolutional GRU cell; gates reset, update, new."""

    _dims, _layout = 3, "NCDHW"
