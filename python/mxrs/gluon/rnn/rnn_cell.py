"""Recurrent cells of ``mxrs.gluon.rnn``, as MXNet 1.9.1's Gluon defines them.

A cell computes one time step, ``output, new_states = cell(x_t, states)``; ``unroll`` runs it
over a sequence (layout 'NTC' or 'TNC', a tensor or a list of per-step tensors), optionally of a
different ``valid_length`` per sample (outputs past it are zero, the final states are those of
its last valid step; a bidirectional cell reverses only the valid steps). The parameter
names and gate orders match MXNet (LSTM: input, forget, cell, output; GRU: reset, update, new)
so weights saved by MXNet load unchanged.
"""

from __future__ import annotations

from typing import Any

from mxrs import ndarray, symbol
from mxrs.gluon.block import Block, HybridBlock
from mxrs.ndarray import NDArray
from mxrs.symbol import Symbol

__all__ = [
    "RecurrentCell",
    "HybridRecurrentCell",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "SequentialRNNCell",
    "HybridSequentialRNNCell",
    "DropoutCell",
    "ModifierCell",
    "ZoneoutCell",
    "ResidualCell",
    "BidirectionalCell",
]


def _cells_state_info(cells: Any, batch_size: int) -> list[Any]:
    return sum([c.state_info(batch_size) for c in cells], [])


def _cells_begin_state(cells: Any, **kwargs: Any) -> list[Any]:
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _get_begin_state(cell: Any, F: Any, begin_state: Any, inputs: Any, batch_size: int) -> Any:
    """The given states, or zeros of the right batch size (variables when tracing)."""
    if begin_state is not None:
        return begin_state
    if F is ndarray:
        ctx = inputs.context if isinstance(inputs, NDArray) else inputs[0].context
        return cell.begin_state(func=ndarray.zeros, batch_size=batch_size, ctx=ctx)
    return cell.begin_state(func=symbol.zeros, batch_size=batch_size)


def _format_sequence(length: int | None, inputs: Any, layout: str, merge: bool | None) -> Any:
    """Normalise ``inputs`` to a list of steps (merge=False) or one tensor (merge=True).

    Returns (inputs, time_axis, F, batch_size).
    """
    axis = layout.find("T")
    batch_axis = layout.find("N")
    if layout not in ("NTC", "TNC"):
        raise ValueError("unroll takes layout 'NTC' or 'TNC', got %r" % layout)
    batch_size = 0
    if isinstance(inputs, (Symbol, NDArray)):
        F: Any = symbol if isinstance(inputs, Symbol) else ndarray
        if not isinstance(inputs, Symbol):
            batch_size = inputs.shape[batch_axis]
            if length is not None and inputs.shape[axis] != length:
                raise ValueError(
                    "unroll: the inputs have %d steps along axis %d (layout %s), length is %d"
                    % (inputs.shape[axis], axis, layout, length)
                )
        if merge is False:
            if length is not None:
                n = length
            elif isinstance(inputs, Symbol):
                raise ValueError("unroll: length is required for Symbol inputs")
            else:
                n = inputs.shape[axis]
            if n == 1:
                inputs = [F.squeeze(inputs, axis=axis)]
            else:
                inputs = list(F.split(inputs, axis=axis, num_outputs=n, squeeze_axis=1))
    else:
        inputs = list(inputs)
        if length is not None and len(inputs) != length:
            raise ValueError("unroll: %d input steps given, length is %d" % (len(inputs), length))
        F = symbol if isinstance(inputs[0], Symbol) else ndarray
        if isinstance(inputs[0], NDArray):
            batch_size = inputs[0].shape[0]
        if merge is True:
            inputs = F.stack(*inputs, axis=axis)
    return inputs, axis, F, batch_size


