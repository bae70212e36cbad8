"""ImageRecordIter throughput: mxrs vs MXNet 1.9.1, in one run.

Usage::

    python benches/imageiter.py [--quick] [--threads 2] [--batch-size 32]

The first run writes ``benches/results/imageiter_2000.rec`` / ``.idx`` (git-ignored, reused
afterwards): 2,000 random 256x256 RGB JPEGs (quality 90), each a random 16x16 colour grid
scaled up bilinearly plus Gaussian noise (sigma 8), so they compress like photos rather than
like white noise. Both frameworks then read that file with::

    ImageRecordIter(data_shape=(3, 224, 224), resize=224, rand_crop=True, rand_mirror=True,
                    preprocess_threads=2, batch_size=32)

(resize the shorter edge to 224, random 224x224 crop, random mirror, float32 NCHW), each in
its own child interpreter (this script with ``--child``): mxrs with the interpreter running
this script, MXNet with ``$MXREF_PYTHON`` (default ``../mxref/bin/python``). A child runs one
warm-up epoch, then times whole epochs (each batch's data is waited for) and reports the best
and median images/s, and the least CPU time per image (user + system, all threads). The
ratio mxrs / MXNet is printed (target: at least 1.5), and the CPU-time ratio, which is the
fairer figure when other processes share the cores.
"""

import argparse
import datetime
import json
import os
import resource
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from run import BUSY_FRACTION, cpu_busy_fraction, cpu_model, interpreter_for, run_json_child  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"
N_IMAGES = 2000
SIDE = 256
TARGET = 1.5


def make_dataset(prefix):
    """Write the benchmark's .rec/.idx with mxrs (once)."""
    import numpy as np
    from mxrs import _native, recordio

    rng = np.random.default_rng(1234)
    rec = recordio.MXIndexedRecordIO(str(prefix) + ".idx.tmp", str(prefix) + ".rec.tmp", "w")
    for i in range(N_IMAGES):
        grid = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        big = np.frombuffer(_native.imresize(grid.tobytes(), 16, 16, 3, SIDE, SIDE), np.uint8).reshape(SIDE, SIDE, 3)
        img = np.clip(big + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)
        rec.write_idx(i, recordio.pack_img(recordio.IRHeader(0, float(i % 10), i, 0), img, quality=90))
    rec.close()
    os.replace(str(prefix) + ".rec.tmp", str(prefix) + ".rec")
    os.replace(str(prefix) + ".idx.tmp", str(prefix) + ".idx")


# --------------------------------------------------------------------------- child


def child(args):
    try:
        if args.child == "mxnet":
            import mxnet as mx
        else:
            import mxrs as mx
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        print(json.dumps({"error": repr(exc)}))
        return
    it = mx.io.ImageRecordIter(
        path_imgrec=args.rec + ".rec",
        path_imgidx=args.rec + ".idx",
        data_shape=(3, 224, 224),
        batch_size=args.batch_size,
        resize=224,
        rand_crop=True,
        rand_mirror=True,
        preprocess_threads=args.threads,
        prefetch_buffer=4,
        verbose=False,
    )

    def cpu_s():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    cpu_ms = []

    def epoch():
        start, cpu0 = time.perf_counter(), cpu_s()
        n = 0
        for batch in it:
            batch.data[0].wait_to_read()
            n += batch.data[0].shape[0] - batch.pad
        elapsed = time.perf_counter() - start
        cpu_ms.append((cpu_s() - cpu0) * 1e3 / n)
        it.reset()
        return n / elapsed

    epoch()  # warm-up: page cache, thread start-up
    rates = sorted(epoch() for _ in range(args.epochs))
    cpu = sorted(cpu_ms[1:])
    out = {"version": mx.__version__, "best": rates[-1], "median": rates[len(rates) // 2], "cpu_ms": cpu[0]}
    print(json.dumps(out))


# --------------------------------------------------------------------------- parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 timed epochs instead of 4")
    p.add_argument("--threads", type=int, default=2, help="preprocess_threads")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--child", choices=["mxrs", "mxnet"], help=argparse.SUPPRESS)
    p.add_argument("--rec", help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0

    RESULTS_DIR.mkdir(exist_ok=True)
    prefix = RESULTS_DIR / f"imageiter_{N_IMAGES}"
    if not Path(str(prefix) + ".rec").exists():
        t0 = time.time()
        make_dataset(prefix)
        print(f"made {prefix}.rec in {time.time() - t0:.1f} s")
    size_mb = Path(str(prefix) + ".rec").stat().st_size / 1e6
    busy_before = cpu_busy_fraction()
    epochs = 2 if args.quick else 4
    env = dict(os.environ)
    env.pop("MXNET_ENGINE_TYPE", None)
    records = {}
    for fw in ("mxrs", "mxnet"):
        python = interpreter_for(fw)
        if not Path(python).exists():
            print(f"{fw}: interpreter not found: {python}")
            continue
        cmd = [python, __file__, "--child", fw, "--rec", str(prefix), "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--epochs", str(epochs)]  # fmt: skip
        rec, note = run_json_child(cmd, env, python)
        if rec is None:
            print(f"{fw}: skipped ({note})")
            continue
        records[fw] = rec
    busy_after = cpu_busy_fraction()

    print(f"\nImageRecordIter, {N_IMAGES} JPEGs {SIDE}x{SIDE} ({size_mb:.1f} MB), resize 224, rand_crop, "
          f"rand_mirror, batch {args.batch_size}, preprocess_threads={args.threads}; {cpu_model()}")  # fmt: skip
    for fw, rec in records.items():
        print(
            f"  {fw:6s} v{rec['version']:8s} best {rec['best']:8.0f} images/s   median {rec['median']:8.0f}"
            f"   CPU time {rec['cpu_ms']:.2f} ms/image (all threads)"
        )
    ratio = None
    if "mxrs" in records and "mxnet" in records:
        ratio = records["mxrs"]["best"] / records["mxnet"]["best"]
        verdict = "meets" if ratio >= TARGET else "below"
        print(f"  ratio mxrs / MXNet: {ratio:.2f}x ({verdict} the {TARGET}x target)")
        cpu_ratio = records["mxnet"]["cpu_ms"] / records["mxrs"]["cpu_ms"]
        print(f"  CPU time per image, MXNet / mxrs: {cpu_ratio:.2f}x (less sensitive to other load)")
    if max(busy_before, busy_after) > BUSY_FRACTION:
        print(f"  warning: other processes used {max(busy_before, busy_after):.0%} of the CPU; figures are noisy")
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "results": records,
        "ratio": ratio,
        "busy": [busy_before, busy_after],
    }
    (RESULTS_DIR / "imageiter.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
