"""Golden cases of the detection ops (family ``det``) for ``tools/golden/extra_ops.py``:
``contrib.MultiBoxPrior``, ``MultiBoxTarget``, ``MultiBoxDetection``, ``Proposal``,
``MultiProposal`` and ``RROIAlign``.

Inputs are explicit and deterministic; scores that are sorted (detection and proposal scores,
class predictions of negative mining) are distinct so that MXNet's order is unambiguous.
MXNet's backward of the first five writes zeros (``MultiBoxTarget`` only for ``cls_pred``);
``RROIAlign`` has no gradient (forward only).
"""

import numpy as np

_F = np.float32


def _boxes(rng, n, lo=0.0, span=0.6, size=(0.1, 0.5)):
    """``n`` corner boxes ``[x1, y1, x2, y2]`` inside the unit square."""
    xy = rng.uniform(lo, lo + span, (n, 2))
    wh = rng.uniform(size[0], size[1], (n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, 1.0)], axis=1).astype(_F)


def _distinct(rng, shape, lo=0.0, hi=1.0):
    """Values spread over ``[lo, hi)`` without ties, in a random order."""
    n = int(np.prod(shape))
    v = lo + (hi - lo) * (rng.permutation(n) + rng.uniform(0.1, 0.9, n)) / n
    return v.reshape(shape).astype(_F)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(_F)


def _prior_cases():
    p = "contrib.MultiBoxPrior"
    return [
        {"name": "prior_default", "op": p, "inputs": [("data", (1, 2, 3, 4), "u")]},
        {
            "name": "prior_sizes_ratios",
            "op": p,
            "inputs": [("data", (2, 1, 4, 3), "u")],
            "attrs": {"sizes": (0.5, 0.25, 0.1), "ratios": (1, 2, 0.5)},
        },
        {
            "name": "prior_clip_steps_offsets",
            "op": p,
            "inputs": [("data", (1, 1, 3, 3), "u")],
            "attrs": {"sizes": (0.8, 0.3), "ratios": (1, 3), "clip": True, "steps": (0.2, 0.25), "offsets": (0.3, 0.6)},
        },
    ]


def _target_inputs(seed, width=5, empty_batch=False):
    rng = np.random.RandomState(seed)
    n = 24
    anchors = _boxes(rng, n)[None]
    labels = -np.ones((3, 4, width), _F)
    for b, count in enumerate((2, 3, 0 if empty_batch else 1)):
        if count:
            labels[b, :count, 0] = rng.randint(0, 3, count)
            labels[b, :count, 1:5] = _boxes(rng, count)
            labels[b, :count, 5:] = rng.randint(0, 2, (count, width - 5))
    cls = _distinct(rng, (3, 4, n), -2.0, 2.0)
    return [("anchor", anchors), ("label", labels), ("cls_pred", cls)]


def _target_cases():
    t = "contrib.MultiBoxTarget"
    ng = ("anchor", "label")
    return [
        {"name": "target_default", "op": t, "inputs": _target_inputs(1), "nograd": ng},
        {
            "name": "target_mining",
            "op": t,
            "inputs": _target_inputs(2),
            "attrs": {"negative_mining_ratio": 3.0, "negative_mining_thresh": 0.5, "minimum_negative_samples": 2},
            "nograd": ng,
        },
        {
            "name": "target_mining_ignore_variances",
            "op": t,
            "inputs": _target_inputs(3, width=6, empty_batch=True),
            "attrs": {
                "overlap_threshold": 0.3,
                "ignore_label": -2.0,
                "negative_mining_ratio": 1.5,
                "negative_mining_thresh": 0.4,
                "variances": (0.2, 0.2, 0.1, 0.1),
            },
            "nograd": ng,
        },
        {
            "name": "target_no_threshold_mining",
            "op": t,
            "inputs": _target_inputs(4),
            "attrs": {"overlap_threshold": 0.0, "negative_mining_ratio": 2.0, "negative_mining_thresh": 0.3},
            "nograd": ng,
        },
    ]


def _detect_inputs(seed, n=16, classes=3, batches=2):
    rng = np.random.RandomState(seed)
    anchors = _boxes(rng, n, lo=0.1, span=0.4, size=(0.2, 0.5))[None]
    prob = _softmax(_distinct(rng, (batches, classes, n), -3.0, 3.0), axis=1)
    loc = (rng.uniform(-1, 1, (batches, n * 4)) * 0.8).astype(_F)
    return [("cls_prob", prob), ("loc_pred", loc), ("anchor", anchors)]


