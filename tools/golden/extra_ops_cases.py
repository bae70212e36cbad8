"""The cases of ``tools/golden/extra_ops.py``, by family.

A case: ``name``, ``op``, ``inputs`` (``(name, shape, kind)`` with kind ``u`` uniform in
[-1, 1), ``pos`` in [0.5, 2), ``unit`` in [-0.9, 0.9), ``gt1`` in [1.1, 3); or ``(name,
values)``), ``attrs``, and optionally ``nograd`` (inputs without a gradient), ``grad`` (False:
forward only) and ``train`` (False: predict mode).
"""


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


FAMILIES = {
    "norm": _norm_cases(),
}
