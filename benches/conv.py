"""Convolution benchmark: LeNet-shaped conv and pooling layers, forward and backward.

Usage::

    python benches/conv.py [--quick] [--threads N] [--frameworks mxrs,torch,mxnet] [--json PATH]

Layers of issue 4's LeNet (batch 64, float32, NCHW)::

    conv1  Convolution 1 -> 20, 5x5, bias, on (64, 1, 28, 28)
    pool1  max Pooling 2x2 stride 2 on (64, 20, 24, 24)
    conv2  Convolution 20 -> 50, 5x5, bias, on (64, 20, 12, 12)
    pool2  max Pooling 2x2 stride 2 on (64, 50, 8, 8)
    stack  the four in a row, forward then backward

Each layer is timed forward only (``fwd``) and forward plus the gradients of every input
(``fwd+bwd``: data, weight and bias). mxrs runs its fused backward ops
(``_backward_Convolution``, ``_backward_Pooling``) directly, since Symbol/autograd are not
built yet; MXNet 1.9.1 uses ``mx.autograd`` and PyTorch ``torch.autograd.grad`` (both also
compute every input's gradient). Figures are milliseconds per batch, best of several
repeats after a warm-up, the sync inside the timed region (``--cpu-time``: CPU time of the
child process instead of wall time, for a busy machine with ``--threads 1``); the ratio columns are
peer time / mxrs time (above 1: mxrs is faster).

Each framework runs in its own child interpreter (this script with ``--child``), as
``benches/run.py`` does: mxrs with this interpreter, MXNet with ``$MXREF_PYTHON`` and PyTorch
with ``$TORCH_PYTHON`` (defaults ``../mxref/bin/python`` and ``../torchref/bin/python``).
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from run import (  # noqa: E402
    BUSY_FRACTION,
    child_env,
    cpu_busy_fraction,
    cpu_model,
    interpreter_for,
    run_json_child,
)

BATCH = 64
# name: (kind, input shape, conv (num_filter, kernel) or None for 2x2/2 max pooling)
LAYERS = {
    "conv1": ("conv", (BATCH, 1, 28, 28), (20, 5)),
    "pool1": ("pool", (BATCH, 20, 24, 24), None),
    "conv2": ("conv", (BATCH, 20, 12, 12), (50, 5)),
    "pool2": ("pool", (BATCH, 50, 8, 8), None),
}
FRAMEWORKS = ("mxrs", "torch", "mxnet")


def _best_ms(fn, sync, iters, repeats, clock=time.perf_counter):
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        for _ in range(iters):
            fn()
        sync()
        best = min(best, (clock() - t0) / iters)
    return best * 1e3


class MxLayers:
    """Layers for mxrs (fused backward ops) or MXNet (autograd)."""

    def __init__(self, mx, autograd):
        self.mx, self.autograd = mx, autograd
        rng = __import__("numpy").random.RandomState(0)
        self.params = {}
        for name, (kind, shape, conv) in LAYERS.items():
            if kind == "conv":
                f, k = conv
                w = mx.nd.array(rng.uniform(-0.1, 0.1, (f, shape[1], k, k)))
                self.params[name] = (w, mx.nd.zeros((f,)))

    def conv(self, name, x):
        w, b = self.params[name]
        f, k = LAYERS[name][2]
        return self.mx.nd.Convolution(x, w, b, kernel=(k, k), num_filter=f)

    def pool(self, x):
        return self.mx.nd.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max")

    def forward(self, names, x):
        for n in names:
            x = self.conv(n, x) if LAYERS[n][0] == "conv" else self.pool(x)
        return x

    def fwd_bwd(self, names, x):
        mx = self.mx
        if self.autograd:
            leaves = [x] + [p for n in names if n in self.params for p in self.params[n]]
            for a in leaves:
                a.attach_grad()
            with mx.autograd.record():
                y = self.forward(names, x)
            y.backward(mx.nd.ones_like(y))
            return
        acts = [x]
        for n in names:
            acts.append(self.conv(n, acts[-1]) if LAYERS[n][0] == "conv" else self.pool(acts[-1]))
        g = mx.nd.ones_like(acts[-1])
        for i in reversed(range(len(names))):
            n, xin, y = names[i], acts[i], acts[i + 1]
            if LAYERS[n][0] == "conv":
                w, _ = self.params[n]
                f, k = LAYERS[n][2]
                g = mx.nd._backward_Convolution(g, xin, w, kernel=(k, k), num_filter=f)[0]
            else:
                g = mx.nd._backward_Pooling(g, xin, y, kernel=(2, 2), stride=(2, 2), pool_type="max")


class TorchLayers:
    """The same layers in PyTorch."""

    def __init__(self, torch):
        self.torch, self.F = torch, torch.nn.functional
        g = torch.Generator().manual_seed(0)
        self.params = {}
        for name, (kind, shape, conv) in LAYERS.items():
            if kind == "conv":
                f, k = conv
                w = (torch.rand((f, shape[1], k, k), generator=g) - 0.5) * 0.2
                self.params[name] = (w.requires_grad_(), torch.zeros(f, requires_grad=True))

    def forward(self, names, x):
        for n in names:
            if LAYERS[n][0] == "conv":
                x = self.F.conv2d(x, *self.params[n])
            else:
                x = self.F.max_pool2d(x, 2, 2)
        return x

    def fwd_bwd(self, names, x):
        x = x.detach().requires_grad_()
        y = self.forward(names, x)
        leaves = [x] + [p for n in names if n in self.params for p in self.params[n]]
        self.torch.autograd.grad(y, leaves, self.torch.ones_like(y))


def child_main(args):
    import numpy as np

    fw = args.child
    if fw == "torch":
        import torch

        torch.set_num_threads(args.threads)
        layers, version = TorchLayers(torch), torch.__version__

        def make(shape):
            return torch.from_numpy(np.random.RandomState(1).uniform(-1, 1, shape).astype(np.float32))

        def sync():
            pass

        def fwd(names, x):
            with torch.no_grad():
                layers.forward(names, x)
    else:
        mx = __import__("mxrs" if fw == "mxrs" else "mxnet")
        layers, version = MxLayers(mx, autograd=fw == "mxnet"), mx.__version__

        def make(shape):
            return mx.nd.array(np.random.RandomState(1).uniform(-1, 1, shape))

        sync = mx.nd.waitall
        fwd = layers.forward
    iters, repeats = (3, 3) if args.quick else (10, 5)
    clock = time.process_time if args.cpu_time else time.perf_counter
    results = {}
    cases = [(n, [n]) for n in LAYERS] + [("stack", list(LAYERS))]
    for case, names in cases:
        x = make(LAYERS[names[0]][1])
        results[case] = {
            "fwd": _best_ms(lambda names=names, x=x: fwd(names, x), sync, iters, repeats, clock),
            "fwd+bwd": _best_ms(lambda names=names, x=x: layers.fwd_bwd(names, x), sync, iters, repeats, clock),
        }
    print(json.dumps({"framework": fw, "version": version, "threads": args.threads, "results": results}))
    return 0


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads per framework")
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset")
    ap.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU time (all its threads); with --threads 1 it stays fair on a busy machine",
    )
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--child", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    print(f"Convolution benchmark  {datetime.datetime.now().isoformat(timespec='seconds')}  quick={args.quick}")
    clock = "CPU time" if args.cpu_time else "wall time"
    print(
        f"host: {cpu_model()}, {os.cpu_count()} cores, {args.threads} threads, {clock}; load {os.getloadavg()[0]:.2f}"
    )
    busy = cpu_busy_fraction()
    if busy is not None and busy > BUSY_FRACTION:
        print(f"WARNING: the machine is {busy:.0%} busy; the figures will be unreliable.")
    records = {}
    for fw in args.frameworks.split(","):
        python = interpreter_for(fw)
        if not Path(python).exists():
            print(f"  {fw:6} SKIPPED (interpreter not found: {python})")
            continue
        cmd = [python, str(Path(__file__).resolve()), "--child", fw, "--threads", str(args.threads)]
        if args.quick:
            cmd.append("--quick")
        if args.cpu_time:
            cmd.append("--cpu-time")
        record, note = run_json_child(cmd, child_env(args.threads), python)
        if record is None:
            print(f"  {fw:6} SKIPPED ({note})")
            continue
        records[fw] = record
        print(f"  {fw:6} v{record['version']}")
    peers = [fw for fw in records if fw != "mxrs"]
    head = f"{'case':8} {'pass':8}" + "".join(f" {fw + ' ms':>11}" for fw in records)
    head += "".join(f" {fw + '/mxrs':>12}" for fw in peers if "mxrs" in records)
    print()
    print(head)
    for case in list(LAYERS) + ["stack"]:
        for kind in ("fwd", "fwd+bwd"):
            row = f"{case:8} {kind:8}"
            row += "".join(f" {records[fw]['results'][case][kind]:11.3f}" for fw in records)
            if "mxrs" in records:
                base = records["mxrs"]["results"][case][kind]
                row += "".join(f" {records[fw]['results'][case][kind] / base:12.2f}" for fw in peers)
            print(row)
    if "mxrs" in records:
        ms = records["mxrs"]["results"]["stack"]["fwd+bwd"]
        print(f"\nmxrs conv stack fwd+bwd: {BATCH / ms * 1e3:.0f} samples/s")
    if args.json:
        Path(args.json).write_text(json.dumps({"created": time.time(), "records": records}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
