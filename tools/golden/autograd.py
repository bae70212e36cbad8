"""Generate ``tests/data/autograd_golden.json``: gradients computed by real MXNet's autograd.

Run with the reference MXNet 1.9.1 environment::

    /work/mxref/bin/python tools/golden/autograd.py

Each case is a snippet of MXNet code run with ``mx`` (the library), ``nd`` (``mx.nd``) and
``ag`` (``mx.autograd``) in scope and float32 input arrays ``x0``, ``x1``... each with
``attach_grad()`` already called (``grad_req`` per case). The snippet records and runs
backward itself; the file stores the inputs, the snippet, every input's ``.grad`` afterwards
and the snippet's ``out`` value (when it sets one). ``tests/unit/test_autograd.py`` runs the
same snippets on mxrs and compares.
"""

import json
from pathlib import Path

import mxnet as mx
import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "autograd_golden.json"


def values(shape, seed, lo=-2.0, hi=2.0):
    rng = np.random.RandomState(seed)
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


REC = "with ag.record():\n"

CASES = [
    # name, input arrays, snippet, grad_req
    (
        "chain_elementwise",
        [values((2, 3), 1), values((2, 3), 2)],
        REC + "    y = (nd.exp(x0) * x1 + nd.sin(x1) / (x0 * x0 + 1) - nd.tanh(x0)).sum()\ny.backward()\nout = y",
    ),
    (
        "chain_scalar_ops",
        [values((3, 4), 3)],
        REC + "    y = ((2 - x0) * 3 + x0 / 4 - 1 / (x0 * x0 + 2) + x0 ** 2).mean()\ny.backward()\nout = y",
    ),
    (
        "unary_math",
        [values((2, 5), 4, 0.2, 2.0)],
        REC + "    y = nd.log(x0) + nd.sqrt(x0) + nd.sigmoid(x0) + nd.relu(x0 - 1) + nd.abs(x0 - 1) + nd.square(x0)"
        " + nd.cos(x0) + nd.log1p(x0) + nd.expm1(x0) + nd.rsqrt(x0) + nd.reciprocal(x0)\n"
        "y.backward()\nout = y",
    ),
    (
        "broadcast",
        [values((2, 1, 3), 5), values((4, 1), 6), values((1, 4, 3), 7)],
        REC + "    y = nd.broadcast_mul(nd.broadcast_add(x0, x1), x2)"
        " - nd.broadcast_div(x2, nd.broadcast_maximum(x1, x0) + 3)\n"
        "y.backward()\nout = y",
    ),
    (
        "head_grad",
        [values((2, 3), 8)],
        REC + "    y = x0 * x0 * 3\ny.backward(nd.array([[1, 2, 3], [4, 5, 6]]))\nout = y",
    ),
    (
        "reductions",
        [values((2, 3, 4), 9)],
        REC + "    y = nd.sum(x0, axis=1) * nd.mean(x0, axis=1) + nd.max(x0, axis=1) + nd.norm(x0, axis=1)\n"
        "    y = nd.sum(y, axis=1, keepdims=True) * nd.prod(x0[0][0])\ny.backward()\nout = y",
    ),
    (
        "dot",
        [values((3, 4), 10), values((4, 5), 11), values((5, 3), 12)],
        REC + "    y = nd.dot(nd.dot(x0, x1), x2) + nd.dot(x0, x1.T, transpose_b=True).sum() "
        "+ nd.dot(x2, x1, transpose_a=True, transpose_b=True).sum()\ny.backward()\nout = y",
    ),
    (
        "batch_dot",
        [values((2, 3, 4), 13), values((2, 4, 2), 14)],
        REC + "    y = nd.batch_dot(x0, x1)\ny.backward(nd.ones((2, 3, 2)) * 0.5)\nout = y",
    ),
    (
        "fully_connected",
        [values((4, 6), 15), values((3, 6), 16), values((3,), 17)],
        REC
        + "    y = nd.FullyConnected(x0, x1, x2, num_hidden=3)\n    y = (nd.relu(y) * y).sum()\ny.backward()\nout = y",
    ),
    (
        "fully_connected_flatten",
        [values((2, 2, 3), 18), values((4, 6), 19)],
        REC + "    y = nd.FullyConnected(x0, x1, no_bias=True, num_hidden=4)\n    y = nd.tanh(y)\n"
        "y.backward()\nout = y",
    ),
    (
        "convolution",
        [values((2, 2, 5, 5), 20), values((3, 2, 3, 3), 21), values((3,), 22)],
        REC + "    y = nd.Convolution(x0, x1, x2, kernel=(3, 3), num_filter=3, pad=(1, 1), stride=(2, 2))\n"
        "    y = (y * y).sum()\ny.backward()\nout = y",
    ),
    (
        "pooling",
        [values((1, 2, 4, 4), 23)],
        REC + "    y = nd.Pooling(x0, kernel=(2, 2), stride=(2, 2), pool_type='max') * 2"
        " + nd.Pooling(x0, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type='avg')[:, :, ::2, ::2]"
        " + nd.Pooling(x0, global_pool=True, kernel=(1, 1), pool_type='avg')\n"
        "y.backward()\nout = y",
    ),
    (
        "softmax_cross_entropy",
        [values((4, 5), 24)],
        REC + "    p = nd.log_softmax(x0, axis=-1)\n    y = -nd.pick(p, nd.array([0, 3, 4, 1]), axis=-1).mean()"
        " + (nd.softmax(x0, axis=0) * nd.arange(5).reshape((1, 5))).sum()\ny.backward()\nout = y",
    ),
    (
        "l2_and_sigmoid_bce",
        [values((3, 2), 25), values((3, 2), 26, 0, 1)],
        REC + "    l2 = ((x0 - x1) ** 2).sum(axis=1) / 2\n"
        "    bce = nd.relu(x0) - x0 * x1 + nd.log(1 + nd.exp(-nd.abs(x0)))\n"
        "    y = l2 + bce.mean(axis=1)\ny.backward()\nout = y",
    ),
    (
        "slicing",
        [values((4, 5), 27)],
        REC
        + "    y = x0[1:3] * 2 + x0[0] + x0[:, 1:3].sum() + nd.slice(x0, begin=(0, 1), end=(4, 5), step=(2, 2)).sum()"
        " + x0[3, 2:4].sum()\ny.backward()\nout = y",
    ),
    (
        "take_and_indexing",
        [values((5, 3), 28)],
        REC + "    y = nd.take(x0, nd.array([0, 2, 2, 4])) * nd.arange(3).reshape((1, 3)) + x0[[1, 1]].sum()\n"
        "y.backward()\nout = y",
    ),
    (
        "reshape_transpose",
        [values((2, 3, 4), 29)],
        REC + "    y = x0.reshape((6, 4)).T * nd.arange(6).reshape((1, 6))"
        " + nd.transpose(x0, axes=(2, 0, 1)).reshape((4, 6)) + x0.reshape((-1,)).reshape((4, 6))\n"
        "    y = nd.expand_dims(y, axis=0).flatten()\ny.backward()\nout = y",
    ),
    (
        "concat_split_stack",
        [values((2, 3), 30), values((2, 2), 31), values((2, 3), 32)],
        REC + "    c = nd.concat(x0, x1, x2, dim=1)\n    a, b = nd.split(c, num_outputs=2, axis=1)\n"
        "    s = nd.stack(x0, x2, axis=1)\n    y = (a * b).sum() + (s * s * nd.arange(3).reshape((1, 1, 3))).sum()\n"
        "y.backward()\nout = y",
    ),
    (
        "split_one_output_used",
        [values((2, 4), 33)],
        REC + "    a, b = nd.split(x0, num_outputs=2, axis=1)\n    y = (b * 3).sum()\ny.backward()\nout = y",
    ),
    (
        "where_clip_maximum",
        [values((3, 3), 34), values((3, 3), 35)],
        REC + "    y = nd.where(x0 > x1, x0 * x1, x1 - x0) + nd.clip(x0, -0.5, 0.5) * 3 + nd.maximum(x0, x1)\n"
        "y.backward()\nout = y",
    ),
    (
        "activations",
        [values((3, 4), 36)],
        REC + "    y = nd.Activation(x0, act_type='softrelu') + nd.LeakyReLU(x0, act_type='leaky', slope=0.2)"
        " + nd.LeakyReLU(x0, act_type='elu', slope=0.5) + nd.Activation(x0, act_type='sigmoid')\n"
        "y.backward()\nout = y",
    ),
    (
        "batchnorm_train",
        [values((4, 3), 37), values((3,), 38, 0.5, 1.5), values((3,), 39)],
        "mm, mv = nd.zeros((3,)), nd.ones((3,))\n" + REC + "    y = nd.BatchNorm(x0, x1, x2, mm, mv, fix_gamma=False)\n"
        "    y = (y * nd.arange(12).reshape((4, 3))).sum()\n"
        "y.backward()\nout = y",
    ),
    (
        "batchnorm_predict",
        [values((4, 3), 40), values((3,), 41, 0.5, 1.5), values((3,), 42)],
        "mm, mv = nd.ones((3,)) * 0.1, nd.ones((3,)) * 2\nwith ag.record(train_mode=False):\n"
        "    y = nd.BatchNorm(x0, x1, x2, mm, mv, fix_gamma=False)\n    y = (y * nd.arange(12).reshape((4, 3))).sum()\n"
        "y.backward()\nout = y",
    ),
    (
        "multiple_heads",
        [values((3,), 43)],
        REC
        + "    y1 = x0 * 2\n    y2 = nd.exp(x0)\nag.backward([y1, y2], [nd.ones((3,)), nd.array([1, 2, 3])])\nout = y2",
    ),
    (
        "reused_variable_and_branches",
        [values((2, 2), 44)],
        REC
        + "    a = x0 * x0\n    b = a + x0\n    c = a * b\n    y = (c + a + nd.exp(b)).sum()\ny.backward()\nout = y",
    ),
    (
        "grad_req_add",
        [values((3,), 45)],
        "for _ in range(3):\n" + "    with ag.record():\n        y = (x0 * x0 * x0).sum()\n    y.backward()\nout = y",
        "add",
    ),
    (
        "retain_graph",
        [values((3,), 46)],
        REC + "    y = (nd.sin(x0) * x0).sum()\ny.backward(retain_graph=True)\ng1 = x0.grad.copy()\ny.backward()\n"
        "out = g1 + x0.grad",
    ),
    (
        "pause_and_detach",
        [values((3,), 47), values((3,), 48)],
        REC + "    a = x0 * x1\n    with ag.pause():\n        b = a * 3\n    c = a.detach() * x0\n"
        "    y = (a + b + c).sum()\ny.backward()\nout = y",
    ),
    (
        "grad_api",
        [values((2, 3), 49), values((2, 3), 50)],
        REC + "    y = x0 * nd.exp(x1)\nout = ag.grad(y, [x0, x1], head_grads=nd.ones((2, 3)) * 2)[1]",
    ),
    (
        "second_order_cube",
        [values((4,), 51)],
        REC + "    y = nd.elemwise_mul(nd.elemwise_mul(x0, x0), x0)\n"
        "    g = ag.grad(y, [x0], create_graph=True)[0]\ng.backward()\nout = g",
    ),
    (
        "second_order_sin",
        [values((4,), 52)],
        REC + "    y = nd.sin(x0)\n    g = ag.grad(y, [x0], create_graph=True)[0]\ng.backward()\nout = g",
    ),
    (
        "second_order_exp_x",
        [values((4,), 53)],
        REC + "    y = nd.elemwise_mul(nd.exp(x0), x0)\n"
        "    g = ag.grad(y, [x0], create_graph=True)[0]\ng.backward()\nout = g",
    ),
    (
        "second_order_tanh",
        [values((4,), 54)],
        REC + "    y = nd.tanh(x0)\n    g = ag.grad(y, [x0], create_graph=True)[0]\ng.backward()\nout = g",
    ),
    (
        "second_order_mixed",
        [values((3,), 55), values((3,), 56)],
        REC + "    y = nd.elemwise_mul(nd.elemwise_mul(x0, x0), x1) + nd.elemwise_mul(nd.exp(x1), x0)\n"
        "    g0, g1 = ag.grad(y, [x0, x1], create_graph=True)\n"
        "    z = (g0 * g1).sum()\nz.backward()\nout = z",
    ),
    (
        "function_sigmoid",
        [values((2, 3), 57)],
        "class Sig(ag.Function):\n    def forward(self, x):\n        y = 1 / (1 + nd.exp(-x))\n"
        "        self.save_for_backward(y)\n        return y\n    def backward(self, dy):\n"
        "        y, = self.saved_tensors\n        return dy * y * (1 - y)\n"
        + REC
        + "    y = (Sig()(x0 * 2) * 3).sum()\ny.backward()\nout = y",
    ),
    (
        "function_two_in_two_out",
        [values((3,), 58), values((3,), 59)],
        "class F(ag.Function):\n    def forward(self, a, b):\n        self.save_for_backward(a, b)\n"
        "        return a * b, a + b\n    def backward(self, da, ds):\n        a, b = self.saved_tensors\n"
        "        return da * b + ds, da * a + ds\n"
        + REC
        + "    p, s = F()(x0, x1)\n    y = (p * 2 + s * s).sum()\ny.backward()\nout = y",
    ),
]


