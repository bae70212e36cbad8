"""Golden values of the optimizer-family and AMP ops and of the optimizers that use them, from
real MXNet 1.9.1.

Run with the reference venv:  /work/mxref/bin/python tools/golden/cases_optops.py

Writes ``tests/data/ops_optops_golden.json`` (each op called once: its outputs and every input's
value after the call, which shows the in-place updates of states) and
``tests/data/optimizer_optops_golden.json`` (weights after each of a few updater steps of the
optimizers FTML, LAMB, LARS, LBSGD, DCASGD, Adamax, Nadam, Test, ccSGD and aggregated SGD).
"""

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")


def _arr(rs, shape, kind, dtype):
    if isinstance(kind, list):
        return np.array(kind, dtype=dtype).reshape(shape)
    lo, hi = {"u": (-1.0, 1.0), "pos": (0.5, 2.0), "big": (-3.0, 3.0)}[kind]
    return rs.uniform(lo, hi, shape).astype(dtype)


def _group(prefix, shape, dtype, parts, mp=False):
    """Inputs of one weight of a multi update: weight, grad and the states named in ``parts``."""
    wd = "float16" if mp else dtype
    out = [(f"{prefix}w", shape, "u", wd), (f"{prefix}g", shape, "big", wd)]
    for p in parts:
        if p == "weight32":
            out.append((f"{prefix}w32", shape, "same:" + f"{prefix}w", "float32"))
        else:
            out.append((f"{prefix}{p}", shape, "u" if p != "var" else "pos", "float32" if mp else dtype))
    return out


