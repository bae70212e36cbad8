"""The cases of ``tools/golden/extra_ops.py``, by family.

A case: ``name``, ``op`` (a function of ``mx.nd``, dotted for a namespace: ``linalg.syevd``),
``inputs`` (``(name, shape, kind)`` with kind ``u`` uniform in [-1, 1), ``pos`` in [0.5, 2),
``unit`` in [-0.9, 0.9), ``gt1`` in [1.1, 3); on the last two axes: ``spd`` symmetric positive
definite, ``dd`` uniform plus ``n`` times the identity (diagonally dominant), ``tril`` / ``triu``
triangular with a diagonal in [1, 2); or ``(name, values)``), ``attrs``, and optionally
``nograd`` (inputs without a gradient), ``grad`` (False: forward only) and ``train`` (False:
predict mode).
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


def _random_cases():
    """The densities ``random_pdf_*`` (deterministic) with ``is_log`` off and on."""
    f32 = np.float32
    counts = ("sample", np.array([[0, 1, 3], [2, 5, 1]], f32))
    simplex = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [0.4, 0.4, 0.2], [0.1, 0.8, 0.1]], f32)
    pdfs = [
        ("uniform", [("sample", (2, 3), "u"), ("low", np.array([-1.5, -2.0], f32)), ("high", (2,), "gt1")]),
        ("normal", [("sample", (2, 3), "u"), ("mu", (2,), "u"), ("sigma", (2,), "pos")]),
        ("normal_3d", [("sample", (2, 2, 3), "u"), ("mu", (2, 2), "u"), ("sigma", (2, 2), "pos")]),
        ("gamma", [("sample", (2, 3), "pos"), ("alpha", (2,), "gt1"), ("beta", (2,), "pos")]),
        ("exponential", [("sample", (3, 4), "pos"), ("lam", (3,), "pos")]),
        ("poisson", [counts, ("lam", (2,), "gt1")]),
        ("negative_binomial", [counts, ("k", (2,), "gt1"), ("p", np.array([0.3, 0.6], f32))]),
        ("generalized_negative_binomial", [counts, ("mu", (2,), "gt1"), ("alpha", (2,), "pos")]),
        ("dirichlet", [("sample", simplex.reshape(2, 2, 3)), ("alpha", (2, 3), "gt1")]),
        ("dirichlet_shared", [("sample", simplex), ("alpha", (3,), "pos")]),
    ]
    out = []
    for name, inputs in pdfs:
        op = "random_pdf_" + name.removesuffix("_3d").removesuffix("_shared")
        for is_log in (False, True):
            out.append(
                {
                    "name": f"pdf_{name}_{'log' if is_log else 'p'}",
                    "op": op,
                    "inputs": inputs,
                    "attrs": {"is_log": is_log},
                }
            )
    f64 = np.float64
    out.append(
        {
            "name": "pdf_normal_f64",
            "op": "random_pdf_normal",
            "inputs": [
                ("sample", np.array([[0.5, -1.0], [2.0, 0.25]], f64)),
                ("mu", np.array([0.1, 1.0], f64)),
                ("sigma", np.array([0.7, 2.0], f64)),
            ],
            "attrs": {"is_log": True},
        }
    )
    return out


def _linalg_cases():
    def c(name, op, inputs, **attrs):
        return {"name": name, "op": op, "inputs": inputs, "attrs": attrs}

    def m(name, shape, kind="u"):
        return (name, shape, kind)

    return [
        c("gemm", "linalg_gemm", [m("A", (2, 3)), m("B", (3, 4)), m("C", (2, 4))], alpha=1.5, beta=0.5),
        c(
            "gemm_batch_trans",
            "linalg_gemm",
            [m("A", (2, 3, 4)), m("B", (2, 5, 3)), m("C", (2, 4, 5))],
            transpose_a=True,
            transpose_b=True,
            beta=-2.0,
        ),
        c("gemm_axis0", "linalg_gemm", [m("A", (3, 2, 4)), m("B", (4, 2, 5)), m("C", (3, 2, 5))], axis=0),
        c("gemm2", "linalg_gemm2", [m("A", (3, 4)), m("B", (4, 2))], alpha=2.0),
        c("gemm2_batch_ta", "linalg_gemm2", [m("A", (2, 2, 4, 3)), m("B", (2, 2, 4, 5))], transpose_a=True),
        c("gemm2_tb", "linalg_gemm2", [m("A", (2, 3, 4)), m("B", (2, 5, 4))], transpose_b=True),
        c(
            "gemm2_axis1_tt",
            "linalg_gemm2",
            [m("A", (2, 4, 3, 3)), m("B", (2, 5, 3, 4))],
            axis=1,
            transpose_a=True,
            transpose_b=True,
        ),
        c("potrf", "linalg_potrf", [m("A", (4, 4), "spd")]),
        c("potrf_upper_batch", "linalg_potrf", [m("A", (2, 3, 3), "spd")], lower=False),
        c("potri", "linalg_potri", [m("A", (3, 3), "dd")]),
        c("potri_upper_batch", "linalg_potri", [m("A", (2, 3, 3), "triu")], lower=False),
        c("trmm", "linalg_trmm", [m("A", (3, 3)), m("B", (3, 4))], alpha=2.0),
        c(
            "trmm_right_t_upper",
            "linalg_trmm",
            [m("A", (2, 3, 3)), m("B", (2, 4, 3))],
            rightside=True,
            transpose=True,
            lower=False,
        ),
        c("trmm_t", "linalg_trmm", [m("A", (3, 3)), m("B", (3, 2))], transpose=True),
        c("trsm", "linalg_trsm", [m("A", (3, 3), "dd"), m("B", (3, 4))], alpha=0.5),
        c("trsm_right_upper", "linalg_trsm", [m("A", (2, 3, 3), "dd"), m("B", (2, 4, 3))], rightside=True, lower=False),
        c("trsm_t", "linalg_trsm", [m("A", (4, 4), "dd"), m("B", (4, 2))], transpose=True),
        c(
            "trsm_right_t",
            "linalg_trsm",
            [m("A", (3, 3), "dd"), m("B", (2, 3))],
            rightside=True,
            transpose=True,
            alpha=-1.0,
        ),
        c("syrk", "linalg_syrk", [m("A", (3, 4))], alpha=0.5),
        c("syrk_t_batch", "linalg_syrk", [m("A", (2, 3, 4))], transpose=True),
        c("gelqf", "linalg_gelqf", [m("A", (3, 5))]),
        c("gelqf_square_batch", "linalg_gelqf", [m("A", (2, 3, 3), "dd")]),
        c("syevd", "linalg.syevd", [m("A", (4, 4), "spd")]),
        c("syevd_batch", "linalg.syevd", [m("A", (2, 3, 3), "spd")]),
        c("sumlogdiag", "linalg_sumlogdiag", [m("A", (3, 3), "dd")]),
        c("sumlogdiag_batch", "linalg_sumlogdiag", [m("A", (2, 2, 3, 3), "spd")]),
        c("extractdiag", "linalg_extractdiag", [m("A", (2, 4, 4))]),
        c("extractdiag_off", "linalg_extractdiag", [m("A", (3, 3))], offset=-1),
        c("makediag", "linalg_makediag", [m("A", (2, 3))]),
        c("makediag_off", "linalg_makediag", [m("A", (3,))], offset=2),
        c("extracttrian", "linalg_extracttrian", [m("A", (2, 3, 3))]),
        c("extracttrian_upper", "linalg_extracttrian", [m("A", (4, 4))], lower=False),
        c("extracttrian_off", "linalg_extracttrian", [m("A", (4, 4))], offset=1),
        c("extracttrian_neg", "linalg_extracttrian", [m("A", (2, 4, 4))], offset=-2),
        c("maketrian", "linalg_maketrian", [m("A", (2, 6))]),
        c("maketrian_upper_off", "linalg_maketrian", [m("A", (3,))], offset=1),
        c("maketrian_neg", "linalg_maketrian", [m("A", (6,))], offset=-1, lower=False),
        c("inverse", "linalg_inverse", [m("A", (3, 3), "dd")]),
        c("inverse_batch", "linalg_inverse", [m("A", (2, 2, 4, 4), "dd")]),
        c("det", "linalg_det", [m("A", (3, 3))]),
        c("det_batch", "linalg_det", [m("A", (2, 3, 3), "dd")]),
        c("slogdet", "linalg_slogdet", [m("A", (4, 4))]),
        c("slogdet_batch", "linalg_slogdet", [m("A", (3, 2, 2))]),
    ]


def _lrn_cases():
    def c(name, inputs, **attrs):
        return {"name": name, "op": "LRN", "inputs": inputs, "attrs": attrs}

    return [
        c("nsize3", [("data", (2, 5, 3, 3), "u")], nsize=3),
        c("nsize5_params", [("data", (1, 6, 2, 4), "u")], nsize=5, alpha=0.5, beta=0.6, knorm=1.5),
        c("nsize1", [("data", (2, 3, 2, 2), "u")], nsize=1, alpha=2.0),
        c("window_as_wide_as_channels", [("data", (1, 5, 2, 2), "u")], nsize=5, alpha=1.0, beta=1.2, knorm=0.5),
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


from cases_contrib import contrib_cases  # noqa: E402

FAMILIES = {
    "norm": _norm_cases(),
    "rnn": _rnn_cases(),
    "ctc": _ctc_cases(),
    "remap": _remap_cases(),
    "misc": _misc_cases(),
    "random": _random_cases(),
    "linalg": _linalg_cases(),
    "lrn": _lrn_cases(),
    "conv3d": _conv3d_cases(),
    "deconv3d": _deconv3d_cases(),
    "contrib": contrib_cases(),
}
FAMILIES.update(__import__("cases_ops").FAMILIES)  # the classic ops of issue 18
FAMILIES.update(__import__("cases_v1").FAMILIES)  # the sampler and _v1 ops of issue 18
FAMILIES.update(__import__("cases_det").FAMILIES)  # the detection ops (SSD, Faster R-CNN)
