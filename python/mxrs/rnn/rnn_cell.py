"""The symbolic RNN cells of MXNet 1.x's ``mx.rnn`` (the pre-Gluon API).

A cell builds the graph of one time step (``cell(inputs, states)``); ``unroll`` chains
``length`` steps. Parameters are ``Variable`` symbols held in an :class:`RNNParams` container,
shared by every step (and by cells given the same container). Names follow MXNet exactly:
``{prefix}i2h_weight`` for parameters, ``{prefix}t{step}_...`` for step nodes and
``{prefix}begin_state_{k}`` for initial states, so checkpoints load in either library.

Fused (``FusedRNNCell``) and convolutional cells live in :mod:`mxrs.rnn.fused` and
:mod:`mxrs.rnn.conv_cell`.
"""

from mxrs import initializer as init
from mxrs import ndarray, symbol
from mxrs.base import MXNetValueError, NotSupported

__all__ = [
    "RNNParams",
    "BaseRNNCell",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "SequentialRNNCell",
    "DropoutCell",
    "ModifierCell",
    "ZoneoutCell",
    "ResidualCell",
    "BidirectionalCell",
]

_MODIFIED = (
    "After applying modifier cells (e.g. DropoutCell) the base cell cannot be called directly. "
    "Call the modifier cell instead."
)


def _check(cond, msg):
    if not cond:
        raise MXNetValueError(msg)


def _cells_state_info(cells):
    return sum([c.state_info for c in cells], [])


def _cells_begin_state(cells, **kwargs):
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _cells_unpack_weights(cells, args):
    for cell in cells:
        args = cell.unpack_weights(args)
    return args


def _cells_pack_weights(cells, args):
    for cell in cells:
        args = cell.pack_weights(args)
    return args


def _normalize_sequence(length, inputs, layout, merge, in_layout=None):
    """``inputs`` as a list of per-step symbols (``merge=False``), one symbol (``True``) or
    as given (``None``); returns it with the time axis of ``layout``."""
    _check(
        inputs is not None,
        "unroll(inputs=None) has been deprecated. Please create input variables outside unroll.",
    )
    _check(isinstance(layout, str) and "T" in layout, f"layout must be a string with a 'T' axis, got {layout!r}")
    axis = layout.find("T")
    in_axis = in_layout.find("T") if in_layout is not None else axis
    if isinstance(inputs, symbol.Symbol):
        if merge is False:
            _check(
                len(inputs.list_outputs()) == 1,
                "unroll doesn't allow grouped symbol as input. Please convert to list with list(inputs) "
                "first or let unroll handle splitting.",
            )
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length, squeeze_axis=1))
    else:
        _check(
            isinstance(inputs, (list, tuple)) and all(isinstance(i, symbol.Symbol) for i in inputs),
            f"inputs must be a Symbol or a list of Symbols, got {type(inputs).__name__}",
        )
        _check(
            length is None or len(inputs) == length,
            f"unroll(length={length}) was given {len(inputs)} input symbols; give one per time step",
        )
        inputs = list(inputs)
        if merge is True:
            inputs = [symbol.expand_dims(i, axis=axis) for i in inputs]
            inputs = symbol.Concat(*inputs, dim=axis)
            in_axis = axis
    if isinstance(inputs, symbol.Symbol) and axis != in_axis:
        inputs = symbol.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis


class RNNParams:
    """A container of parameter variables, shared between cells.

    Parameters
    ----------
    prefix : str
        Prepended to the names of the variables created here.
    """

    def __init__(self, prefix=""):
        self._prefix = prefix
        self._params = {}

    def get(self, name, **kwargs):
        """The variable ``prefix + name``, created (with ``kwargs`` for ``Variable``) if missing."""
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