def op_cases():
    """``(name, op, inputs, attrs)``; an input is ``(name, shape, kind, dtype)``."""
    f32 = "float32"
    s = (3, 4)
    cases = [
        (
            "ftml",
            "ftml_update",
            [("w", s, "u", f32), ("g", s, "big", f32), ("d", s, "pos", f32), ("v", s, "pos", f32), ("z", s, "u", f32)],
            {"lr": 0.1, "t": 2, "wd": 0.01, "rescale_grad": 0.5, "clip_grad": 0.8},
        ),
        (
            "ftml_f64_t1",
            "ftml_update",
            [
                ("w", s, "u", "float64"),
                ("g", s, "big", "float64"),
                ("d", s, [0.0] * 12, "float64"),
                ("v", s, [0.0] * 12, "float64"),
                ("z", s, [0.0] * 12, "float64"),
            ],
            {"lr": 0.05, "t": 1, "beta1": 0.5, "beta2": 0.99, "epsilon": 1e-6},
        ),
        (
            "lamb1",
            "lamb_update_phase1",
            [("w", s, "u", f32), ("g", s, "big", f32), ("m", s, "u", f32), ("v", s, "pos", f32)],
            {"t": 3, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.7},
        ),
        (
            "lamb1_nobias",
            "lamb_update_phase1",
            [("w", s, "u", f32), ("g", s, "big", f32), ("m", s, "u", f32), ("v", s, "pos", f32)],
            {"t": 1, "wd": 0.0, "bias_correction": False, "beta1": 0.8, "epsilon": 1e-4},
        ),
        (
            "lamb1_f64",
            "lamb_update_phase1",
            [
                ("w", s, "u", "float64"),
                ("g", s, "big", "float64"),
                ("m", s, "u", "float64"),
                ("v", s, "pos", "float64"),
            ],
            {"t": 2, "wd": 0.1},
        ),
        (
            "lamb2",
            "lamb_update_phase2",
            [("w", s, "u", f32), ("g", s, "big", f32), ("r1", (1,), [1.5], f32), ("r2", (1,), [0.5], f32)],
            {"lr": 0.1},
        ),
        (
            "lamb2_bounds",
            "lamb_update_phase2",
            [("w", s, "u", f32), ("g", s, "big", f32), ("r1", (1,), [5.0], f32), ("r2", (1,), [0.5], f32)],
            {"lr": 0.1, "lower_bound": 0.5, "upper_bound": 2.0},
        ),
        (
            "lamb2_zero_r1",
            "lamb_update_phase2",
            [("w", s, "u", f32), ("g", s, "big", f32), ("r1", (1,), [0.0], f32), ("r2", (1,), [0.5], f32)],
            {"lr": 0.1},
        ),
        (
            "mp_lamb1",
            "mp_lamb_update_phase1",
            [
                ("w", s, "u", "float16"),
                ("g", s, "big", "float16"),
                ("m", s, "u", f32),
                ("v", s, "pos", f32),
                ("w32", s, "same:w", f32),
            ],
            {"t": 2, "wd": 0.05, "clip_gradient": 1.0},
        ),
        (
            "mp_lamb2",
            "mp_lamb_update_phase2",
            [
                ("w", s, "u", "float16"),
                ("g", s, "big", f32),
                ("r1", (1,), [1.2], f32),
                ("r2", (1,), [0.7], f32),
                ("w32", s, "same:w", f32),
            ],
            {"lr": 0.1},
        ),
    ]
    multi = {"lrs": (0.1, 0.2), "wds": (0.01, 0.0), "rescale_grad": 0.5, "clip_gradient": 0.6, "num_weights": 2}
    for name, op, parts, mp, extra in [
        ("msgd", "multi_sgd_update", [], False, {}),
        ("msgd_mom", "multi_sgd_mom_update", ["mom"], False, {"momentum": 0.9}),
        ("mmpsgd", "multi_mp_sgd_update", ["weight32"], True, {}),
        ("mmpsgd_mom", "multi_mp_sgd_mom_update", ["mom", "weight32"], True, {"momentum": 0.8}),
    ]:
        ins = _group("a", s, f32, parts, mp) + _group("b", (5,), f32, parts, mp)
        cases.append((name, op, ins, {**multi, **extra}))
        pre = {k: v for k, v in multi.items() if k not in ("lrs", "wds")}
        lw = [("lrs", (2,), [0.1, 0.2], f32), ("wds", (2,), [0.01, 0.0], f32)]
        cases.append(("pre_" + name, "preloaded_" + op, ins + lw, {**pre, **extra}))
    # With float32 weights the mp kernels work on the weight and leave weight32 as it is.
    ins = [
        ("w", s, "u", f32),
        ("g", s, "big", f32),
        ("mom", s, "u", f32),
        ("w32", s, "pos", f32),
    ]
    cases.append(
        (
            "mmpsgd_mom_f32",
            "multi_mp_sgd_mom_update",
            ins,
            {"lrs": (0.1,), "wds": (0.1,), "momentum": 0.5, "num_weights": 1},
        )
    )
    cases.append(
        (
            "msgd_f64_noclip",
            "multi_sgd_update",
            [("w", s, "u", "float64"), ("g", s, "big", "float64")],
            {"lrs": (0.3,), "wds": (0.2,), "num_weights": 1},
        )
    )
    cases += [
        (
            "sum_sq",
            "multi_sum_sq",
            [("a", s, "big", f32), ("b", (7,), "big", f32), ("c", (2, 2, 2), "u", f32)],
            {"num_arrays": 3},
        ),
        ("sum_sq_f16", "multi_sum_sq", [("a", s, "big", "float16"), ("b", (7,), "big", "float16")], {"num_arrays": 2}),
        ("sum_sq_f64", "multi_sum_sq", [("a", s, "big", "float64")], {"num_arrays": 1}),
        (
            "lars",
            "multi_lars",
            [
                ("lrs", (4,), [0.1, 0.2, 0.3, 0.4], f32),
                ("wss", (4,), [4.0, 0.0, 2.0, 9.0], f32),
                ("gss", (4,), [1.0, 1.0, 0.0, 0.25], f32),
                ("wds", (4,), [0.01, 0.0, 0.1, 0.001], f32),
            ],
            {"eta": 0.01, "eps": 1e-8, "rescale_grad": 0.5},
        ),
        ("all_finite_yes", "all_finite", [("a", s, "big", f32)], {}),
        ("all_finite_nan", "all_finite", [("a", (3,), [1.0, float("nan"), 2.0], f32)], {}),
        ("all_finite_inf_f16", "all_finite", [("a", (2,), [1.0, float("inf")], "float16")], {}),
        (
            "multi_all_finite_yes",
            "multi_all_finite",
            [("a", s, "big", f32), ("b", (2,), [1.0, 2.0], f32)],
            {"num_arrays": 2},
        ),
        (
            "multi_all_finite_inf",
            "multi_all_finite",
            [("a", s, "big", f32), ("b", (2,), [1.0, float("-inf")], f32)],
            {"num_arrays": 2},
        ),
        ("reset", "reset_arrays", [("a", s, "big", f32), ("b", (3,), "u", "float16")], {"num_arrays": 2}),
        ("amp_cast_f16", "amp_cast", [("a", s, "big", f32)], {"dtype": "float16"}),
        ("amp_cast_f32", "amp_cast", [("a", s, "big", "float16")], {"dtype": "float32"}),
        ("amp_cast_int", "amp_cast", [("a", (3,), [1, 2, 3], "int32")], {"dtype": "float16"}),
        (
            "amp_multicast_wide",
            "amp_multicast",
            [("a", s, "big", "float16"), ("b", (2,), "u", f32), ("c", (2,), [1, 2], "int32")],
            {"num_outputs": 3},
        ),
        (
            "amp_multicast_narrow",
            "amp_multicast",
            [("a", s, "big", "float16"), ("b", (2,), "u", f32)],
            {"num_outputs": 2, "cast_narrow": True},
        ),
        (
            "adamw",
            "_adamw_update",
            [
                ("w", s, "u", f32),
                ("g", s, "big", f32),
                ("m", s, "u", f32),
                ("v", s, "pos", f32),
                ("rs", (1,), [0.5], f32),
            ],
            {"lr": 0.01, "eta": 0.5, "wd": 0.1, "clip_gradient": 0.4},
        ),
        (
            "adamw_skip",
            "_adamw_update",
            [
                ("w", s, "u", f32),
                ("g", s, "big", f32),
                ("m", s, "u", f32),
                ("v", s, "pos", f32),
                ("rs", (1,), [float("inf")], f32),
            ],
            {"lr": 0.01, "eta": 0.5},
        ),
        (
            "mp_adamw",
            "_mp_adamw_update",
            [
                ("w", s, "u", "float16"),
                ("g", s, "big", "float16"),
                ("m", s, "u", f32),
                ("v", s, "pos", f32),
                ("w32", s, "same:w", f32),
                ("rs", (1,), [2.0], f32),
            ],
            {"lr": 0.01, "eta": 1.0, "wd": 0.01, "beta1": 0.8},
        ),
        (
            "multi_adamw",
            "_multi_adamw_update",
            _group("a", s, f32, ["mean", "var"]) + _group("b", (5,), f32, ["mean", "var"]) + [("rs", (1,), [0.5], f32)],
            {"lrs": (0.01, 0.02), "wds": (0.1, 0.0), "etas": (1.0, 0.5), "num_weights": 2, "clip_gradient": 1.0},
        ),
        (
            "multi_mp_adamw",
            "_multi_mp_adamw_update",
            _group("a", s, f32, ["mean", "var", "weight32"], True)
            + _group("b", (5,), f32, ["mean", "var", "weight32"], True)
            + [("rs", (1,), [1.0], f32)],
            {"lrs": (0.01, 0.02), "wds": (0.1, 0.0), "etas": (1.0, 0.5), "num_weights": 2},
        ),
    ]
    return cases