def _detect_cases():
    d = "contrib.MultiBoxDetection"
    return [
        {"name": "det_default", "op": d, "inputs": _detect_inputs(5)},
        {
            "name": "det_force_topk",
            "op": d,
            "inputs": _detect_inputs(6, classes=4),
            "attrs": {"force_suppress": True, "nms_topk": 5, "threshold": 0.2, "nms_threshold": 0.4},
        },
        {
            "name": "det_noclip_variances_bg",
            "op": d,
            "inputs": _detect_inputs(7),
            "attrs": {"clip": False, "variances": (0.2, 0.2, 0.1, 0.1), "nms_threshold": 0.3, "background_id": 1},
        },
        {
            "name": "det_nms_off",
            "op": d,
            "inputs": _detect_inputs(8),
            "attrs": {"nms_threshold": 0.0, "threshold": 0.3},
        },
    ]


def _proposal_inputs(seed, batches, anchors, h, w, info, delta=0.3):
    rng = np.random.RandomState(seed)
    cls = _distinct(rng, (batches, 2 * anchors, h, w))
    bbox = (rng.uniform(-1, 1, (batches, 4 * anchors, h, w)) * delta).astype(_F)
    return [("cls_prob", cls), ("bbox_pred", bbox), ("im_info", np.array(info, _F))]


def _proposal_cases():
    p, m = "contrib.Proposal", "contrib.MultiProposal"
    small = {"scales": (2, 4), "ratios": (0.5, 1, 2), "feature_stride": 4}
    return [
        {
            "name": "prop_defaults",
            "op": p,
            "inputs": _proposal_inputs(9, 1, 12, 3, 3, [[48, 48, 1.0]], delta=0.2),
            "grad": False,
        },
        {
            "name": "prop_small_score",
            "op": p,
            "inputs": _proposal_inputs(10, 1, 6, 3, 4, [[12, 16, 1.0]]),
            "attrs": {
                **small,
                "rpn_pre_nms_top_n": 30,
                "rpn_post_nms_top_n": 10,
                "rpn_min_size": 2,
                "output_score": True,
            },
        },
        {
            "name": "prop_padded_minsize_repeat",
            "op": p,
            "inputs": _proposal_inputs(11, 1, 6, 4, 4, [[10, 13, 1.5]]),
            "attrs": {**small, "rpn_pre_nms_top_n": 20, "rpn_post_nms_top_n": 25, "threshold": 0.3, "rpn_min_size": 5},
        },
        {
            "name": "prop_iou_loss",
            "op": p,
            "inputs": _proposal_inputs(12, 1, 6, 3, 3, [[12, 12, 1.0]], delta=2.0),
            "attrs": {**small, "rpn_post_nms_top_n": 12, "rpn_min_size": 1, "iou_loss": True, "output_score": True},
        },
        {
            "name": "multiprop_batch",
            "op": m,
            "inputs": _proposal_inputs(13, 2, 6, 3, 4, [[12, 16, 1.0], [9, 11, 2.0]]),
            "attrs": {**small, "rpn_pre_nms_top_n": 40, "rpn_post_nms_top_n": 8, "threshold": 0.5, "rpn_min_size": 1},
        },
        {
            "name": "multiprop_score_iou",
            "op": m,
            "inputs": _proposal_inputs(14, 3, 2, 2, 3, [[8, 12, 1.0], [8, 8, 1.0], [5, 12, 0.5]], delta=1.5),
            "attrs": {
                "scales": (3,),
                "ratios": (1, 2),
                "feature_stride": 4,
                "rpn_post_nms_top_n": 6,
                "rpn_min_size": 2,
                "iou_loss": True,
                "output_score": True,
            },
        },
    ]


def _rroi_cases():
    r = "contrib.RROIAlign"
    rois = np.array(
        [
            [0, 3.0, 2.5, 4.0, 3.0, 30.0],
            [1, 2.0, 3.0, 5.0, 2.0, -45.0],
            [0, 6.0, 5.0, 3.0, 3.0, 90.0],
            [1, 1.0, 1.0, 0.5, 0.5, 0.0],
            [0, 6.5, 0.2, 6.0, 4.0, 160.0],
        ],
        _F,
    )
    data = np.random.RandomState(15).uniform(-1, 1, (2, 3, 6, 7)).astype(_F)
    return [
        {
            "name": "rroi_adaptive",
            "op": r,
            "inputs": [("data", data), ("rois", rois)],
            "attrs": {"pooled_size": (2, 3), "spatial_scale": 1.0},
            "grad": False,
        },
        {
            "name": "rroi_scale_ratio",
            "op": r,
            "inputs": [("data", data), ("rois", rois * np.array([1, 2, 2, 2, 2, 1], _F))],
            "attrs": {"pooled_size": (3, 2), "spatial_scale": 0.5, "sampling_ratio": 2},
            "grad": False,
        },
        {
            "name": "rroi_float64",
            "op": r,
            "inputs": [("data", data.astype(np.float64)), ("rois", rois.astype(np.float64))],
            "attrs": {"pooled_size": (2, 2), "spatial_scale": 1.0, "sampling_ratio": 3},
            "grad": False,
        },
    ]


FAMILIES = {"det": _prior_cases() + _target_cases() + _detect_cases() + _proposal_cases() + _rroi_cases()}
