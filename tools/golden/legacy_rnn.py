"""Generate ``tests/data/legacy_rnn_golden.npz``: MXNet 1.9.1's ``mx.rnn`` cells and legacy
modules (BucketingModule, SequentialModule, PythonLossModule) on fixed values.

Run with the reference MXNet 1.9.1 environment::

    /work/mxref/bin/python tools/golden/legacy_rnn.py

The networks and values come from ``tests/_legacy_rnn_cases.py``, which the tests run with
mxrs. Stored: per cell case its argument and output names (in ``meta``, a JSON string), the
outputs and the gradients of every argument; the fused-weight unpacking of a fixed vector;
``mx.init.FusedRNN``'s values; the bucketing and sequential module runs; ``encode_sentences``
and the batches of a seeded ``BucketSentenceIter``.
"""

import json
import random
import sys
from pathlib import Path

import mxnet as mx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import _legacy_rnn_cases as cases  # noqa: E402

OUT = ROOT / "tests" / "data" / "legacy_rnn_golden.npz"


def cell_cases(out, meta):
    for name in cases.CASES:
        res = cases.run_case(mx, name)
        graph = json.loads(res["json"])
        meta[name] = {
            "arguments": res["arguments"],
            "outputs": res["outputs_names"],
            "graph": {k: graph[k] for k in ("nodes", "arg_nodes", "heads")},
        }
        for k, o in enumerate(res["outputs"]):
            out[f"{name}/out{k}"] = o
        for arg, g in res.get("grads", {}).items():
            out[f"{name}/grad/{arg}"] = g


def unpack_cases(out, meta):
    specs = {
        "lstm_bi2": dict(num_hidden=3, num_layers=2, mode="lstm", bidirectional=True),
        "gru1": dict(num_hidden=4, num_layers=1, mode="gru"),
        "tanh3": dict(num_hidden=2, num_layers=3, mode="rnn_tanh"),
    }
    meta["unpack"] = {}
    for key, kw in specs.items():
        cell = mx.rnn.FusedRNNCell(prefix=f"{key}_", **kw)
        num_input = 5
        b = 2 if kw.get("bidirectional") else 1
        h, m, layers = kw["num_hidden"], len(cell._gate_names), kw["num_layers"]
        total = (num_input + h + 2) * h * m * b + (layers - 1) * m * h * (h + b * h + 2) * b
        vec = np.arange(total, dtype=np.float32) / 100.0
        args = cell.unpack_weights({f"{key}_parameters": mx.nd.array(vec)})
        meta["unpack"][key] = sorted(args)
        out[f"unpack/{key}/vec"] = vec
        for name, arr in args.items():
            out[f"unpack/{key}/{name}"] = arr.asnumpy()


def module_cases(out):
    for prefix, fn in (
        ("bucketing", cases.run_bucketing),
        ("seqmod", cases.run_sequential),
        ("pyloss", cases.run_python_loss),
    ):
        for key, value in fn(mx).items():
            out[f"{prefix}/{key}"] = value
    for key, value in cases.fused_init_values(mx).items():
        out[f"fused_init/{key}"] = value


def io_cases(out, meta):
    coded, vocab = mx.rnn.encode_sentences(cases.SENTENCES, invalid_label=0, start_label=1)
    meta["encode"] = {"coded": coded, "vocab": vocab}
    coded2, vocab2 = mx.rnn.encode_sentences([["the", "zebra"], ["dog"]], vocab=dict(vocab), unknown_token="<unk>")
    meta["encode_unk"] = {"coded": coded2, "vocab": vocab2}
    random.seed(5)
    np.random.seed(5)
    it = mx.rnn.BucketSentenceIter(coded, batch_size=2, buckets=[3, 6], invalid_label=0)
    meta["iter"] = {"buckets": it.buckets, "default_bucket_key": it.default_bucket_key, "keys": []}
    for i, batch in enumerate(it):
        meta["iter"]["keys"].append(batch.bucket_key)
        out[f"iter/data{i}"] = batch.data[0].asnumpy()
        out[f"iter/label{i}"] = batch.label[0].asnumpy()


def main():
    out, meta = {}, {}
    cell_cases(out, meta)
    unpack_cases(out, meta)
    module_cases(out)
    io_cases(out, meta)
    out["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({len(out)} arrays)")


if __name__ == "__main__":
    main()