def _mask_sequence_variable_length(
    F: Any, data: Any, length: int, valid_length: Any, time_axis: int, merge: bool
) -> Any:
    """``data`` (a tensor or a list of steps) with the steps at and after each sample's
    ``valid_length`` set to zero: one tensor (merge=True) or a list of steps."""
    if not isinstance(data, (NDArray, Symbol)):
        data = F.stack(*data, axis=time_axis)
    outputs = F.SequenceMask(data, sequence_length=valid_length, use_sequence_length=True, axis=time_axis)
    if not merge:
        if length == 1:
            return [F.squeeze(outputs, axis=time_axis)]
        outputs = list(F.split(outputs, num_outputs=length, axis=time_axis, squeeze_axis=True))
    return outputs


def _reverse_sequences(sequences: list[Any], unroll_step: int, valid_length: Any = None) -> list[Any]:
    """The list of steps reversed in time; with ``valid_length`` only each sample's first
    ``valid_length`` steps are reversed (``SequenceReverse``), the padding stays in place."""
    F: Any = symbol if isinstance(sequences[0], Symbol) else ndarray
    if valid_length is None:
        return list(reversed(sequences))
    rev = F.SequenceReverse(F.stack(*sequences, axis=0), sequence_length=valid_length, use_sequence_length=True)
    if unroll_step == 1:
        return [F.squeeze(rev, axis=0)]
    return list(F.split(rev, axis=0, num_outputs=unroll_step, squeeze_axis=True))