def make_inputs(inputs, seed):
    rs = np.random.RandomState(seed)
    vals = {}
    for name, shape, kind, dtype in inputs:
        if isinstance(kind, str) and kind.startswith("same:"):
            vals[name] = vals[kind[5:]].astype(dtype)
        else:
            vals[name] = _arr(rs, shape, kind, dtype)
    return [vals[n] for n, _, _, _ in inputs]


def _enc(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "dtype": str(a.dtype), "values": [float(x) for x in a.ravel()]}


def run_ops(mx):
    out = []
    for i, (name, op, inputs, attrs) in enumerate(op_cases()):
        vals = make_inputs(inputs, 100 + i)
        arrs = [mx.nd.array(v, dtype=v.dtype) for v in vals]
        fn = getattr(mx.nd, op, None) or getattr(mx.nd._internal, op)
        outs = None
        if "num_weights" in attrs:
            # MXNet's multi updates need out= (they fail to infer their outputs without it).
            stride = (len(inputs) - (2 if op.startswith("preloaded") else 0) - ("adamw" in op)) // attrs["num_weights"]
            outs = [
                mx.nd.zeros(vals[k * stride].shape, dtype=vals[k * stride].dtype) for k in range(attrs["num_weights"])
            ]
        res = fn(*arrs, out=outs, **attrs) if outs else fn(*arrs, **attrs)
        res = [] if res is None else (res if isinstance(res, (list, tuple)) else [res])
        out.append(
            {
                "name": name,
                "op": op,
                "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()},
                "out": outs is not None,
                "inputs": [_enc(v) for v in vals],
                "outputs": [_enc(r.asnumpy()) for r in res],
                "after": [_enc(a.asnumpy()) for a in arrs],
            }
        )
    return out


STEPS = 4
SHAPES = [(3, 4), (5,)]

