"""Golden batches of MXNet 1.9.1's ``mx.io.LibSVMIter``.

Run with real MXNet: ``/work/mxref/bin/python tools/golden/libsvm.py``. Writes the LibSVM files
under ``tests/data/libsvm/`` and the batches MXNet reads from them to
``tests/data/libsvm_golden.json`` (two epochs per case: dense data, label, stype, pad).
"""

import json
import pathlib

import mxnet as mx
import numpy as np

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"
DIR = DATA / "libsvm"

# The example of MXNet's LibSVMIter documentation, and a longer random file.
SMALL = "1.0 0:0.5 2:1.2\n-2.0\n-3.0 0:0.6 1:2.4 2:1.2\n4 2:-1.2\n"
LABELS = "1.0\n-2.0 0:0.125\n-3.0 2:1.2\n4 1:1.0 2:-1.2\n"


def random_file(rng, rows, width):
    lines = []
    for _ in range(rows):
        cols = np.sort(rng.choice(width, size=rng.randint(0, 4), replace=False))
        feats = " ".join(f"{c}:{rng.uniform(-2, 2):.3f}" for c in cols)
        lines.append(f"{rng.randint(0, 3)} {feats}".rstrip())
    return "\n".join(lines) + "\n"


CASES = [
    {"data": "small.t", "data_shape": [3], "batch_size": 3},
    {"data": "small.t", "data_shape": [3], "batch_size": 2},
    {"data": "small.t", "data_shape": [3], "batch_size": 5},
    {"data": "small.t", "data_shape": [3], "batch_size": 3, "label": "label.t", "label_shape": [3]},
    {"data": "small.t", "data_shape": [3], "batch_size": 1, "num_parts": 2, "part_index": 0},
    {"data": "small.t", "data_shape": [3], "batch_size": 1, "num_parts": 2, "part_index": 1},
    {"data": "big.t", "data_shape": [6], "batch_size": 4, "num_parts": 3, "part_index": 1},
    {"data": "big.t", "data_shape": [6], "batch_size": 7},
    {"data": "dir", "data_shape": [6], "batch_size": 4},
]


def main():
    DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(3)
    (DIR / "small.t").write_text(SMALL)
    (DIR / "label.t").write_text(LABELS)
    (DIR / "big.t").write_text(random_file(rng, 23, 6))
    (DIR / "dir").mkdir(exist_ok=True)
    (DIR / "dir" / "a.t").write_text(random_file(rng, 5, 6))
    (DIR / "dir" / "b.t").write_text(random_file(rng, 4, 6))
    out = []
    for case in CASES:
        kw = {"data_libsvm": str(DIR / case["data"]), "data_shape": tuple(case["data_shape"])}
        kw["batch_size"] = case["batch_size"]
        if "label" in case:
            kw.update(label_libsvm=str(DIR / case["label"]), label_shape=tuple(case["label_shape"]))
        for k in ("num_parts", "part_index"):
            if k in case:
                kw[k] = case[k]
        it = mx.io.LibSVMIter(**kw)
        epochs = []
        for _ in range(2):
            batches = []
            for b in it:
                d, lab = b.data[0], b.label[0]
                batches.append(
                    {
                        "data": d.asnumpy().tolist(),
                        "data_stype": d.stype,
                        "label": lab.asnumpy().tolist(),
                        "label_stype": lab.stype,
                        "pad": b.pad,
                    }
                )
            epochs.append(batches)
            it.reset()
        out.append({"case": case, "provide_label": list(it.provide_label[0].shape), "epochs": epochs})
    (DATA / "libsvm_golden.json").write_text(json.dumps({"mxnet": mx.__version__, "cases": out}) + "\n")


if __name__ == "__main__":
    main()
