"""Write tests/data/quantpy_golden.json: MXNet 1.9.1's ``mx.contrib.quant.quantize_model`` on
small nets (the rewritten graph, the quantized parameters, and for some nets the quantized
model's output on fixed data). Run with real MXNet (never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/quantpy.py

MXNet 1.9.1 here is oneDNN-built. Its default subgraph backend (MKLDNN) fuses the FP32 layers
of the calibration Module (``fc1`` becomes ``sg_mkldnn_fully_connected_0``), so the collector
never sees ``fc1_output`` and only the input ``data`` would get a calibration range; with the
backend off (``MXNET_SUBGRAPH_BACKEND=NONE``, set below) MXNet calibrates every layer as its
quantization pass intends. The quantized models' outputs are computed with the backend off too.
"""

import json
import os
import sys

os.environ["MXNET_SUBGRAPH_BACKEND"] = "NONE"

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "quantpy_golden.json")


def mlp():
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=4, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax"), (8,)


def lenet():
    data = mx.sym.var("data")
    c1 = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv1")
    r1 = mx.sym.Activation(c1, act_type="relu", name="relu1")
    p1 = mx.sym.Pooling(r1, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    c2 = mx.sym.Convolution(p1, kernel=(3, 3), num_filter=8, pad=(1, 1), name="conv2")
    r2 = mx.sym.Activation(c2, act_type="relu", name="relu2")
    p2 = mx.sym.Pooling(r2, kernel=(2, 2), stride=(2, 2), pool_type="avg", name="pool2")
    fl = mx.sym.Flatten(p2, name="flatten")
    f1 = mx.sym.FullyConnected(fl, num_hidden=16, name="fc1")
    t1 = mx.sym.Activation(f1, act_type="tanh", name="tanh1")
    f2 = mx.sym.FullyConnected(t1, num_hidden=5, name="fc2")
    return mx.sym.SoftmaxOutput(f2, name="softmax"), (1, 10, 10)


def branch():
    data = mx.sym.var("data")
    c0 = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=4, name="conv0")
    r0 = mx.sym.Activation(c0, act_type="relu", name="relu0")
    ca = mx.sym.Convolution(r0, kernel=(1, 1), num_filter=4, name="conv_a")
    cb = mx.sym.Convolution(r0, kernel=(1, 1), num_filter=4, no_bias=True, name="conv_b")
    add = mx.sym.elemwise_add(ca, cb, name="add0")
    cat = mx.sym.Concat(add, r0, dim=1, name="concat0")
    bn = mx.sym.BatchNorm(cat, fix_gamma=False, name="bn0")
    r1 = mx.sym.Activation(bn, act_type="relu", name="relu1")
    mul = mx.sym.elemwise_mul(r1, r1, name="mul0")
    sig = mx.sym.Activation(mul, act_type="sigmoid", name="sig0")
    pool = mx.sym.Pooling(sig, kernel=(1, 1), global_pool=True, pool_type="avg", name="gpool")
    fl = mx.sym.Flatten(pool, name="flat0")
    fc = mx.sym.FullyConnected(fl, num_hidden=3, name="fc0")
    cat0 = mx.sym.Concat(fc, fc, dim=0, name="concat_dim0")
    return mx.sym.Group([cat0, mx.sym.softmax(fc, name="prob")]), (2, 6, 6)


def emb():
    data = mx.sym.var("data")
    e = mx.sym.Embedding(data, input_dim=10, output_dim=4, name="emb")
    fl = mx.sym.Flatten(e, name="flat")
    fc = mx.sym.FullyConnected(fl, num_hidden=3, name="fc")
    return mx.sym.Group([fc, e]), (5,)


NETS = {"mlp": mlp, "lenet": lenet, "branch": branch, "emb": emb}

# (case name, net, quantize_model kwargs, run the quantized model on data)
CASES = [
    ("mlp_none", "mlp", {"calib_mode": "none"}, False),
    ("mlp_none_full", "mlp", {"calib_mode": "none", "quantize_mode": "full"}, False),
    ("mlp_none_uint8", "mlp", {"calib_mode": "none", "quantized_dtype": "uint8"}, False),
    ("mlp_naive", "mlp", {"calib_mode": "naive"}, True),
    ("mlp_naive_auto", "mlp", {"calib_mode": "naive", "quantized_dtype": "auto"}, True),
    ("mlp_entropy", "mlp", {"calib_mode": "entropy"}, True),
    ("mlp_entropy_uint8", "mlp", {"calib_mode": "entropy", "quantized_dtype": "uint8"}, False),
    ("mlp_exclude_fc1", "mlp", {"calib_mode": "none", "excluded_sym_names": ["fc1"]}, False),
    ("lenet_none", "lenet", {"calib_mode": "none"}, False),
    ("lenet_none_full", "lenet", {"calib_mode": "none", "quantize_mode": "full"}, False),
    ("lenet_naive", "lenet", {"calib_mode": "naive"}, False),
    # MXNet's own unfused quantized CNN does not run on this oneDNN build (its quantized_act
    # labels uint8 data int8, then oneDNN's pooling rejects it): graphs only.
    ("lenet_naive_auto", "lenet", {"calib_mode": "naive", "quantized_dtype": "auto"}, False),
    ("lenet_naive_full", "lenet", {"calib_mode": "naive", "quantize_mode": "full"}, False),
    ("lenet_no_pool", "lenet", {"calib_mode": "none", "excluded_op_names": ["Pooling"]}, False),
    ("branch_none", "branch", {"calib_mode": "none"}, False),
    ("branch_none_full", "branch", {"calib_mode": "none", "quantize_mode": "full"}, False),
    ("branch_naive_full", "branch", {"calib_mode": "naive", "quantize_mode": "full"}, False),
    (
        "branch_excluded",
        "branch",
        {"calib_mode": "none", "quantize_mode": "full", "excluded_sym_names": ["conv_b", "relu1"]},
        False,
    ),
    ("emb_none_full", "emb", {"calib_mode": "none", "quantize_mode": "full"}, False),
    ("emb_naive_full", "emb", {"calib_mode": "naive", "quantize_mode": "full"}, False),
]


