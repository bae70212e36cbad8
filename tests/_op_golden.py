"""Shared checks of ops against golden values of real MXNet 1.9.1.

The files ``tests/data/ops_<family>_golden.json`` are written by ``tools/golden/extra_ops.py``
(cases in ``tools/golden/extra_ops_cases.py``). Forward values come from ``mx.nd``; gradients
through a bound ``mx.sym`` graph on mxrs (the executor's gradient graph, built from the op
registry) and through ``mx.autograd`` when the suite runs against MXNet itself.
"""

import json
from pathlib import Path

import numpy as np
from _target import IS_MXNET, mx

DATA = Path(__file__).resolve().parent / "data"


def load(family):
    """The cases of one family, by name."""
    cases = json.loads((DATA / f"ops_{family}_golden.json").read_text())["cases"]
    return {c["name"]: c for c in cases}


def attrs(case):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}


def inputs(case, dtype=None):
    out = {}
    for n, v in case["inputs"].items():
        dt = v["dtype"] if dtype is None or v["dtype"] != "float32" else dtype
        out[n] = mx.nd.array(np.array(v["data"]).reshape(v["shape"]), dtype=dt)
    return out


def _op(module, case):
    """The op function of ``mx.nd`` or ``mx.sym``; a dotted name is in a namespace (``linalg.syevd``)."""
    for part in case["op"].split("."):
        module = getattr(module, part)
    return module


def _nd_call(case, ins):
    fn = _op(mx.nd, case)
    return fn(*ins.values(), **attrs(case)) if case.get("positional") else fn(**ins, **attrs(case))


def forward(case, dtype=None):
    """The op's outputs (a list), in training mode as the golden values were made."""
    ins = inputs(case, dtype)
    if IS_MXNET:
        with mx.autograd.record(train_mode=case["train"]):
            y = _nd_call(case, ins)
    else:
        y = _bound(case, ins, grads=None).forward(is_train=case["train"])
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _bound(case, ins, grads):
    fn = _op(mx.sym, case)
    if case.get("positional"):
        sym = fn(*(mx.sym.Variable(n) for n in ins), **attrs(case))
    else:
        sym = fn(**{n: mx.sym.Variable(n) for n in ins}, **attrs(case))
    if not grads:
        return sym.bind(mx.cpu(), ins, grad_req="null")
    req = {n: "write" if n in grads else "null" for n in ins}
    return sym.bind(mx.cpu(), ins, args_grad=grads, grad_req=req)


def gradients(case):
    """Gradients of the case's differentiable inputs for its head gradients, by name."""
    ins = inputs(case)
    outs = case["outputs"]
    heads = [mx.nd.array(np.array(h).reshape(o["shape"]), dtype=o["dtype"]) for h, o in zip(case["heads"], outs)]
    names = list(case["grads"])
    if IS_MXNET:
        for n in names:
            ins[n].attach_grad()
        with mx.autograd.record(train_mode=case["train"]):
            y = _nd_call(case, ins)
        mx.autograd.backward(list(y) if isinstance(y, (list, tuple)) else [y], heads)
        return {n: ins[n].grad for n in names}
    grads = {n: mx.nd.zeros(a.shape, dtype=a.dtype) for n, a in ins.items() if n in names}
    exe = _bound(case, ins, grads)
    exe.forward(is_train=case["train"])
    exe.backward(heads)
    return grads


def close(got, want, what, rtol=1e-4, atol=1e-5):
    want = np.array(want["data"] if isinstance(want, dict) else want, dtype=np.float64)
    got = got.asnumpy().astype(np.float64).ravel()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def check_forward(case, rtol=1e-4, atol=1e-5):
    outs = forward(case)
    assert len(outs) == len(case["outputs"]), case["name"]
    for i, (got, want) in enumerate(zip(outs, case["outputs"], strict=True)):
        assert got.shape == tuple(want["shape"]), (case["name"], i)
        assert got.dtype == np.dtype(want["dtype"]), (case["name"], i)
        close(got, want, f"{case['name']}: output {i}", rtol, atol)


def check_gradients(case, rtol=1e-4, atol=1e-5):
    grads = gradients(case)
    for n, want in case["grads"].items():
        assert grads[n].shape == tuple(case["inputs"][n]["shape"]), (case["name"], n)
        close(grads[n], want, f"{case['name']}: gradient of {n}", rtol, atol)
