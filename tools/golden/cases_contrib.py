"""Golden cases of the ``mx.nd.contrib`` ops (family ``contrib``), for ``tools/golden/extra_ops.py``."""

import numpy as np


def _nms_data():
    """Two batches of 6 boxes ``[id, score, x1, y1, x2, y2]`` with overlaps, ties and a background row."""
    b0 = [
        [0, 0.90, 0.10, 0.10, 0.50, 0.50],
        [0, 0.80, 0.12, 0.11, 0.52, 0.49],
        [1, 0.75, 0.11, 0.10, 0.50, 0.52],
        [1, 0.30, 0.60, 0.60, 0.90, 0.95],
        [0, 0.05, 0.60, 0.61, 0.90, 0.94],
        [-1, 0.95, 0.00, 0.00, 1.00, 1.00],
    ]
    b1 = [
        [2, 0.60, 0.20, 0.20, 0.40, 0.60],
        [2, 0.60, 0.21, 0.20, 0.41, 0.62],
        [2, 0.40, 0.50, 0.10, 0.80, 0.30],
        [0, 0.70, 0.52, 0.12, 0.79, 0.31],
        [1, 0.20, 0.00, 0.00, 0.10, 0.10],
        [1, 0.10, 0.01, 0.00, 0.11, 0.09],
    ]
    return np.array([b0, b1], dtype=np.float32)


