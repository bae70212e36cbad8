"""Golden values of the deformable ops (family ``deform``) from real MXNet 1.9.1.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/deform_ops.py

It writes ``tests/data/ops_deform_golden.json`` in the format of ``tools/golden/extra_ops.py``
(read by ``tests/_op_golden.py``): per case the op, attributes, inputs, head gradients, MXNet's
outputs and the input gradients through ``mx.autograd``.

``_contrib_DeformableConvolution``, ``_contrib_PSROIPooling``,
``_contrib_DeformablePSROIPooling`` and ``Correlation`` run forward and backward on MXNet's CPU
kernels. ``_contrib_ModulatedDeformableConvolution`` has a CPU forward but its backward is
GPU-only in MXNet 1.9.1 (``modulated_deformable_col2im`` and ``..._col2im_coord`` are
``LOG(FATAL) << "only implemented in GPU"`` on CPU): its outputs come from MXNet, and its
gradients from ``mdcn_reference`` below, a NumPy transcription of MXNet's CUDA kernels
(``src/operator/contrib/nn/modulated_deformable_im2col.cuh``: ``dmcn_im2col_bilinear``,
``dmcn_get_gradient_weight``, ``dmcn_get_coordinate_weight``, the col2im and col2im_coord
kernels) and of the GEMMs of ``modulated_deformable_convolution-inl.h``. The script checks that
the reference's forward matches MXNet's before it writes anything.
"""

import json
import math
import os
from pathlib import Path

