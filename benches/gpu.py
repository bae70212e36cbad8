"""GPU benchmarks: mxrs next to PyTorch on the same GPU, in one run.

Usage::

    python benches/gpu.py [--quick] [--only SECTION[,SECTION]] [--device cuda|cpu] [--json PATH]

Sections (issue 13's targets in brackets):

- ``elementwise``: ``a + b`` and ``relu(a)`` over 64M float32, GB/s (bytes read + written),
  against the device's own device-to-device copy measured with torch ``y.copy_(x)`` [>= 80%].
- ``gemm``: float32 and bfloat16 ``dot`` of square 4096 and 8192 matrices, TFLOP/s (2 n^3),
  against ``torch.mm`` with TF32 off [>= 0.9x]. ``n/a`` where mxrs has no bfloat16 GEMM.
- ``mlp``: Gluon MLP 784-256-256-10, batch 256, SGD (momentum 0.9), hybridized; samples/s
  against PyTorch eager [>= 1.0x].
- ``lenet``: Gluon LeNet (conv 20 5x5, max pool, conv 50 5x5, max pool, fc 500, fc 10; relu),
  batch 256 on 1x28x28; samples/s against PyTorch eager [>= 1.0x].
- ``launch``: 10k tiny ``x + 1`` ops on a 1-element array, microseconds per op (independent
  ops, and a dependent chain ``x = x + 1``), against PyTorch [ratio = torch / mxrs].

Every (framework, section) pair runs in its own child interpreter (``--child``) with a timeout,
so a crash or a hang loses one cell of the table, not the run; the children share a global
deadline (``--budget`` seconds, default 170; 90 with ``--quick``). Timing: the best of several
repeats of a synchronised loop (``mx.nd.waitall()`` / ``torch.cuda.synchronize()`` inside the
timed region) after a warm-up, with ``time.perf_counter``. torch runs with the interpreter
running this script unless ``$TORCH_PYTHON`` names another one. ``--device cpu`` runs the same
code on the CPU with small sizes (to check the script on a machine without a GPU).
"""

import argparse
import json
import os
import subprocess
import sys
import time

SECTIONS = ("elementwise", "gemm", "launch", "mlp", "lenet")
FRAMEWORKS = ("torch", "mxrs")


# ---------------------------------------------------------------------------------------------
# child side


class Timer:
    """Best-of-``repeats`` seconds per iteration of ``fn`` run up to ``iters`` times per repeat,
    synchronised. A first timed call sizes the loop: about ``target`` seconds per repeat, fewer
    repeats for slow calls, so a slow implementation still reports a figure in bounded time."""

    def __init__(self, sync, target=0.25):
        self.sync = sync
        self.target = target

    def best(self, fn, iters, repeats, warmup=2):
        t0 = time.perf_counter()
        for _ in range(warmup):  # first calls compile kernels, fill pools; at most ~2 s of them
            fn()
            self.sync()
            if time.perf_counter() - t0 > 2.0:
                break
        t0 = time.perf_counter()
        fn()
        self.sync()
        first = time.perf_counter() - t0
        if first > 1.0:
            return first
        iters = max(1, min(iters, int(self.target / max(first, 1e-9))))
        best = first
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            self.sync()
            best = min(best, (time.perf_counter() - t0) / iters)
        return best


def _sizes(args):
    if args.device == "cpu":
        return {"elems": 1 << 22, "gemm": (512, 1024), "steps": 5, "repeats": 2, "launch": 2000}
    if args.quick:
        return {"elems": 1 << 26, "gemm": (4096, 8192), "steps": 50, "repeats": 3, "launch": 5000}
    return {"elems": 1 << 26, "gemm": (4096, 8192), "steps": 200, "repeats": 5, "launch": 10_000}


class Side:
    """One framework's measurements; :meth:`emit` prints each figure as soon as it is known, so
    that a child killed at its timeout still reports what it measured."""

    def emit(self, key, value):
        self.out[key] = value
        print("PARTIAL " + json.dumps({key: value}), flush=True)


