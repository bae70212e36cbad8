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


def _remap_cases():
    f32 = "float32"
    lens = ("sequence_length", np.array([2, 4, 1], f32))
    seq = ("data", (4, 3, 2), "u")
    no = ("sequence_length", "shape_like")

    def c(name, op, inputs, **attrs):
        return {"name": name, "op": op, "inputs": inputs, "attrs": attrs, "nograd": no}

    pw = (0, 0, 0, 0, 1, 2, 2, 1)
    return [
        c("reverse_1", "reverse", [("data", (2, 3, 4), "u")], axis=1),
        c("flip_0_2", "flip", [("data", (2, 3, 4), "u")], axis=(0, 2)),
        c("depth_to_space", "depth_to_space", [("data", (1, 8, 2, 3), "u")], block_size=2),
        c("space_to_depth", "space_to_depth", [("data", (2, 2, 4, 6), "u")], block_size=2),
        c("pad_constant", "Pad", [("data", (1, 2, 3, 4), "u")], mode="constant", pad_width=pw, constant_value=1.5),
        c("pad_edge", "pad", [("data", (1, 2, 3, 4), "u")], mode="edge", pad_width=pw),
        c("pad_reflect", "Pad", [("data", (2, 1, 3, 4), "u")], mode="reflect", pad_width=pw),
        c("pad_5d", "Pad", [("data", (1, 1, 2, 3, 2), "u")], mode="edge", pad_width=(0, 0, 0, 0, 1, 0, 0, 1, 1, 1)),
        dict(
            c("upsampling", "UpSampling", [("data", (1, 2, 2, 3), "u")], scale=2, sample_type="nearest"),
            positional=True,
        ),
        c("slice_like_axes", "slice_like", [("data", (3, 4, 5), "u"), ("shape_like", (2, 3, 9), "u")], axes=(0, 1)),
        c("slice_like_all", "slice_like", [("data", (3, 4, 5), "u"), ("shape_like", (2, 2, 2), "u")]),
        c("diag_2d_k1", "diag", [("data", (3, 4), "u")], k=1),
        c("diag_1d_km1", "diag", [("data", (3,), "u")], k=-1),
        c("diag_3d", "diag", [("data", (2, 3, 4), "u")], axis1=1, axis2=2),
        c(
            "seq_mask",
            "SequenceMask",
            [seq, ("sequence_length", np.array([1, 4, 2], f32))],
            use_sequence_length=True,
            value=-1.0,
        ),
        c("seq_mask_axis1", "SequenceMask", [("data", (3, 4, 2), "u"), lens], use_sequence_length=True, axis=1),
        c("seq_last", "SequenceLast", [seq, lens], use_sequence_length=True),
        c("seq_last_axis1", "SequenceLast", [("data", (3, 4, 2), "u"), lens], use_sequence_length=True, axis=1),
        c("seq_reverse", "SequenceReverse", [seq, lens], use_sequence_length=True),
        c("seq_reverse_plain", "SequenceReverse", [seq]),
    ]


