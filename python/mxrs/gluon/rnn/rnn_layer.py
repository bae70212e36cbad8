"""Fused recurrent layers of ``mxrs.gluon.rnn`` (RNN, LSTM, GRU) over the registry's ``RNN`` op.

The parameters are MXNet 1.9.1's: per layer ``l`` and direction ``d`` ('l' forward, 'r'
backward) ``{d}{l}_i2h_weight``, ``{d}{l}_h2h_weight``, ``{d}{l}_i2h_bias``,
``{d}{l}_h2h_bias`` (and ``{d}{l}_h2r_weight`` with an LSTM projection). They are flattened and
concatenated in MXNet's order (all weights, then all biases; layer, direction, i2h before h2h)
into the op's single parameter vector, so MXNet checkpoints load unchanged.

A layer made with ``use_sequence_length=True`` is called as ``layer(x, states,
sequence_length)`` with the valid length of each sample (shape ``(batch,)``): its outputs past
that length are zero and its final states are those of the last valid step (the backward
direction of a bidirectional layer starts there), as MXNet computes it through cuDNN.
"""

from __future__ import annotations

import re
from typing import Any

from mxrs import ndarray, symbol
from mxrs.gluon.block import HybridBlock
from mxrs.ndarray import NDArray
from mxrs.symbol import Symbol

__all__ = ["RNN", "LSTM", "GRU"]

_PARAM_KEY = re.compile(r"(l|r)(\d+)_(i2h|h2h|h2r)_(weight|bias)\Z")