def _second_order_analytic(name, xs):
    """Grads and ``out`` of the second-order cases MXNet 1.9.1 cannot run (its ``_backward_mul``
    has no gradient), in float64."""
    x = [a.astype(np.float64) for a in xs]
    if name == "second_order_cube":
        return [6 * x[0]], 3 * x[0] ** 2
    if name == "second_order_exp_x":
        return [np.exp(x[0]) * (x[0] + 2)], np.exp(x[0]) * (x[0] + 1)
    a, b = x
    g0, g1 = 2 * a * b + np.exp(b), a * a + np.exp(b) * a
    return [2 * b * g1 + g0 * (2 * a + np.exp(b)), (2 * a + np.exp(b)) * g1 + g0 * np.exp(b) * a], np.sum(g0 * g1)


def analytic(name, inputs, snippet, grad_req="write"):
    grads, out = _second_order_analytic(name, inputs)
    out = np.asarray(out).reshape(-1) if np.ndim(out) == 0 else np.asarray(out)
    return {
        "name": name,
        "grad_req": grad_req,
        "code": snippet,
        "source": "analytic (MXNet 1.9.1 has no second-order gradient of elemwise_mul)",
        "inputs": [{"shape": list(a.shape), "values": a.ravel().astype(float).tolist()} for a in inputs],
        "grads": [g.ravel().tolist() for g in grads],
        "out": {"shape": list(out.shape), "values": out.ravel().tolist()},
    }


