"""Golden values of MXNet 1.9.1's ``contrib.group_adagrad_update`` and ``GroupAdaGrad``.

Run with real MXNet: ``/work/mxref/bin/python tools/golden/group_adagrad.py``; writes
``tests/data/group_adagrad_golden.json``.
"""

import json
import pathlib

import mxnet as mx
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "group_adagrad_golden.json"


def main():
    rng = np.random.RandomState(7)
    w0 = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    g = rng.uniform(-2, 2, (5, 3)).astype(np.float32)
    h0 = rng.uniform(0, 1, (5, 1)).astype(np.float32)
    rows = [1, 3]
    cases = []
    for clip in (-1.0, 0.5):
        for sparse in (True,):
            w, h = mx.nd.array(w0), mx.nd.array(h0)
            grad = mx.nd.array(g)
            if sparse:
                grad = mx.nd.sparse.row_sparse_array((g[rows], rows), shape=g.shape)
            mx.nd.contrib.group_adagrad_update(
                w, grad, h, out=w, lr=0.3, rescale_grad=0.7, clip_gradient=clip, epsilon=1e-3
            )
            cases.append(
                {"clip": clip, "sparse": sparse, "weight": w.asnumpy().tolist(), "history": h.asnumpy().tolist()}
            )
    opt = mx.optimizer.contrib.GroupAdaGrad(learning_rate=0.2, eps=1e-4, rescale_grad=0.5)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(w0)
    steps = []
    for step in range(3):
        grad = mx.nd.array(g * (step + 1))
        if step == 1:
            grad = mx.nd.sparse.row_sparse_array(((g * 2)[rows], rows), shape=g.shape)
        upd(0, grad, w)
        steps.append(w.asnumpy().tolist())
    data = {
        "mxnet": mx.__version__,
        "w0": w0.tolist(),
        "g": g.tolist(),
        "h0": h0.tolist(),
        "rows": rows,
        "cases": cases,
        "optimizer_steps": steps,
    }
    OUT.write_text(json.dumps(data) + "\n")


if __name__ == "__main__":
    main()