class BaseRNNCell:
    """Abstract base class of the symbolic RNN cells.

    Parameters
    ----------
    prefix : str
        Prefix of the names of the cell's nodes (and of its weights when ``params`` is None).
    params : RNNParams or None
        Container for weight sharing; a new one with ``prefix`` when None.
    """

    _num_hidden: int

    def __init__(self, prefix="", params=None):
        if params is None:
            params = RNNParams(prefix)
            self._own_params = True
        else:
            self._own_params = False
        self._prefix = prefix
        self._params = params
        self._modified = False
        self.reset()

    def reset(self):
        """Reset the step counters before building another graph with the cell."""
        self._init_counter = -1
        self._counter = -1
        for cell in getattr(self, "_cells", []):
            cell.reset()

    def __call__(self, inputs, states):
        """One time step: ``(output, new_states)`` for ``inputs`` (batch x features)."""
        raise NotImplementedError()

    @property
    def params(self):
        """The cell's :class:`RNNParams`."""
        self._own_params = False
        return self._params

    @property
    def state_info(self):
        """``[{'shape': ..., '__layout__': ...}]`` of the states (0 = batch size, unknown)."""
        raise NotImplementedError()

    @property
    def state_shape(self):
        """Shapes of the states."""
        return [ele["shape"] for ele in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def begin_state(self, func=symbol.zeros, **kwargs):
        """Initial states made by ``func`` (``symbol.zeros``, ``symbol.Variable``, ...).

        Each is named ``{prefix}begin_state_{k}`` and gets the state's ``shape`` (0 for the
        batch size, filled when the graph is bound) and ``__layout__``.
        """
        _check(not self._modified, _MODIFIED)
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is not None:
                kwargs.update(info)
            states.append(func(name=f"{self._prefix}begin_state_{self._init_counter}", **kwargs))
        return states

    def unpack_weights(self, args):
        """Split the fused gate weights (``i2h_weight``...) of ``args`` into one per gate
        (``i2h_i_weight``, ``i2h_f_weight``...); returns a new dict."""
        args = args.copy()
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group_name in ["i2h", "h2h"]:
            weight = _pop(args, f"{self._prefix}{group_name}_weight", "unpack_weights")
            bias = _pop(args, f"{self._prefix}{group_name}_bias", "unpack_weights")
            _check(
                weight.shape[0] == h * len(self._gate_names),
                f"unpack_weights: {self._prefix}{group_name}_weight has {weight.shape[0]} rows, expected "
                f"{len(self._gate_names)} gates x {h} hidden units",
            )
            for j, gate in enumerate(self._gate_names):
                args[f"{self._prefix}{group_name}{gate}_weight"] = weight[j * h : (j + 1) * h].copy()
                args[f"{self._prefix}{group_name}{gate}_bias"] = bias[j * h : (j + 1) * h].copy()
        return args

    def pack_weights(self, args):
        """The inverse of :meth:`unpack_weights`; returns a new dict."""
        args = args.copy()
        if not self._gate_names:
            return args
        for group_name in ["i2h", "h2h"]:
            weight = []
            bias = []
            for gate in self._gate_names:
                weight.append(_pop(args, f"{self._prefix}{group_name}{gate}_weight", "pack_weights"))
                bias.append(_pop(args, f"{self._prefix}{group_name}{gate}_bias", "pack_weights"))
            args[f"{self._prefix}{group_name}_weight"] = ndarray.concat(*weight, dim=0)
            args[f"{self._prefix}{group_name}_bias"] = ndarray.concat(*bias, dim=0)
        return args

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        """Unroll ``length`` steps.

        Parameters
        ----------
        length : int
        inputs : Symbol or list of Symbol
            One symbol of shape (batch, length, ...) for ``NTC`` (``TNC``: length first), or a
            list of ``length`` symbols of shape (batch, ...).
        begin_state : list of Symbol or None
            From :meth:`begin_state` when None.
        layout : str
        merge_outputs : bool or None
            True: one symbol with a time axis; False: a list; None: whichever is cheaper.

        Returns
        -------
        outputs, states
        """
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        outputs = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, inputs, activation, **kwargs):
        if isinstance(activation, str):
            return symbol.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


def _pop(args, name, what):
    if name not in args:
        raise MXNetValueError(f"{what}: parameter '{name}' is missing; the dict has {sorted(args)}")
    return args.pop(name)


def _check_states(cell, states):
    n = len(cell.state_info)
    _check(
        isinstance(states, (list, tuple)) and len(states) == n,
        f"{type(cell).__name__} (prefix '{cell._prefix}') takes {n} state symbol(s), got "
        f"{len(states) if isinstance(states, (list, tuple)) else type(states).__name__}",
    )


