"""Golden values of mx.io iterators from real MXNet 1.9.1 (tests/data/io_golden.json).

Run with MXNet's interpreter from the repository root:
    /work/mxref/bin/python tools/golden/io_golden.py
"""

import json
import os
import sys
import tempfile

import mxnet as mx
import numpy as np

FIX = os.environ.get("MXRS_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/reference/fixtures"))


def batches(it, epochs):
    out = []
    for _ in range(epochs):
        ep = []
        for b in it:
            ep.append(
                {
                    "data": [d.asnumpy().tolist() for d in b.data],
                    "label": [lab.asnumpy().tolist() for lab in (b.label or [])],
                    "pad": b.pad,
                }
            )
        out.append(ep)
        it.reset()
    return out


def descs(it):
    return {
        "provide_data": [[d.name, list(d.shape), np.dtype(d.dtype).name] for d in it.provide_data],
        "provide_label": [[d.name, list(d.shape), np.dtype(d.dtype).name] for d in it.provide_label],
    }


def main():
    g = {}
    data = np.arange(20).reshape(10, 2)
    label = np.arange(10)
    for mode in ("pad", "discard", "roll_over"):
        it = mx.io.NDArrayIter(data, label, 4, last_batch_handle=mode)
        g[f"ndarray_{mode}"] = {"epochs": batches(it, 3), **descs(it)}
        it = mx.io.NDArrayIter(data, label, 3, last_batch_handle=mode)
        g[f"ndarray_{mode}_b3"] = {"epochs": batches(it, 4)}
    it = mx.io.NDArrayIter(np.arange(3), None, 7, last_batch_handle="pad")
    g["ndarray_pad_tile"] = {"epochs": batches(it, 1), **descs(it)}
    it = mx.io.NDArrayIter([np.zeros((4, 2)), np.ones((4, 3), dtype=np.int32)], [np.arange(4)], 2)
    g["ndarray_list"] = {"epochs": batches(it, 1), **descs(it)}
    it = mx.io.NDArrayIter({"b": np.ones((4, 1)), "a": np.zeros((4, 2))}, {"lab": np.arange(4.0)}, 3)
    g["ndarray_dict"] = {"epochs": batches(it, 1), **descs(it)}
    np.random.seed(7)
    it = mx.io.NDArrayIter(data, label, 4, shuffle=True, last_batch_handle="pad")
    g["ndarray_shuffle_seed7"] = {"epochs": batches(it, 2)}

    tmp = tempfile.mkdtemp()
    dcsv, lcsv = os.path.join(tmp, "d.csv"), os.path.join(tmp, "l.csv")
    np.savetxt(dcsv, np.arange(15).reshape(5, 3), delimiter=",", fmt="%g")
    np.savetxt(lcsv, np.arange(5) * 10, delimiter=",", fmt="%g")
    it = mx.io.CSVIter(data_csv=dcsv, data_shape=(3,), label_csv=lcsv, batch_size=2)
    g["csv_round"] = {"epochs": batches(it, 3), **descs(it)}
    it = mx.io.CSVIter(data_csv=dcsv, data_shape=(3,), batch_size=2)
    g["csv_nolabel"] = {"epochs": batches(it, 1), **descs(it)}

    rec, idx = os.path.join(FIX, "img3_png.rec"), os.path.join(FIX, "img3_png.idx")
    for bs in (2, 4):
        it = mx.io.ImageRecordIter(
            path_imgrec=rec, path_imgidx=idx, data_shape=(3, 6, 8), batch_size=bs, preprocess_threads=1
        )
        eps = batches(it, 3)
        g[f"imagerec_round_b{bs}"] = {
            "epochs": [[{"label": b["label"], "pad": b["pad"]} for b in ep] for ep in eps],
            **descs(it),
        }
    out = os.path.join(os.path.dirname(__file__), "../../tests/data/io_golden.json")
    with open(out, "w") as f:
        json.dump(g, f)
    print("wrote", os.path.normpath(out), file=sys.stderr)


if __name__ == "__main__":
    main()
