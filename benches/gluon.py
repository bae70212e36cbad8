"""Gluon training throughput and recorded-op overhead: mxrs vs MXNet 1.9.1 Gluon and PyTorch eager.

Usage::

    python benches/gluon.py [--quick] [--only lenet|resnet18|recorded_op] [--threads N] [--json]

Each (framework, case, mode) runs in its own child interpreter (MXNet from ``$MXREF_PYTHON``,
PyTorch from ``$TORCH_PYTHON``; see ``benches/run.py``), so peak RSS is per run.

- ``lenet``: LeNet (conv 20 5x5, max pool, conv 50 5x5, max pool, fc 500, fc 10; tanh) on
  28x28x1 inputs, batch 64 (the network of ``benches/training.py``).
- ``resnet18``: the CIFAR-sized ResNet-18 (model zoo ``resnet18_v1(thumbnail=True)``: 3x3
  stem, four stages of two basic blocks, batch norm) on 32x32x3 inputs, batch 16.
- A training step is: forward under ``autograd.record()``, softmax cross-entropy, backward and
  ``Trainer.step`` (SGD, momentum 0.9) -- ``loss.backward(); optimizer.step()`` with
  ``zero_grad`` for PyTorch. Modes: ``imperative`` and ``hybridized`` (``net.hybridize()``,
  and the loss too; MXNet's ``static_alloc``/``static_shape`` on both for the fair peer) for
  mxrs and MXNet; ``eager`` for PyTorch. Figure: samples/s, median of the timed rounds.
- ``recorded_op``: ``c = a * b`` on 2x3 float32 with ``a`` attached for gradient, inside
  ``autograd.record()`` (``requires_grad`` for PyTorch), 2000 ops per record scope, synced at
  the end; figure: microseconds per op (lower is better).
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from run import UNSET_ENV_VARS, child_env, cpu_busy_fraction, cpu_model, interpreter_for, run_json_child  # noqa: E402

CASES = {"lenet": (64, (1, 28, 28)), "resnet18": (16, (3, 32, 32))}
RUNS = [
    ("lenet", "mxrs", "imperative"),
    ("lenet", "mxrs", "hybridized"),
    ("lenet", "mxnet", "imperative"),
    ("lenet", "mxnet", "hybridized"),
    ("lenet", "torch", "eager"),
    ("resnet18", "mxrs", "imperative"),
    ("resnet18", "mxrs", "hybridized"),
    ("resnet18", "mxnet", "imperative"),
    ("resnet18", "mxnet", "hybridized"),
    ("resnet18", "torch", "eager"),
    ("recorded_op", "mxrs", "imperative"),
    ("recorded_op", "mxnet", "imperative"),
    ("recorded_op", "torch", "eager"),
]
LR = 0.01
OPS_PER_SCOPE = 2000


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _import_mx(framework):
    if framework == "mxnet":
        import mxnet as mx
    else:
        import mxrs as mx
    return mx


def _gluon_lenet(mx):
    nn = mx.gluon.nn
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(20, 5, activation="tanh"), nn.MaxPool2D(2, 2))
        net.add(nn.Conv2D(50, 5, activation="tanh"), nn.MaxPool2D(2, 2))
        net.add(nn.Flatten(), nn.Dense(500, activation="tanh"), nn.Dense(10))
    return net


def _timed(step, rounds, steps, sync):
    """Warm up one round, then time ``rounds`` rounds of ``steps`` steps; median seconds."""
    for i in range(steps):
        step(i)
    sync()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for i in range(steps):
            step(i)
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def child_mx_train(framework, case, mode, rounds, steps):
    import numpy as np

    mx = _import_mx(framework)
    mx.random.seed(0)
    batch, shape = CASES[case]
    if case == "lenet":
        net = _gluon_lenet(mx)
    else:
        net = mx.gluon.model_zoo.vision.resnet18_v1(classes=10, thumbnail=True)
    net.initialize(mx.init.Xavier())
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    if mode == "hybridized":
        net.hybridize(static_alloc=True, static_shape=True)
        loss_fn.hybridize(static_alloc=True, static_shape=True)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR, "momentum": 0.9})
    rng = np.random.RandomState(0)
    xs = [mx.nd.array(rng.uniform(0, 1, size=(batch,) + shape)) for _ in range(4)]
    ys = [mx.nd.array(rng.randint(0, 10, size=batch)) for _ in range(4)]

    def step(i):
        with mx.autograd.record():
            loss = loss_fn(net(xs[i % 4]), ys[i % 4])
        loss.backward()
        trainer.step(batch)

    sec = _timed(step, rounds, steps, mx.nd.waitall)
    return {"value": batch * steps / sec, "unit": "samples/s", "rss_mb": _rss_mb(), "version": mx.__version__}


def child_mx_recorded_op(framework, rounds):
    mx = _import_mx(framework)
    a = mx.nd.ones((2, 3))
    b = mx.nd.ones((2, 3))
    a.attach_grad()

    def scope(_):
        with mx.autograd.record():
            for _ in range(OPS_PER_SCOPE):
                c = a * b
        c.wait_to_read()

    sec = _timed(scope, rounds, 1, mx.nd.waitall)
    return {"value": sec / OPS_PER_SCOPE * 1e6, "unit": "us/op", "rss_mb": _rss_mb(), "version": mx.__version__}


def _torch_resnet18(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
            )  # fmt: skip
            self.down = None
            if cin != cout or stride != 1:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            res = x if self.down is None else self.down(x)
            return torch.relu(self.body(x) + res)

    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False)]
    cin = 64
    for i, cout in enumerate([64, 128, 256, 512]):
        stride = 1 if i == 0 else 2
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def child_torch_train(case, rounds, steps):
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    batch, shape = CASES[case]
    if case == "lenet":
        net = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 50, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
            nn.Flatten(), nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10),
        )  # fmt: skip
    else:
        net = _torch_resnet18(torch)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.RandomState(0)
    xs = [torch.tensor(rng.uniform(0, 1, size=(batch,) + shape), dtype=torch.float32) for _ in range(4)]
    ys = [torch.tensor(rng.randint(0, 10, size=batch)) for _ in range(4)]

    def step(i):
        opt.zero_grad()
        loss = loss_fn(net(xs[i % 4]), ys[i % 4])
        loss.backward()
        opt.step()

    sec = _timed(step, rounds, steps, lambda: None)
    return {"value": batch * steps / sec, "unit": "samples/s", "rss_mb": _rss_mb(), "version": torch.__version__}


def child_torch_recorded_op(rounds):
    import torch

    a = torch.ones(2, 3, requires_grad=True)
    b = torch.ones(2, 3)

    def scope(_):
        for _ in range(OPS_PER_SCOPE):
            c = a * b
        return c

    sec = _timed(scope, rounds, 1, lambda: None)
    return {"value": sec / OPS_PER_SCOPE * 1e6, "unit": "us/op", "rss_mb": _rss_mb(), "version": torch.__version__}


def child_main(args):
    steps = {"lenet": 30, "resnet18": 4}.get(args.case, 1)
    rounds = 3 if args.quick else 7
    if args.quick:
        steps = max(1, steps // 3)
    try:
        if args.case == "recorded_op":
            if args.framework == "torch":
                rec = child_torch_recorded_op(rounds * 10)
            else:
                rec = child_mx_recorded_op(args.framework, rounds * 10)
        elif args.framework == "torch":
            rec = child_torch_train(args.case, rounds, steps)
        else:
            rec = child_mx_train(args.framework, args.case, args.mode, rounds, steps)
    except ImportError as e:
        rec = {"error": str(e)}
    print(json.dumps(rec))


def _print_table(results):
    head = f"{'case':<12} {'framework':<8} {'mode':<11} {'figure':>12} {'unit':<10}"
    print(f"\n{head} {'peak RSS MB':>12} {'mxrs best/this':>15}")
    for case in dict.fromkeys(c for c, _, _ in RUNS):
        rows = [(fw, mode, rec) for (c, fw, mode), rec in results.items() if c == case]
        lower_better = case == "recorded_op"
        mine = [rec["value"] for fw, _, rec in rows if fw == "mxrs"]
        best = (min(mine) if lower_better else max(mine)) if mine else None
        for fw, mode, rec in rows:
            ratio = "-"
            if best:
                ratio = f"{(rec['value'] / best if lower_better else best / rec['value']):.2f}x"
            line = f"{case:<12} {fw:<8} {mode:<11} {rec['value']:>12,.2f} {rec['unit']:<10}"
            print(f"{line} {rec['rss_mb']:>12.0f} {ratio:>15}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["lenet", "resnet18", "recorded_op"])
    p.add_argument("--frameworks", default="mxrs,mxnet,torch", help="comma-separated subset")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    p.add_argument("--threads", type=int, help="pin every child's OMP/MKL/OpenBLAS/rayon threads (default: unpinned)")
    p.add_argument("--framework", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.framework:
        child_main(args)
        return
    if args.threads:
        env = child_env(args.threads)
    else:
        env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV_VARS}
    threads = f"{args.threads} thread(s) per child" if args.threads else "threads unpinned"
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; busy by others: {cpu_busy_fraction():.0%}; {threads}")
    wanted = set(args.frameworks.split(","))
    results = {}
    for case, fw, mode in RUNS:
        if (args.only and case != args.only) or fw not in wanted:
            continue
        python = interpreter_for(fw)
        if not Path(python).exists():
            print(f"{case} {fw} {mode}: skipped, {python} not found")
            continue
        cmd = [python, str(Path(__file__).resolve()), "--framework", fw, "--case", case, "--mode", mode]
        if args.quick:
            cmd.append("--quick")
        rec, note = run_json_child(cmd, env, python)
        if rec is None:
            print(f"{case} {fw} {mode}: skipped, {note}")
            continue
        results[(case, fw, mode)] = rec
        print(f"{case} {fw} {mode}: {rec['value']:,.2f} {rec['unit']} (v{rec['version']})", flush=True)
    _print_table(results)
    if args.json:
        print(json.dumps({"/".join(k): v for k, v in results.items()}))


if __name__ == "__main__":
    main()
