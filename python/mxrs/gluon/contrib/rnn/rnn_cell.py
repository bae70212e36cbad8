"""MXNet 1.9.1's ``gluon.contrib.rnn`` cells: ``LSTMPCell`` and ``VariationalDropoutCell``."""

from __future__ import annotations

from typing import Any

from mxrs.base import MXNetError
from mxrs.gluon.rnn.rnn_cell import (
    BidirectionalCell,
    HybridRecurrentCell,
    ModifierCell,
    RecurrentCell,
    SequentialRNNCell,
    _format_sequence,
    _get_begin_state,
    _mask_sequence_variable_length,
)
from mxrs.ndarray import NDArray

__all__ = ["VariationalDropoutCell", "LSTMPCell", "dynamic_unroll"]


class VariationalDropoutCell(ModifierCell):
    """Variational dropout (Gal & Ghahramani, 2016) on a base cell: one dropout mask per
    sequence, shared by all time steps, for the inputs, the first state and the outputs.

    The masks are drawn at the first step and kept until :meth:`reset` (which ``unroll`` calls)."""

    def __init__(
        self, base_cell: RecurrentCell, drop_inputs: float = 0.0, drop_states: float = 0.0, drop_outputs: float = 0.0
    ) -> None:
        if drop_states and isinstance(base_cell, BidirectionalCell):
            raise MXNetError(
                "VariationalDropoutCell: BidirectionalCell doesn't support variational state dropout. "
                "Please add VariationalDropoutCell to the cells underneath instead."
            )
        if drop_states and isinstance(base_cell, SequentialRNNCell) and getattr(base_cell, "_bidirectional", False):
            raise MXNetError(
                "VariationalDropoutCell: bidirectional SequentialRNNCell doesn't support variational state dropout."
            )
        super().__init__(base_cell)
        self.drop_inputs = drop_inputs
        self.drop_states = drop_states
        self.drop_outputs = drop_outputs
        self.drop_inputs_mask: Any = None
        self.drop_states_mask: Any = None
        self.drop_outputs_mask: Any = None

    def _alias(self) -> str:
        return "vardrop"

    def reset(self) -> None:
        super().reset()
        self.drop_inputs_mask = None
        self.drop_states_mask = None
        self.drop_outputs_mask = None

    def hybrid_forward(self, F: Any, inputs: Any, states: Any) -> Any:
        if self.drop_states and self.drop_states_mask is None:
            self.drop_states_mask = F.Dropout(F.ones_like(states[0]), p=self.drop_states)
        if self.drop_inputs and self.drop_inputs_mask is None:
            self.drop_inputs_mask = F.Dropout(F.ones_like(inputs), p=self.drop_inputs)
        if self.drop_states:
            states = list(states)
            states[0] = states[0] * self.drop_states_mask
        if self.drop_inputs:
            inputs = inputs * self.drop_inputs_mask
        next_output, next_states = self.base_cell(inputs, states)
        if self.drop_outputs and self.drop_outputs_mask is None:
            self.drop_outputs_mask = F.Dropout(F.ones_like(next_output), p=self.drop_outputs)
        if self.drop_outputs:
            next_output = next_output * self.drop_outputs_mask
        return next_output, next_states

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p_out = {self.drop_outputs}, p_state = {self.drop_states})"

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list[Any]]:
        """Unroll over ``length`` steps. Without state dropout the input/output masks are applied
        once to the whole sequence (dropout with the time axis broadcast), as MXNet."""
        if self.drop_states:
            return super().unroll(length, inputs, begin_state, layout, merge_outputs, valid_length=valid_length)
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, True)
        states = _get_begin_state(self, F, begin_state, inputs, batch_size)
        if self.drop_inputs:
            inputs = F.Dropout(inputs, p=self.drop_inputs, axes=(axis,))
        outputs, states = self.base_cell.unroll(
            length, inputs, states, layout, merge_outputs=True, valid_length=valid_length
        )
        if self.drop_outputs:
            outputs = F.Dropout(outputs, p=self.drop_outputs, axes=(axis,))
        if merge_outputs is None:
            merge_outputs = isinstance(outputs, NDArray)
        outputs, _, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        if valid_length is not None:
            outputs = _mask_sequence_variable_length(F, outputs, length, valid_length, axis, merge_outputs)
        return outputs, states


