"""Convolutional RNN cells of ``mx.rnn``: ConvRNNCell, ConvLSTMCell and ConvGRUCell (Shi et al.,
NIPS 2015), whose input-to-state and state-to-state transitions are convolutions."""

import functools

from mxrs import symbol
from mxrs.base import MXNetValueError
from mxrs.rnn.rnn_cell import BaseRNNCell

__all__ = ["BaseConvRNNCell", "ConvRNNCell", "ConvLSTMCell", "ConvGRUCell"]

_LEAKY = functools.partial(symbol.LeakyReLU, act_type="leaky", slope=0.2)


class BaseConvRNNCell(BaseRNNCell):
    """Abstract base class of the convolutional RNN cells.

    ``input_shape`` is the shape of one step's input (batch included); the state shape is the
    shape of the input-to-state convolution's output.
    """

    # The prefix a subclass uses when none is given (MXNet's per-cell defaults).
    _default_prefix = ""

    def __init__(
        self,
        input_shape,
        num_hidden,
        h2h_kernel=(3, 3),
        h2h_dilate=(1, 1),
        i2h_kernel=(3, 3),
        i2h_stride=(1, 1),
        i2h_pad=(1, 1),
        i2h_dilate=(1, 1),
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        activation=_LEAKY,
        prefix=None,
        params=None,
        conv_layout="NCHW",
    ):
        if prefix is None:
            prefix = self._default_prefix
        super().__init__(prefix=prefix, params=params)
        self._h2h_kernel = h2h_kernel
        if not (h2h_kernel[0] % 2 == 1 and h2h_kernel[1] % 2 == 1):
            raise MXNetValueError(f"Only support odd number, get h2h_kernel= {h2h_kernel}")
        self._h2h_pad = (h2h_dilate[0] * (h2h_kernel[0] - 1) // 2, h2h_dilate[1] * (h2h_kernel[1] - 1) // 2)
        self._h2h_dilate = h2h_dilate
        self._i2h_kernel = i2h_kernel
        self._i2h_stride = i2h_stride
        self._i2h_pad = i2h_pad
        self._i2h_dilate = i2h_dilate
        self._num_hidden = num_hidden
        self._input_shape = input_shape
        self._conv_layout = conv_layout
        self._activation = activation
        data = symbol.Variable("data")
        conv = symbol.Convolution(
            data=data,
            num_filter=self._num_hidden,
            kernel=self._i2h_kernel,
            stride=self._i2h_stride,
            pad=self._i2h_pad,
            dilate=self._i2h_dilate,
            layout=conv_layout,
        )
        out_shape = conv.infer_shape(data=input_shape)[1][0]
        self._state_shape = (0,) + tuple(out_shape[1:])
        self._iW = self.params.get("i2h_weight", init=i2h_weight_initializer)
        self._hW = self.params.get("h2h_weight", init=h2h_weight_initializer)
        self._iB = self.params.get("i2h_bias", init=i2h_bias_initializer)
        self._hB = self.params.get("h2h_bias", init=h2h_bias_initializer)

    @property
    def _num_gates(self):
        return len(self._gate_names)

    @property
    def state_info(self):
        return [
            {"shape": self._state_shape, "__layout__": self._conv_layout},
            {"shape": self._state_shape, "__layout__": self._conv_layout},
        ]

    def _conv_forward(self, inputs, states, name):
        i2h = symbol.Convolution(
            name=f"{name}i2h",
            data=inputs,
            num_filter=self._num_hidden * self._num_gates,
            kernel=self._i2h_kernel,
            stride=self._i2h_stride,
            pad=self._i2h_pad,
            dilate=self._i2h_dilate,
            weight=self._iW,
            bias=self._iB,
            layout=self._conv_layout,
        )
        h2h = symbol.Convolution(
            name=f"{name}h2h",
            data=states[0],
            num_filter=self._num_hidden * self._num_gates,
            kernel=self._h2h_kernel,
            dilate=self._h2h_dilate,
            pad=self._h2h_pad,
            stride=(1, 1),
            weight=self._hW,
            bias=self._hB,
            layout=self._conv_layout,
        )
        return i2h, h2h

    def __call__(self, inputs, states):
        raise NotImplementedError("BaseConvRNNCell is abstract class for convolutional RNN")


class ConvRNNCell(BaseConvRNNCell):
    """Convolutional RNN cell: ``out = act(conv_i(x) + conv_h(h))``.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one step's input.
    num_hidden : int
        Number of state channels.
    h2h_kernel, h2h_dilate, i2h_kernel, i2h_stride, i2h_pad, i2h_dilate : tuple of int
    i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer
    activation : str or callable, default leaky ReLU (slope 0.2)
    prefix : str, default ``'ConvRNN_'``
    params : RNNParams or None
    conv_layout : str, default 'NCHW'
    """

    _default_prefix = "ConvRNN_"

    @property
    def _gate_names(self):
        return ("",)

    @property
    def state_info(self):
        return [{"shape": self._state_shape, "__layout__": self._conv_layout}]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h, h2h = self._conv_forward(inputs, states, name)
        output = self._get_activation(i2h + h2h, self._activation, name=f"{name}out")
        return output, [output]


class ConvLSTMCell(BaseConvRNNCell):
    """Convolutional LSTM cell (Xingjian et al., NIPS 2015); parameters as :class:`ConvRNNCell`,
    prefix ``'ConvLSTM_'``."""

    _default_prefix = "ConvLSTM_"

    @property
    def _gate_names(self):
        return ["_i", "_f", "_c", "_o"]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h, h2h = self._conv_forward(inputs, states, name)
        gates = i2h + h2h
        slice_gates = symbol.SliceChannel(gates, num_outputs=4, axis=self._conv_layout.find("C"), name=f"{name}slice")
        in_gate = symbol.Activation(slice_gates[0], act_type="sigmoid", name=f"{name}i")
        forget_gate = symbol.Activation(slice_gates[1], act_type="sigmoid", name=f"{name}f")
        in_transform = self._get_activation(slice_gates[2], self._activation, name=f"{name}c")
        out_gate = symbol.Activation(slice_gates[3], act_type="sigmoid", name=f"{name}o")
        next_c = symbol._internal._plus(forget_gate * states[1], in_gate * in_transform, name=f"{name}state")
        next_h = symbol._internal._mul(out_gate, self._get_activation(next_c, self._activation), name=f"{name}out")
        return next_h, [next_h, next_c]


class ConvGRUCell(BaseConvRNNCell):
    """Convolutional GRU cell; parameters as :class:`ConvRNNCell`, prefix ``'ConvGRU_'``."""

    _default_prefix = "ConvGRU_"

    @property
    def _gate_names(self):
        return ["_r", "_z", "_o"]

    @property
    def state_info(self):
        return [{"shape": self._state_shape, "__layout__": self._conv_layout}]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h, h2h = self._conv_forward(inputs, states, name)
        i2h_r, i2h_z, i2h = symbol.SliceChannel(i2h, num_outputs=3, name=f"{name}_i2h_slice")
        h2h_r, h2h_z, h2h = symbol.SliceChannel(h2h, num_outputs=3, name=f"{name}_h2h_slice")
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type="sigmoid", name=f"{name}_r_act")
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type="sigmoid", name=f"{name}_z_act")
        next_h_tmp = self._get_activation(i2h + reset_gate * h2h, self._activation, name=f"{name}_h_act")
        next_h = symbol._internal._plus((1.0 - update_gate) * next_h_tmp, update_gate * states[0], name=f"{name}out")
        return next_h, [next_h]