# (name, optimizer, kwargs, weight dtype, aggregate_num override or None)
OPTIMIZERS = [
    ("ftml", "ftml", {"learning_rate": 0.05}, "float32", None),
    (
        "ftml_wd_clip",
        "ftml",
        {"learning_rate": 0.05, "wd": 0.01, "clip_gradient": 0.5, "rescale_grad": 2.0},
        "float32",
        None,
    ),
    ("lamb_single", "lamb", {"learning_rate": 0.01, "wd": 0.01}, "float32", 1),
    ("lamb_bounds", "lamb", {"learning_rate": 0.01, "lower_bound": 0.1, "upper_bound": 1.5}, "float32", 1),
    ("lamb_nobias_clip", "lamb", {"learning_rate": 0.01, "bias_correction": False, "clip_gradient": 0.5}, "float32", 1),
    ("lamb_mp", "lamb", {"learning_rate": 0.01, "multi_precision": True, "wd": 0.01}, "float16", 1),
    ("lamb_aggregated", "lamb", {"learning_rate": 0.01, "wd": 0.01}, "float32", None),
    ("lars", "lars", {"learning_rate": 0.1, "eta": 0.01, "wd": 0.001}, "float32", None),
    ("lars_mom", "lars", {"learning_rate": 0.1, "momentum": 0.9, "eta": 0.01}, "float32", None),
    (
        "lars_bias_names",
        "lars",
        {"learning_rate": 0.1, "momentum": 0.5, "param_idx2name": {0: "fc_weight", 1: "fc_bias"}},
        "float32",
        None,
    ),
    ("lars_mp", "lars", {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True}, "float16", None),
    (
        "lbsgd",
        "lbsgd",
        {"learning_rate": 0.1, "momentum": 0.9, "warmup_epochs": 1, "updates_per_epoch": 2},
        "float32",
        None,
    ),
    ("lbsgd_scale", "lbsgd", {"learning_rate": 0.1, "batch_scale": 2, "warmup_strategy": "power2"}, "float32", None),
    ("lbsgd_lars", "lbsgd", {"learning_rate": 0.1, "warmup_strategy": "lars", "wd": 0.01}, "float32", None),
    ("dcasgd", "dcasgd", {"learning_rate": 0.1}, "float32", None),
    # DCASGD with momentum fails in MXNet 1.9.1 (``if mom:`` on an array): no golden values.
    ("dcasgd_lamda_wd", "dcasgd", {"learning_rate": 0.1, "lamda": 0.1, "wd": 0.01}, "float32", None),
    ("adamax", "adamax", {}, "float32", None),
    ("adamax_wd_clip", "adamax", {"learning_rate": 0.01, "wd": 0.01, "clip_gradient": 0.5}, "float32", None),
    ("nadam", "nadam", {}, "float32", None),
    (
        "nadam_wd_clip",
        "nadam",
        {"learning_rate": 0.01, "wd": 0.01, "clip_gradient": 0.5, "schedule_decay": 0.01},
        "float32",
        None,
    ),
    ("test", "test", {"learning_rate": 0.1}, "float32", None),
    ("ccsgd", "ccsgd", {"learning_rate": 0.1, "momentum": 0.9}, "float32", None),
    ("sgd_aggregated", "sgd", {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0.5}, "float32", None),
    ("sgd_aggregated_mom", "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}, "float32", None),
    ("sgd_aggregated_mp", "sgd", {"learning_rate": 0.1, "multi_precision": True}, "float16", None),
    ("sgd_aggregated_mp_mom", "sgd", {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True}, "float16", None),
    ("sgd_aggregate_2", "sgd", {"learning_rate": 0.1, "momentum": 0.5}, "float32", 1),
]


def run_optimizers(mx):
    rs = np.random.RandomState(7)
    w0 = [rs.uniform(-1.5, 2.0, s).astype(np.float32) for s in SHAPES]
    grads = [[rs.uniform(-2, 2, s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
    out = {"weight0": [_enc(w) for w in w0], "grads": [[_enc(g) for g in gs] for gs in grads], "cases": []}
    for name, oname, kwargs, dtype, agg in OPTIMIZERS:
        opt = mx.optimizer.create(oname, **kwargs)
        if agg is not None:
            opt.aggregate_num = agg
        upd = mx.optimizer.get_updater(opt)
        ws = [mx.nd.array(w, dtype=dtype) for w in w0]
        steps = []
        for gs in grads:
            upd(list(range(len(ws))), [mx.nd.array(g, dtype=dtype) for g in gs], ws)
            steps.append([_enc(w.asnumpy()) for w in ws])
        kw = {k: ({str(i): n for i, n in v.items()} if isinstance(v, dict) else v) for k, v in kwargs.items()}
        out["cases"].append(
            {"name": name, "optimizer": oname, "kwargs": kw, "dtype": dtype, "aggregate_num": agg, "steps": steps}
        )
    return out


def main():
    # amp_multicast's MKLDNN kernel rejects float16; the plain kernel is MXNet's reference.
    os.environ["MXNET_MKLDNN_ENABLED"] = "0"
    import mxnet as mx

    with open(os.path.join(DATA, "ops_optops_golden.json"), "w") as f:
        json.dump(run_ops(mx), f)
    with open(os.path.join(DATA, "optimizer_optops_golden.json"), "w") as f:
        json.dump(run_optimizers(mx), f)
    print("wrote ops_optops_golden.json and optimizer_optops_golden.json")


if __name__ == "__main__":
    main()
