"""Generate ``tests/data/nn_ops_golden.json``: forward outputs of the NN layer ops from real MXNet.

Run with the reference MXNet 1.9.1 environment::

    /work/mxref/bin/python tools/golden/nn_ops.py

Each case stores the op name, its keyword arguments, the positional input arrays (shape and
float32 values) and every output of ``mx.nd.<op>(*inputs, **kwargs)`` (outside training mode).
"""

import json
from pathlib import Path

import mxnet as mx
import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "nn_ops_golden.json"


def values(shape, seed, lo=-2.0, hi=2.0):
    rng = np.random.RandomState(seed)
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def case(op, inputs, **kwargs):
    arrays = [mx.nd.array(a, dtype=a.dtype) for a in inputs]
    out = getattr(mx.nd, op)(*arrays, **kwargs)
    outs = out if isinstance(out, list) else [out]
    return {
        "op": op,
        "kwargs": kwargs,
        "inputs": [{"shape": list(a.shape), "dtype": str(a.dtype), "values": a.ravel().tolist()} for a in inputs],
        "outputs": [{"shape": list(o.shape), "values": o.asnumpy().ravel().astype(float).tolist()} for o in outs],
    }


def main():
    x23 = values((4, 2, 3), 1)
    cases = [
        case("FullyConnected", [x23, values((5, 6), 2), values((5,), 3)], num_hidden=5),
        case("FullyConnected", [x23, values((5, 3), 4), values((5,), 5)], num_hidden=5, flatten=False),
        case("FullyConnected", [x23, values((5, 6), 6)], num_hidden=5, no_bias=True),
    ]
    x = values((3, 4), 7, -3, 3)
    for t in ["relu", "sigmoid", "tanh", "softrelu", "softsign"]:
        cases.append(case("Activation", [x], act_type=t))
    for t, extra in [("leaky", {"slope": 0.1}), ("elu", {"slope": 0.7}), ("selu", {}), ("gelu", {}), ("rrelu", {})]:
        cases.append(case("LeakyReLU", [x], act_type=t, **extra))
    cases.append(case("LeakyReLU", [x23, values((2,), 8, 0, 1)], act_type="prelu"))
    x4 = values((2, 3, 2, 2), 9)
    cases += [
        case("SoftmaxActivation", [x4]),
        case("SoftmaxActivation", [x4], mode="channel"),
        case("SoftmaxOutput", [x, np.array([0, 3, 1], np.float32)]),
        case("SoftmaxOutput", [x23, np.array([[0, 1], [2, 0], [1, 1], [2, 2]], np.float32)], preserve_shape=True),
        case("SoftmaxOutput", [x4, np.zeros((2, 4), np.float32)], multi_output=True),
        case("LinearRegressionOutput", [x, values((3, 4), 10)]),
        case("LogisticRegressionOutput", [x, values((3, 4), 11, 0, 1)]),
        case("MAERegressionOutput", [x, values((3, 4), 12)]),
        case("MakeLoss", [x], grad_scale=2.0),
        case("BlockGrad", [x]),
        case("Dropout", [x], p=0.5),
        case(
            "Embedding",
            [np.array([[0, 3, 1], [2, 2, 0]], np.float32), values((4, 5), 13)],
            input_dim=4,
            output_dim=5,
        ),
    ]
    bn_inputs = [x4, values((3,), 14, 0.5, 2), values((3,), 15), values((3,), 16), values((3,), 17, 0.5, 2)]
    cases += [
        case("BatchNorm", bn_inputs),
        case("BatchNorm", bn_inputs, fix_gamma=False, eps=1e-5),
        case("BatchNorm", bn_inputs, fix_gamma=False, output_mean_var=True),
    ]
    bn_last = [x4, values((2,), 18, 0.5, 2), values((2,), 19), values((2,), 20), values((2,), 21, 0.5, 2)]
    cases.append(case("BatchNorm", bn_last, fix_gamma=False, axis=-1))
    doc = {"generated_by": f"mxnet {mx.__version__} via tools/golden/nn_ops.py", "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
