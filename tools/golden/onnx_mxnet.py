"""ONNX files written by real MXNet 1.9.1's exporter, and MXNet's outputs for them.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs); its exporter needs the
``onnx`` package in that venv (``/work/mxref/bin/pip install 'onnx<1.15' 'protobuf<4'``)::

    /work/mxref/bin/python tools/golden/onnx_mxnet.py

For every net it writes ``tests/data/onnx/mxnet_<name>.onnx`` (``mx.onnx.export_model``) and
``tests/data/onnx/mxnet_<name>.npz`` holding the input ``data`` and MXNet's output ``out``
(``forward(is_train=False)``). ``tests/unit/test_onnx.py`` imports the files into mxrs and
compares. (MXNet 1.9.1's exporter writes a BatchNorm's gamma as it is even with
``fix_gamma=True``, where MXNet itself uses 1, so the nets here use ``fix_gamma=False``; and
it fails on SoftmaxOutput, whose label it skips without a placeholder, so they end in
``softmax``.)
"""

import os
from pathlib import Path

os.environ.setdefault("MXNET_MKLDNN_ENABLED", "0")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
import onnx.checker  # noqa: E402
import onnx.defs  # noqa: E402

# MXNet 1.9.1 exports with the newest opset the onnx package knows, but it has translations for
# opsets 12 and 13 only (onnx 1.14's opset 19 moved ReduceMean's axes to an input, which its
# translation does not do): pin 13, the opset of its era.
onnx.defs.onnx_opset_version = lambda: 13
onnx.checker.DEFAULT_CONTEXT.opset_imports = {"": 13}

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "onnx"


def mlp():
    data = mx.sym.var("data")
    h = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    h = mx.sym.Activation(h, act_type="relu", name="relu1")
    h = mx.sym.FullyConnected(h, num_hidden=8, name="fc2")
    h = mx.sym.Activation(h, act_type="tanh", name="tanh1")
    h = mx.sym.FullyConnected(h, num_hidden=4, name="fc3")
    return mx.sym.softmax(h, name="prob"), (3, 10)


def convnet():
    data = mx.sym.var("data")
    c = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=6, name="conv1")
    c = mx.sym.BatchNorm(c, fix_gamma=False, eps=1e-5, name="bn1")
    c = mx.sym.Activation(c, act_type="relu", name="relu1")
    r = mx.sym.Convolution(c, kernel=(3, 3), pad=(1, 1), num_filter=6, no_bias=True, name="conv2")
    r = mx.sym.BatchNorm(r, fix_gamma=False, name="bn2")
    c = mx.sym.Activation(c + r, act_type="relu", name="relu2")
    c = mx.sym.Pooling(c, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    c = mx.sym.Convolution(c, kernel=(3, 3), stride=(2, 2), num_filter=8, num_group=2, name="conv3")
    c = mx.sym.LeakyReLU(c, act_type="leaky", slope=0.1, name="lrelu")
    c = mx.sym.Pooling(c, kernel=(2, 2), pool_type="avg", global_pool=True, name="gpool")
    c = mx.sym.Flatten(c, name="flat")
    c = mx.sym.Dropout(c, p=0.5, name="drop")
    c = mx.sym.FullyConnected(c, num_hidden=5, name="fc")
    return mx.sym.softmax(c, axis=1, name="softmax"), (2, 3, 12, 12)


def ops():
    """Many ops on one input, to see what MXNet's exporter writes for each."""
    data = mx.sym.var("data")  # (2, 4, 6, 6)
    c = mx.sym.Convolution(data, kernel=(3, 3), dilate=(2, 2), pad=(2, 2), num_filter=4, name="dconv")
    d = mx.sym.Deconvolution(c, kernel=(2, 2), stride=(2, 2), num_filter=2, no_bias=True, name="deconv")
    d = mx.sym.Pooling(d, kernel=(3, 3), stride=(2, 2), pool_type="max", pooling_convention="full", name="pfull")
    a = mx.sym.Pooling(c, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="avg", name="pavg")
    x = mx.sym.concat(c, a, dim=1, name="cat")
    x = mx.sym.LeakyReLU(x, act_type="elu", slope=0.5, name="elu")
    x = mx.sym.Reshape(x, shape=(0, 48, -1), name="r1")  # (2, 48, 6)
    x = mx.sym.transpose(x, axes=(0, 2, 1), name="tr")  # (2, 6, 48)
    x = mx.sym.slice_axis(x, axis=2, begin=4, end=40, name="sa")  # (2, 6, 36)
    x = mx.sym.clip(x, a_min=-2.0, a_max=2.0, name="clip")
    y = mx.sym.batch_dot(x, x, transpose_b=True, name="bd")  # (2, 6, 6)
    y = mx.sym.softmax(y / 4.0 + 1.0, axis=-1, name="sm")
    z = mx.sym.sum(x, axis=2, keepdims=True, name="s1") * 0.1 - mx.sym.mean(x, axis=2, keepdims=True, name="m1")
    z = mx.sym.broadcast_mul(y, z, name="bm")
    z = mx.sym.expand_dims(z, axis=1, name="ed")  # (2, 1, 6, 6)
    z = mx.sym.exp(mx.sym.tanh(z)) + mx.sym.sqrt(mx.sym.abs(z) + 1) - mx.sym.sigmoid(z)
    z = mx.sym.Flatten(z, name="fl")
    d = mx.sym.Flatten(d, name="dfl")
    z = mx.sym.concat(z, d, dim=1, name="cat2")
    return mx.sym.FullyConnected(z, num_hidden=7, name="fc"), (2, 4, 6, 6)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(19)
    for name, build in [("mlp", mlp), ("convnet", convnet), ("ops", ops)]:
        sym, shape = build()
        arg_shapes, _, aux_shapes = sym.infer_shape(data=shape)
        params = {}
        for n, s in zip(sym.list_arguments(), arg_shapes):
            if n != "data" and not n.endswith("_label"):
                params[n] = mx.nd.array(rng.uniform(-0.5, 0.5, s).astype(np.float32))
        for n, s in zip(sym.list_auxiliary_states(), aux_shapes):
            lo = 0.5 if n.endswith("_var") else -0.5
            params[n] = mx.nd.array(rng.uniform(lo, lo + 1.0, s).astype(np.float32))
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        path = OUT / f"mxnet_{name}.onnx"
        mx.onnx.export_model(sym, params, in_shapes=[shape], in_types=[np.float32], onnx_file_path=str(path))
        args = {k: v for k, v in params.items() if k in sym.list_arguments()}
        args["data"] = mx.nd.array(x)
        aux = {k: v for k, v in params.items() if k in sym.list_auxiliary_states()}
        exe = sym.bind(mx.cpu(), args=args, aux_states=aux, grad_req="null")
        out = exe.forward(is_train=False)[0].asnumpy()
        np.savez(OUT / f"mxnet_{name}.npz", data=x, out=out)
        print(path, out.shape)


if __name__ == "__main__":
    main()
