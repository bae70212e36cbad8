"""Cases of ``extra_ops.py`` for MXNet 1.x's classic operators (issue 18): families
``classic_index`` (gather_nd, scatter_nd, ravel/unravel, batch_take, choose_element_0index,
fill_element_0index), ``classic_misc`` (nanprod, khatri_rao, histogram, split_v2, make_loss)
and ``classic_loss`` (softmax_cross_entropy, SVMOutput)."""

import numpy as np

F32 = "float32"


def _case(name, op, inputs, attrs=None, **extra):
    return {"name": name, "op": op, "inputs": inputs, "attrs": attrs or {}, **extra}


def _index_cases():
    idx = ("indices", np.array([[0, 2, 2], [1, 0, 3]], F32))
    negative = ("indices", np.array([[0, 2, -1], [1, -4, 3]], F32))
    return [
        _case("gather_nd_slices", "gather_nd", [("data", (3, 4, 2), "u"), idx], nograd=("indices",)),
        # MXNet 1.9.1's gather_nd backward writes out of bounds for negative indices: forward only.
        _case("gather_nd_negative", "gather_nd", [("data", (3, 4, 2), "u"), negative], grad=False),
        _case(
            "gather_nd_elements_repeated",
            "gather_nd",
            [("data", (2, 3), "u"), ("indices", np.array([[[0, 1], [1, 1]], [[2, 0], [2, 2]]], F32))],
            nograd=("indices",),
        ),
        _case(
            "gather_nd_int_indices",
            "gather_nd",
            [("data", (4, 3), "u"), ("indices", np.array([[3, 0, 3, 1]], "int32"))],
            nograd=("indices",),
        ),
        _case(
            "scatter_nd_elements",
            "scatter_nd",
            [("data", (3,), "u"), ("indices", np.array([[1, 0, 1], [0, 1, 2]], F32))],
            {"shape": (2, 3)},
            nograd=("indices",),
        ),
        _case(
            "scatter_nd_rows",
            "scatter_nd",
            [("data", (2, 4), "u"), ("indices", np.array([[2, 0]], F32))],
            {"shape": (3, 4)},
            nograd=("indices",),
        ),
        _case(
            "ravel",
            "ravel_multi_index",
            [("data", np.array([[3, 6, 6], [4, 5, 1]], F32))],
            {"shape": (7, 6)},
            grad=False,
        ),
        _case(
            "ravel_3d_lead_unknown",
            "ravel_multi_index",
            [("data", np.array([[1, 0, 2], [2, 1, 0], [3, 3, 1]], F32))],
            {"shape": (-1, 3, 4)},
            grad=False,
        ),
        _case("unravel", "unravel_index", [("data", np.array([22, 41, 37], F32))], {"shape": (7, 6)}, grad=False),
        _case(
            "unravel_int64_3d",
            "unravel_index",
            [("data", np.array([0, 7, 23, 13], "int64"))],
            {"shape": (2, 3, 4)},
            grad=False,
        ),
        _case(
            "batch_take_clipped",
            "batch_take",
            [("a", (3, 4), "u"), ("indices", np.array([1, 5, -1], "int32"))],
            grad=False,
        ),
        _case(
            "choose_element_0index",
            "choose_element_0index",
            [("data", (3, 4), "u"), ("index", np.array([0, 3, 1], F32))],
            nograd=("index",),
        ),
        _case(
            "fill_element_0index",
            "fill_element_0index",
            [("lhs", (3, 4), "u"), ("mhs", np.array([7, 8, 9], F32)), ("rhs", np.array([1, 0, 3], F32))],
            grad=False,
        ),
    ]


def _misc_cases():
    nan = float("nan")
    with_nan = np.array([[1.5, nan, -0.5, 2.0], [0.5, 1.25, nan, nan], [-1.0, 0.75, 2.0, 1.5]], F32)
    return [
        _case("nanprod_all", "nanprod", [("data", with_nan)]),
        _case("nanprod_axis1", "nanprod", [("data", with_nan)], {"axis": 1}),
        _case("nanprod_axis0_keepdims", "nanprod", [("data", with_nan)], {"axis": 0, "keepdims": True}),
        _case("nanprod_exclude", "nanprod", [("data", (2, 3, 2), "pos")], {"axis": 1, "exclude": True}),
        _case(
            "khatri_rao_three",
            "khatri_rao",
            [("a", (2, 3), "u"), ("b", (4, 3), "u"), ("c", (1, 3), "u")],
            positional=True,
            grad=False,
        ),
        _case("khatri_rao_one", "khatri_rao", [("a", (3, 2), "u")], positional=True, grad=False),
        _case(
            "histogram_uniform",
            "histogram",
            [("a", np.array([0, 1, 2, 2, 3, 4, 5, 0.5, 4.999, -1, 6], F32))],
            {"bins": 5, "range": (0, 5)},
            positional=True,
            grad=False,
        ),
        _case(
            "histogram_uniform_random",
            "histogram",
            [("a", (40,), "u")],
            {"bins": 7, "range": (-0.8, 0.9)},
            positional=True,
            grad=False,
        ),
        _case(
            "histogram_edges",
            "histogram",
            [("a", np.array([0, 1, 2, 2, 3, 4, 5, 2.1, -3, 7], F32)), ("bins", np.array([0, 2.1, 3, 5], F32))],
            positional=True,
            grad=False,
        ),
        _case(
            "split_v2_indices",
            "split_v2",
            [("ary", (3, 6, 2), "u")],
            {"indices_or_sections": (2, 3), "axis": 1},
            positional=True,
        ),
        _case("split_v2_sections", "split_v2", [("ary", (6, 2), "u")], {"indices_or_sections": 3}, positional=True),
        _case(
            "split_v2_squeeze",
            "split_v2",
            [("ary", (2, 3, 2), "u")],
            {"indices_or_sections": 2, "axis": -1, "squeeze_axis": True},
            positional=True,
        ),
        _case("make_loss", "make_loss", [("data", (3, 4), "u")]),
    ]


