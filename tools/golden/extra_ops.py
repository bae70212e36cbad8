"""Golden values of the operators added for issues 15 and 18, from real MXNet 1.9.1.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/extra_ops.py            # every family
    /work/mxref/bin/python tools/golden/extra_ops.py norm rnn   # some families

For each family it writes ``tests/data/ops_<family>_golden.json``: per case the op, its
attributes, the inputs (shape, dtype, values), one head gradient per visible output, MXNet's
outputs (in training mode, ``mx.autograd.record``) and the gradient of every differentiable
input through ``mx.autograd``. ``tests/_op_golden.py`` reads them. Each family runs in its own
process: oneDNN is off (MXNet's own kernels are the reference) except for the families in
``ONEDNN``, whose ops MXNet 1.9.1 can only differentiate through oneDNN (its plain CPU RNN
fails in backward with ``state_outputs=True``; its own Deconvolution kernel has no 3-D).

The RNN features MXNet 1.9.1 runs only through cuDNN (``use_sequence_length``, state clipping,
training with ``projection_size``) have their own generator, ``rnn_gaps.py``: their reference
is MXNet's Gluon cells, not the op.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ONEDNN = {"rnn", "deconv3d"}
if len(sys.argv) == 2:
    os.environ["MXNET_MKLDNN_ENABLED"] = "1" if sys.argv[1] in ONEDNN else "0"
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extra_ops_cases import FAMILIES  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def flat(a):
    """Values as a flat list, 8 significant digits (float32 needs at most 9)."""
    return [float(f"{v:.8g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def make_input(rng, spec):
    """An input array from ``(name, shape, kind)`` or ``(name, array)``."""
    if len(spec) == 2:
        return np.asarray(spec[1])
    _, shape, kind = spec
    if kind == "u":
        return rng.uniform(-1, 1, shape).astype(np.float32)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if kind == "unit":
        return rng.uniform(-0.9, 0.9, shape).astype(np.float32)
    if kind == "gt1":
        return rng.uniform(1.1, 3.0, shape).astype(np.float32)
    if kind in ("spd", "dd", "tril", "triu"):
        return matrix_input(rng, shape, kind)
    raise ValueError(kind)


def matrix_input(rng, shape, kind):
    """Batches of square matrices (the last two axes) of one of the ``linalg`` kinds."""
    n = shape[-1]
    u = rng.uniform(-1, 1, shape)
    eye = np.eye(n)
    if kind == "spd":
        a = u @ np.swapaxes(u, -1, -2) + n * eye
    elif kind == "dd":
        a = u + n * eye
    else:
        tri = np.tril(u) if kind == "tril" else np.triu(u)
        a = tri * (1 - eye) + rng.uniform(1.0, 2.0, shape[:-1])[..., None] * eye
    return a.astype(np.float32)


def run_case(seed, case):
    rng = np.random.RandomState(seed)
    name, op, specs, attrs = case["name"], case["op"], case["inputs"], case.get("attrs", {})
    nograd = set(case.get("nograd", ()))
    inputs = {s[0]: make_input(rng, s) for s in specs}
    arrays = {n: mx.nd.array(v, dtype=v.dtype) for n, v in inputs.items()}
    diff = [n for n in arrays if n not in nograd and case.get("grad", True)]
    for n in diff:
        arrays[n].attach_grad()
    fn = mx.nd
    for part in op.split("."):
        fn = getattr(fn, part)
    with mx.autograd.record(train_mode=case.get("train", True)):
        if case.get("positional"):
            y = fn(*arrays.values(), **attrs)
        else:
            y = fn(**arrays, **attrs)
    outs = y if isinstance(y, (list, tuple)) else [y]
    heads = [rng.uniform(-1, 1, o.shape).astype(np.float32) for o in outs]
    if diff:
        mx.autograd.backward(list(outs), [mx.nd.array(h, dtype=o.dtype) for h, o in zip(heads, outs)])
    return {
        "name": name,
        "op": op,
        "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()},
        "train": case.get("train", True),
        "positional": case.get("positional", False),
        "inputs": {
            n: {"shape": list(v.shape), "dtype": np.dtype(v.dtype).name, "data": flat(v)} for n, v in inputs.items()
        },
        "heads": [flat(h) for h in heads],
        "outputs": [{"shape": list(o.shape), "dtype": np.dtype(o.dtype).name, "data": flat(o.asnumpy())} for o in outs],
        "grads": {n: flat(arrays[n].grad.asnumpy()) for n in diff},
    }


def main(families):
    if len(families) > 1:
        for fam in families:
            subprocess.run([sys.executable, __file__, fam], check=True)
        return
    for fam in families:
        cases = [run_case(i, c) for i, c in enumerate(FAMILIES[fam])]
        out = DATA / f"ops_{fam}_golden.json"
        out.write_text(json.dumps({"mxnet": mx.__version__, "cases": cases}) + "\n")
        print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(FAMILIES))