class RNNCell(BaseRNNCell):
    """A simple (Elman) RNN cell: ``out = act(W_i x + b_i + W_h h + b_h)``.

    Parameters
    ----------
    num_hidden : int
    activation : str or callable, default 'tanh'
    prefix : str, default ``'rnn_'``
    params : RNNParams or None
    """

    def __init__(self, num_hidden, activation="tanh", prefix="rnn_", params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._activation = activation
        self._iW = self.params.get("i2h_weight")
        self._iB = self.params.get("i2h_bias")
        self._hW = self.params.get("h2h_weight")
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ("",)

    def __call__(self, inputs, states):
        _check_states(self, states)
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(
            data=inputs, weight=self._iW, bias=self._iB, num_hidden=self._num_hidden, name=f"{name}i2h"
        )
        h2h = symbol.FullyConnected(
            data=states[0], weight=self._hW, bias=self._hB, num_hidden=self._num_hidden, name=f"{name}h2h"
        )
        output = self._get_activation(i2h + h2h, self._activation, name=f"{name}out")
        return output, [output]


class LSTMCell(BaseRNNCell):
    """A long short-term memory cell (gates in the order i, f, c, o).

    Parameters
    ----------
    num_hidden : int
    prefix : str, default ``'lstm_'``
    params : RNNParams or None
    forget_bias : float, default 1.0
        Initial bias of the forget gate (through ``i2h_bias``'s ``LSTMBias`` initializer).
    """

    def __init__(self, num_hidden, prefix="lstm_", params=None, forget_bias=1.0):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get("i2h_weight")
        self._hW = self.params.get("h2h_weight")
        self._iB = self.params.get("i2h_bias", init=init.LSTMBias(forget_bias=forget_bias))
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self):
        return [
            {"shape": (0, self._num_hidden), "__layout__": "NC"},
            {"shape": (0, self._num_hidden), "__layout__": "NC"},
        ]

    @property
    def _gate_names(self):
        return ["_i", "_f", "_c", "_o"]

    def __call__(self, inputs, states):
        _check_states(self, states)
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        nh = self._num_hidden * 4
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB, num_hidden=nh, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB, num_hidden=nh, name=f"{name}h2h")
        gates = i2h + h2h
        slice_gates = symbol.SliceChannel(gates, num_outputs=4, name=f"{name}slice")
        in_gate = symbol.Activation(slice_gates[0], act_type="sigmoid", name=f"{name}i")
        forget_gate = symbol.Activation(slice_gates[1], act_type="sigmoid", name=f"{name}f")
        in_transform = symbol.Activation(slice_gates[2], act_type="tanh", name=f"{name}c")
        out_gate = symbol.Activation(slice_gates[3], act_type="sigmoid", name=f"{name}o")
        next_c = symbol._internal._plus(forget_gate * states[1], in_gate * in_transform, name=f"{name}state")
        next_h = symbol._internal._mul(out_gate, symbol.Activation(next_c, act_type="tanh"), name=f"{name}out")
        return next_h, [next_h, next_c]


class GRUCell(BaseRNNCell):
    """A gated recurrent unit cell, cuDNN's variant (gates r, z, o).

    Parameters
    ----------
    num_hidden : int
    prefix : str, default ``'gru_'``
    params : RNNParams or None
    """

    def __init__(self, num_hidden, prefix="gru_", params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get("i2h_weight")
        self._iB = self.params.get("i2h_bias")
        self._hW = self.params.get("h2h_weight")
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ["_r", "_z", "_o"]

    def __call__(self, inputs, states):
        _check_states(self, states)
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        prev_state_h = states[0]
        nh = self._num_hidden * 3
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB, num_hidden=nh, name=f"{name}_i2h")
        h2h = symbol.FullyConnected(
            data=prev_state_h, weight=self._hW, bias=self._hB, num_hidden=nh, name=f"{name}_h2h"
        )
        i2h_r, i2h_z, i2h = symbol.SliceChannel(i2h, num_outputs=3, name=f"{name}_i2h_slice")
        h2h_r, h2h_z, h2h = symbol.SliceChannel(h2h, num_outputs=3, name=f"{name}_h2h_slice")
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type="sigmoid", name=f"{name}_r_act")
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type="sigmoid", name=f"{name}_z_act")
        next_h_tmp = symbol.Activation(i2h + reset_gate * h2h, act_type="tanh", name=f"{name}_h_act")
        next_h = symbol._internal._plus((1.0 - update_gate) * next_h_tmp, update_gate * prev_state_h, name=f"{name}out")
        return next_h, [next_h]