def _loss_cases():
    label = ("label", np.array([1, 0, 4, 2], F32))
    return [
        _case("softmax_ce", "softmax_cross_entropy", [("data", (4, 5), "u"), label], nograd=("label",)),
        _case(
            "softmax_ce_wide",
            "softmax_cross_entropy",
            [("data", (3, 6), "gt1"), ("label", np.array([5, 0, 3], F32))],
            nograd=("label",),
        ),
        _case("svm_l2", "SVMOutput", [("data", (4, 5), "u"), label], nograd=("label",)),
        _case(
            "svm_l1_margin",
            "SVMOutput",
            [("data", (4, 5), "u"), label],
            {"margin": 0.5, "regularization_coefficient": 2.0, "use_linear": True},
            nograd=("label",),
        ),
        _case(
            "svm_l2_margin_reg",
            "SVMOutput",
            [("data", (4, 5), "u"), label],
            {"margin": 0.3, "regularization_coefficient": 0.5},
            nograd=("label",),
        ),
    ]


def _im2col_cases():
    return [
        _case("im2col_2d", "im2col", [("data", (2, 3, 4, 5), "u")], {"kernel": (2, 3)}),
        _case(
            "im2col_2d_stride_pad_dilate",
            "im2col",
            [("data", (1, 2, 5, 6), "u")],
            {"kernel": (3, 2), "stride": (2, 1), "pad": (1, 2), "dilate": (1, 2)},
        ),
        # MXNet 1.9.1's im2col/col2im fail on 1-D and 3-D data (shape checks of its kernels): 2-D only.
        _case("im2col_2d_overlap", "im2col", [("data", (1, 1, 3, 3), "u")], {"kernel": (2, 2)}),
        _case(
            "col2im_2d",
            "col2im",
            [("data", (2, 12, 6), "u")],
            {"output_size": (4, 5), "kernel": (2, 2), "stride": (2, 2), "pad": (0, 1)},
        ),
        _case(
            "col2im_2d_overlap_dilate",
            "col2im",
            [("data", (1, 8, 12), "u")],
            {"output_size": (4, 5), "kernel": (2, 2), "dilate": (2, 1), "pad": (0, 1)},
        ),
    ]


def _crop_cases():
    return [
        _case(
            "crop_h_w_offset",
            "Crop",
            [("data", (2, 3, 5, 6), "u")],
            {"num_args": 1, "h_w": (2, 3), "offset": (1, 2)},
            positional=True,
        ),
        _case(
            "crop_center",
            "Crop",
            [("data", (1, 2, 6, 5), "u")],
            {"num_args": 1, "h_w": (3, 2), "center_crop": True},
            positional=True,
        ),
        _case(
            "crop_like",
            "Crop",
            [("data", (2, 2, 5, 5), "u"), ("like", (2, 1, 3, 2), "u")],
            {"num_args": 2, "offset": (2, 1)},
            positional=True,
            nograd=("like",),
        ),
    ]


def _roi_cases():
    rois = np.array(
        [[0, 0, 0, 3, 3], [1, 1.6, 0.4, 6.2, 5.1], [0, 2, 2, 2, 2], [1, -3, -2, 12, 9], [0, 5, 1, 2, 6]], F32
    )
    return [
        _case(
            "roi_pool_2x2",
            "ROIPooling",
            [("data", (2, 3, 6, 7), "u"), ("rois", rois)],
            {"pooled_size": (2, 2), "spatial_scale": 1.0},
            nograd=("rois",),
        ),
        _case(
            "roi_pool_3x2_scaled",
            "ROIPooling",
            [("data", (2, 2, 5, 6), "u"), ("rois", rois * 2)],
            {"pooled_size": (3, 2), "spatial_scale": 0.5},
            nograd=("rois",),
        ),
    ]


FAMILIES = {
    "classic_roi": _roi_cases(),
    "classic_crop": _crop_cases(),
    "classic_im2col": _im2col_cases(),
    "classic_index": _index_cases(),
    "classic_misc": _misc_cases(),
    "classic_loss": _loss_cases(),
}
