"""ResNet-18 (CIFAR) convolution layers, forward and backward: mxrs vs PyTorch and MXNet 1.9.1.

Usage::

    python benches/conv_resnet.py [--quick] [--frameworks mxrs,torch,mxnet] [--threads N] [--json PATH]

The eight distinct 3x3 convolutions of ``model_zoo.vision.resnet18_v1(thumbnail=True)`` at
batch 16 (float32, NCHW, no bias, pad 1): the stem and, per stage, the first (stride 2 where the
stage halves the plane) and the repeated one. ``fwd`` is the forward pass; ``bwd`` the data and
weight gradients (time of forward plus backward under autograd, less the forward). Figures are
milliseconds, best of the repeats after a warm-up, and GFLOP/s (2 flops per multiply-add; the
backward pass does twice the forward's work). The ratio columns are peer time / mxrs time
(above 1: mxrs is faster). The sums show what the layers cost together; ResNet-18 runs the
repeated convolution of each stage three times (``benches/gluon.py`` times the whole network).

Each framework runs in its own child interpreter, as ``benches/run.py`` does.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from run import UNSET_ENV_VARS, child_env, cpu_busy_fraction, cpu_model, interpreter_for, run_json_child  # noqa: E402

BATCH = 16
# (in channels, out channels, input plane, stride)
LAYERS = [
    (3, 64, 32, 1),
    (64, 64, 32, 1),
    (64, 128, 32, 2),
    (128, 128, 16, 1),
    (128, 256, 16, 2),
    (256, 256, 8, 1),
    (256, 512, 8, 2),
    (512, 512, 4, 1),
]
FRAMEWORKS = ("mxrs", "torch", "mxnet")


def _best(fn, repeats):
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _layer_fns(framework, cin, cout, hw, stride):
    """(forward, forward + backward) closures for one layer, each synced."""
    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (BATCH, cin, hw, hw)).astype(np.float32)
    w = rng.uniform(-0.1, 0.1, (cout, cin, 3, 3)).astype(np.float32)
    if framework == "torch":
        import torch

        X, W = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        dy = torch.ones((BATCH, cout, hw // stride, hw // stride))

        def fwd():
            with torch.no_grad():
                torch.nn.functional.conv2d(X, W, stride=stride, padding=1)

        def both():
            torch.nn.functional.conv2d(X, W, stride=stride, padding=1).backward(dy)

        return fwd, both
    if framework == "mxnet":
        import mxnet as mx
    else:
        import mxrs as mx
    X, W = mx.nd.array(x), mx.nd.array(w)
    X.attach_grad()
    W.attach_grad()
    kw = dict(kernel=(3, 3), stride=(stride, stride), pad=(1, 1), num_filter=cout, no_bias=True)

    def fwd():
        mx.nd.Convolution(X, W, **kw).wait_to_read()

    def both():
        with mx.autograd.record():
            y = mx.nd.Convolution(X, W, **kw)
        y.backward()
        mx.nd.waitall()

    return fwd, both


def child(framework, repeats):
    rows = []
    for cin, cout, hw, stride in LAYERS:
        fwd, both = _layer_fns(framework, cin, cout, hw, stride)
        t_fwd = _best(fwd, repeats)
        t_bwd = max(_best(both, repeats) - t_fwd, 1e-9)
        out = hw // stride
        macs = BATCH * cout * out * out * cin * 9
        rows.append({"layer": f"{cin}->{cout} {hw}x{hw} s{stride}", "fwd": t_fwd, "bwd": t_bwd, "macs": macs})
    print(json.dumps({"framework": framework, "rows": rows}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, help="pin every child's OMP/MKL/OpenBLAS/rayon threads")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    if args.child:
        child(args.child, repeats)
        return
    # The machine's default thread counts unless --threads pins them (as ``gluon.py``).
    env = child_env(args.threads) if args.threads else {k: v for k, v in os.environ.items() if k not in UNSET_ENV_VARS}
    print(f"CPU: {cpu_model()}; busy by others: {cpu_busy_fraction():.0%}")
    results = {}
    for fw in args.frameworks.split(","):
        python = interpreter_for(fw)
        cmd = [python, __file__, "--child", fw, "--repeats", str(repeats)]
        rec, note = run_json_child(cmd, env, python)
        if rec is None:
            print(f"{fw}: skipped ({note})")
            continue
        results[fw] = rec["rows"]
    if "mxrs" not in results:
        sys.exit("mxrs did not run")
    peers = [fw for fw in results if fw != "mxrs"]
    head = f"{'layer':20s} {'mxrs fwd ms':>11s} {'GF/s':>6s} {'bwd ms':>8s} {'GF/s':>6s}"
    for p in peers:
        head += f"  {p + ' fwd/bwd':>17s} {'ratio fwd/bwd':>14s}"
    print(head)
    sums = {fw: [0.0, 0.0] for fw in results}
    for i, r in enumerate(results["mxrs"]):
        gf = 2 * r["macs"] / 1e9
        f, b = r["fwd"], r["bwd"]
        line = f"{r['layer']:20s} {f * 1e3:11.2f} {gf / f:6.0f} {b * 1e3:8.2f} {2 * gf / b:6.0f}"
        for p in peers:
            q = results[p][i]
            line += f"  {q['fwd'] * 1e3:8.2f}/{q['bwd'] * 1e3:8.2f} {q['fwd'] / f:6.2f}x/{q['bwd'] / b:5.2f}x"
        print(line)
        for fw in results:
            sums[fw][0] += results[fw][i]["fwd"]
            sums[fw][1] += results[fw][i]["bwd"]
    line = f"{'sum':20s} {sums['mxrs'][0] * 1e3:11.2f} {'':6s} {sums['mxrs'][1] * 1e3:8.2f} {'':6s}"
    for p in peers:
        line += f"  {sums[p][0] * 1e3:8.2f}/{sums[p][1] * 1e3:8.2f} {sums[p][0] / sums['mxrs'][0]:6.2f}x/"
        line += f"{sums[p][1] / sums['mxrs'][1]:5.2f}x"
    print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