class SequentialRNNCell(BaseRNNCell):
    """A stack of cells: each one's output is the next one's input.

    Parameters
    ----------
    params : RNNParams or None
        When given, the children must own their parameters; they are merged into it.
    """

    def __init__(self, params=None):
        super().__init__(prefix="", params=params)
        self._override_cell_params = params is not None
        self._cells = []

    def add(self, cell):
        """Append ``cell`` to the stack."""
        _check(isinstance(cell, BaseRNNCell), f"SequentialRNNCell.add takes an RNN cell, got {type(cell).__name__}")
        self._cells.append(cell)
        if self._override_cell_params:
            _check(cell._own_params, "Either specify params for SequentialRNNCell or child cells, not both.")
            cell.params._params.update(self.params._params)
        self.params._params.update(cell.params._params)

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):  # type: ignore[override]  # MXNet's signature
        """The children's initial states, concatenated."""
        _check(not self._modified, _MODIFIED)
        return _cells_begin_state(self._cells, **kwargs)

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        _check_states(self, states)
        self._counter += 1
        next_states = []
        p = 0
        for cell in self._cells:
            if isinstance(cell, BidirectionalCell):
                raise NotSupported("a SequentialRNNCell holding a BidirectionalCell cannot be stepped; use unroll")
            n = len(cell.state_info)
            state = states[p : p + n]
            p += n
            inputs, state = cell(inputs, state)
            next_states.append(state)
        return inputs, sum(next_states, [])

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        num_cells = len(self._cells)
        if begin_state is None:
            begin_state = self.begin_state()
        _check_states(self, begin_state)
        p = 0
        next_states = []
        for i, cell in enumerate(self._cells):
            n = len(cell.state_info)
            states = begin_state[p : p + n]
            p += n
            inputs, states = cell.unroll(
                length,
                inputs=inputs,
                begin_state=states,
                layout=layout,
                merge_outputs=None if i < num_cells - 1 else merge_outputs,
            )
            next_states.extend(states)
        return inputs, next_states


class DropoutCell(BaseRNNCell):
    """Dropout on the input (no state).

    Parameters
    ----------
    dropout : float
        Fraction of the elements dropped.
    prefix : str, default ``'dropout_'``
    params : RNNParams or None
    """

    def __init__(self, dropout, prefix="dropout_", params=None):
        super().__init__(prefix, params)
        _check(
            isinstance(dropout, (int, float)) and not isinstance(dropout, bool),
            f"dropout probability must be a number, got {dropout!r}",
        )
        self.dropout = dropout

    @property
    def state_info(self):
        return []

    def __call__(self, inputs, states):
        if self.dropout > 0:
            inputs = symbol.Dropout(data=inputs, p=self.dropout)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, symbol.Symbol):
            return self(inputs, [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout, merge_outputs=merge_outputs)


class ModifierCell(BaseRNNCell):
    """Base class of cells that modify another cell (zoneout, residual connections).

    The modified ``base_cell`` must then be used only through the modifier.
    """

    def __init__(self, base_cell):
        super().__init__()
        _check(isinstance(base_cell, BaseRNNCell), f"the base cell must be an RNN cell, got {type(base_cell).__name__}")
        base_cell._modified = True
        self.base_cell = base_cell

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, init_sym=symbol.zeros, **kwargs):  # type: ignore[override]  # MXNet's signature
        """The base cell's initial states."""
        _check(not self._modified, _MODIFIED)
        self.base_cell._modified = False
        try:
            begin = self.base_cell.begin_state(init_sym, **kwargs)
        finally:
            self.base_cell._modified = True
        return begin

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)

    def __call__(self, inputs, states):
        raise NotImplementedError


class ZoneoutCell(ModifierCell):
    """Zoneout on a cell's outputs and states (each element keeps its previous value with the
    given probability during training).

    Parameters
    ----------
    base_cell : BaseRNNCell
    zoneout_outputs, zoneout_states : float, default 0
    """

    def __init__(self, base_cell, zoneout_outputs=0.0, zoneout_states=0.0):
        _check(not getattr(base_cell, "_fused", False), "FusedRNNCell doesn't support zoneout. Please unfuse first.")
        _check(
            not isinstance(base_cell, BidirectionalCell),
            "BidirectionalCell doesn't support zoneout since it doesn't support step. "
            "Please add ZoneoutCell to the cells underneath instead.",
        )
        _check(
            not isinstance(base_cell, SequentialRNNCell) or not getattr(base_cell, "_bidirectional", False),
            "Bidirectional SequentialRNNCell doesn't support zoneout. "
            "Please add ZoneoutCell to the cells underneath instead.",
        )
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self.prev_output = None

    def reset(self):
        super().reset()
        self.prev_output = None

    def __call__(self, inputs, states):
        cell, p_outputs, p_states = self.base_cell, self.zoneout_outputs, self.zoneout_states
        next_output, next_states = cell(inputs, states)

        def mask(p, like):
            return symbol.Dropout(symbol.ones_like(like), p=p)

        prev_output = self.prev_output if self.prev_output is not None else symbol.zeros((0, 0))
        output = (
            symbol.where(mask(p_outputs, next_output), next_output, prev_output) if p_outputs != 0.0 else next_output
        )
        if p_states != 0.0:
            states = [symbol.where(mask(p_states, new_s), new_s, old_s) for new_s, old_s in zip(next_states, states)]
        else:
            states = next_states
        self.prev_output = output
        return output, states


