"""Make tests/data/optimizer_golden.json with real MXNet 1.9.1.

Run with the reference venv:  /work/mxref/bin/python tools/golden/optimizers.py

Records, for several optimizer configurations, the weight after each of a few updater steps
(fixed initial weight and gradients), the fused update ops applied directly (weight and states
after each step), learning-rate schedules over a range of update counts, and a local KVStore
with an optimizer set.
"""

import json
import os

import mxnet as mx
import numpy as np

STEPS = 4
SHAPE = (3, 4)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "optimizer_golden.json")


def weight0():
    return (np.linspace(-1.5, 2.0, 12).reshape(SHAPE)).astype(np.float32)


def grads(seed=0):
    rs = np.random.RandomState(seed)
    return [(rs.uniform(-2, 2, SHAPE)).astype(np.float32) for _ in range(STEPS)]


OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.3}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True, "dtype": "float16"}),
    ("sgd", {"learning_rate": 0.1, "multi_precision": True, "dtype": "float16"}),
    ("sgd", {"momentum": 0.5, "lr_scheduler": ("factor", {"step": 2, "factor": 0.5, "base_lr": 0.2})}),
    ("nag", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}),
    ("nag", {"learning_rate": 0.05, "momentum": 0.8, "clip_gradient": 0.5, "rescale_grad": 2.0}),
    ("adam", {"learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.01, "wd": 0.1, "clip_gradient": 0.5, "beta1": 0.8}),
    ("adagrad", {"learning_rate": 0.1}),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0.5, "eps": 1e-6}),
    ("rmsprop", {"learning_rate": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "clip_weights": 1.0, "wd": 0.01}),
    ("adadelta", {}),
    ("adadelta", {"rho": 0.8, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.4}),
    ("signum", {"learning_rate": 0.01}),
    ("signum", {"learning_rate": 0.01, "momentum": 0.0, "wd": 0.01}),
    ("signum", {"learning_rate": 0.01, "wd_lh": 0.1, "wd": 0.01}),
    ("ftrl", {}),
    ("ftrl", {"lamda1": 0.1, "learning_rate": 0.5, "beta": 2.0, "wd": 0.01}),
    ("sgd", {"learning_rate": 0.1, "wd": 0.1, "param_idx2name": {0: "fc_bias"}}),
]

SCHEDULERS = [
    ("FactorScheduler", {"step": 3, "factor": 0.5, "base_lr": 0.1}),
    ("FactorScheduler", {"step": 2, "factor": 0.1, "stop_factor_lr": 1e-4, "base_lr": 0.1}),
    ("FactorScheduler", {"step": 5, "factor": 0.9, "base_lr": 0.1, "warmup_steps": 4, "warmup_begin_lr": 0.01}),
    ("MultiFactorScheduler", {"step": [3, 7, 12], "factor": 0.5, "base_lr": 1.0}),
    (
        "MultiFactorScheduler",
        {
            "step": [5, 9],
            "factor": 0.1,
            "base_lr": 1.0,
            "warmup_steps": 3,
            "warmup_mode": "constant",
            "warmup_begin_lr": 0.5,
        },
    ),
    ("PolyScheduler", {"max_update": 20, "base_lr": 0.1, "pwr": 2}),
    ("PolyScheduler", {"max_update": 20, "base_lr": 0.1, "pwr": 1, "final_lr": 0.01, "warmup_steps": 5}),
    ("CosineScheduler", {"max_update": 20, "base_lr": 0.1}),
    (
        "CosineScheduler",
        {"max_update": 20, "base_lr": 0.1, "final_lr": 0.02, "warmup_steps": 4, "warmup_begin_lr": 0.01},
    ),
]