class RecurrentCell(Block):
    """Abstract base class of the cells: ``state_info``, ``begin_state``, ``unroll``."""

    def __init__(self, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)
        self._modified = False
        self.reset()

    def reset(self) -> None:
        """Reset the step counters before a new unroll."""
        self._init_counter = -1
        self._counter = -1
        for cell in self._children.values():
            if isinstance(cell, RecurrentCell):
                cell.reset()

    def state_info(self, batch_size: int = 0) -> list[Any]:
        """Shapes and layouts of the begin states."""
        raise NotImplementedError

    def begin_state(self, batch_size: int = 0, func: Any = ndarray.zeros, **kwargs: Any) -> list[Any]:
        """Initial states made by ``func`` (``nd.zeros`` by default; ``sym.var`` etc. work)."""
        if self._modified:
            raise RuntimeError(
                "After applying a modifier cell (e.g. ZoneoutCell) the base cell cannot be called "
                "directly. Call the modifier cell instead."
            )
        states = []
        for info in self.state_info(batch_size):
            self._init_counter += 1
            args = dict(info) if info is not None else {}
            args.pop("__layout__", None)
            args.update(kwargs)
            states.append(func(name="%sbegin_state_%d" % (self._prefix, self._init_counter), **args))
        return states

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list[Any]]:
        """Run the cell over ``length`` steps; returns (outputs, final states).

        ``merge_outputs=True`` stacks the outputs along the time axis, False returns a list of
        per-step outputs, None a list (a tensor with ``valid_length``). ``valid_length`` (shape
        ``(batch_size,)``) gives each sample's length: its outputs after that are zero and its
        final states are those of its last valid step.
        """
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, False)
        states = _get_begin_state(self, F, begin_state, inputs, batch_size)
        outputs = []
        all_states = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
            if valid_length is not None:
                all_states.append(states)
        if valid_length is not None:
            states = [
                F.SequenceLast(F.stack(*steps, axis=0), sequence_length=valid_length, use_sequence_length=True, axis=0)
                for steps in zip(*all_states)
            ]
            outputs = _mask_sequence_variable_length(F, outputs, length, valid_length, axis, True)
        outputs, _, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, F: Any, inputs: Any, activation: Any, **kwargs: Any) -> Any:
        if isinstance(activation, str):
            if activation == "tanh":
                return F.tanh(inputs, **kwargs)
            if activation == "sigmoid":
                return F.sigmoid(inputs, **kwargs)
            if activation == "relu":
                return F.relu(inputs, **kwargs)
            if activation == "softsign":
                return F.softsign(inputs, **kwargs)
            return F.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)

    def forward(self, inputs: Any, states: Any) -> Any:
        """One step: (output, new states)."""
        raise NotImplementedError

    def __call__(self, inputs: Any, states: Any) -> Any:
        self._counter += 1
        return super().__call__(inputs, states)


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A recurrent cell that can be hybridized (one step is ``hybrid_forward``)."""

    def __init__(self, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)

    def forward(self, inputs: Any, states: Any) -> Any:
        return HybridBlock.forward(self, inputs, states)

    def hybrid_forward(self, F: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        """One step; each cell defines it."""
        raise NotImplementedError


class _GatedCell(HybridRecurrentCell):
    """Shared parameters of RNN/LSTM/GRU cells: ``gates * hidden_size`` rows per matrix."""

    _gates = 1

    def __init__(
        self,
        hidden_size: int,
        i2h_weight_initializer: Any,
        h2h_weight_initializer: Any,
        i2h_bias_initializer: Any,
        h2h_bias_initializer: Any,
        input_size: int,
        prefix: str | None,
        params: Any,
    ) -> None:
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._input_size = input_size
        rows = self._gates * hidden_size
        self.i2h_weight = self.params.get(
            "i2h_weight", shape=(rows, input_size), init=i2h_weight_initializer, allow_deferred_init=True
        )
        self.h2h_weight = self.params.get(
            "h2h_weight", shape=(rows, hidden_size), init=h2h_weight_initializer, allow_deferred_init=True
        )
        self.i2h_bias = self.params.get("i2h_bias", shape=(rows,), init=i2h_bias_initializer, allow_deferred_init=True)
        self.h2h_bias = self.params.get("h2h_bias", shape=(rows,), init=h2h_bias_initializer, allow_deferred_init=True)

    def state_info(self, batch_size: int = 0) -> list[Any]:
        n = 2 if self._gates == 4 else 1
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"} for _ in range(n)]

    def _projections(self, F: Any, inputs: Any, h: Any, params: tuple[Any, ...]) -> tuple[Any, Any]:
        i2h_weight, h2h_weight, i2h_bias, h2h_bias = params
        prefix = "t%d_" % self._counter
        rows = self._gates * self._hidden_size
        i2h = F.FullyConnected(inputs, i2h_weight, i2h_bias, num_hidden=rows, name=prefix + "i2h")
        h2h = F.FullyConnected(h, h2h_weight, h2h_bias, num_hidden=rows, name=prefix + "h2h")
        return i2h, h2h

    def __repr__(self) -> str:
        shape = self.i2h_weight.shape
        return "%s(%s -> %s)" % (type(self).__name__, shape[1] or None, shape[0])


class RNNCell(_GatedCell):
    """Elman cell: ``h' = activation(W_i x + b_i + W_h h + b_h)``."""

    def __init__(
        self,
        hidden_size: int,
        activation: Any = "tanh",
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation

    def _alias(self) -> str:
        return "rnn"

    def hybrid_forward(
        self, F: Any, inputs: Any, states: Any, i2h_weight: Any, h2h_weight: Any, i2h_bias: Any, h2h_bias: Any
    ) -> Any:
        i2h, h2h = self._projections(F, inputs, states[0], (i2h_weight, h2h_weight, i2h_bias, h2h_bias))
        output = self._get_activation(F, i2h + h2h, self._activation, name="t%d_out" % self._counter)
        return output, [output]


class LSTMCell(_GatedCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber, 1997); states [h, c]."""

    _gates = 4

    def __init__(
        self,
        hidden_size: int,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
    ) -> None:
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation
        self._recurrent_activation = recurrent_activation

    def _alias(self) -> str:
        return "lstm"

    def hybrid_forward(
        self, F: Any, inputs: Any, states: Any, i2h_weight: Any, h2h_weight: Any, i2h_bias: Any, h2h_bias: Any
    ) -> Any:
        i2h, h2h = self._projections(F, inputs, states[0], (i2h_weight, h2h_weight, i2h_bias, h2h_bias))
        p = "t%d_" % self._counter
        gates = F.SliceChannel(i2h + h2h, num_outputs=4, name=p + "slice")
        rec, act = self._recurrent_activation, self._activation
        in_gate = self._get_activation(F, gates[0], rec, name=p + "i")
        forget_gate = self._get_activation(F, gates[1], rec, name=p + "f")
        in_transform = self._get_activation(F, gates[2], act, name=p + "c")
        out_gate = self._get_activation(F, gates[3], rec, name=p + "o")
        next_c = forget_gate * states[1] + in_gate * in_transform
        next_h = out_gate * self._get_activation(F, next_c, act, name=p + "out")
        return next_h, [next_h, next_c]


class GRUCell(_GatedCell):
    """Gated recurrent unit cell (Cho et al., 2014), MXNet's (cuDNN's) formulation."""

    _gates = 3

    def __init__(
        self,
        hidden_size: int,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
    ) -> None:
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation
        self._recurrent_activation = recurrent_activation

    def _alias(self) -> str:
        return "gru"

    def hybrid_forward(
        self, F: Any, inputs: Any, states: Any, i2h_weight: Any, h2h_weight: Any, i2h_bias: Any, h2h_bias: Any
    ) -> Any:
        prev_h = states[0]
        i2h, h2h = self._projections(F, inputs, prev_h, (i2h_weight, h2h_weight, i2h_bias, h2h_bias))
        p = "t%d_" % self._counter
        i2h_r, i2h_z, i2h_n = F.SliceChannel(i2h, num_outputs=3, name=p + "i2h_slice")
        h2h_r, h2h_z, h2h_n = F.SliceChannel(h2h, num_outputs=3, name=p + "h2h_slice")
        rec = self._recurrent_activation
        reset_gate = self._get_activation(F, i2h_r + h2h_r, rec, name=p + "r_act")
        update_gate = self._get_activation(F, i2h_z + h2h_z, rec, name=p + "z_act")
        next_tmp = self._get_activation(F, i2h_n + reset_gate * h2h_n, self._activation, name=p + "h_act")
        next_h = (F.ones_like(update_gate) - update_gate) * next_tmp + update_gate * prev_h
        return next_h, [next_h]


class SequentialRNNCell(RecurrentCell):
    """Stack of cells: each step feeds the output of one cell into the next."""

    def __init__(self, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)

    def __repr__(self) -> str:
        body = "\n".join("(%s): %s" % (k, v) for k, v in self._children.items())
        return "%s(\n%s\n)" % (type(self).__name__, body)

    def add(self, cell: RecurrentCell) -> None:
        """Append a cell to the stack."""
        self.register_child(cell)

    def state_info(self, batch_size: int = 0) -> list[Any]:
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        if self._modified:
            raise RuntimeError("After applying a modifier cell the base cell cannot be called directly.")
        return _cells_begin_state(self._children.values(), **kwargs)

    def __call__(self, inputs: Any, states: Any) -> Any:
        self._counter += 1
        next_states = []
        p = 0
        for cell in self._children.values():
            n = len(cell.state_info())
            inputs, state = cell(inputs, states[p : p + n])
            p += n
            next_states.append(state)
        return inputs, sum(next_states, [])

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list[Any]]:
        self.reset()
        _, _, F, batch_size = _format_sequence(length, inputs, layout, None)
        cells = list(self._children.values())
        states = _get_begin_state(self, F, begin_state, inputs, batch_size)
        p = 0
        next_states: list[Any] = []
        for i, cell in enumerate(cells):
            n = len(cell.state_info())
            merge = None if i < len(cells) - 1 else merge_outputs
            inputs, state = cell.unroll(length, inputs, states[p : p + n], layout, merge, valid_length)
            p += n
            next_states.extend(state)
        return inputs, next_states

    def __getitem__(self, i: int) -> Any:
        return list(self._children.values())[i]

    def __len__(self) -> int:
        return len(self._children)

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError


class HybridSequentialRNNCell(SequentialRNNCell, HybridRecurrentCell):
    """A :class:`SequentialRNNCell` of hybridizable cells."""

    def hybrid_forward(self, F: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        return SequentialRNNCell.__call__(self, x, args[0] if args else kwargs["states"])


class DropoutCell(HybridRecurrentCell):
    """Applies dropout (rate ``rate``, shared along ``axes``) to the inputs; no states."""

    def __init__(self, rate: float, axes: Any = (), prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix, params)
        if not isinstance(rate, (int, float)):
            raise TypeError("rate must be a number, got %s" % type(rate).__name__)
        self._rate = rate
        self._axes = axes

    def __repr__(self) -> str:
        return "%s(rate=%s, axes=%s)" % (type(self).__name__, self._rate, self._axes)

    def state_info(self, batch_size: int = 0) -> list[Any]:
        return []

    def _alias(self) -> str:
        return "dropout"

    def hybrid_forward(self, F: Any, inputs: Any, states: Any) -> Any:
        if self._rate > 0:
            inputs = F.Dropout(inputs, p=self._rate, axes=self._axes, name="t%d_fwd" % self._counter)
        return inputs, states

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list[Any]]:
        self.reset()
        inputs, _, F, _ = _format_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, (NDArray, Symbol)):
            return self.hybrid_forward(F, inputs, begin_state if begin_state else [])
        # As in MXNet, a dropout cell does not mask the padding.
        return super().unroll(length, inputs, begin_state, layout, merge_outputs, None)


class ModifierCell(HybridRecurrentCell):
    """Base of the cells that wrap another cell and change its behaviour; the parameters are
    the base cell's."""

    def __init__(self, base_cell: RecurrentCell) -> None:
        if base_cell._modified:
            raise ValueError("Cell %s is already modified. One cell cannot be modified twice" % base_cell.name)
        base_cell._modified = True
        super().__init__(prefix=base_cell.prefix + self._alias(), params=None)
        self.base_cell = base_cell

    @property
    def params(self) -> Any:
        return self.base_cell.params

    def state_info(self, batch_size: int = 0) -> list[Any]:
        return self.base_cell.state_info(batch_size)

    def begin_state(self, batch_size: int = 0, func: Any = ndarray.zeros, **kwargs: Any) -> list[Any]:
        if self._modified:
            raise RuntimeError("After applying a modifier cell the base cell cannot be called directly.")
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(batch_size=batch_size, func=func, **kwargs)
        finally:
            self.base_cell._modified = True

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, self.base_cell)


