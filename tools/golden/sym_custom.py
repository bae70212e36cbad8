"""Golden values of ``mx.sym.Custom`` from real MXNet 1.9.1: run with /work/mxref/bin/python.

Writes tests/data/sym_custom_golden.json from the operators of tests/unit/_sym_custom_ops.py.
"""

import importlib.util
import json
import sys
from pathlib import Path

import mxnet as mx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("_sym_custom_ops", ROOT / "tests/unit/_sym_custom_ops.py")
ops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ops)
ops.register_all(mx)


def arr(rng, shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def softmax_case(rng):
    net = ops.softmax_net(mx)
    args = {
        "data": arr(rng, (4, 5)),
        "fc1_weight": arr(rng, (16, 5)),
        "fc1_bias": arr(rng, (16,)),
        "fc2_weight": arr(rng, (3, 16)),
        "fc2_bias": arr(rng, (3,)),
        "softmax_label": np.array([0, 2, 1, 2], dtype=np.float32),
    }
    arg_shapes, out_shapes, aux_shapes = net.infer_shape(data=(4, 5))
    exe = net.bind(
        mx.cpu(),
        {k: mx.nd.array(v) for k, v in args.items()},
        args_grad={k: mx.nd.zeros(v.shape) for k, v in args.items()},
    )
    exe.forward(is_train=True)
    out = exe.outputs[0].asnumpy()
    exe.backward()
    grads = {k: exe.grad_dict[k].asnumpy().tolist() for k in args}
    return {
        "arguments": net.list_arguments(),
        "outputs": net.list_outputs(),
        "aux": net.list_auxiliary_states(),
        "arg_shapes": [list(s) for s in arg_shapes],
        "out_shapes": [list(s) for s in out_shapes],
        "json": net.tojson(),
        "args": {k: v.tolist() for k, v in args.items()},
        "out": out.tolist(),
        "grads": grads,
    }


def scalesum_case(rng):
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    net = mx.sym.Custom(a, b, op_type="t_scalesum", scale=2.5, name="ss")
    va, vb = arr(rng, (2, 3)), arr(rng, (2, 3))
    g0, g1 = arr(rng, (2, 3)), arr(rng, (2, 3))
    exe = net.bind(
        mx.cpu(),
        {"a": mx.nd.array(va), "b": mx.nd.array(vb)},
        args_grad={"a": mx.nd.zeros((2, 3)), "b": mx.nd.zeros((2, 3))},
    )
    exe.forward(is_train=True)
    outs = [o.asnumpy().tolist() for o in exe.outputs]
    exe.backward([mx.nd.array(g0), mx.nd.array(g1)])
    return {
        "outputs": net.list_outputs(),
        "json": net.tojson(),
        "a": va.tolist(),
        "b": vb.tolist(),
        "g0": g0.tolist(),
        "g1": g1.tolist(),
        "outs": outs,
        "grad_a": exe.grad_dict["a"].asnumpy().tolist(),
        "grad_b": exe.grad_dict["b"].asnumpy().tolist(),
    }


def counter_case(rng):
    x = mx.sym.Variable("x")
    net = mx.sym.Custom(x, op_type="t_counter", name="cnt")
    vx = arr(rng, (3,))
    exe = net.bind(
        mx.cpu(),
        {"x": mx.nd.array(vx)},
        args_grad={"x": mx.nd.zeros((3,))},
        aux_states={"cnt_count": mx.nd.zeros((1,))},
    )
    exe.forward(is_train=True)
    first = exe.outputs[0].asnumpy().tolist()
    exe.forward(is_train=True)
    second = exe.outputs[0].asnumpy().tolist()
    exe.backward(mx.nd.ones((3,)))
    return {
        "arguments": net.list_arguments(),
        "aux": net.list_auxiliary_states(),
        "x": vx.tolist(),
        "first": first,
        "second": second,
        "count": exe.aux_dict["cnt_count"].asnumpy().tolist(),
        "grad": exe.grad_dict["x"].asnumpy().tolist(),
    }


def main():
    rng = np.random.default_rng(7)
    out = {
        "_about": "mx.sym.Custom golden values from MXNet 1.9.1 (tools/golden/sym_custom.py)",
        "softmax": softmax_case(rng),
        "scalesum": scalesum_case(rng),
        "counter": counter_case(rng),
    }
    path = ROOT / "tests/data/sym_custom_golden.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