os.environ["MXNET_MKLDNN_ENABLED"] = "0"
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def flat(a):
    """Values as a flat list, 8 significant digits."""
    return [float(f"{v:.8g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def _u(rng, shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


# ---------------------------------------------------------------- ModulatedDeformableConvolution


def _bilinear(img, h, w):
    """``dmcn_im2col_bilinear``: zero outside the map."""
    height, width = img.shape
    hl, wl = math.floor(h), math.floor(w)
    hh, wh = hl + 1, wl + 1
    lh, lw = h - hl, w - wl
    v = [0.0] * 4
    if hl >= 0 and wl >= 0:
        v[0] = img[hl, wl]
    if hl >= 0 and wh <= width - 1:
        v[1] = img[hl, wh]
    if hh <= height - 1 and wl >= 0:
        v[2] = img[hh, wl]
    if hh <= height - 1 and wh <= width - 1:
        v[3] = img[hh, wh]
    return (1 - lh) * (1 - lw) * v[0] + (1 - lh) * lw * v[1] + lh * (1 - lw) * v[2] + lh * lw * v[3]


def _gradient_weight(ah, aw, h, w, height, width):
    """``dmcn_get_gradient_weight``."""
    if ah <= -1 or ah >= height or aw <= -1 or aw >= width:
        return 0.0
    hl, wl = math.floor(ah), math.floor(aw)
    hh, wh = hl + 1, wl + 1
    weight = 0.0
    if h == hl and w == wl:
        weight = (h + 1 - ah) * (w + 1 - aw)
    if h == hl and w == wh:
        weight = (h + 1 - ah) * (aw + 1 - w)
    if h == hh and w == wl:
        weight = (ah + 1 - h) * (w + 1 - aw)
    if h == hh and w == wh:
        weight = (ah + 1 - h) * (aw + 1 - w)
    return weight


def _coordinate_weight(ah, aw, img, bp_dir):
    """``dmcn_get_coordinate_weight``."""
    height, width = img.shape
    if ah <= -1 or ah >= height or aw <= -1 or aw >= width:
        return 0.0
    hl, wl = math.floor(ah), math.floor(aw)
    hh, wh = hl + 1, wl + 1
    ll = img[hl, wl] if hl >= 0 and wl >= 0 else None
    lh = img[hl, wh] if hl >= 0 and wh <= width - 1 else None
    hl_ = img[hh, wl] if hh <= height - 1 and wl >= 0 else None
    hh_ = img[hh, wh] if hh <= height - 1 and wh <= width - 1 else None
    weight = 0.0
    if bp_dir == 0:
        terms = [(-(wl + 1 - aw), ll), (-(aw - wl), lh), (wl + 1 - aw, hl_), (aw - wl, hh_)]
    else:
        terms = [(-(hl + 1 - ah), ll), (hl + 1 - ah, lh), (-(ah - hl), hl_), (ah - hl, hh_)]
    for c, v in terms:
        if v is not None:
            weight += c * v
    return weight


def mdcn_reference(data, offset, mask, weight, bias, head, kernel, stride, pad, dilate, groups, dgroups):
    """MXNet's CUDA ModulatedDeformableConvolution, forward and backward, in float64."""
    data, offset, mask, weight = (np.asarray(a, np.float64) for a in (data, offset, mask, weight))
    head = np.asarray(head, np.float64)
    n, c, height, width = data.shape
    kh, kw = kernel
    _, _, ho, wo = offset.shape
    f = weight.shape[0]
    cpg = c // dgroups
    kdim = c // groups * kh * kw
    out = np.zeros((n, f, ho, wo))
    grads = {k: np.zeros_like(v) for k, v in (("data", data), ("offset", offset), ("mask", mask), ("weight", weight))}
    w3 = weight.reshape(groups, f // groups, kdim)
    for b in range(n):
        col = np.zeros((c * kh * kw, ho, wo))
        pos = {}
        for ch in range(c):
            g = ch // cpg
            for i in range(kh):
                for j in range(kw):
                    for oh in range(ho):
                        for ow in range(wo):
                            k = i * kw + j
                            oy = offset[b, g * 2 * kh * kw + 2 * k, oh, ow]
                            ox = offset[b, g * 2 * kh * kw + 2 * k + 1, oh, ow]
                            m = mask[b, g * kh * kw + k, oh, ow]
                            y = oh * stride[0] - pad[0] + i * dilate[0] + oy
                            x = ow * stride[1] - pad[1] + j * dilate[1] + ox
                            val = _bilinear(data[b, ch], y, x) if -1 < y < height and -1 < x < width else 0.0
                            col[ch * kh * kw + k, oh, ow] = val * m
                            pos[(ch, k, oh, ow)] = (y, x, m, g)
        col2 = col.reshape(groups, kdim, ho * wo)
        for g in range(groups):
            out[b, g * (f // groups) : (g + 1) * (f // groups)] = (w3[g] @ col2[g]).reshape(-1, ho, wo)
            hd = head[b, g * (f // groups) : (g + 1) * (f // groups)].reshape(-1, ho * wo)
            grads["weight"].reshape(groups, f // groups, kdim)[g] += hd @ col2[g].T
        dcol = np.concatenate(
            [w3[g].T @ head[b, g * (f // groups) : (g + 1) * (f // groups)].reshape(-1, ho * wo) for g in range(groups)]
        ).reshape(c * kh * kw, ho, wo)
        # modulated_deformable_col2im_gpu_kernel
        for (ch, k, oh, ow), (y, x, m, _g) in pos.items():
            top = dcol[ch * kh * kw + k, oh, ow] * m
            ch_, cw_ = int(y), int(x)
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    hh, ww = ch_ + dy, cw_ + dx
                    if 0 <= hh < height and 0 <= ww < width and abs(y - hh) < 1 and abs(x - ww) < 1:
                        grads["data"][b, ch, hh, ww] += _gradient_weight(y, x, hh, ww, height, width) * top
        # modulated_deformable_col2im_coord_gpu_kernel
        for oc in range(dgroups * 2 * kh * kw):
            g, offc = divmod(oc, 2 * kh * kw)
            for oh in range(ho):
                for ow in range(wo):
                    val = mval = 0.0
                    for ch in range(g * cpg, (g + 1) * cpg):
                        k = offc // 2
                        y, x, m, _ = pos[(ch, k, oh, ow)]
                        cv = dcol[ch * kh * kw + k, oh, ow]
                        if y <= -1 or x <= -1 or y >= height or x >= width:
                            y = x = -2
                        else:
                            mval += cv * _bilinear(data[b, ch], y, x)
                        val += _coordinate_weight(y, x, data[b, ch], offc % 2) * cv * m
                    grads["offset"][b, oc, oh, ow] = val
                    if offc % 2 == 0:
                        grads["mask"][b, g * kh * kw + offc // 2, oh, ow] = mval
    if bias is not None:
        out += np.asarray(bias, np.float64)[None, :, None, None]
        grads["bias"] = head.sum(axis=(0, 2, 3))
    return out, grads


# ---------------------------------------------------------------- cases


def _cases():
    rng = np.random.RandomState(0)
    c = []

    def case(name, op, inputs, attrs, nograd=(), reference=None):
        c.append({"name": name, "op": op, "inputs": inputs, "attrs": attrs, "nograd": nograd, "ref": reference})

    # DeformableConvolution (v1): offsets up to +-1.5 pixels, so some taps leave the map.
    case(
        "dcn_basic",
        "contrib.DeformableConvolution",
        {
            "data": _u(rng, (1, 2, 5, 5)),
            "offset": _u(rng, (1, 18, 3, 3), -1.5, 1.5),
            "weight": _u(rng, (4, 2, 3, 3)),
            "bias": _u(rng, (4,)),
        },
        {"kernel": (3, 3), "num_filter": 4},
    )
    case(
        "dcn_stride_pad_dilate_groups",
        "contrib.DeformableConvolution",
        {
            "data": _u(rng, (2, 4, 6, 5)),
            "offset": _u(rng, (2, 24, 2, 6), -2.0, 2.0),
            "weight": _u(rng, (4, 2, 3, 2)),
        },
        {
            "kernel": (3, 2),
            "stride": (2, 1),
            "pad": (1, 1),
            "dilate": (2, 1),
            "num_group": 2,
            "num_deformable_group": 2,
            "num_filter": 4,
            "no_bias": True,
        },
    )
    # ModulatedDeformableConvolution (v2): gradients from the CUDA transcription.
    case(
        "mdcn_basic",
        "contrib.ModulatedDeformableConvolution",
        {
            "data": _u(rng, (1, 2, 5, 5)),
            "offset": _u(rng, (1, 18, 5, 5), -1.5, 1.5),
            "mask": _u(rng, (1, 9, 5, 5), 0.0, 1.0),
            "weight": _u(rng, (3, 2, 3, 3)),
            "bias": _u(rng, (3,)),
        },
        {"kernel": (3, 3), "pad": (1, 1), "num_filter": 3},
        reference=True,
    )
    case(
        "mdcn_groups_step",
        "contrib.ModulatedDeformableConvolution",
        {
            "data": _u(rng, (4, 4, 5, 4)),
            "offset": _u(rng, (4, 16, 2, 3), -2.0, 2.0),
            "mask": _u(rng, (4, 8, 2, 3), 0.0, 2.0),
            "weight": _u(rng, (2, 2, 2, 2)),
        },
        {
            "kernel": (2, 2),
            "stride": (2, 1),
            "num_group": 2,
            "num_deformable_group": 2,
            "num_filter": 2,
            "no_bias": True,
            "im2col_step": 2,
        },
        reference=True,
    )
    rois = np.array([[0, 0, 1, 5, 4], [1, 2, 0, 4, 6], [0, 1.4, 2.6, 3.3, 3.8]], np.float32)
    case(
        "psroi_basic",
        "contrib.PSROIPooling",
        {"data": _u(rng, (2, 8, 6, 7)), "rois": rois},
        {"spatial_scale": 1.0, "output_dim": 2, "pooled_size": 2},
        nograd=("rois",),
    )
    case(
        "psroi_scale_group",
        "contrib.PSROIPooling",
        {"data": _u(rng, (1, 18, 8, 8)), "rois": np.array([[0, 2, 2, 13, 11], [0, -2, 0, 20, 30]], np.float32)},
        {"spatial_scale": 0.5, "output_dim": 2, "pooled_size": 3, "group_size": 3},
        nograd=("rois",),
    )
    case(
        "dpsroi_trans",
        "contrib.DeformablePSROIPooling",
        {"data": _u(rng, (2, 8, 6, 7)), "rois": rois[:2], "trans": _u(rng, (2, 2, 2, 2))},
        {
            "spatial_scale": 1.0,
            "output_dim": 2,
            "group_size": 2,
            "pooled_size": 2,
            "sample_per_part": 2,
            "trans_std": 0.1,
        },
        nograd=("rois",),
    )
    case(
        "dpsroi_no_trans",
        "contrib.DeformablePSROIPooling",
        {"data": _u(rng, (1, 18, 8, 8)), "rois": np.array([[0, 2, 2, 13, 11], [0, -2, 0, 20, 30]], np.float32)},
        {
            "spatial_scale": 0.5,
            "output_dim": 2,
            "group_size": 3,
            "pooled_size": 3,
            "sample_per_part": 3,
            "no_trans": True,
        },
        nograd=("rois",),
    )
    case(
        "dpsroi_classes_parts",
        "contrib.DeformablePSROIPooling",
        {
            "data": _u(rng, (2, 4, 6, 6)),
            "rois": np.array([[1, 0, 0, 5, 5], [0, 1, 2, 4, 5]], np.float32),
            "trans": _u(rng, (2, 4, 2, 2)),
        },
        {
            "spatial_scale": 1.0,
            "output_dim": 4,
            "group_size": 1,
            "pooled_size": 3,
            "part_size": 2,
            "sample_per_part": 1,
            "trans_std": 0.2,
        },
        nograd=("rois",),
    )
    case(
        "corr_multiply",
        "Correlation",
        {"data1": _u(rng, (2, 3, 6, 5)), "data2": _u(rng, (2, 3, 6, 5))},
        {"kernel_size": 1, "max_displacement": 2, "pad_size": 2},
    )
    case(
        "corr_abs_k3_strides",
        "Correlation",
        {"data1": _u(rng, (1, 2, 7, 6)), "data2": _u(rng, (1, 2, 7, 6))},
        {"kernel_size": 3, "max_displacement": 2, "stride1": 2, "stride2": 2, "pad_size": 1, "is_multiply": False},
    )
    case("corr_defaults", "Correlation", {"data1": _u(rng, (1, 2, 4, 4)), "data2": _u(rng, (1, 2, 4, 4))}, {})
    return c


def _fn(op):
    fn = mx.nd
    for part in op.split("."):
        fn = getattr(fn, part)
    return fn


def run_case(seed, case):
    rng = np.random.RandomState(100 + seed)
    inputs, attrs = case["inputs"], case["attrs"]
    arrays = {n: mx.nd.array(v) for n, v in inputs.items()}
    diff = [n for n in arrays if n not in case["nograd"]]
    if not case["ref"]:
        for n in diff:
            arrays[n].attach_grad()
    with mx.autograd.record():
        y = _fn(case["op"])(**arrays, **attrs)
    head = _u(rng, y.shape)
    if case["ref"]:
        a = {"stride": (1, 1), "pad": (0, 0), "dilate": (1, 1), "num_group": 1, "num_deformable_group": 1, **attrs}
        out, grads = mdcn_reference(
            inputs["data"],
            inputs["offset"],
            inputs["mask"],
            inputs["weight"],
            inputs.get("bias"),
            head,
            a["kernel"],
            a["stride"],
            a["pad"],
            a["dilate"],
            a["num_group"],
            a["num_deformable_group"],
        )
        np.testing.assert_allclose(out, y.asnumpy(), rtol=1e-4, atol=1e-5, err_msg=case["name"])
        grads = {n: grads[n] for n in diff}
    else:
        mx.autograd.backward([y], [mx.nd.array(head)])
        grads = {n: arrays[n].grad.asnumpy() for n in diff}
    return {
        "name": case["name"],
        "op": case["op"],
        "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()},
        "train": True,
        "positional": False,
        "inputs": {n: {"shape": list(v.shape), "dtype": "float32", "data": flat(v)} for n, v in inputs.items()},
        "heads": [flat(head)],
        "outputs": [{"shape": list(y.shape), "dtype": "float32", "data": flat(y.asnumpy())}],
        "grads": {n: flat(g) for n, g in grads.items()},
        "grad_source": "numpy transcription of MXNet's CUDA kernel" if case["ref"] else "mxnet cpu",
    }


def gluon_case(name, cls, kwargs, data_shape, seed):
    """A ``gluon.contrib.cnn`` layer with set parameters: its output and parameter gradients.

    The offset convolution's weight is set to small random values (MXNet initializes it to
    zeros, which would make the layer a plain convolution) so that the offsets matter. The
    modulated layer's backward is GPU-only in MXNet 1.9.1, so its case has no gradients.
    """
    from mxnet.gluon.contrib import cnn

    rng = np.random.RandomState(seed)
    layer = getattr(cnn, cls)(**kwargs)
    x = mx.nd.array(_u(rng, data_shape))
    layer.initialize()
    layer(x)
    params = {}
    for pname, p in sorted(layer.collect_params().items()):
        short = pname[len(layer.prefix) :]
        scale = 0.3 if short.startswith("offset") else 1.0
        value = _u(rng, p.shape) * scale
        p.set_data(mx.nd.array(value))
        params[short] = {"shape": list(value.shape), "data": flat(value)}
    grads = {}
    with mx.autograd.record():
        y = layer(x)
    if cls == "DeformableConvolution":
        y.backward(mx.nd.ones_like(y))
        grads = {n[len(layer.prefix) :]: flat(p.grad().asnumpy()) for n, p in layer.collect_params().items()}
    return {
        "name": name,
        "cls": cls,
        "kwargs": kwargs,
        "data": {"shape": list(data_shape), "data": flat(x.asnumpy())},
        "params": params,
        "param_names": [n[len(layer.prefix) :] for n in layer.collect_params()],
        "output": {"shape": list(y.shape), "data": flat(y.asnumpy())},
        "grads": grads,
    }


def gluon_cases():
    return [
        gluon_case(
            "dcn_layer",
            "DeformableConvolution",
            {"channels": 4, "kernel_size": 3, "padding": 1, "in_channels": 2},
            (2, 2, 5, 6),
            1,
        ),
        gluon_case(
            "dcn_layer_groups_act",
            "DeformableConvolution",
            {
                "channels": 4,
                "kernel_size": (3, 2),
                "strides": 2,
                "groups": 2,
                "activation": "relu",
                "num_deformable_group": 2,
                "use_bias": False,
            },
            (1, 4, 7, 6),
            2,
        ),
        gluon_case(
            "mdcn_layer",
            "ModulatedDeformableConvolution",
            {"channels": 3, "kernel_size": 3, "padding": 1},
            (2, 2, 5, 4),
            3,
        ),
    ]


def main():
    cases = [run_case(i, c) for i, c in enumerate(_cases())]
    out = DATA / "ops_deform_golden.json"
    doc = {"mxnet": mx.__version__, "cases": cases, "gluon": gluon_cases()}
    out.write_text(json.dumps(doc) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
