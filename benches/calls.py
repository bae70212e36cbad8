"""Everyday calls around the ops on small arrays: ns per call, one framework per run.

Usage::

    python benches/calls.py [--framework mxrs|mxnet|numpy]       # prints one JSON line
    PYTHONPATH=SITE_DIR python benches/calls.py                   # another mxrs build

``timeit``, best of 5 x 20,000 calls on 2x3 float32 (200 for the 256x784 conversion). Run two
builds alternately, several times, and keep each call's best: this machine's state changes
from minute to minute (``benches/README.md``, "Everyday calls outside the op functions").
"""

import argparse
import importlib
import json
import timeit

import numpy as np


def calls(fw):
    """name -> zero-argument callable, for framework ``fw``."""
    rng = np.random.RandomState(0)
    an, bn = rng.rand(2, 3).astype("f4"), rng.rand(2, 3).astype("f4")
    an64, big64 = rng.rand(2, 3), rng.rand(256, 784)
    if fw == "numpy":
        a, b = an, bn
        return {
            "astype('float64')": lambda: a.astype("float64"),
            "array(float32 2x3)": lambda: np.array(an),
            "array(float64 2x3)": lambda: np.array(an64, dtype="f4"),
            "array(float64 256x784)": lambda: np.array(big64, dtype="f4"),
            "concat(a, b, dim=0)": lambda: np.concatenate([a, b], axis=0),
            "stack(a, b)": lambda: np.stack([a, b]),
            "add_n(a, b, a)": lambda: a + b + a,
            "reshape((3, 2))": lambda: a.reshape((3, 2)),
            "reshape(3, 2)": lambda: a.reshape(3, 2),
            "zeros((2, 3))": lambda: np.zeros((2, 3), "f4"),
            "T": lambda: a.T,
            "copy()": lambda: a.copy(),
        }
    mx = importlib.import_module(fw)
    a, b = mx.nd.array(an), mx.nd.array(bn)
    return {
        "astype('float64')": lambda: a.astype("float64"),
        "array(float32 2x3)": lambda: mx.nd.array(an),
        "array(float64 2x3)": lambda: mx.nd.array(an64),
        "array(float64 256x784)": lambda: mx.nd.array(big64),
        "concat(a, b, dim=0)": lambda: mx.nd.concat(a, b, dim=0),
        "stack(a, b)": lambda: mx.nd.stack(a, b),
        "add_n(a, b, a)": lambda: mx.nd.add_n(a, b, a),
        "reshape((3, 2))": lambda: a.reshape((3, 2)),
        "reshape(3, 2)": lambda: a.reshape(3, 2),
        "zeros((2, 3))": lambda: mx.nd.zeros((2, 3)),
        "T": lambda: a.T,
        "copy()": lambda: a.copy(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framework", default="mxrs", choices=["mxrs", "mxnet", "numpy"])
    args = p.parse_args()
    out = {}
    for name, f in calls(args.framework).items():
        f()
        n = 200 if "784" in name else (2000 if args.framework == "mxnet" else 20000)
        out[name] = round(min(timeit.repeat(f, number=n, repeat=5)) / n * 1e9)
    print(json.dumps({"framework": args.framework, "ns_per_call": out}))


if __name__ == "__main__":
    main()
