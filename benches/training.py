"""Training throughput: the Symbol executor of mxrs vs MXNet 1.9.1's and PyTorch's nn.Sequential.

Usage::

    python benches/training.py [--quick] [--only mlp|lenet] [--json]

Each framework runs in its own child interpreter (MXNet from ``$MXREF_PYTHON``, PyTorch from
``$TORCH_PYTHON``; see ``benches/run.py``). A training step is: copy the batch in, forward
(training mode), backward, and an SGD update of every parameter (``sgd_update`` for mxrs and
MXNet, ``torch.optim.SGD`` for PyTorch); no framework computes the data's gradient.
Reported: samples/s (median of 7 timed rounds) and the child's peak RSS. Workloads (issue 4's
benchmark): the MLP 784-128-64-10 at batch 128 and LeNet (conv 20 5x5, max pool, conv 50 5x5,
max pool, fc 500, fc 10; tanh) at batch 64 on 28x28 inputs.
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

from run import UNSET_ENV_VARS, cpu_busy_fraction, cpu_model, interpreter_for, run_json_child  # noqa: E402

CASES = {"mlp": (128, (784,)), "lenet": (64, (1, 28, 28))}
LR = 0.01


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def mx_net(mx, case):
    data = mx.sym.Variable("data")
    if case == "mlp":
        h = mx.sym.FullyConnected(data, num_hidden=128, name="fc1")
        h = mx.sym.Activation(h, act_type="relu", name="relu1")
        h = mx.sym.FullyConnected(h, num_hidden=64, name="fc2")
        h = mx.sym.Activation(h, act_type="relu", name="relu2")
        h = mx.sym.FullyConnected(h, num_hidden=10, name="fc3")
    else:
        h = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
        h = mx.sym.Activation(h, act_type="tanh")
        h = mx.sym.Pooling(h, pool_type="max", kernel=(2, 2), stride=(2, 2))
        h = mx.sym.Convolution(h, kernel=(5, 5), num_filter=50, name="conv2")
        h = mx.sym.Activation(h, act_type="tanh")
        h = mx.sym.Pooling(h, pool_type="max", kernel=(2, 2), stride=(2, 2))
        h = mx.sym.Flatten(h)
        h = mx.sym.FullyConnected(h, num_hidden=500, name="fc1")
        h = mx.sym.Activation(h, act_type="tanh")
        h = mx.sym.FullyConnected(h, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def child_mx(framework, case, rounds, steps):
    import numpy as np

    if framework == "mxnet":
        import mxnet as mx
    else:
        import mxrs as mx
    batch, shape = CASES[case]
    net = mx_net(mx, case)
    # As Module does (and as PyTorch does): no gradient for the data and the label.
    req = {n: ("null" if n in ("data", "softmax_label") else "write") for n in net.list_arguments()}
    exe = net.simple_bind(mx.cpu(), grad_req=req, data=(batch,) + shape)
    rng = np.random.RandomState(0)
    params = []
    for name, arr in exe.arg_dict.items():
        if name in ("data", "softmax_label"):
            continue
        arr[:] = rng.uniform(-0.07, 0.07, size=arr.shape).astype(np.float32)
        params.append((arr, exe.grad_dict[name]))
    xs = [mx.nd.array(rng.uniform(0, 1, size=(batch,) + shape)) for _ in range(4)]
    ys = [mx.nd.array(rng.randint(0, 10, size=batch)) for _ in range(4)]
    data, label = exe.arg_dict["data"], exe.arg_dict["softmax_label"]

    def step(i):
        xs[i % 4].copyto(data)
        ys[i % 4].copyto(label)
        exe.forward(is_train=True)
        exe.backward()
        for w, g in params:
            mx.nd.sgd_update(w, g, lr=LR, wd=0.0, rescale_grad=1.0 / batch, out=w)

    for i in range(steps):
        step(i)
    mx.nd.waitall()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for i in range(steps):
            step(i)
        mx.nd.waitall()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"samples_per_s": batch * steps / times[len(times) // 2], "rss_mb": _rss_mb(), "version": mx.__version__}


def child_torch(case, rounds, steps):
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    batch, shape = CASES[case]
    if case == "mlp":
        net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 50, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
            nn.Flatten(), nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10),
        )  # fmt: skip
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.RandomState(0)
    xs = [torch.tensor(rng.uniform(0, 1, size=(batch,) + shape), dtype=torch.float32) for _ in range(4)]
    ys = [torch.tensor(rng.randint(0, 10, size=batch)) for _ in range(4)]

    def step(i):
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(xs[i % 4]), ys[i % 4])
        loss.backward()
        opt.step()

    for i in range(steps):
        step(i)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for i in range(steps):
            step(i)
        times.append(time.perf_counter() - t)
    times.sort()
    return {
        "samples_per_s": batch * steps / times[len(times) // 2],
        "rss_mb": _rss_mb(),
        "version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def child_main(args):
    # Rounds of about 0.2 s: this 2-core machine's figures swing by 30% over shorter ones.
    steps = {"mlp": 200, "lenet": 30}[args.case] // (4 if args.quick else 1)
    rounds = 3 if args.quick else 7
    try:
        if args.framework == "torch":
            rec = child_torch(args.case, rounds, steps)
        else:
            rec = child_mx(args.framework, args.case, rounds, steps)
    except ImportError as e:
        rec = {"error": str(e)}
    print(json.dumps(rec))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=sorted(CASES))
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    p.add_argument("--framework", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.framework:
        child_main(args)
        return
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV_VARS}
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; busy by others: {cpu_busy_fraction():.0%}")
    results = {}
    for case in [args.only] if args.only else list(CASES):
        print(f"\n{case} (batch {CASES[case][0]})")
        print(f"  {'framework':<8} {'samples/s':>11} {'peak RSS MB':>12} {'mxrs/this':>10}")
        rows = {}
        for fw in ("mxrs", "mxnet", "torch"):
            python = interpreter_for(fw)
            if not Path(python).exists():
                print(f"  {fw:<8} skipped: {python} not found")
                continue
            cmd = [python, str(Path(__file__).resolve()), "--framework", fw, "--case", case]
            if args.quick:
                cmd.append("--quick")
            rec, note = run_json_child(cmd, env, python)
            if rec is None:
                print(f"  {fw:<8} skipped: {note}")
                continue
            rows[fw] = rec
        base = rows.get("mxrs", {}).get("samples_per_s")
        for fw, rec in rows.items():
            ratio = f"{base / rec['samples_per_s']:.2f}x" if base else "-"
            print(f"  {fw:<8} {rec['samples_per_s']:>11,.0f} {rec['rss_mb']:>12.0f} {ratio:>10}")
        results[case] = rows
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