OPS = [
    ("sgd_update", 0, {"lr": 0.1, "wd": 0.01, "rescale_grad": 0.7, "clip_gradient": 0.5}),
    ("sgd_mom_update", 1, {"lr": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 0.7, "clip_gradient": 0.5}),
    ("nag_mom_update", 1, {"lr": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 0.7, "clip_gradient": 0.5}),
    ("adam_update", 2, {"lr": 0.01, "beta1": 0.8, "wd": 0.05, "rescale_grad": 0.7, "clip_gradient": 0.5}),
    ("rmsprop_update", 1, {"lr": 0.01, "gamma1": 0.9, "wd": 0.01, "clip_weights": 1.2}),
    ("rmspropalex_update", 3, {"lr": 0.01, "gamma1": 0.9, "gamma2": 0.8, "wd": 0.01, "clip_gradient": 1.0}),
    ("ftrl_update", 2, {"lr": 0.3, "lamda1": 0.05, "beta": 1.5, "wd": 0.01, "rescale_grad": 0.7}),
    ("signsgd_update", 0, {"lr": 0.05, "wd": 0.1}),
    ("signum_update", 1, {"lr": 0.05, "momentum": 0.7, "wd": 0.1, "wd_lh": 0.01, "clip_gradient": 0.5}),
]


def run_optimizer(name, kw):
    kw = dict(kw)
    dtype = kw.pop("dtype", "float32")
    sched = kw.pop("lr_scheduler", None)
    if sched is not None:
        kind, skw = sched
        kw["lr_scheduler"] = {"factor": mx.lr_scheduler.FactorScheduler}[kind](**skw)
    opt = mx.optimizer.create(name, **kw)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(weight0(), dtype=dtype)
    out = []
    for g in grads():
        upd(0, mx.nd.array(g, dtype=dtype), w)
        out.append(w.asnumpy().astype(np.float64).tolist())
    return out


def run_op(name, nstates, attrs):
    rs = np.random.RandomState(7)
    w = mx.nd.array(weight0())
    states = [mx.nd.array(np.abs(rs.uniform(0, 0.5, SHAPE)).astype(np.float32)) for _ in range(nstates)]
    init = [s.asnumpy().tolist() for s in states]
    steps = []
    for g in grads(3):
        getattr(mx.nd, name)(w, mx.nd.array(g), *states, out=w, **attrs)
        arrays = [w, *states]
        steps.append([a.asnumpy().astype(np.float64).tolist() for a in arrays])
    return {"states0": init, "steps": steps}


def run_kvstore():
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, rescale_grad=0.25))
    kv.init("w", mx.nd.array(weight0()))
    out = []
    for g in grads(5):
        kv.push("w", [mx.nd.array(g * (i + 1), ctx=mx.cpu(i)) for i in range(4)])
        res = mx.nd.zeros(SHAPE)
        kv.pull("w", out=res)
        out.append(res.asnumpy().astype(np.float64).tolist())
    return out


def main():
    data = {
        "steps": STEPS,
        "shape": list(SHAPE),
        "weight0": weight0().astype(np.float64).tolist(),
        "grads": [g.astype(np.float64).tolist() for g in grads()],
        "grads3": [g.astype(np.float64).tolist() for g in grads(3)],
        "grads5": [g.astype(np.float64).tolist() for g in grads(5)],
        "optimizers": [],
        "schedulers": [],
        "ops": [],
    }
    for name, kw in OPTIMIZERS:
        data["optimizers"].append({"name": name, "kwargs": kw, "weights": run_optimizer(name, kw)})
    for cls, kw in SCHEDULERS:
        s = getattr(mx.lr_scheduler, cls)(**kw)
        data["schedulers"].append({"class": cls, "kwargs": kw, "lrs": [s(n) for n in range(0, 25)]})
    for name, nstates, attrs in OPS:
        data["ops"].append({"name": name, "nstates": nstates, "attrs": attrs, **run_op(name, nstates, attrs)})
    data["kvstore_sgd"] = run_kvstore()
    with open(OUT, "w") as f:
        json.dump(data, f)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