class LSTMPCell(HybridRecurrentCell):
    """LSTM with a projected recurrent state (Sak et al., 2014): states ``[r, c]`` of shapes
    ``(batch, projection_size)`` and ``(batch, hidden_size)``; the output is
    ``r_t = W_hr (o_t * tanh(c_t))``. Gate order and parameter names are MXNet's."""

    def __init__(
        self,
        hidden_size: int,
        projection_size: int,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        h2r_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._input_size = input_size
        self._projection_size = projection_size
        get = self.params.get
        self.i2h_weight = get(
            "i2h_weight", shape=(4 * hidden_size, input_size), init=i2h_weight_initializer, allow_deferred_init=True
        )
        self.h2h_weight = get(
            "h2h_weight",
            shape=(4 * hidden_size, projection_size),
            init=h2h_weight_initializer,
            allow_deferred_init=True,
        )
        self.h2r_weight = get(
            "h2r_weight", shape=(projection_size, hidden_size), init=h2r_weight_initializer, allow_deferred_init=True
        )
        self.i2h_bias = get("i2h_bias", shape=(4 * hidden_size,), init=i2h_bias_initializer, allow_deferred_init=True)
        self.h2h_bias = get("h2h_bias", shape=(4 * hidden_size,), init=h2h_bias_initializer, allow_deferred_init=True)

    def state_info(self, batch_size: int = 0) -> list[Any]:
        return [
            {"shape": (batch_size, self._projection_size), "__layout__": "NC"},
            {"shape": (batch_size, self._hidden_size), "__layout__": "NC"},
        ]

    def _alias(self) -> str:
        return "lstmp"

    def __repr__(self) -> str:
        shape = self.i2h_weight.shape
        proj = self.h2r_weight.shape
        return f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]} -> {proj[0]})"

    def forward(self, inputs: Any, states: Any) -> Any:
        if isinstance(inputs, NDArray):
            self._check_shapes(inputs, states)
        return super().forward(inputs, states)

    def _check_shapes(self, inputs: NDArray, states: Any) -> None:
        shapes = [tuple(s.shape) for s in states] if isinstance(states, (list, tuple)) else None
        x = tuple(inputs.shape)
        bad = x and (len(x) != 2 or (self._input_size and x[1] != self._input_size))
        if shapes is None or len(shapes) != 2:
            bad = True
        else:
            batch = x[0] if x else None
            want = [(batch, self._projection_size), (batch, self._hidden_size)]
            bad = bad or shapes != want
        if bad:
            raise MXNetError(
                f"LSTMPCell: input of shape {x} and states of shapes {shapes} do not fit "
                f"(batch, {self._input_size or 'input_size'}) and [(batch, {self._projection_size}), "
                f"(batch, {self._hidden_size})]"
            )

    def hybrid_forward(
        self,
        F: Any,
        inputs: Any,
        states: Any,
        i2h_weight: Any,
        h2h_weight: Any,
        h2r_weight: Any,
        i2h_bias: Any,
        h2h_bias: Any,
    ) -> Any:
        p = "t%d_" % self._counter
        n = self._hidden_size * 4
        i2h = F.FullyConnected(data=inputs, weight=i2h_weight, bias=i2h_bias, num_hidden=n, name=p + "i2h")
        h2h = F.FullyConnected(data=states[0], weight=h2h_weight, bias=h2h_bias, num_hidden=n, name=p + "h2h")
        gates = F.SliceChannel(i2h + h2h, num_outputs=4, name=p + "slice")
        in_gate = F.Activation(gates[0], act_type="sigmoid", name=p + "i")
        forget_gate = F.Activation(gates[1], act_type="sigmoid", name=p + "f")
        in_transform = F.Activation(gates[2], act_type="tanh", name=p + "c")
        out_gate = F.Activation(gates[3], act_type="sigmoid", name=p + "o")
        next_c = F.elemwise_add(forget_gate * states[1], in_gate * in_transform, name=p + "state")
        hidden = F.elemwise_mul(out_gate, F.Activation(next_c, act_type="tanh"), name=p + "hidden")
        next_r = F.FullyConnected(
            data=hidden, num_hidden=self._projection_size, weight=h2r_weight, no_bias=True, name=p + "out"
        )
        return next_r, [next_r, next_c]


def dynamic_unroll(
    cell: Any,
    inputs: Any,
    begin_state: Any,
    drop_inputs: float = 0,
    drop_outputs: float = 0,
    layout: str = "TNC",
    valid_length: Any = None,
) -> tuple[Any, list[Any]]:
    """Run ``cell`` over the time axis of ``inputs`` with ``F.contrib.foreach`` (MXNet 1.9.1's
    ``gluon.contrib.rnn.rnn_cell.dynamic_unroll``); returns (outputs in ``layout``, final states).

    With ``valid_length`` (shape ``(batch,)``) each sample's states stop changing after its
    length and its later outputs are zero. As MXNet, ``drop_outputs`` drops with the mask shared
    along axis ``layout.find('T')`` of the time-major outputs."""
    inputs, axis, F, _ = _format_sequence(None, inputs, layout, True)
    axes = list(range(len(layout)))
    if axis != 0:
        axes[0], axes[axis] = axes[axis], axes[0]
        inputs = F.transpose(inputs, axes=axes)
    states = begin_state
    if drop_inputs:
        inputs = F.Dropout(inputs, p=drop_inputs, axes=(axis,))
    if valid_length is None:

        def loop_body(inputs: Any, states: Any) -> Any:
            return cell(inputs, states)

    else:
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        states.append(F.zeros((1,)))

        def loop_body(inputs: Any, states: Any) -> Any:
            cell_states, iter_no = states[:-1], states[-1]
            out, new_states = cell(inputs, cell_states)
            new_states = list(new_states)
            for i, state in enumerate(cell_states):
                new_states[i] = F.where(F.broadcast_greater(valid_length, iter_no), new_states[i], state)
            new_states.append(iter_no + 1)
            return out, new_states

    outputs, states = F.contrib.foreach(loop_body, inputs, states)
    if drop_outputs:
        outputs = F.Dropout(outputs, p=drop_outputs, axes=(axis,))
    if axis != 0:
        outputs = F.transpose(outputs, axes)
    if valid_length is not None:
        outputs = F.SequenceMask(outputs, sequence_length=valid_length, use_sequence_length=True, axis=axis)
        return outputs, states[:-1]
    return outputs, states
