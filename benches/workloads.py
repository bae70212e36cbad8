"""NDArray micro-benchmark workloads, run inside one framework's interpreter.

Usage::

    python benches/workloads.py --framework mxnet|mxrs|torch|numpy \
        [--case overhead|add|exp|sum|stream|elemwise|dot|batch_dot ...] [--threads 2] [--quick]

The script prints exactly one JSON line on stdout::

    {"framework": ..., "info": {...}, "results": [{"case": ..., ...}, ...]}

or, when the framework cannot be imported, ``{"framework": ..., "error": ...}``
(exit code 3).  ``benches/run.py`` starts one such child per framework, each in
its own interpreter, and tabulates the results.

Each case is written once against a small ``Backend`` object; for mxrs and
MXNet the backend is a thin wrapper over the very same ``mx.nd`` calls, so
both run the identical code path.
"""

import argparse
import json
import os
import sys
import time

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
)
CASES = ("overhead", "add", "exp", "sum", "stream", "elemwise", "dot", "batch_dot")
BIG_N = 10**7
DOT_SIZES = (64, 128, 256, 512, 1024, 2048)
BATCH_DOT = (128, 32)  # 128 products of 32x32 by 32x32
FLOAT32_BYTES = 4


class Backend:
    """Uniform view of one framework: conversion, the ops, and syncing."""

    def __init__(self, name):
        """Import the framework ``name`` and bind its operations."""
        self.name = name
        if name in ("mxnet", "mxrs"):
            mx = __import__(name)
            self.mod = mx
            self.version = getattr(mx, "__version__", "unknown")
            self.exp = mx.nd.exp
            self.sum = mx.nd.sum
            self.dot = mx.nd.dot
            self.batch_dot = mx.nd.batch_dot
            self.relu = mx.nd.relu
            self.is_async = True
        elif name == "torch":
            import torch

            self.mod = torch
            self.version = torch.__version__
            self.exp = torch.exp
            self.sum = torch.sum
            self.dot = torch.matmul
            self.batch_dot = torch.bmm
            self.relu = torch.relu
            self.is_async = False
        elif name == "numpy":
            import numpy

            self.mod = numpy
            self.version = numpy.__version__
            self.exp = numpy.exp
            self.sum = numpy.sum
            self.dot = numpy.dot
            self.batch_dot = numpy.matmul
            self.relu = lambda x: numpy.maximum(x, 0)
            self.is_async = False
        else:
            raise ValueError(f"unknown framework {name!r}")

    def array(self, host):
        """Convert a NumPy float32 array into this framework's array type."""
        if self.name in ("mxnet", "mxrs"):
            return self.mod.nd.array(host, dtype="float32")
        if self.name == "torch":
            return self.mod.from_numpy(host.copy())
        return host.copy()

    def empty(self, n, dtype="float32"):
        """A new 1-D array of ``n`` elements (contents undefined), the target of ``out=``."""
        if self.name in ("mxnet", "mxrs"):
            return self.mod.nd.empty((n,), dtype=dtype)
        return self.mod.empty(n, dtype=getattr(self.mod, dtype))

    def streaming(self):
        """The ``out=`` form of each streaming op: name -> (bytes per element, out dtype, f(a, b, c))."""
        if self.name in ("mxnet", "mxrs"):
            nd = self.mod.nd
            return {
                "add": (12, "float32", lambda a, b, c: nd.elemwise_add(a, b, out=c)),
                "mul": (12, "float32", lambda a, b, c: nd.elemwise_mul(a, b, out=c)),
                "exp": (8, "float32", lambda a, b, c: nd.exp(a, out=c)),
                "copy": (8, "float32", lambda a, b, c: a.copyto(c)),
                "cast f16": (6, "float16", lambda a, b, c: nd.Cast(a, dtype="float16", out=c)),
            }
        m = self.mod
        if self.name == "torch":
            return {
                "add": (12, "float32", lambda a, b, c: m.add(a, b, out=c)),
                "mul": (12, "float32", lambda a, b, c: m.mul(a, b, out=c)),
                "exp": (8, "float32", lambda a, b, c: m.exp(a, out=c)),
                "copy": (8, "float32", lambda a, b, c: c.copy_(a)),
                "cast f16": (6, "float16", lambda a, b, c: c.copy_(a)),
            }
        return {
            "add": (12, "float32", lambda a, b, c: m.add(a, b, out=c)),
            "mul": (12, "float32", lambda a, b, c: m.multiply(a, b, out=c)),
            "exp": (8, "float32", lambda a, b, c: m.exp(a, out=c)),
            "copy": (8, "float32", lambda a, b, c: m.copyto(c, a)),
            "cast f16": (6, "float16", lambda a, b, c: m.copyto(c, a, casting="unsafe")),
        }

    def sync(self, out):
        """Wait until ``out`` is computed (no-op for synchronous frameworks)."""
        if self.is_async:
            out.wait_to_read()

    def waitall(self):
        """Wait for all pending work (no-op for synchronous frameworks)."""
        if self.is_async:
            self.mod.nd.waitall()