def _boxes(rng, n):
    xy = rng.uniform(0, 0.6, (n, 2))
    wh = rng.uniform(0.1, 0.5, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def _resize_cases():
    r = "contrib.BilinearResize2D"
    return [
        {"name": "resize_size", "op": r, "inputs": [("data", (2, 3, 4, 5), "u")], "attrs": {"height": 7, "width": 3}},
        {
            "name": "resize_scale_noalign",
            "op": r,
            "inputs": [("data", (1, 2, 5, 4), "u")],
            "attrs": {"scale_height": 1.5, "scale_width": 0.6, "align_corners": False},
        },
        {
            "name": "resize_like",
            "op": r,
            "inputs": [("data", (1, 2, 3, 3), "u"), ("like", (1, 1, 6, 5), "u")],
            "attrs": {"mode": "like"},
        },
        {
            "name": "resize_odd_scale",
            "op": r,
            "inputs": [("data", (1, 1, 5, 6), "u")],
            "attrs": {"mode": "odd_scale", "scale_height": 2.0, "scale_width": 0.5},
        },
        {
            "name": "resize_to_even_up",
            "op": r,
            "inputs": [("data", (1, 2, 5, 4), "u")],
            "attrs": {"mode": "to_even_up"},
        },
        {
            "name": "resize_to_odd_down_noalign",
            "op": r,
            "inputs": [("data", (2, 1, 4, 6), "u")],
            "attrs": {"mode": "to_odd_down", "align_corners": False},
        },
        {"name": "resize_same", "op": r, "inputs": [("data", (1, 2, 3, 4), "u")], "attrs": {"height": 3, "width": 4}},
    ]


def _pool_cases():
    p = "contrib.AdaptiveAvgPooling2D"
    return [
        {"name": "adaptive_3x2", "op": p, "inputs": [("data", (2, 3, 7, 5), "u")], "attrs": {"output_size": (3, 2)}},
        {"name": "adaptive_4", "op": p, "inputs": [("data", (1, 2, 5, 9), "u")], "attrs": {"output_size": 4}},
        {"name": "adaptive_global", "op": p, "inputs": [("data", (2, 2, 3, 4), "u")]},
        {"name": "adaptive_up", "op": p, "inputs": [("data", (1, 1, 2, 3), "u")], "attrs": {"output_size": (5, 4)}},
    ]


def _box_cases():
    rng = np.random.RandomState(7)
    nms = _nms_data()
    n = "contrib.box_nms"
    center = nms.copy()
    center[..., 2:4] = (nms[..., 2:4] + nms[..., 4:6]) / 2
    center[..., 4:6] = nms[..., 4:6] - nms[..., 2:4]
    return [
        {"name": "nms_default", "op": n, "inputs": [("data", nms)]},
        {"name": "nms_class_topk", "op": n, "inputs": [("data", nms)], "attrs": {"id_index": 0, "topk": 4}},
        {
            "name": "nms_background_valid",
            "op": n,
            "inputs": [("data", nms)],
            "attrs": {"id_index": 0, "background_id": -1, "valid_thresh": 0.25, "overlap_thresh": 0.3},
        },
        {
            "name": "nms_force_center_out",
            "op": n,
            "inputs": [("data", nms)],
            "attrs": {"id_index": 0, "force_suppress": True, "out_format": "center"},
        },
        {"name": "nms_center_in", "op": n, "inputs": [("data", center)], "attrs": {"in_format": "center"}},
        {"name": "nms_alias", "op": "contrib.box_non_maximum_suppression", "inputs": [("data", nms[0])]},
        {"name": "iou_corner", "op": "contrib.box_iou", "inputs": [("lhs", _boxes(rng, 3)), ("rhs", _boxes(rng, 4))]},
        {
            "name": "iou_center_batched",
            "op": "contrib.box_iou",
            "inputs": [("lhs", _boxes(rng, 4).reshape(2, 2, 4)), ("rhs", _boxes(rng, 3))],
            "attrs": {"format": "center"},
        },
        {
            "name": "matching_desc",
            "op": "contrib.bipartite_matching",
            "inputs": [("data", (2, 3, 4), "u")],
            "attrs": {"threshold": 0.1},
        },
        {
            "name": "matching_asc_topk",
            "op": "contrib.bipartite_matching",
            "inputs": [("data", (4, 3), "u")],
            "attrs": {"threshold": 0.5, "is_ascend": True, "topk": 1},
        },
    ]


def _roi_cases():
    rois = np.array([[0, 0.5, 0.7, 4.1, 3.9], [1, 1.0, 1.2, 2.3, 4.4], [0, 2.2, 0.1, 5.0, 2.0]], dtype=np.float32)
    ra = "contrib.ROIAlign"
    return [
        {
            "name": "roi_ratio2",
            "op": ra,
            "inputs": [("data", (2, 3, 6, 6), "u"), ("rois", rois)],
            "attrs": {"pooled_size": (2, 2), "spatial_scale": 1.0, "sample_ratio": 2},
        },
        {
            "name": "roi_adaptive_scale",
            "op": ra,
            "inputs": [("data", (2, 2, 8, 7), "u"), ("rois", rois * 1.5)],
            "attrs": {"pooled_size": (3, 2), "spatial_scale": 0.5},
        },
        {
            "name": "roi_aligned",
            "op": ra,
            "inputs": [("data", (2, 2, 6, 6), "u"), ("rois", rois)],
            "attrs": {"pooled_size": (2, 3), "spatial_scale": 1.0, "aligned": True},
        },
        {
            "name": "roi_position_sensitive",
            "op": ra,
            "inputs": [("data", (2, 8, 5, 5), "u"), ("rois", rois)],
            "attrs": {"pooled_size": (2, 2), "spatial_scale": 1.0, "sample_ratio": 1, "position_sensitive": True},
        },
    ]


def _attention_cases():
    h = {"heads": 2}
    return [
        {
            "name": "selfatt_qk",
            "op": "contrib.interleaved_matmul_selfatt_qk",
            "inputs": [("qkv", (3, 2, 12), "u")],
            "attrs": h,
            "positional": True,
        },
        {
            "name": "selfatt_valatt",
            "op": "contrib.interleaved_matmul_selfatt_valatt",
            "inputs": [("qkv", (3, 2, 12), "u"), ("att", (4, 3, 3), "u")],
            "attrs": h,
            "positional": True,
        },
        {
            "name": "encdec_qk",
            "op": "contrib.interleaved_matmul_encdec_qk",
            "inputs": [("q", (3, 2, 4), "u"), ("kv", (5, 2, 8), "u")],
            "attrs": h,
            "positional": True,
        },
        {
            "name": "encdec_valatt",
            "op": "contrib.interleaved_matmul_encdec_valatt",
            "inputs": [("kv", (5, 2, 8), "u"), ("att", (4, 3, 5), "u")],
            "attrs": h,
            "positional": True,
        },
        {
            "name": "selfatt_qk_3heads",
            "op": "contrib.interleaved_matmul_selfatt_qk",
            "inputs": [("qkv", (2, 1, 18), "u")],
            "attrs": {"heads": 3},
            "positional": True,
        },
        {"name": "div_sqrt_dim", "op": "contrib.div_sqrt_dim", "inputs": [("data", (2, 3, 8), "u")]},
    ]


def _misc_cases():
    return [
        {
            "name": "arange_like_repeat",
            "op": "contrib.arange_like",
            "inputs": [("data", (2, 3), "u")],
            "attrs": {"start": 1.0, "step": 0.5, "repeat": 2},
        },
        {
            "name": "arange_like_axis",
            "op": "contrib.arange_like",
            "inputs": [("data", (2, 5), "u")],
            "attrs": {"axis": -1},
        },
        {
            "name": "index_copy",
            "op": "contrib.index_copy",
            "inputs": [
                ("old_tensor", (5, 3), "u"),
                ("index_vector", np.array([4, 1], dtype=np.int64)),
                ("new_tensor", (2, 3), "u"),
            ],
            "nograd": ["index_vector"],
        },
        {"name": "index_array", "op": "contrib.index_array", "inputs": [("data", (2, 3), "u")], "grad": False},
        {
            "name": "index_array_axes",
            "op": "contrib.index_array",
            "inputs": [("data", (2, 3, 2), "u")],
            "attrs": {"axes": (2, 0)},
            "grad": False,
        },
        {
            "name": "quadratic",
            "op": "contrib.quadratic",
            "inputs": [("data", (3, 4), "u")],
            "attrs": {"a": 0.5, "b": -2.0, "c": 1.0},
        },
        {
            "name": "gradientmultiplier",
            "op": "contrib.gradientmultiplier",
            "inputs": [("data", (3, 4), "u")],
            "attrs": {"scalar": -0.5},
        },
        {
            "name": "allclose_close",
            "op": "contrib.allclose",
            "inputs": [("a", np.ones((2, 3), np.float32)), ("b", np.full((2, 3), 1 + 1e-6, np.float32))],
            "grad": False,
        },
        {
            "name": "allclose_far",
            "op": "contrib.allclose",
            "inputs": [("a", (2, 3), "u"), ("b", (2, 3), "u")],
            "grad": False,
        },
    ]


def _coder_cases():
    rng = np.random.RandomState(11)
    anchors = np.stack([_boxes(rng, 5), _boxes(rng, 5)])
    refs = np.stack([_boxes(rng, 3), _boxes(rng, 3)])
    samples = np.array([[1, -1, 1, 0, 1], [1, 1, -1, 1, 0]], dtype=np.float32)
    matches = np.array([[0, 1, 2, 0, 1], [2, 2, 0, 1, 0]], dtype=np.float32)
    means = np.array([0.0, 0.1, -0.1, 0.2], dtype=np.float32)
    stds = np.array([0.1, 0.1, 0.2, 0.2], dtype=np.float32)
    enc_inputs = [
        ("samples", samples),
        ("matches", matches),
        ("anchors", anchors),
        ("refs", refs),
        ("means", means),
        ("stds", stds),
    ]
    center = anchors[:1].copy()
    center[..., :2] = (anchors[:1, :, :2] + anchors[:1, :, 2:]) / 2
    center[..., 2:] = anchors[:1, :, 2:] - anchors[:1, :, :2]
    return [
        {"name": "box_encode", "op": "contrib.box_encode", "inputs": enc_inputs, "grad": False},
        {
            "name": "box_decode_corner_clip",
            "op": "contrib.box_decode",
            "inputs": [("data", (2, 5, 4), "u"), ("anchors", anchors[:1])],
            "attrs": {"format": "corner", "std0": 0.1, "std1": 0.1, "std2": 0.2, "std3": 0.2, "clip": 0.1},
            "grad": False,
        },
        {
            "name": "box_decode_center",
            "op": "contrib.box_decode",
            "inputs": [("data", (2, 5, 4), "u"), ("anchors", center)],
            "grad": False,
        },
        {
            "name": "round_ste",
            "op": "contrib.round_ste",
            "inputs": [("data", np.array([1.5, -0.4, 2.5, -2.5, 0.49], np.float32))],
        },
        {
            "name": "sign_ste",
            "op": "contrib.sign_ste",
            "inputs": [("data", np.array([1.5, -0.4, 0.0, 3.0], np.float32))],
        },
    ]


def contrib_cases():
    return (
        _resize_cases()
        + _pool_cases()
        + _box_cases()
        + _roi_cases()
        + _attention_cases()
        + _misc_cases()
        + _coder_cases()
    )
