"""``FusedRNNCell``: every layer and time step in one ``RNN`` op, with all weights packed in
one ``parameters`` vector (cuDNN's layout), and its conversion to a stack of plain cells."""

import warnings

from mxrs import _rnn_layout, ndarray, symbol
from mxrs import initializer as init
from mxrs.base import MXNetValueError, NotSupported
from mxrs.rnn.rnn_cell import (
    BaseRNNCell,
    BidirectionalCell,
    DropoutCell,
    GRUCell,
    LSTMCell,
    RNNCell,
    SequentialRNNCell,
    _normalize_sequence,
)

__all__ = ["FusedRNNCell"]

_GATES = _rnn_layout.GATES


class FusedRNNCell(BaseRNNCell):
    """A multi-layer RNN run by the fused ``RNN`` op.

    Parameters
    ----------
    num_hidden : int
    num_layers : int, default 1
    mode : str, default 'lstm'
        'rnn_relu', 'rnn_tanh', 'lstm' or 'gru'.
    bidirectional : bool, default False
    dropout : float, default 0
        Dropout between layers during training.
    get_next_state : bool, default False
        Whether ``unroll`` also returns the final states.
    forget_bias : float, default 1.0
    prefix : str, default ``'{mode}_'``
    params : RNNParams or None
    """

    def __init__(
        self,
        num_hidden,
        num_layers=1,
        mode="lstm",
        bidirectional=False,
        dropout=0.0,
        get_next_state=False,
        forget_bias=1.0,
        prefix=None,
        params=None,
    ):
        if mode not in _GATES:
            raise MXNetValueError(f"FusedRNNCell: mode must be one of {sorted(_GATES)}, got {mode!r}")
        if prefix is None:
            prefix = f"{mode}_"
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._dropout = dropout
        self._get_next_state = get_next_state
        self._directions = ["l", "r"] if bidirectional else ["l"]
        self._fused = True
        initializer = init.FusedRNN(None, num_hidden, num_layers, mode, bidirectional, forget_bias)
        self._parameter = self.params.get("parameters", init=initializer)

    @property
    def state_info(self):
        b = self._bidirectional + 1
        n = (self._mode == "lstm") + 1
        return [{"shape": (b * self._num_layers, 0, self._num_hidden), "__layout__": "LNC"} for _ in range(n)]

    @property
    def _gate_names(self):
        return _GATES[self._mode]

    @property
    def _num_gates(self):
        return len(self._gate_names)

    def _slice_weights(self, arr, li, lh):
        """Views of the packed vector ``arr`` by unpacked name (input size ``li``, hidden ``lh``)."""
        return _rnn_layout.slice_fused(arr, self._prefix, self._num_layers, self._mode, self._bidirectional, li, lh)

    def unpack_weights(self, args):
        args = args.copy()
        name = self._parameter.name
        if name not in args:
            raise MXNetValueError(f"unpack_weights: '{name}' is missing; the dict has {sorted(args)}")
        arr = args.pop(name)
        h = self._num_hidden
        num_input = _rnn_layout.num_input(arr.size, h, self._num_layers, self._mode, self._bidirectional)
        nargs = self._slice_weights(arr, num_input, self._num_hidden)
        args.update({n: v.copy() for n, v in nargs.items()})
        return args

    def pack_weights(self, args):
        args = args.copy()
        b = self._bidirectional + 1
        m = self._num_gates
        c = self._gate_names
        h = self._num_hidden
        first = f"{self._prefix}l0_i2h{c[0]}_weight"
        if first not in args:
            raise MXNetValueError(f"pack_weights: '{first}' is missing; the dict has {sorted(args)}")
        w0 = args[first]
        num_input = w0.shape[1]
        total = (num_input + h + 2) * h * m * b + (self._num_layers - 1) * m * h * (h + b * h + 2) * b
        arr = ndarray.zeros((total,), ctx=w0.context, dtype=w0.dtype)
        for name, view in self._slice_weights(arr, num_input, h).items():
            if name not in args:
                raise MXNetValueError(f"pack_weights: '{name}' is missing; the dict has {sorted(args)}")
            src = args.pop(name)
            if tuple(src.shape) != tuple(view.shape):
                raise MXNetValueError(f"pack_weights: '{name}' has shape {src.shape}, expected {view.shape}")
            view[:] = src
        args[self._parameter.name] = arr
        return args

    def __call__(self, inputs, states):
        raise NotSupported("FusedRNNCell cannot be stepped. Please use unroll")

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, True)
        if axis == 1:
            warnings.warn("NTC layout detected. Consider using TNC for FusedRNNCell for faster speed", stacklevel=2)
            inputs = symbol.swapaxes(inputs, dim1=0, dim2=1)
        elif axis != 0:
            raise MXNetValueError(f"FusedRNNCell: unsupported layout {layout!r} (use 'TNC' or 'NTC')")
        if begin_state is None:
            begin_state = self.begin_state()
        n_states = len(self.state_info)
        if len(begin_state) != n_states:
            raise MXNetValueError(f"FusedRNNCell ({self._mode}) takes {n_states} state(s), got {len(begin_state)}")
        if self._mode == "lstm":
            state_args = {"state": begin_state[0], "state_cell": begin_state[1]}
        else:
            state_args = {"state": begin_state[0]}
        rnn = symbol.RNN(
            data=inputs,
            parameters=self._parameter,
            state_size=self._num_hidden,
            num_layers=self._num_layers,
            bidirectional=self._bidirectional,
            p=self._dropout,
            state_outputs=self._get_next_state,
            mode=self._mode,
            name=self._prefix + "rnn",
            # MXNet sets this through the state outputs, on their shared RNN node; mxrs's
            # _set_attr would copy the node, so the attribute is given at creation.
            attr={"__layout__": "LNC"} if self._get_next_state else None,
            **state_args,
        )
        if not self._get_next_state:
            outputs, states = rnn, []
        else:
            if self._mode == "lstm":
                outputs, states = rnn[0], [rnn[1], rnn[2]]
            else:
                outputs, states = rnn[0], [rnn[1]]
        if axis == 1:
            outputs = symbol.swapaxes(outputs, dim1=0, dim2=1)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def unfuse(self):
        """The same network as a :class:`SequentialRNNCell` of plain cells (which can be stepped);
        its weights are named as :meth:`unpack_weights` names them."""
        stack = SequentialRNNCell()
        makers = {
            "rnn_relu": lambda p: RNNCell(self._num_hidden, activation="relu", prefix=p),
            "rnn_tanh": lambda p: RNNCell(self._num_hidden, activation="tanh", prefix=p),
            "lstm": lambda p: LSTMCell(self._num_hidden, prefix=p),
            "gru": lambda p: GRUCell(self._num_hidden, prefix=p),
        }
        get_cell = makers[self._mode]
        for i in range(self._num_layers):
            if self._bidirectional:
                stack.add(
                    BidirectionalCell(
                        get_cell(f"{self._prefix}l{i}_"),
                        get_cell(f"{self._prefix}r{i}_"),
                        output_prefix=f"{self._prefix}bi_l{i}_",
                    )
                )
            else:
                stack.add(get_cell(f"{self._prefix}l{i}_"))
            if self._dropout > 0 and i != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout, prefix=f"{self._prefix}_dropout{i}_"))
        return stack