def best_time(op, repeats, target_s):
    """Return (best, median) seconds per call of ``op`` after a warm-up.

    ``op`` must include its own sync.  Each sample runs ``op`` enough times to
    last about ``target_s`` seconds, so fast ops are not lost in timer noise.
    """
    start = time.perf_counter()
    op()  # warm-up (first-call allocation, kernel selection, thread start)
    first = time.perf_counter() - start
    number = max(1, int(target_s / max(first, 1e-9)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            op()
        samples.append((time.perf_counter() - start) / number)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


def random_f32(shape, seed):
    """Deterministic float32 data in [0, 1) (safe for exp)."""
    import numpy

    return numpy.random.default_rng(seed).random(shape, dtype=numpy.float32)


def case_overhead(fw, cfg):
    """Per-op overhead of ``c = a + b`` (and of ``a += 1``) on 2x3 float32, in microseconds/op.

    Variant ``waitall``: ops are issued back to back and one final sync
    (``mx.nd.waitall()``) is inside the timed region.  Variant
    ``wait_to_read``: every op is followed by ``c.wait_to_read()``.  Torch and
    NumPy are synchronous, so for them both variants measure the same thing.
    Variant ``a += 1``: the in-place scalar update, issued back to back, then one ``waitall``.
    Variant ``relu(a)``: an op called by name (``mx.nd.relu(a)``, ``torch.relu(a)``,
    ``numpy.maximum(a, 0)``), back to back, then one ``waitall``.
    """
    a = fw.array(random_f32((2, 3), 1))
    b = fw.array(random_f32((2, 3), 2))
    iters = cfg["overhead_iters"]

    def batch_then_waitall():
        for _ in range(iters):
            c = a + b
        fw.waitall()
        return c

    def wait_each_op():
        for _ in range(iters):
            c = a + b
            fw.sync(c)
        return c

    x = fw.array(random_f32((2, 3), 3))

    def in_place_then_waitall():
        nonlocal x
        for _ in range(iters):
            x += 1
        fw.waitall()
        return x

    relu = fw.relu

    def function_then_waitall():
        for _ in range(iters):
            c = relu(a)
        fw.waitall()
        return c

    rows = []
    for variant, op in (
        ("waitall", batch_then_waitall),
        ("wait_to_read", wait_each_op),
        ("a += 1", in_place_then_waitall),
        ("relu(a)", function_then_waitall),
    ):
        best, median = best_time(op, cfg["repeats"], target_s=0.0)
        rows.append(
            {
                "case": f"overhead[{variant}]",
                "unit": "us/op",
                "better": "lower",
                "value": best / iters * 1e6,
                "median": median / iters * 1e6,
                "iters": iters,
            }
        )
    return rows


def _throughput_row(case, unit, amount, best, median, **extra):
    """Build a higher-is-better result row from seconds per op."""
    return {
        "case": case,
        "unit": unit,
        "better": "higher",
        "value": amount / best,
        "median": amount / median,
        "seconds_per_op": best,
        **extra,
    }


def case_add(fw, cfg):
    """``c = a + b`` on 10^7 float32 with a new output each op, in GB/s."""
    a = fw.array(random_f32(BIG_N, 1))
    b = fw.array(random_f32(BIG_N, 2))

    def op():
        c = a + b
        fw.sync(c)

    best, median = best_time(op, cfg["repeats"], cfg["target_s"])
    gb = 3 * FLOAT32_BYTES * BIG_N / 1e9
    return [_throughput_row("add 1e7", "GB/s", gb, best, median)]


def case_exp(fw, cfg):
    """``exp(a)`` on 10^7 float32, in GB/s (read + write)."""
    a = fw.array(random_f32(BIG_N, 1))

    def op():
        fw.sync(fw.exp(a))

    best, median = best_time(op, cfg["repeats"], cfg["target_s"])
    gb = 2 * FLOAT32_BYTES * BIG_N / 1e9
    return [_throughput_row("exp 1e7", "GB/s", gb, best, median)]


def case_sum(fw, cfg):
    """``sum(a)`` over 10^7 float32, in GB/s (read only)."""
    a = fw.array(random_f32(BIG_N, 1))

    def op():
        fw.sync(fw.sum(a))

    best, median = best_time(op, cfg["repeats"], cfg["target_s"])
    gb = FLOAT32_BYTES * BIG_N / 1e9
    return [_throughput_row("sum 1e7", "GB/s", gb, best, median)]


def case_stream(fw, cfg):
    """Streaming ops on 10^7 float32 written into an existing output (``out=``), in GB/s.

    Each op's bytes are what it must move: every input read once and the output written once
    (``add``/``mul`` 12 bytes an element, ``exp``/``copy`` 8, ``cast f16`` 6). NumPy's ``copy``
    row (``np.copyto``) is the machine's memcpy bandwidth that ``run.py`` compares them with.
    """
    a = fw.array(random_f32(BIG_N, 1))
    b = fw.array(random_f32(BIG_N, 2))
    rows = []
    for name, (nbytes, dtype, f) in fw.streaming().items():
        c = fw.empty(BIG_N, dtype)

        def op(f=f, c=c):
            f(a, b, c)
            fw.sync(c)

        best, median = best_time(op, cfg["repeats"], cfg["target_s"])
        rows.append(_throughput_row(f"{name} out= 1e7", "GB/s", nbytes * BIG_N / 1e9, best, median))
    return rows


ROWS = (1000, 100)  # 10^5 float32, a layer's activations: 400 KB, in the per-core cache


def elementwise_ops(fw):
    """The everyday elementwise and row ops, each framework's usual call: name -> f(x, y)."""
    if fw.name in ("mxnet", "mxrs"):
        nd = fw.mod.nd
        ones, zeros = nd.ones(ROWS[1]), nd.zeros(ROWS[1])
        return {
            "relu": lambda x, y: nd.relu(x),
            "maximum(x, 0)": lambda x, y: nd.maximum(x, 0),
            "maximum(x, y)": lambda x, y: nd.maximum(x, y),
            "x > y": lambda x, y: x > y,
            "clip": lambda x, y: nd.clip(x, 0.2, 0.8),
            "x ** 2": lambda x, y: x**2,
            "abs": lambda x, y: nd.abs(x),
            "floor": lambda x, y: nd.floor(x),
            "where": lambda x, y: nd.where(x > y, x, y),
            "softmax 1000x100": lambda x, y: nd.softmax(x),
            "log_softmax 1000x100": lambda x, y: nd.log_softmax(x),
            "LayerNorm 1000x100": lambda x, y: nd.LayerNorm(x, ones, zeros),
            "flip 1000x100": lambda x, y: nd.flip(x, axis=1),
        }
    m = fw.mod
    if fw.name == "torch":
        f = m.nn.functional
        return {
            "relu": lambda x, y: m.relu(x),
            "maximum(x, 0)": lambda x, y: m.clamp_min(x, 0),
            "maximum(x, y)": lambda x, y: m.maximum(x, y),
            "x > y": lambda x, y: (x > y).float(),
            "clip": lambda x, y: m.clamp(x, 0.2, 0.8),
            "x ** 2": lambda x, y: x**2,
            "abs": lambda x, y: m.abs(x),
            "floor": lambda x, y: m.floor(x),
            "where": lambda x, y: m.where(x > y, x, y),
            "softmax 1000x100": lambda x, y: m.softmax(x, 1),
            "log_softmax 1000x100": lambda x, y: m.log_softmax(x, 1),
            "LayerNorm 1000x100": lambda x, y: f.layer_norm(x, (ROWS[1],)),
            "flip 1000x100": lambda x, y: m.flip(x, (1,)),
        }

    def softmax(x):
        e = m.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def log_softmax(x):
        z = x - x.max(axis=1, keepdims=True)
        return z - m.log(m.exp(z).sum(axis=1, keepdims=True))

    def layer_norm(x):
        mu = x.mean(axis=1, keepdims=True)
        return (x - mu) / m.sqrt(x.var(axis=1, keepdims=True) + 1e-5)

    return {
        "relu": lambda x, y: m.maximum(x, 0),
        "maximum(x, 0)": lambda x, y: m.maximum(x, 0),
        "maximum(x, y)": lambda x, y: m.maximum(x, y),
        "x > y": lambda x, y: (x > y).astype(m.float32),
        "clip": lambda x, y: m.clip(x, 0.2, 0.8),
        "x ** 2": lambda x, y: x**2,
        "abs": lambda x, y: m.abs(x),
        "floor": lambda x, y: m.floor(x),
        "where": lambda x, y: m.where(x > y, x, y),
        "softmax 1000x100": lambda x, y: softmax(x),
        "log_softmax 1000x100": lambda x, y: log_softmax(x),
        "LayerNorm 1000x100": lambda x, y: layer_norm(x),
        "flip 1000x100": lambda x, y: m.flip(x, 1).copy(),
    }


def case_elemwise(fw, cfg):
    """Everyday elementwise ops and row ops on 1000x100 float32 (10^5 elements), a new result each
    call (synced), in microseconds per op: the size of a layer's activations, where a per-element
    dispatch or an unvectorised loop shows, rather than the memory's bandwidth."""
    x = fw.array(random_f32(ROWS, 5))
    y = fw.array(random_f32(ROWS, 6))
    rows = []
    for name, f in elementwise_ops(fw).items():

        def op(f=f):
            fw.sync(f(x, y))

        best, median = best_time(op, cfg["repeats"], cfg["target_s"])
        rows.append(
            {
                "case": name if "x100" in name else f"{name} 1e5",
                "unit": "us/op",
                "better": "lower",
                "value": best * 1e6,
                "median": median * 1e6,
            }
        )
    return rows


def case_batch_dot(fw, cfg):
    """``batch_dot`` of 128 products of 32x32 float32 matrices, in GFLOP/s."""
    batch, n = BATCH_DOT
    a = fw.array(random_f32((batch, n, n), 1))
    b = fw.array(random_f32((batch, n, n), 2))

    def op():
        fw.sync(fw.batch_dot(a, b))

    best, median = best_time(op, cfg["repeats"], cfg["target_s"])
    return [_throughput_row(f"batch_dot {batch}x{n}", "GFLOP/s", 2 * batch * n**3 / 1e9, best, median)]


def case_dot(fw, cfg):
    """Square float32 ``dot(a, b)`` at several sizes, in GFLOP/s (2 n^3)."""
    rows = []
    for n in DOT_SIZES:
        a = fw.array(random_f32((n, n), 1))
        b = fw.array(random_f32((n, n), 2))

        def op(a=a, b=b):
            fw.sync(fw.dot(a, b))

        best, median = best_time(op, cfg["repeats"], cfg["target_s"])
        gflop = 2 * n**3 / 1e9
        rows.append(_throughput_row(f"dot {n}", "GFLOP/s", gflop, best, median, n=n))
    return rows


CASE_FUNCS = {
    "overhead": case_overhead,
    "add": case_add,
    "exp": case_exp,
    "sum": case_sum,
    "stream": case_stream,
    "elemwise": case_elemwise,
    "dot": case_dot,
    "batch_dot": case_batch_dot,
}


def set_thread_env(threads):
    """Pin every thread-count knob we know of; call before importing frameworks."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)


def framework_info(fw, threads):
    """Versions, thread settings and BLAS details for the header."""
    info = {
        "version": fw.version,
        "python": sys.executable,
        "threads_requested": threads,
        "env": {var: os.environ.get(var) for var in THREAD_ENV_VARS},
    }
    if fw.name == "torch":
        info["torch_num_threads"] = fw.mod.get_num_threads()
        info["torch_cpu_capability"] = fw.mod.backends.cpu.get_cpu_capability()
    if fw.name == "mxnet":
        features = fw.mod.runtime.Features()
        info["features"] = sorted(k for k, f in features.items() if f.enabled)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    else:
        keys = (
            "internal_api",
            "version",
            "architecture",
            "num_threads",
            "threading_layer",
        )
        info["threadpools"] = [{k: pool.get(k) for k in keys if pool.get(k) is not None} for pool in threadpool_info()]
    return info


def parse_args(argv=None):
    """Command-line options of the child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True, choices=("mxnet", "mxrs", "torch", "numpy"))
    parser.add_argument(
        "--case",
        action="append",
        choices=CASES,
        help="case to run (repeatable; default: all)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="few repeats, short samples")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the requested cases for one framework and print one JSON line."""
    args = parse_args(argv)
    set_thread_env(args.threads)
    try:
        fw = Backend(args.framework)
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        print(json.dumps({"framework": args.framework, "error": f"{type(exc).__name__}: {exc}"}))
        return 3
    if args.framework == "torch":
        fw.mod.set_num_threads(args.threads)

    if args.quick:
        cfg = {"repeats": 3, "target_s": 0.02, "overhead_iters": 2000}
    else:
        cfg = {"repeats": 10, "target_s": 0.2, "overhead_iters": 20000}
    results = []
    for case in args.case or CASES:
        results.extend(CASE_FUNCS[case](fw, cfg))
    record = {
        "framework": args.framework,
        "info": framework_info(fw, args.threads),
        "results": results,
    }
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