class TorchSide(Side):
    def __init__(self, args):
        self.out = {}
        import torch

        self.torch = torch
        self.dev = torch.device("cuda:0" if args.device == "cuda" else "cpu")
        if args.device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.timer = Timer(torch.cuda.synchronize if args.device == "cuda" else (lambda: None))
        self.sizes = _sizes(args)

    def elementwise(self):
        t, n, r = self.torch, self.sizes["elems"], self.sizes["repeats"]
        a = t.rand(n, device=self.dev)
        b = t.rand(n, device=self.dev)
        y = t.empty_like(a)
        gb = n * 4 / 1e9
        self.emit("copy", 2 * gb / self.timer.best(lambda: y.copy_(a), 200, r))
        self.emit("add", 3 * gb / self.timer.best(lambda: a + b, 200, r))
        self.emit("relu", 2 * gb / self.timer.best(lambda: t.relu(a), 200, r))

    def gemm(self):
        t = self.torch
        for dtype_name, dtype in (("float32", t.float32), ("bfloat16", t.bfloat16)):
            for n in self.sizes["gemm"]:
                a = t.randn(n, n, device=self.dev).to(dtype)
                b = t.randn(n, n, device=self.dev).to(dtype)
                sec = self.timer.best(lambda a=a, b=b: t.mm(a, b), 50, self.sizes["repeats"])
                self.emit(f"{dtype_name}-{n}", 2 * n**3 / sec / 1e12)

    def launch(self):
        t, k = self.torch, self.sizes["launch"]
        x = t.ones(1, device=self.dev)
        indep = self.timer.best(lambda: [x + 1 for _ in range(k)], 1, self.sizes["repeats"]) / k

        def chain():
            y = x
            for _ in range(k):
                y = y + 1
            return y

        dep = self.timer.best(chain, 1, self.sizes["repeats"]) / k
        self.emit("independent", indep * 1e6)
        self.emit("chain", dep * 1e6)

    def _train(self, model, in_shape):
        t = self.torch
        model = model.to(self.dev)
        opt = t.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = t.nn.CrossEntropyLoss()
        batch = 256
        xs = [t.randn(batch, *in_shape, device=self.dev) for _ in range(4)]
        ys = [t.randint(0, 10, (batch,), device=self.dev) for _ in range(4)]
        state = {"i": 0}

        def step():
            i = state["i"] = (state["i"] + 1) % 4
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[i]), ys[i])
            loss.backward()
            opt.step()

        steps = self.sizes["steps"]
        sec = self.timer.best(step, steps, max(1, self.sizes["repeats"] // 2), warmup=10)
        self.emit("samples/s", batch / sec)

    def mlp(self):
        nn = self.torch.nn
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        self._train(model, (784,))

    def lenet(self):
        nn = self.torch.nn
        model = nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 10),
        )
        self._train(model, (1, 28, 28))


