"""KVStore benchmark: mxrs's local store next to MXNet 1.9.1's, in one run.

Usage::

    python benches/kvstore.py [--keys 100] [--size 1000000] [--rounds 5] [--type local]

One round pushes, for each of ``--keys`` keys of ``--size`` float32, one gradient from each of
4 contexts (``cpu(0..3)``, standing in for 4 GPUs; the store sums them and, with no updater,
stores the sum) and pulls the stored value into one array on each of the 4 contexts, then
waits (``mx.nd.waitall()``). Payload per round: ``keys * 8 * size * 4`` bytes (3.2 GB by
default). Each framework runs in its own child interpreter (this script with ``--child``), as
``benches/run.py`` does: mxrs with the interpreter running this script, MXNet with
``$MXREF_PYTHON`` (default ``../mxref/bin/python`` from the repo root). Figures are the best
round after one warm-up round (the median is printed too). A default run needs about 4 GB of
memory per child and about a minute.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from run import UNSET_ENV_VARS, cpu_model, interpreter_for, run_json_child  # noqa: E402

NUM_CONTEXTS = 4


def child_main(args):
    """Time the rounds in this interpreter and print one JSON line."""
    try:
        mx = __import__(args.framework)
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 3
    ctxs = [mx.cpu(i) for i in range(NUM_CONTEXTS)]
    shape = (args.size,)
    keys = list(range(args.keys))
    kv = mx.kv.create(args.type)
    kv.init(keys, [mx.nd.zeros(shape) for _ in keys])
    grads = [[mx.nd.ones(shape, ctx=c) for c in ctxs] for _ in keys]
    weights = [[mx.nd.zeros(shape, ctx=c) for c in ctxs] for _ in keys]
    mx.nd.waitall()

    def one_round():
        t0 = time.perf_counter()
        kv.push(keys, grads)
        kv.pull(keys, out=weights)
        mx.nd.waitall()
        return time.perf_counter() - t0

    one_round()
    times = [one_round() for _ in range(args.rounds)]
    check = weights[-1][-1].asnumpy()
    if check[0] != NUM_CONTEXTS or check[-1] != NUM_CONTEXTS:
        print(json.dumps({"error": f"wrong result {check[0]}"}))
        return 4
    payload = args.keys * 2 * NUM_CONTEXTS * args.size * 4
    best, median = min(times), statistics.median(times)
    record = {
        "info": {"version": getattr(mx, "__version__", "unknown")},
        "results": {
            "best_ms": best * 1e3,
            "median_ms": median * 1e3,
            "best_gbps": payload / best / 1e9,
            "payload_gb": payload / 1e9,
        },
    }
    print(json.dumps(record))
    return 0


def child_env():
    env = dict(os.environ)
    for var in UNSET_ENV_VARS:
        env.pop(var, None)
    return env


def run_framework(framework, args):
    python = interpreter_for(framework)
    if not Path(python).exists():
        return None, f"interpreter not found: {python}"
    cmd = [python, str(Path(__file__).resolve()), "--child", "--framework", framework]
    cmd += ["--keys", str(args.keys), "--size", str(args.size), "--rounds", str(args.rounds), "--type", args.type]
    return run_json_child(cmd, child_env(), python)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=100)
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--type", default="local", help="store type: local or device")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--framework", default="mxrs", help=argparse.SUPPRESS)
    p.add_argument("--json", help="also write the records to this file")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    what = f"{args.keys} keys x {args.size} float32, push from and pull to {NUM_CONTEXTS} contexts"
    print(f"KVStore '{args.type}': {what}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores")
    records = {}
    for fw in ("mxrs", "mxnet"):
        rec, note = run_framework(fw, args)
        if rec is None:
            print(f"{fw:6s} skipped: {note}")
            continue
        records[fw] = rec
        r = rec["results"]
        print(
            f"{fw:6s} v{rec['info']['version']:8s} best {r['best_ms']:8.1f} ms/round  "
            f"median {r['median_ms']:8.1f} ms  {r['best_gbps']:6.2f} GB/s of payload"
        )
    if "mxrs" in records and "mxnet" in records:
        ratio = records["mxnet"]["results"]["best_ms"] / records["mxrs"]["results"]["best_ms"]
        print(f"mxrs / mxnet speed: {ratio:.2f}x (best round; > 1 means mxrs is faster)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