class ZoneoutCell(ModifierCell):
    """Zoneout (Krueger et al., 2016): in training, each output/state unit keeps its previous
    value with probability ``zoneout_outputs`` / ``zoneout_states``."""

    def __init__(self, base_cell: RecurrentCell, zoneout_outputs: float = 0.0, zoneout_states: float = 0.0) -> None:
        if isinstance(base_cell, BidirectionalCell):
            raise ValueError(
                "BidirectionalCell doesn't support zoneout. Please add ZoneoutCell to the cells underneath."
            )
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self._prev_output: Any = None

    def _alias(self) -> str:
        return "zoneout"

    def reset(self) -> None:
        super().reset()
        self._prev_output = None

    def hybrid_forward(self, F: Any, inputs: Any, states: Any) -> Any:
        cell, p_out, p_st = self.base_cell, self.zoneout_outputs, self.zoneout_states
        next_output, next_states = cell(inputs, states)

        def keep(p: float, like: Any) -> Any:
            return F.Dropout(F.ones_like(like), p=p)

        prev_output = self._prev_output if self._prev_output is not None else F.zeros_like(next_output)
        output = F.where(keep(p_out, next_output), next_output, prev_output) if p_out != 0.0 else next_output
        if p_st != 0.0:
            new_states = [F.where(keep(p_st, n), n, o) for n, o in zip(next_states, states)]
        else:
            new_states = next_states
        self._prev_output = output
        return output, new_states


