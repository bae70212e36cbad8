"""The layout of a fused RNN's packed ``parameters`` vector (cuDNN's, as MXNet's ``RNN`` op and
``FusedRNNCell`` use): per layer and direction, the i2h then h2h weight of each gate, then, in
the same order, the biases. Shared by ``mx.rnn.FusedRNNCell`` and ``mx.init.FusedRNN``."""

from mxrs.base import MXNetValueError

__all__ = ["GATES", "num_input", "slice_fused"]

GATES = {"rnn_relu": [""], "rnn_tanh": [""], "lstm": ["_i", "_f", "_c", "_o"], "gru": ["_r", "_z", "_o"]}


def num_input(size, num_hidden, num_layers, mode, bidirectional):
    """The input size of a packed vector of ``size`` elements."""
    b = 2 if bidirectional else 1
    m = len(GATES[mode])
    h = num_hidden
    return size // b // h // m - (num_layers - 1) * (h + b * h + 2) - h - 2


def slice_fused(arr, prefix, num_layers, mode, bidirectional, li, lh):
    """Views of the packed vector ``arr``, by unpacked name (``{prefix}l0_i2h_i_weight``...),
    for input size ``li`` and ``lh`` hidden units; its size must match exactly."""
    gate_names = GATES[mode]
    directions = ["l", "r"] if bidirectional else ["l"]
    b = len(directions)
    m = len(gate_names)
    need = (li + lh + 2) * lh * m * b + (num_layers - 1) * m * lh * (lh + b * lh + 2) * b
    if li <= 0 or need != arr.size:
        raise MXNetValueError(
            f"fused RNN '{prefix}': the packed parameters have {arr.size} elements, which does not fit "
            f"{num_layers} layer(s) of {mode} with {lh} hidden units ({'bi' if bidirectional else 'uni'}directional)"
            + (f" and input size {li} ({need} elements)" if li > 0 else "")
        )
    args = {}
    p = 0
    for layer in range(num_layers):
        for direction in directions:
            for gate in gate_names:
                name = f"{prefix}{direction}{layer}_i2h{gate}_weight"
                cols = b * lh if layer > 0 else li
                args[name] = arr[p : p + lh * cols].reshape((lh, cols))
                p += lh * cols
            for gate in gate_names:
                args[f"{prefix}{direction}{layer}_h2h{gate}_weight"] = arr[p : p + lh * lh].reshape((lh, lh))
                p += lh * lh
    for layer in range(num_layers):
        for direction in directions:
            for group in ("i2h", "h2h"):
                for gate in gate_names:
                    args[f"{prefix}{direction}{layer}_{group}{gate}_bias"] = arr[p : p + lh]
                    p += lh
    return args