class MxrsSide(Side):
    def __init__(self, args):
        self.out = {}
        import mxrs as mx

        self.mx = mx
        self.ctx = mx.gpu(0) if args.device == "cuda" else mx.cpu()
        self.timer = Timer(mx.nd.waitall)
        self.sizes = _sizes(args)

    def elementwise(self):
        mx, n, r = self.mx, self.sizes["elems"], self.sizes["repeats"]
        a = mx.nd.random.uniform(shape=(n,), ctx=self.ctx)
        b = mx.nd.random.uniform(shape=(n,), ctx=self.ctx)
        gb = n * 4 / 1e9
        self.emit("add", 3 * gb / self.timer.best(lambda: a + b, 200, r))
        self.emit("relu", 2 * gb / self.timer.best(lambda: mx.nd.relu(a), 200, r))
        y = mx.nd.empty((n,), ctx=self.ctx)
        self.emit("copy", 2 * gb / self.timer.best(lambda: a.copyto(y), 200, r))

    def gemm(self):
        mx = self.mx
        for dtype in ("float32", "bfloat16"):
            for n in self.sizes["gemm"]:
                key = f"{dtype}-{n}"
                try:
                    a = mx.nd.random.normal(shape=(n, n), ctx=self.ctx)
                    b = mx.nd.random.normal(shape=(n, n), ctx=self.ctx)
                    if dtype != "float32":
                        a, b = a.astype(dtype), b.astype(dtype)
                    mx.nd.dot(a, b).wait_to_read()
                except Exception as exc:
                    self.emit(key, f"n/a: {type(exc).__name__}: {str(exc)[:120]}")
                    continue
                sec = self.timer.best(lambda a=a, b=b: mx.nd.dot(a, b), 50, self.sizes["repeats"])
                self.emit(key, 2 * n**3 / sec / 1e12)

    def launch(self):
        mx, k = self.mx, self.sizes["launch"]
        x = mx.nd.ones((1,), ctx=self.ctx)
        indep = self.timer.best(lambda: [x + 1 for _ in range(k)], 1, self.sizes["repeats"]) / k

        def chain():
            y = x
            for _ in range(k):
                y = y + 1
            return y

        dep = self.timer.best(chain, 1, self.sizes["repeats"]) / k
        self.emit("independent", indep * 1e6)
        self.emit("chain", dep * 1e6)

    def _train(self, net, in_shape):
        mx = self.mx
        ctx = self.ctx
        net.initialize(mx.init.Xavier(), ctx=ctx)
        net.hybridize(static_alloc=True, static_shape=True)
        loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
        trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
        batch = 256
        xs = [mx.nd.random.normal(shape=(batch, *in_shape), ctx=ctx) for _ in range(4)]
        ys = [mx.nd.random.randint(0, 10, shape=(batch,), ctx=ctx).astype("float32") for _ in range(4)]
        state = {"i": 0}

        def step():
            i = state["i"] = (state["i"] + 1) % 4
            with mx.autograd.record():
                loss = loss_fn(net(xs[i]), ys[i])
            loss.backward()
            trainer.step(batch)

        steps = self.sizes["steps"]
        sec = self.timer.best(step, steps, max(1, self.sizes["repeats"] // 2), warmup=10)
        self.emit("samples/s", batch / sec)

    def mlp(self):
        nn = self.mx.gluon.nn
        net = nn.HybridSequential()
        net.add(nn.Dense(256, activation="relu"), nn.Dense(256, activation="relu"), nn.Dense(10))
        self._train(net, (784,))

    def lenet(self):
        nn = self.mx.gluon.nn
        net = nn.HybridSequential()
        net.add(
            nn.Conv2D(20, kernel_size=5, activation="relu"),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(50, kernel_size=5, activation="relu"),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Flatten(),
            nn.Dense(500, activation="relu"),
            nn.Dense(10),
        )
        self._train(net, (1, 28, 28))


def child_main(args):
    t0 = time.perf_counter()
    record = {"framework": args.child, "section": args.section}
    side = None
    try:
        side = (TorchSide if args.child == "torch" else MxrsSide)(args)
        getattr(side, args.section)()
        record["results"] = side.out
    except Exception as exc:
        if side is not None and side.out:
            record["results"] = side.out
        record["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    record["seconds"] = round(time.perf_counter() - t0, 2)
    print("RESULT " + json.dumps(record), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# parent side


def run_child(framework, section, args, limit):
    python = os.environ.get("TORCH_PYTHON") if framework == "torch" else None
    cmd = [python or sys.executable, os.path.abspath(__file__), "--child", framework, "--section", section]
    cmd += ["--device", args.device] + (["--quick"] if args.quick else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
        stdout, stderr, why = proc.stdout, proc.stderr, f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, why = _text(exc.stdout), _text(exc.stderr), f"timed out after {limit:.0f} s"
    partial = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
        if line.startswith("PARTIAL "):
            partial.update(json.loads(line[len("PARTIAL ") :]))
    tail = " | ".join((stderr or stdout).strip().splitlines()[-3:])
    record = {"error": f"{why} after {time.perf_counter() - t0:.0f} s: {tail}"[:600]}
    if partial:
        record["results"] = partial
    return record


def _text(data):
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return "n/a" if v.startswith("n/a") else "error"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


def _ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
        return f"{a / b:.2f}x"
    return "-"


def _get(res, fw, section, key):
    r = res.get((fw, section), {})
    return r.get("results", {}).get(key) if "results" in r else None


def print_table(res, device):
    rows = []
    copy = _get(res, "torch", "elementwise", "copy")
    rows.append(("d2d copy 64M f32", "GB/s", _get(res, "mxrs", "elementwise", "copy"), copy, "(torch: reference)", "-"))
    for op in ("add", "relu"):
        m = _get(res, "mxrs", "elementwise", op)
        rows.append(
            (f"{op} 64M f32", "GB/s", m, _get(res, "torch", "elementwise", op), _ratio(m, copy) + " of copy", ">= 0.80")
        )
    for key in ("float32-4096", "float32-8192", "bfloat16-4096", "bfloat16-8192"):
        if device == "cpu":
            key = key.replace("4096", "512").replace("8192", "1024")
        m, t = _get(res, "mxrs", "gemm", key), _get(res, "torch", "gemm", key)
        rows.append((f"gemm {key}", "TFLOP/s", m, t, _ratio(m, t), ">= 0.90x"))
    for sec in ("mlp", "lenet"):
        m, t = _get(res, "mxrs", sec, "samples/s"), _get(res, "torch", sec, "samples/s")
        rows.append((f"{sec} train b256", "samples/s", m, t, _ratio(m, t), ">= 1.00x"))
    for key in ("independent", "chain"):
        m, t = _get(res, "mxrs", "launch", key), _get(res, "torch", "launch", key)
        rows.append((f"launch x+1 ({key})", "us/op", m, t, _ratio(t, m) + " (torch/mxrs)", "-"))
    head = f"{'case':<28} {'unit':<10} {'mxrs':>10} {'torch':>10}  {'ratio':<22} target"
    print(head)
    print("-" * len(head))
    for name, unit, m, t, ratio, target in rows:
        print(f"{name:<28} {unit:<10} {_fmt(m):>10} {_fmt(t):>10}  {ratio:<22} {target}")
    notes = []
    for (fw, sec), r in sorted(res.items()):
        if "error" in r:
            notes.append(f"{fw}/{sec}: {r['error']}")
        for k, v in r.get("results", {}).items():
            if isinstance(v, str):
                notes.append(f"{fw}/{sec}/{k}: {v}")
    if notes:
        print("\nnotes:")
        for n in notes:
            print("  " + n[:300])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    p.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--budget", type=float, default=None, help="seconds for all children together")
    p.add_argument("--json", default=None, help="also write the raw results here")
    p.add_argument("--child", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    p.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args)
    sections = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}")
    budget = args.budget or (90.0 if args.quick else 170.0)
    deadline = time.perf_counter() + budget
    # a cap per child so that one slow cell cannot eat the budget of the others
    cap = 30.0 if args.quick else 45.0
    print(f"benches/gpu.py: device {args.device}, sections {','.join(sections)}, budget {budget:.0f} s", flush=True)
    res = {}
    for section in sections:
        for fw in FRAMEWORKS:
            left = deadline - time.perf_counter()
            if left < 5:
                res[(fw, section)] = {"error": "skipped: bench budget used up"}
                continue
            t0 = time.perf_counter()
            res[(fw, section)] = r = run_child(fw, section, args, min(cap, left))
            status = "error: " + r["error"][:200] if "error" in r else json.dumps(r.get("results"))
            print(f"  {fw:<6} {section:<12} {time.perf_counter() - t0:5.1f} s  {status}", flush=True)
    print()
    print_table(res, args.device)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({f"{fw}/{sec}": r for (fw, sec), r in res.items()}, f, indent=1)
    failed = sorted(f"{fw}/{sec}" for (fw, sec), r in res.items() if "error" in r)
    if failed:
        print(f"\nbench failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