class ResidualCell(ModifierCell):
    """Adds the input to the base cell's output (Wu et al., 2016).

    Parameters
    ----------
    base_cell : BaseRNNCell
    """

    def __call__(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = symbol.elemwise_add(output, inputs, name=f"{output.name}_plus_residual")
        return output, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(
                length, inputs=inputs, begin_state=begin_state, layout=layout, merge_outputs=merge_outputs
            )
        finally:
            self.base_cell._modified = True
        merge_outputs = isinstance(outputs, symbol.Symbol) if merge_outputs is None else merge_outputs
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if merge_outputs:
            outputs = symbol.elemwise_add(outputs, inputs, name=f"{outputs.name}_plus_residual")
        else:
            outputs = [symbol.elemwise_add(o, i, name=f"{o.name}_plus_residual") for o, i in zip(outputs, inputs)]
        return outputs, states


class BidirectionalCell(BaseRNNCell):
    """Runs ``l_cell`` forwards and ``r_cell`` backwards in time and concatenates their outputs.

    Parameters
    ----------
    l_cell, r_cell : BaseRNNCell
    params : RNNParams or None
    output_prefix : str, default ``'bi_'``
    """

    def __init__(self, l_cell, r_cell, params=None, output_prefix="bi_"):
        super().__init__("", params=params)
        self._output_prefix = output_prefix
        self._override_cell_params = params is not None
        if self._override_cell_params:
            _check(
                l_cell._own_params and r_cell._own_params,
                "Either specify params for BidirectionalCell or child cells, not both.",
            )
            l_cell.params._params.update(self.params._params)
            r_cell.params._params.update(self.params._params)
        self.params._params.update(l_cell.params._params)
        self.params._params.update(r_cell.params._params)
        self._cells = [l_cell, r_cell]

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        raise NotSupported("Bidirectional cannot be stepped. Please use unroll")

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):  # type: ignore[override]  # MXNet's signature
        """Both cells' initial states, concatenated."""
        _check(not self._modified, _MODIFIED)
        return _cells_begin_state(self._cells, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        _check_states(self, begin_state)
        states = begin_state
        l_cell, r_cell = self._cells
        n_l = len(l_cell.state_info)
        l_outputs, l_states = l_cell.unroll(
            length, inputs=inputs, begin_state=states[:n_l], layout=layout, merge_outputs=merge_outputs
        )
        r_outputs, r_states = r_cell.unroll(
            length, inputs=list(reversed(inputs)), begin_state=states[n_l:], layout=layout, merge_outputs=merge_outputs
        )
        if merge_outputs is None:
            merge_outputs = isinstance(l_outputs, symbol.Symbol) and isinstance(r_outputs, symbol.Symbol)
            if not merge_outputs:
                if isinstance(l_outputs, symbol.Symbol):
                    l_outputs = list(symbol.SliceChannel(l_outputs, axis=axis, num_outputs=length, squeeze_axis=1))
                if isinstance(r_outputs, symbol.Symbol):
                    r_outputs = list(symbol.SliceChannel(r_outputs, axis=axis, num_outputs=length, squeeze_axis=1))
        if merge_outputs:
            l_outputs = [l_outputs]
            r_outputs = [symbol.reverse(r_outputs, axis=axis)]
        else:
            r_outputs = list(reversed(r_outputs))
        outputs = [
            symbol.Concat(
                l_o,
                r_o,
                dim=1 + merge_outputs,
                name=(f"{self._output_prefix}out" if merge_outputs else f"{self._output_prefix}t{i}"),
            )
            for i, (l_o, r_o) in enumerate(zip(l_outputs, r_outputs))
        ]
        if merge_outputs:
            return outputs[0], [l_states, r_states]
        return outputs, [l_states, r_states]