class ResidualCell(ModifierCell):
    """Adds the cell's input to its output (He et al.); input and output sizes must agree."""

    def _alias(self) -> str:
        return "residual"

    def hybrid_forward(self, F: Any, inputs: Any, states: Any) -> Any:
        output, states = self.base_cell(inputs, states)
        output = F.elemwise_add(output, inputs, name="t%d_fwd" % self._counter)
        return output, states

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list[Any]]:
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs, begin_state, layout, merge_outputs, valid_length)
        finally:
            self.base_cell._modified = True
        merge = isinstance(outputs, (NDArray, Symbol)) if merge_outputs is None else merge_outputs
        inputs, axis, F, _ = _format_sequence(length, inputs, layout, merge)
        if valid_length is not None:
            # the padded inputs are not added to the (zero) outputs
            inputs = _mask_sequence_variable_length(F, inputs, length, valid_length, axis, merge)
        if merge:
            outputs = F.elemwise_add(outputs, inputs)
        else:
            outputs = [F.elemwise_add(o, i) for o, i in zip(outputs, inputs)]
        return outputs, states


class BidirectionalCell(HybridRecurrentCell):
    """Runs ``l_cell`` forward and ``r_cell`` backward in time and concatenates their outputs
    (features axis); only ``unroll`` is defined."""

    def __init__(self, l_cell: RecurrentCell, r_cell: RecurrentCell, output_prefix: str = "bi_") -> None:
        super().__init__(prefix="", params=None)
        self.register_child(l_cell, "l_cell")
        self.register_child(r_cell, "r_cell")
        self._output_prefix = output_prefix

    def __call__(self, inputs: Any, states: Any) -> Any:
        raise NotImplementedError("Bidirectional cannot be stepped. Please use unroll")

    def __repr__(self) -> str:
        return "%s(forward=%s, backward=%s)" % (type(self).__name__, *self._children.values())

    def state_info(self, batch_size: int = 0) -> list[Any]:
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        if self._modified:
            raise RuntimeError("After applying a modifier cell the base cell cannot be called directly.")
        return _cells_begin_state(self._children.values(), **kwargs)

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list[Any]]:
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, False)
        reversed_inputs = _reverse_sequences(inputs, length, valid_length)
        states = _get_begin_state(self, F, begin_state, inputs, batch_size)
        l_cell, r_cell = self._children.values()
        n_l = len(l_cell.state_info(batch_size))
        l_out, l_states = l_cell.unroll(length, inputs, states[:n_l], layout, merge_outputs, valid_length)
        r_out, r_states = r_cell.unroll(length, reversed_inputs, states[n_l:], layout, False, valid_length)
        r_out = _reverse_sequences(r_out, length, valid_length)
        if merge_outputs is None:
            merge_outputs = isinstance(l_out, (NDArray, Symbol))
            l_out, _, _, _ = _format_sequence(length, l_out, layout, merge_outputs)
            r_out, _, _, _ = _format_sequence(length, r_out, layout, merge_outputs)
        if merge_outputs:
            r_out = F.stack(*r_out, axis=axis)
            outputs = F.concat(l_out, r_out, dim=2, name="%sout" % self._output_prefix)
        else:
            outputs = [
                F.concat(lo, ro, dim=1, name="%st%d" % (self._output_prefix, i))
                for i, (lo, ro) in enumerate(zip(l_out, r_out))
            ]
        if valid_length is not None:
            outputs = _mask_sequence_variable_length(F, outputs, length, valid_length, axis, merge_outputs)
        return outputs, l_states + r_states
