"""ONNX files written by real MXNet 1.9.1's exporter, and MXNet's outputs for them.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs); its exporter needs the
``onnx`` package in that venv (``/work/mxref/bin/pip install 'onnx<1.15' 'protobuf<4'``)::

    /work/mxref/bin/python tools/golden/onnx_mxnet.py

For every net it writes ``tests/data/onnx/mxnet_<name>.onnx`` (``mx.onnx.export_model``) and
``tests/data/onnx/mxnet_<name>.npz`` holding the input ``data`` and MXNet's output ``out``
(``forward(is_train=False)``). ``tests/unit/test_onnx.py`` imports the files into mxrs and
compares. (MXNet 1.9.1's exporter writes a BatchNorm's gamma as it is even with
``fix_gamma=True``, where MXNet itself uses 1, so the nets here use ``fix_gamma=False``.)
"""

import os
from pathlib import Path

os.environ.setdefault("MXNET_MKLDNN_ENABLED", "0")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

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


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(19)
    for name, build in [("mlp", mlp), ("convnet", convnet)]:
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