def params_of(net, sym, in_shape, rs):
    arg_shapes, _, aux_shapes = sym.infer_shape(data=(2,) + in_shape)
    args, auxs = {}, {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name == "data" or name.endswith("label"):
            continue
        args[name] = rs.uniform(-1, 1, shape).astype("float32")
        if net == "lenet" and name.startswith("conv"):
            # non-negative convolutions: every conv input is then uint8 under 'auto'
            args[name] = np.abs(args[name])
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        if name.endswith("var"):
            auxs[name] = rs.uniform(0.5, 1.5, shape).astype("float32")
        else:
            auxs[name] = rs.uniform(-0.5, 0.5, shape).astype("float32")
    return args, auxs


def data_of(net, in_shape, n, rs):
    if net == "emb":
        return rs.randint(0, 10, (n,) + in_shape).astype("float32")
    if net == "lenet":  # oneDNN's quantized conv takes uint8 data only: images in [0, 1)
        return rs.uniform(0, 1, (n,) + in_shape).astype("float32")
    return rs.uniform(-1, 1, (n,) + in_shape).astype("float32")


def run(sym, args, auxs, data, label_names):
    mod = mx.mod.Module(sym, data_names=("data",), label_names=label_names, context=mx.cpu())
    mod.bind(for_training=False, data_shapes=[("data", data.shape)])
    mod.set_params({k: v for k, v in args.items()}, auxs, allow_missing=True)
    mod.forward(mx.io.DataBatch([mx.nd.array(data)]), is_train=False)
    return [o.asnumpy() for o in mod.get_outputs()]


def case(name, net, kwargs, run_it):
    rs = np.random.RandomState(sum(map(ord, name)))
    sym, in_shape = NETS[net]()
    label_names = ("softmax_label",) if "softmax_label" in sym.list_arguments() else None
    args, auxs = params_of(net, sym, in_shape, rs)
    calib = data_of(net, in_shape, 8, rs)
    calib_label = rs.randint(0, 3, (8,)).astype("float32")
    test = data_of(net, in_shape, 4, rs)
    nd_args = {k: mx.nd.array(v) for k, v in args.items()}
    nd_auxs = {k: mx.nd.array(v) for k, v in auxs.items()}
    kw = dict(kwargs)
    if kw["calib_mode"] != "none":
        if label_names:
            kw["calib_data"] = mx.io.NDArrayIter(calib, calib_label, batch_size=4, label_name="softmax_label")
        else:
            kw["calib_data"] = mx.io.NDArrayIter(calib, batch_size=4)
    qsym, qargs, qauxs = mx.contrib.quant.quantize_model(
        sym, nd_args, nd_auxs, ctx=mx.cpu(), label_names=label_names, **kw
    )
    out = {
        "net": net,
        "in_shape": list(in_shape),
        "kwargs": kwargs,
        "sym": json.loads(sym.tojson()),
        "qsym": json.loads(qsym.tojson()),
        "qsym_arguments": qsym.list_arguments(),
        "qsym_outputs": qsym.list_outputs(),
        "args": {k: v.tolist() for k, v in args.items()},
        "auxs": {k: v.tolist() for k, v in auxs.items()},
        "calib": calib.tolist(),
        "calib_label": calib_label.tolist(),
        "qargs": {k: {"dtype": str(v.dtype.__name__), "value": v.asnumpy().tolist()} for k, v in qargs.items()},
    }
    if run_it:
        out["test"] = test.tolist()
        out["fp32_out"] = [o.tolist() for o in run(sym, nd_args, nd_auxs, test, label_names)]
        out["int8_out"] = [o.tolist() for o in run(qsym, qargs, qauxs, test, label_names)]
    return out


def entropy_cases():
    """``_get_optimal_threshold`` (MXNet's calibrate_entropy op) on histograms of fixed data."""
    from mxnet.contrib import quantization as q

    out = []
    for seed, (kind, dtype, bins) in enumerate(
        [("normal", "int8", 8001), ("relu", "int8", 8001), ("relu", "uint8", 8001), ("laplace", "int8", 2001)]
    ):
        rs = np.random.RandomState(seed)
        arr = rs.laplace(size=5000) if kind == "laplace" else rs.randn(5000)
        if kind == "relu":
            arr = np.maximum(arr, 0)
        arr = arr.astype("float32")
        th = float(max(abs(arr.min()), abs(arr.max())))
        hist, edges = np.histogram(arr, bins=bins, range=(-th, th))
        mn, mx_, thr, div = q._get_optimal_threshold((hist, edges, arr.min(), arr.max(), th), dtype)
        out.append(
            {
                "kind": kind,
                "dtype": dtype,
                "bins": bins,
                "seed": seed,
                "threshold": float(thr),
                "divergence": float(div),
            }
        )
    return out


def main():
    # MXNet only checks that scipy.stats imports (its calibrate_entropy op does the work); the
    # reference venv has no scipy.
    if mx.contrib.quantization.stats is None:
        mx.contrib.quantization.stats = np
    golden = {name: case(name, net, kw, r) for name, net, kw, r in CASES}
    golden["_entropy"] = entropy_cases()
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