def _misc_cases():
    def c(name, op, inputs, **attrs):
        return {"name": name, "op": op, "inputs": inputs, "attrs": attrs}

    x = ("data", (3, 4), "u")
    return [
        c("hard_sigmoid", "hard_sigmoid", [("data", (3, 4), "gt1")], alpha=0.3, beta=-0.1),
        c("hard_sigmoid_default", "hard_sigmoid", [("data", (2, 5), "u")]),
        c("smooth_l1", "smooth_l1", [x], scalar=2.0),
        c("smooth_l1_half", "smooth_l1", [x], scalar=0.5),
        c("softmin", "softmin", [("data", (2, 3, 4), "u")]),
        c("softmin_axis_temp", "softmin", [("data", (2, 3, 4), "u")], axis=1, temperature=2.0),
        c("erfinv", "erfinv", [("data", (3, 4), "unit")]),
        c("arcsinh", "arcsinh", [x]),
        c("arccosh", "arccosh", [("data", (3, 4), "gt1")]),
        c("arctanh", "arctanh", [("data", (3, 4), "unit")]),
        c("rcbrt", "rcbrt", [("data", (3, 4), "pos")]),
        c("moments_all", "moments", [("data", (2, 3, 4), "u")], axes=(0, 1, 2)),
        c("moments_axes_keep", "moments", [("data", (2, 3, 4), "u")], axes=(0, 2), keepdims=True),
        c("moments_axis1", "moments", [("data", (2, 3, 4), "u")], axes=(1,)),
        c("l2norm_instance", "L2Normalization", [("data", (2, 3, 4), "u")]),
        c("l2norm_channel", "L2Normalization", [("data", (2, 3, 2, 2), "u")], mode="channel", eps=1e-3),
        c("l2norm_spatial", "L2Normalization", [("data", (2, 3, 2, 2), "u")], mode="spatial"),
        c("cumsum_axis", "cumsum", [("a", (2, 3, 4), "u")], axis=1),
        c("cumsum_flat", "cumsum", [("a", (2, 3), "u")]),
        dict(c("shape_array", "shape_array", [("data", (2, 3, 4), "u")]), grad=False),
        dict(c("size_array", "size_array", [("data", (2, 3, 4), "u")]), grad=False),
    ]


def _conv3d_cases():
    """3-D Convolution and Pooling (NCDHW), from MXNet's own kernels."""

    def conv(name, data, weight, bias=True, **attrs):
        ins = [("data", data, "u"), ("weight", weight, "u")]
        if bias:
            ins.append(("bias", (attrs["num_filter"],), "u"))
        return {"name": name, "op": "Convolution", "inputs": ins, "attrs": dict(attrs, no_bias=not bias)}

    def pool(name, data, **attrs):
        return {"name": name, "op": "Pooling", "inputs": [("data", data, "u")], "attrs": attrs}

    k = (2, 3, 2)
    return [
        conv("conv_plain", (2, 3, 4, 5, 4), (4, 3, 2, 2, 2), kernel=(2, 2, 2), num_filter=4),
        conv(
            "conv_stride_pad",
            (2, 2, 5, 6, 7),
            (3, 2, 3, 3, 2),
            kernel=(3, 3, 2),
            stride=(2, 1, 3),
            pad=(1, 2, 0),
            num_filter=3,
        ),
        conv(
            "conv_dilate_groups",
            (1, 4, 6, 5, 6),
            (6, 2, 2, 3, 2),
            bias=False,
            kernel=(2, 3, 2),
            dilate=(2, 1, 2),
            pad=(1, 1, 1),
            num_group=2,
            num_filter=6,
        ),
        conv("conv_pointwise", (2, 3, 3, 4, 2), (5, 3, 1, 1, 1), kernel=(1, 1, 1), num_filter=5),
        conv(
            "conv_depthwise",
            (1, 3, 4, 4, 4),
            (3, 1, 3, 3, 3),
            kernel=(3, 3, 3),
            pad=(1, 1, 1),
            num_group=3,
            num_filter=3,
        ),
        pool("max_valid", (2, 2, 4, 6, 5), kernel=k, stride=(2, 3, 2)),
        pool("max_pad_full", (1, 3, 5, 5, 6), kernel=k, stride=(2, 2, 2), pad=(1, 1, 0), pooling_convention="full"),
        pool("max_overlap", (1, 2, 4, 5, 5), kernel=(3, 3, 3), stride=(1, 2, 1), pad=(1, 1, 1)),
        pool("avg_include_pad", (2, 2, 5, 4, 6), kernel=k, stride=(2, 2, 2), pad=(1, 1, 1), pool_type="avg"),
        pool(
            "avg_exclude_pad",
            (1, 2, 5, 4, 6),
            kernel=k,
            stride=(2, 2, 2),
            pad=(1, 1, 1),
            pool_type="avg",
            count_include_pad=False,
        ),
        pool(
            "avg_full_include_pad",
            (1, 2, 5, 6, 5),
            kernel=(3, 3, 3),
            stride=(2, 2, 2),
            pad=(1, 0, 1),
            pool_type="avg",
            pooling_convention="full",
        ),
        pool(
            "avg_full_exclude_pad",
            (1, 2, 5, 6, 5),
            kernel=(3, 3, 3),
            stride=(2, 2, 2),
            pad=(1, 0, 1),
            pool_type="avg",
            pooling_convention="full",
            count_include_pad=False,
        ),
        pool("sum_valid", (2, 2, 4, 5, 4), kernel=k, stride=(1, 2, 1), pool_type="sum"),
        pool(
            "sum_full", (1, 2, 5, 5, 5), kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="sum", pooling_convention="full"
        ),
        pool("lp1", (1, 2, 4, 5, 4), kernel=k, stride=(2, 2, 2), pool_type="lp", p_value=1),
        pool("lp2_pad", (1, 2, 4, 5, 4), kernel=k, stride=(1, 2, 2), pad=(1, 0, 1), pool_type="lp", p_value=2),
        pool("lp3", (1, 2, 4, 5, 4), kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="lp", p_value=3),
        pool("global_max", (2, 3, 3, 4, 5), kernel=(1, 1, 1), global_pool=True, pool_type="max"),
        pool("global_avg", (2, 3, 3, 4, 5), kernel=(1, 1, 1), global_pool=True, pool_type="avg"),
        pool("global_sum_no_kernel", (1, 2, 2, 3, 4), global_pool=True, pool_type="sum"),
        # 2-D cases of the two fixes that came with 3-D: lp p=3 of a negative sum (the real cube
        # root) and a full-convention max window wholly in the padding (-FLT_MAX).
        pool("lp3_2d", (2, 2, 5, 4), kernel=(2, 2), stride=(1, 2), pool_type="lp", p_value=3),
        pool(
            "max_full_2d_pad_window", (1, 2, 5, 5), kernel=(2, 2), stride=(2, 2), pad=(1, 0), pooling_convention="full"
        ),
    ]


