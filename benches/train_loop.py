"""Training-loop overhead: an MLP 784-128-64-10 at batch 128, bare executor vs Module.fit.

Issue 6 asks ``Module.fit`` to add little over the executor. This script times, in one
process and for one framework, (1) a bare loop (copy batch, forward, backward, SGD update
through the updater, no metric), (2) ``Module.fit`` with the accuracy metric and
(3) ``FeedForward.fit``, each over the same NDArrayIter, after a warm-up epoch.

Usage::

    python benches/train_loop.py --target mxrs                  # needs mx.sym and mx.io
    /work/mxref/bin/python benches/train_loop.py --target mxnet
    /work/mxref/bin/python benches/train_loop.py --target hybrid   # mxrs's loop, MXNet's executors

``hybrid`` builds the package of ``tools/mxnet_hybrid.py`` in a temporary folder.
Prints one JSON line of samples/s.
"""

import argparse
import importlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(target):
    if target != "hybrid":
        return importlib.import_module(target)
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import mxnet_hybrid

    dest = tempfile.mkdtemp(prefix="mxrs_hybrid_")
    mxnet_hybrid.build(dest)
    sys.path.insert(0, dest)
    return importlib.import_module("mxrs_hybrid")


def mlp(mx):
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=data, num_hidden=128, name="fc1")
    net = mx.sym.Activation(data=net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(data=net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(data=net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(data=net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(data=net, name="softmax")


def bare(mx, it, epochs):
    sym = mlp(mx)
    exe = sym.simple_bind(mx.cpu(), data=(128, 784), softmax_label=(128,))
    init = mx.init.Xavier()
    names = [n for n in sym.list_arguments() if n not in ("data", "softmax_label")]
    for n in names:
        init(mx.init.InitDesc(n), exe.arg_dict[n])
    opt = mx.optimizer.create("sgd", learning_rate=0.1, rescale_grad=1.0 / 128)
    updater = mx.optimizer.get_updater(opt)
    weights = [exe.arg_dict[n] for n in names]
    grads = [exe.grad_dict[n] for n in names]
    idx = list(range(len(names)))
    samples = 0
    tic = None
    for epoch in range(epochs + 1):
        if epoch == 1:
            mx.nd.waitall()
            tic = time.time()
        it.reset()
        for batch in it:
            batch.data[0].copyto(exe.arg_dict["data"])
            batch.label[0].copyto(exe.arg_dict["softmax_label"])
            exe.forward(is_train=True)
            exe.backward()
            updater(idx, grads, weights)
            if epoch:
                samples += 128
    mx.nd.waitall()
    return samples / (time.time() - tic)


def module_fit(mx, it, epochs):
    it.reset()
    mod = mx.mod.Module(mlp(mx), context=mx.cpu())
    mod.fit(it, num_epoch=1, optimizer_params={"learning_rate": 0.1}, initializer=mx.init.Xavier())
    mx.nd.waitall()
    tic = time.time()
    mod.fit(it, num_epoch=1 + epochs, begin_epoch=1, optimizer_params={"learning_rate": 0.1})
    mx.nd.waitall()
    return epochs * it.num_data / (time.time() - tic)


def feedforward_fit(mx, x, y, epochs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mx.model.FeedForward(mlp(mx), num_epoch=1, numpy_batch_size=128, learning_rate=0.1)
        model.fit(x, y)
        mx.nd.waitall()
        model.num_epoch = 1 + epochs
        model.begin_epoch = 1
        tic = time.time()
        model.fit(x, y)
        mx.nd.waitall()
    return epochs * len(x) / (time.time() - tic)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="mxrs")
    parser.add_argument("--samples", type=int, default=128 * 200)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    mx = load(args.target)
    rng = np.random.RandomState(0)
    x = rng.rand(args.samples, 784).astype(np.float32)
    y = rng.randint(0, 10, args.samples).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=128)
    result = {"target": args.target, "bare_executor": bare(mx, it, args.epochs)}
    result["module_fit"] = module_fit(mx, it, args.epochs)
    result["feedforward_fit"] = feedforward_fit(mx, x, y, args.epochs)
    print(json.dumps({k: round(v) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