def run(name, inputs, snippet, grad_req="write"):
    xs = [mx.nd.array(a) for a in inputs]
    for x in xs:
        x.attach_grad(grad_req=grad_req)
    scope = {"mx": mx, "nd": mx.nd, "ag": mx.autograd}
    scope.update({f"x{i}": x for i, x in enumerate(xs)})
    exec(snippet, scope)  # noqa: S102 (the snippets are this file's)
    out = scope.get("out")
    return {
        "name": name,
        "grad_req": grad_req,
        "code": snippet,
        "source": "mxnet",
        "inputs": [{"shape": list(a.shape), "values": a.ravel().astype(float).tolist()} for a in inputs],
        "grads": [x.grad.asnumpy().ravel().astype(float).tolist() for x in xs],
        "out": None
        if out is None
        else {"shape": list(out.shape), "values": out.asnumpy().ravel().astype(float).tolist()},
    }


def main():
    cases = []
    for c in CASES:
        try:
            cases.append(run(*c))
        except mx.base.MXNetError as e:
            if not c[0].startswith("second_order"):
                raise
            print(f"{c[0]}: MXNet fails ({str(e).splitlines()[-1][:120]}); analytic values")
            cases.append(analytic(*c))
    OUT.write_text(json.dumps({"mxnet": mx.__version__, "cases": cases}, indent=0) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