def _deconv3d_cases():
    """3-D Deconvolution (NCDHW). MXNet 1.9.1 runs it only through oneDNN (its own kernel is
    1-D/2-D only), and refuses a dilated 3-D deconvolution and any with target_shape."""

    def deconv(name, data, weight, bias=False, **attrs):
        ins = [("data", data, "u"), ("weight", weight, "u")]
        if bias:
            ins.append(("bias", (attrs["num_filter"],), "u"))
        return {"name": name, "op": "Deconvolution", "inputs": ins, "attrs": dict(attrs, no_bias=not bias)}

    return [
        deconv("deconv_plain", (2, 3, 3, 4, 3), (3, 2, 2, 2, 2), kernel=(2, 2, 2), num_filter=2),
        deconv(
            "deconv_stride_pad_adj_bias",
            (1, 2, 3, 3, 4),
            (2, 3, 3, 2, 3),
            bias=True,
            kernel=(3, 2, 3),
            stride=(2, 2, 1),
            pad=(1, 0, 1),
            adj=(1, 1, 0),
            num_filter=3,
        ),
        deconv(
            "deconv_groups",
            (2, 4, 2, 3, 3),
            (4, 2, 2, 2, 3),
            kernel=(2, 2, 3),
            stride=(1, 2, 2),
            num_group=2,
            num_filter=4,
        ),
        # MXNet 1.9.1 cannot run a 3-D Deconvolution with target_shape (oneDNN refuses the
        # primitive): this is the pad and adj target_shape=(6, 5, 4) implies, which
        # tests/unit/test_conv3d_ops.py compares target_shape against.
        deconv(
            "deconv_as_target_shape_654",
            (1, 3, 3, 3, 2),
            (3, 2, 3, 3, 3),
            bias=True,
            kernel=(3, 3, 3),
            stride=(2, 2, 2),
            pad=(1, 1, 1),
            adj=(1, 0, 1),
            num_filter=2,
        ),
    ]


FAMILIES = {
    "norm": _norm_cases(),
    "rnn": _rnn_cases(),
    "ctc": _ctc_cases(),
    "remap": _remap_cases(),
    "misc": _misc_cases(),
    "conv3d": _conv3d_cases(),
    "deconv3d": _deconv3d_cases(),
}