class _RNNLayer(HybridBlock):
    """Shared implementation of the fused layers (see :class:`LSTM` for the arguments)."""

    def __init__(
        self,
        hidden_size: int,
        num_layers: int,
        layout: str,
        dropout: float,
        bidirectional: bool,
        input_size: int,
        i2h_weight_initializer: Any,
        h2h_weight_initializer: Any,
        i2h_bias_initializer: Any,
        h2h_bias_initializer: Any,
        mode: str,
        projection_size: int | None = None,
        h2r_weight_initializer: Any = None,
        lstm_state_clip_min: float | None = None,
        lstm_state_clip_max: float | None = None,
        lstm_state_clip_nan: bool = False,
        dtype: Any = "float32",
        use_sequence_length: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if layout not in ("TNC", "NTC"):
            raise ValueError("Invalid layout %s; must be one of ['TNC' or 'NTC']" % layout)
        self._hidden_size = hidden_size
        self._projection_size = projection_size or None
        self._num_layers = num_layers
        self._mode = mode
        self._layout = layout
        self._dropout = dropout
        self._dir = 2 if bidirectional else 1
        self._input_size = input_size
        self._clip = (lstm_state_clip_min, lstm_state_clip_max, lstm_state_clip_nan)
        self._dtype = dtype
        self._use_sequence_length = use_sequence_length
        self._gates = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}[mode]
        self.skip_states: bool | None = None
        inits = {
            "i2h_weight": i2h_weight_initializer,
            "h2h_weight": h2h_weight_initializer,
            "i2h_bias": i2h_bias_initializer,
            "h2h_bias": h2h_bias_initializer,
            "h2r_weight": h2r_weight_initializer,
        }
        rows, ni = self._gates * hidden_size, input_size
        recurrent = self._projection_size or hidden_size
        for layer in range(num_layers):
            for d in "lr"[: self._dir]:
                shapes = {
                    "i2h_weight": (rows, ni),
                    "h2h_weight": (rows, recurrent),
                    "i2h_bias": (rows,),
                    "h2h_bias": (rows,),
                }
                if self._projection_size:
                    shapes["h2r_weight"] = (self._projection_size, hidden_size)
                for key, shape in shapes.items():
                    name = "%s%d_%s" % (d, layer, key)
                    param = self.params.get(name, shape=shape, init=inits[key], allow_deferred_init=True, dtype=dtype)
                    setattr(self, name, param)
            ni = recurrent * self._dir

    def __repr__(self) -> str:
        shape = self.params.get("l0_i2h_weight").shape
        s = "%s(%s -> %s, %s" % (type(self).__name__, shape[1] or None, shape[0] // self._gates, self._layout)
        if self._num_layers != 1:
            s += ", num_layers=%d" % self._num_layers
        if self._dropout != 0:
            s += ", dropout=%s" % self._dropout
        if self._dir == 2:
            s += ", bidirectional"
        return s + ")"

    def _collect_params_with_prefix(self, prefix: str = "") -> dict[str, Any]:
        """Parameter names as MXNet 1.9.1 writes them in ``save_parameters`` files."""
        if prefix:
            prefix += "."
        bidirectional = self._dir == 2
        out = {}
        for key, val in self._reg_params.items():
            m = _PARAM_KEY.match(key)
            if m is None:
                out[prefix + key] = val
                continue
            d, layer, g, t = m.groups()
            if bidirectional:
                out[prefix + "_unfused.%s.%s_cell.%s_%s" % (layer, d, g, t)] = val
            else:
                out[prefix + "_unfused.%s.%s_%s" % (layer, g, t)] = val
        for name, child in self._children.items():
            out.update(child._collect_params_with_prefix(prefix + name))
        return out

    def state_info(self, batch_size: int = 0) -> list[dict[str, Any]]:
        """Shapes of the begin states: (num_layers * directions, batch, hidden)."""
        h = self._projection_size or self._hidden_size
        info = [{"shape": (self._num_layers * self._dir, batch_size, h), "__layout__": "LNC"}]
        if self._mode == "lstm":
            info.append({"shape": (self._num_layers * self._dir, batch_size, self._hidden_size), "__layout__": "LNC"})
        return info

    def infer_shape(self, inputs: Any, *args: Any) -> None:
        """Complete the deferred input size of the first layer from ``inputs``' last axis."""
        ni = inputs.shape[-1]
        for d in "lr"[: self._dir]:
            param = getattr(self, "%s0_i2h_weight" % d)
            param.shape = (param.shape[0], ni)

    def begin_state(self, batch_size: int = 0, func: Any = ndarray.zeros, **kwargs: Any) -> list[Any]:
        """Initial states made by ``func`` (``nd.zeros`` by default; ``sym.var`` etc. work)."""
        states = []
        for i, info in enumerate(self.state_info(batch_size)):
            args = dict(info)
            args.pop("__layout__", None)
            args.update(kwargs)
            states.append(func(name="%sh0_%d" % (self.prefix, i), **args))
        return states

    def __call__(  # type: ignore[override]
        self, inputs: Any, states: Any = None, sequence_length: Any = None, **kwargs: Any
    ) -> Any:
        self.skip_states = states is None
        if states is None:
            if isinstance(inputs, NDArray):
                batch_size = inputs.shape[self._layout.find("N")]
                states = self.begin_state(batch_size, ctx=inputs.context, dtype=inputs.dtype)
            else:
                states = self.begin_state(0, func=symbol.zeros)
        if isinstance(states, (NDArray, Symbol)):
            states = [states]
        if self._use_sequence_length:
            if sequence_length is None:
                raise ValueError(
                    "%s was made with use_sequence_length=True: pass sequence_length" % type(self).__name__
                )
            return super().__call__(inputs, states, sequence_length, **kwargs)
        return super().__call__(inputs, states, **kwargs)

    def hybrid_forward(self, F: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        inputs, states = x, args[0]
        sequence_length = args[1] if self._use_sequence_length else None
        if F is ndarray:
            batch_size = inputs.shape[self._layout.find("N")]
            for state, info in zip(states, self.state_info(batch_size)):
                if state.shape != info["shape"]:
                    raise ValueError(
                        "Invalid recurrent state shape. Expecting %s, got %s." % (info["shape"], state.shape)
                    )
        outputs, new_states = self._forward_kernel(F, inputs, states, sequence_length, **kwargs)
        return outputs if self.skip_states else (outputs, new_states)

    def _flat_params(self, F: Any, kwargs: dict[str, Any]) -> Any:
        gates = ["i2h", "h2h", "h2r"] if self._projection_size else ["i2h", "h2h"]
        flat = [
            F.reshape(kwargs["%s%d_%s_%s" % (d, layer, g, t)], shape=(-1,))
            for t in ("weight", "bias")
            for layer in range(self._num_layers)
            for d in "lr"[: self._dir]
            for g in gates
            if g != "h2r" or t != "bias"
        ]
        return F.concat(*flat, dim=0)

    def _forward_kernel(self, F: Any, inputs: Any, states: Any, sequence_length: Any, **kwargs: Any) -> Any:
        if self._layout == "NTC":
            inputs = F.swapaxes(inputs, dim1=0, dim2=1)
        extra: dict[str, Any] = {}
        if self._use_sequence_length:
            # by name: a positional fourth input would be an LSTM's state_cell
            extra["sequence_length"] = sequence_length
            extra["use_sequence_length"] = True
        if self._projection_size:
            extra["projection_size"] = self._projection_size
        lo, hi, nan = self._clip
        if lo is not None:
            extra["lstm_state_clip_min"] = lo
        if hi is not None:
            extra["lstm_state_clip_max"] = hi
        if nan:
            extra["lstm_state_clip_nan"] = nan
        out = F.RNN(
            inputs,
            self._flat_params(F, kwargs),
            *states,
            state_size=self._hidden_size,
            num_layers=self._num_layers,
            bidirectional=self._dir == 2,
            p=self._dropout,
            state_outputs=True,
            mode=self._mode,
            **extra,
        )
        outputs = out[0]
        new_states = [out[1], out[2]] if self._mode == "lstm" else [out[1]]
        if self._layout == "NTC":
            outputs = F.swapaxes(outputs, dim1=0, dim2=1)
        return outputs, new_states


class RNN(_RNNLayer):
    """Multi-layer Elman RNN, ``h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)`` with
    ``activation`` 'relu' or 'tanh'.

    ``layer(x)`` returns the output; ``layer(x, states)`` returns ``(output, new_states)``.
    Input (T, N, C) for layout 'TNC', (N, T, C) for 'NTC'; states (layers*dirs, N, hidden).
    """

    def __init__(
        self,
        hidden_size: int,
        num_layers: int = 1,
        activation: str = "relu",
        layout: str = "TNC",
        dropout: float = 0,
        bidirectional: bool = False,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "rnn_" + activation,
            dtype=dtype,
            **kwargs,
        )


class LSTM(_RNNLayer):
    """Multi-layer long short-term memory layer; states are [h, c].

    Gates in MXNet's order (input, forget, cell, output); ``projection_size`` adds an LSTMP
    projection of h; ``dropout`` applies between layers in training.
    """

    def __init__(
        self,
        hidden_size: int,
        num_layers: int = 1,
        layout: str = "TNC",
        dropout: float = 0,
        bidirectional: bool = False,
        input_size: int = 0,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        projection_size: int | None = None,
        h2r_weight_initializer: Any = None,
        state_clip_min: float | None = None,
        state_clip_max: float | None = None,
        state_clip_nan: bool = False,
        dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "lstm",
            projection_size,
            h2r_weight_initializer,
            state_clip_min,
            state_clip_max,
            state_clip_nan,
            dtype,
            **kwargs,
        )


class GRU(_RNNLayer):
    """Multi-layer gated recurrent unit layer (MXNet's/cuDNN's formulation: the reset gate
    scales ``W_hn h + b_hn``)."""

    def __init__(
        self,
        hidden_size: int,
        num_layers: int = 1,
        layout: str = "TNC",
        dropout: float = 0,
        bidirectional: bool = False,
        input_size: int = 0,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "gru",
            dtype=dtype,
            **kwargs,
        )
