"""The cases of ``tools/golden/extra_ops.py``, by family.

A case: ``name``, ``op``, ``inputs`` (``(name, shape, kind)`` with kind ``u`` uniform in
[-1, 1), ``pos`` in [0.5, 2), ``unit`` in [-0.9, 0.9), ``gt1`` in [1.1, 3); or ``(name,
values)``), ``attrs``, and optionally ``nograd`` (inputs without a gradient), ``grad`` (False:
forward only) and ``train`` (False: predict mode).
"""

import numpy as np


def _norm_cases():
    return [
        {
            "name": "layer_last",
            "op": "LayerNorm",
            "inputs": [("data", (3, 4, 5), "u"), ("gamma", (5,), "u"), ("beta", (5,), "u")],
        },
        {
            "name": "layer_axis1_mean_var",
            "op": "LayerNorm",
            "inputs": [("data", (2, 4, 3), "u"), ("gamma", (4,), "u"), ("beta", (4,), "u")],
            "attrs": {"axis": 1, "eps": 1e-3, "output_mean_var": True},
        },
        {
            "name": "layer_axis0",
            "op": "LayerNorm",
            "inputs": [("data", (3, 2, 2), "u"), ("gamma", (3,), "u"), ("beta", (3,), "u")],
            "attrs": {"axis": 0},
        },
        {
            "name": "instance_4d",
            "op": "InstanceNorm",
            "inputs": [("data", (2, 3, 4, 5), "u"), ("gamma", (3,), "u"), ("beta", (3,), "u")],
        },
        {
            "name": "instance_3d_eps",
            "op": "InstanceNorm",
            "inputs": [("data", (2, 2, 6), "u"), ("gamma", (2,), "u"), ("beta", (2,), "u")],
            "attrs": {"eps": 0.1},
        },
        {
            "name": "group_2",
            "op": "GroupNorm",
            "inputs": [("data", (2, 4, 3, 3), "u"), ("gamma", (2,), "u"), ("beta", (2,), "u")],
            "attrs": {"num_groups": 2},
        },
        {
            "name": "group_1_mean_var",
            "op": "GroupNorm",
            "inputs": [("data", (3, 6, 4), "u"), ("gamma", (1,), "u"), ("beta", (1,), "u")],
            "attrs": {"output_mean_var": True, "eps": 1e-2},
        },
        {
            "name": "group_per_channel",
            "op": "GroupNorm",
            "inputs": [("data", (2, 3, 5), "u"), ("gamma", (3,), "u"), ("beta", (3,), "u")],
            "attrs": {"num_groups": 3},
        },
    ]


def _rnn_params(mode, layers, bidir, inp, h):
    g = {"lstm": 4, "gru": 3}.get(mode, 1)
    dirs = 2 if bidir else 1
    size = sum(dirs * g * h * ((inp if lay == 0 else dirs * h) + h) for lay in range(layers))
    return size + layers * dirs * 2 * g * h


def _rnn_case(mode, layers, bidir, state_outputs=True, t=4, n=3, inp=5, h=3):
    dirs = 2 if bidir else 1
    inputs = [
        ("data", (t, n, inp), "u"),
        ("parameters", (_rnn_params(mode, layers, bidir, inp, h),), "unit"),
        ("state", (layers * dirs, n, h), "u"),
    ]
    if mode == "lstm":
        inputs.append(("state_cell", (layers * dirs, n, h), "u"))
    attrs = {"mode": mode, "state_size": h, "num_layers": layers, "bidirectional": bidir}
    attrs["state_outputs"] = state_outputs
    name = f"{mode}_l{layers}{'_bi' if bidir else ''}{'' if state_outputs else '_nostate'}"
    return {"name": name, "op": "RNN", "inputs": inputs, "attrs": attrs}


def _rnn_cases():
    cases = []
    for mode in ["rnn_relu", "rnn_tanh", "lstm", "gru"]:
        cases += [_rnn_case(mode, 1, False), _rnn_case(mode, 2, True)]
    cases.append(_rnn_case("lstm", 2, False, state_outputs=False, t=6, n=2, inp=4, h=5))
    cases.append(_rnn_case("gru", 3, True, state_outputs=False, t=2, n=1, inp=2, h=4))
    return cases


def _ctc_cases():
    lab_first = [[1, 2, 0], [3, 3, 1], [4, 0, 0]]
    lab_last = [[0, 1, -1], [2, 2, 3], [1, -1, -1]]
    nograd = ("label", "data_lengths", "label_lengths")
    f32 = "float32"
    return [
        {
            "name": "first",
            "op": "CTCLoss",
            "inputs": [("data", (6, 3, 5), "u"), ("label", np.array(lab_first, f32))],
            "nograd": nograd,
        },
        {
            "name": "last",
            "op": "ctc_loss",
            "inputs": [("data", (6, 3, 5), "u"), ("label", np.array(lab_last, f32))],
            "attrs": {"blank_label": "last"},
            "nograd": nograd,
        },
        {
            "name": "lengths",
            "op": "CTCLoss",
            "inputs": [
                ("data", (7, 3, 4), "u"),
                ("label", np.array([[1, 2, 3], [3, 3, 1], [2, 1, 2]], f32)),
                ("data_lengths", np.array([7, 4, 5], f32)),
                ("label_lengths", np.array([2, 3, 1], f32)),
            ],
            "attrs": {"use_data_lengths": True, "use_label_lengths": True},
            "nograd": nograd,
        },
        {
            "name": "contrib_data_lengths_last",
            "op": "CTCLoss",
            "inputs": [
                ("data", (5, 2, 3), "u"),
                ("label", np.array([[0, 1], [1, -1]], f32)),
                ("data_lengths", np.array([3, 5], f32)),
            ],
            "attrs": {"use_data_lengths": True, "blank_label": "last"},
            "nograd": nograd,
        },
    ]


FAMILIES = {
    "norm": _norm_cases(),
    "rnn": _rnn_cases(),
    "ctc": _ctc_cases(),
}
