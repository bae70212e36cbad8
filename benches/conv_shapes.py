"""Convolution forward and forward+backward on ResNet-18 (CIFAR-sized) layer shapes.

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 RAYON_NUM_THREADS=1 python benches/conv_shapes.py mxrs
    OMP_NUM_THREADS=1 ../mxref/bin/python benches/conv_shapes.py mxnet

Runs in whichever interpreter starts it, with the module named on the command line (``mxrs``
or ``mxnet``: the same code runs on both). Each shape is timed as ``mx.nd.Convolution``
forward alone and forward under ``autograd.record`` plus ``backward`` (data and weight
gradients); figures are the best of 5 runs after a warm-up, in milliseconds. Pin the thread
variables yourself: this script does not.
"""

import importlib
import sys
import time

import numpy as np

# name: (input shape, filters, kernel, stride, pad)
SHAPES = {
    "c64_32x32_s1": ((64, 64, 32, 32), 64, 3, 1, 1),
    "c128_16x16_s1": ((64, 128, 16, 16), 128, 3, 1, 1),
    "c256_8x8_s1": ((64, 256, 8, 8), 256, 3, 1, 1),
    "c64to128_32x32_s2": ((64, 64, 32, 32), 128, 3, 2, 1),
    "c64to128_1x1_s2": ((64, 64, 32, 32), 128, 1, 2, 0),
    "c128_16x16_n32": ((32, 128, 16, 16), 128, 3, 1, 1),
}


def best_ms(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def bench(mx, shape, filters, k, s, p):
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.randn(*shape).astype("float32"))
    w = mx.nd.array(rng.randn(filters, shape[1], k, k).astype("float32") * 0.05)
    kw = {"kernel": (k, k), "stride": (s, s), "pad": (p, p), "num_filter": filters, "no_bias": True}
    x.attach_grad()
    w.attach_grad()

    def fwd():
        mx.nd.Convolution(x, w, **kw).wait_to_read()

    def fwd_bwd():
        with mx.autograd.record():
            y = mx.nd.Convolution(x, w, **kw)
        y.backward()
        x.grad.wait_to_read()
        w.grad.wait_to_read()

    return best_ms(fwd), best_ms(fwd_bwd)


def main():
    mx = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "mxrs")
    for name, (shape, filters, k, s, p) in SHAPES.items():
        f, fb = bench(mx, shape, filters, k, s, p)
        print(f"{name:20s} fwd {f:8.2f} ms  fwd+bwd {fb:8.2f} ms", flush=True)


if __name__ == "__main__":
    main()
