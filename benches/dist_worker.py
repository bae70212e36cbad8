"""One process of benches/dist.py (mxrs under mpirun, or real MXNet under ps-lite's DMLC_* roles).

``python dist_worker.py FRAMEWORK pushpull SIZES REPEATS`` times push+pull round trips of float32
values of each size in bytes, each started after a barrier (``fused`` instead of ``pushpull``: one
``kv.pushpull`` call each; ``interleaved``: both, into another array and in place, taking turns);
``python dist_worker.py FRAMEWORK train BATCHES`` times ``Module.fit`` of a small MLP under
dist_sync. Rank 0 prints one JSON line.
"""

import importlib
import json
import sys
import time

import numpy as np

mx = importlib.import_module("mxrs" if sys.argv[1] == "mxrs" else "mxnet")


def pushpull(kv, sizes, repeats, fused=False):
    out = {}
    for i, nbytes in enumerate(sizes):
        n = max(1, nbytes // 4)
        val, res = mx.nd.ones((n,)), mx.nd.zeros((n,))
        kv.init(i, mx.nd.zeros((n,)))
        times = []
        for _ in range(2 + repeats):  # the first two warm up
            # The ranks start each round trip together, as the raw MPI_Allreduce baseline
            # starts each call after a barrier: the time is then the round trip's own, without
            # the wait for a peer still finishing the previous one.
            kv._barrier()
            t0 = time.perf_counter()
            if fused:
                kv.pushpull(i, val, out=res)
            else:
                kv.push(i, val)
                kv.pull(i, out=res)
            res.wait_to_read()
            times.append(time.perf_counter() - t0)
        out[str(nbytes)] = float(np.median(times[2:]))
    return out


def interleaved(kv, sizes, repeats):
    """push + pull against pushpull, into another array and in place, taking turns in the same
    processes (round trips after a barrier; median seconds): on a VM whose speed changes from
    run to run, separate runs of two ways cannot be compared."""
    ways = ("push+pull", "pushpull", "push+pull in place", "pushpull in place")
    out = {}
    for i, nbytes in enumerate(sizes):
        n = max(1, nbytes // 4)
        val, res, g = mx.nd.ones((n,)), mx.nd.zeros((n,)), mx.nd.ones((n,))
        kv.init(i, mx.nd.zeros((n,)))
        times = {w: [] for w in ways}
        for step in range(2 + repeats):  # the first two warm up
            for w in ways:
                kv._barrier()
                t0 = time.perf_counter()
                if w == "push+pull":
                    kv.push(i, val)
                    kv.pull(i, out=res)
                elif w == "pushpull":
                    kv.pushpull(i, val, out=res)
                elif w == "push+pull in place":
                    kv.push(i, g)
                    kv.pull(i, out=g)
                else:
                    kv.pushpull(i, g)
                (g if w.endswith("in place") else res).wait_to_read()
                if step >= 2:
                    times[w].append(time.perf_counter() - t0)
        out[str(nbytes)] = {w: float(np.median(t)) for w, t in times.items()}
    return out


def train(kv, batches, b=64):
    rng = np.random.RandomState(kv.rank)
    x = rng.uniform(-1, 1, (batches * b, 784)).astype("float32")
    y = rng.randint(0, 10, (batches * b,)).astype("float32")
    net = mx.sym.Variable("data")
    net = mx.sym.Activation(mx.sym.FullyConnected(net, num_hidden=256, name="fc1"), act_type="relu")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=10, name="fc2"), name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    it = mx.io.NDArrayIter(x, y, batch_size=b)
    mod.fit(it, kvstore=kv, optimizer="sgd", optimizer_params={"learning_rate": 0.1}, num_epoch=1)
    kv._barrier()
    t0 = time.perf_counter()
    mod.fit(it, kvstore=kv, optimizer="sgd", optimizer_params={"learning_rate": 0.1}, num_epoch=2, begin_epoch=1)
    mx.nd.waitall()
    kv._barrier()
    return {"samples_per_s": kv.num_workers * batches * b / (time.perf_counter() - t0)}


def main():
    kv = mx.kv.create("dist_sync")
    if sys.argv[2] in ("pushpull", "fused"):
        res = pushpull(kv, [int(s) for s in sys.argv[3].split(",")], int(sys.argv[4]), sys.argv[2] == "fused")
    elif sys.argv[2] == "interleaved":
        res = interleaved(kv, [int(s) for s in sys.argv[3].split(",")], int(sys.argv[4]))
    else:
        res = train(kv, int(sys.argv[3]))
    kv._barrier()
    if kv.rank == 0:
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
