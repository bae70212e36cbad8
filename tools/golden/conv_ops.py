"""Golden values of Convolution, Deconvolution and Pooling from real MXNet 1.9.1.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/conv_ops.py

It writes ``tests/data/conv_ops_golden.json``: for every case the op, its attributes, float32
inputs, a head gradient, MXNet's output and the gradient of every input (through
``mx.autograd``), with oneDNN off. ``tests/unit/test_conv_ops.py`` compares mxrs with these values.
"""

import json
import os
from pathlib import Path

# oneDNN rejects dilated deconvolution; the plain CPU kernels are the reference.
os.environ.setdefault("MXNET_MKLDNN_ENABLED", "0")
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "conv_ops_golden.json"

# (name, op, data shape, attrs); weight and bias shapes come from MXNet's shape inference.
CASES = [
    ("conv_basic", "Convolution", (2, 3, 7, 7), {"kernel": (3, 3), "num_filter": 4}),
    (
        "conv_stride_pad",
        "Convolution",
        (2, 3, 8, 7),
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "num_filter": 5},
    ),
    ("conv_dilate", "Convolution", (1, 2, 9, 9), {"kernel": (3, 3), "dilate": (2, 2), "pad": (2, 1), "num_filter": 3}),
    ("conv_groups", "Convolution", (2, 4, 6, 6), {"kernel": (3, 3), "num_group": 2, "num_filter": 6, "no_bias": True}),
    ("conv_depthwise", "Convolution", (1, 4, 6, 6), {"kernel": (3, 3), "num_group": 4, "num_filter": 4, "pad": (1, 1)}),
    ("conv_rect", "Convolution", (2, 2, 6, 8), {"kernel": (2, 4), "stride": (1, 2), "num_filter": 3}),
    ("conv_1x1", "Convolution", (2, 4, 5, 5), {"kernel": (1, 1), "num_filter": 3}),
    ("conv_1d", "Convolution", (2, 3, 10), {"kernel": (3,), "stride": (2,), "pad": (1,), "num_filter": 4}),
    ("deconv_basic", "Deconvolution", (2, 3, 4, 4), {"kernel": (3, 3), "num_filter": 2}),
    (
        "deconv_stride_adj_bias",
        "Deconvolution",
        (2, 3, 4, 5),
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "adj": (1, 1), "num_filter": 4, "no_bias": False},
    ),
    (
        "deconv_groups",
        "Deconvolution",
        (1, 4, 3, 3),
        {"kernel": (2, 2), "stride": (2, 2), "num_filter": 6, "num_group": 2},
    ),
    (
        "deconv_target",
        "Deconvolution",
        (1, 2, 4, 4),
        {"kernel": (3, 3), "stride": (2, 2), "target_shape": (8, 8), "num_filter": 3},
    ),
    (
        "deconv_dilate",
        "Deconvolution",
        (1, 2, 4, 4),
        {"kernel": (3, 3), "dilate": (2, 2), "pad": (1, 1), "num_filter": 2},
    ),
    ("deconv_1d", "Deconvolution", (2, 3, 5), {"kernel": (3,), "stride": (2,), "num_filter": 2, "no_bias": False}),
    ("pool_max", "Pooling", (2, 3, 6, 6), {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"}),
    ("pool_max_pad", "Pooling", (2, 2, 7, 7), {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "max"}),
    (
        "pool_max_full",
        "Pooling",
        (1, 2, 8, 8),
        {"kernel": (3, 3), "stride": (2, 2), "pool_type": "max", "pooling_convention": "full"},
    ),
    (
        "pool_avg_full_pad",
        "Pooling",
        (1, 2, 7, 7),
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg", "pooling_convention": "full"},
    ),
    (
        "pool_avg_exclude_pad",
        "Pooling",
        (1, 2, 7, 7),
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg", "count_include_pad": False},
    ),
    ("pool_avg_global", "Pooling", (2, 3, 5, 4), {"kernel": (2, 2), "pool_type": "avg", "global_pool": True}),
    ("pool_max_global", "Pooling", (2, 3, 5, 4), {"pool_type": "max", "global_pool": True}),
    ("pool_sum", "Pooling", (1, 2, 5, 5), {"kernel": (2, 2), "pool_type": "sum"}),
    ("pool_lp2", "Pooling", (1, 2, 6, 6), {"kernel": (2, 2), "stride": (2, 2), "pool_type": "lp", "p_value": 2}),
    ("pool_max_1d", "Pooling", (2, 3, 9), {"kernel": (3,), "stride": (2,), "pool_type": "max"}),
    (
        "pool_avg_1d_full",
        "Pooling",
        (2, 2, 8),
        {"kernel": (3,), "stride": (2,), "pad": (1,), "pool_type": "avg", "pooling_convention": "full"},
    ),
]


def input_shapes(op, data_shape, attrs):
    sym = getattr(mx.sym, op)(mx.sym.var("data"), name="x", **attrs)
    arg_shapes, _, _ = sym.infer_shape(data=data_shape)
    names = [n.replace("x_", "") for n in sym.list_arguments()]
    return list(zip(names, arg_shapes))


def flat(a):
    """Values as a flat list, 8 significant digits (float32 needs at most 9)."""
    return [float(f"{v:.8g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def run_case(seed, name, op, data_shape, attrs):
    rng = np.random.RandomState(seed)
    inputs = {}
    for n, shape in input_shapes(op, data_shape, attrs):
        inputs[n] = rng.uniform(-1, 1, shape).astype(np.float32)
    arrays = {n: mx.nd.array(v) for n, v in inputs.items()}
    for a in arrays.values():
        a.attach_grad()
    with mx.autograd.record():
        y = getattr(mx.nd, op)(**arrays, **attrs)
    head = rng.uniform(-1, 1, y.shape).astype(np.float32)
    y.backward(mx.nd.array(head))
    return {
        "name": name,
        "op": op,
        "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()},
        "inputs": {n: {"shape": list(v.shape), "data": flat(v)} for n, v in inputs.items()},
        "head": flat(head),
        "output": {"shape": list(y.shape), "data": flat(y.asnumpy())},
        "grads": {n: flat(a.grad.asnumpy()) for n, a in arrays.items()},
    }


def main():
    cases = [run_case(i, *c) for i, c in enumerate(CASES)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"mxnet": mx.__version__, "cases": cases}) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
