"""Golden values for the Symbol/Executor tests, made with real MXNet 1.9.1.

Run with the reference venv: ``../mxref/bin/python tools/golden/symbol_nets.py``. It writes
``tests/data/symbol_nets.params``: for the seed's MLP and a LeNet-like net, the inputs, the
parameters, the outputs of a training forward and every gradient after backward.
The net definitions here are the same as in ``tests/unit/test_executor.py``.
"""

from pathlib import Path

import mxnet as mx
import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "symbol_nets.params"


def mlp():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=net, name="fc1", num_hidden=16)
    net = mx.sym.Activation(data=net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(data=net, name="fc2", num_hidden=8)
    return mx.sym.SoftmaxOutput(data=net, name="out")


def lenet():
    data = mx.sym.Variable("data")
    c1 = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv1")
    a1 = mx.sym.Activation(c1, act_type="tanh", name="tanh1")
    p1 = mx.sym.Pooling(a1, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    c2 = mx.sym.Convolution(p1, kernel=(3, 3), num_filter=6, pad=(1, 1), name="conv2")
    b2 = mx.sym.BatchNorm(c2, fix_gamma=False, name="bn2")
    a2 = mx.sym.Activation(b2, act_type="relu", name="relu2")
    p2 = mx.sym.Pooling(a2, pool_type="avg", kernel=(2, 2), stride=(2, 2), name="pool2")
    f = mx.sym.Flatten(p2, name="flat")
    fc = mx.sym.FullyConnected(f, num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax")


def snap(a):
    """A synchronous copy (``NDArray.copy()`` interleaved with assignments gave wrong values)."""
    return mx.nd.array(a.asnumpy())


def run(prefix, sym, shapes, label_name, classes, out):
    rng = np.random.RandomState(7)
    exe = sym.simple_bind(mx.cpu(), grad_req="write", **shapes)
    for name, arr in exe.arg_dict.items():
        if name == label_name:
            v = rng.randint(0, classes, size=arr.shape).astype(np.float32)
        elif name == "data":
            v = rng.uniform(-1, 1, size=arr.shape).astype(np.float32)
        else:
            v = rng.uniform(-0.5, 0.5, size=arr.shape).astype(np.float32)
        arr[:] = v
        out[f"{prefix}:arg:{name}"] = snap(arr)
    for name, arr in exe.aux_dict.items():
        arr[:] = rng.uniform(0.5, 1.0, size=arr.shape).astype(np.float32)
        out[f"{prefix}:aux:{name}"] = snap(arr)
    exe.forward(is_train=True)
    out[f"{prefix}:out"] = snap(exe.outputs[0])
    exe.backward()
    for name, g in exe.grad_dict.items():
        if name not in ("data", label_name):
            out[f"{prefix}:grad:{name}"] = snap(g)
    out[f"{prefix}:grad:data"] = snap(exe.grad_dict["data"])
    for name, arr in exe.aux_dict.items():
        out[f"{prefix}:aux_after:{name}"] = snap(arr)
    exe.forward(is_train=False)
    out[f"{prefix}:out_predict"] = snap(exe.outputs[0])


def main():
    out = {}
    run("mlp", mlp(), {"data": (5, 12)}, "out_label", 8, out)
    run("lenet", lenet(), {"data": (3, 1, 12, 12)}, "softmax_label", 10, out)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    mx.nd.save(str(OUT), out)
    print(f"wrote {OUT} ({len(out)} arrays)")


if __name__ == "__main__":
    main()
