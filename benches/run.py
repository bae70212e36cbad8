"""Side-by-side NDArray benchmark: mxrs vs MXNet 1.9.1, PyTorch (CPU) and NumPy.

Usage::

    python benches/run.py [--quick] [--rounds N] [--only CASE] [--threads N] [--frameworks a,b]

Each framework runs in its own child interpreter (``benches/workloads.py``):
mxrs and NumPy with the interpreter running this script, MXNet with
``$MXREF_PYTHON`` (default ``../mxref/bin/python`` from the repo root) and
PyTorch with ``$TORCH_PYTHON`` (default ``../torchref/bin/python``).  A peer
that is missing or fails to import is skipped with a note.  The table is
printed and the results are written to ``benches/results/ndarray.json``.

On a small VM a figure moves by 20-40% from one child process to the next (where
the array lands in memory, which host cores the two vCPUs get), for every
framework alike.  So the children run in ``--rounds`` rounds (default 3), each
round starting with a different framework; a framework's figure is its best over
the rounds, and the ``rounds`` column gives the range of mxrs's ratio to the best
peer within each round.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORKLOADS = BENCH_DIR / "workloads.py"
RESULTS_FILE = BENCH_DIR / "results" / "ndarray.json"

FRAMEWORKS = ("mxrs", "mxnet", "torch", "numpy")
PEERS = ("mxnet", "torch", "numpy")
CASES = ("overhead", "add", "exp", "sum", "stream", "elemwise", "dot", "batch_dot")
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
)
# Set on some machines to pin OpenBLAS to a slow generic kernel; never pass them on.
UNSET_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CHILD_TIMEOUT_S = 900
# Share of CPU time used by others above which the run is flagged as disturbed.
BUSY_FRACTION = 0.15


def interpreter_for(framework):
    """Return the Python interpreter that runs ``framework``'s child."""
    if framework == "mxnet":
        return os.environ.get("MXREF_PYTHON") or str(REPO_ROOT.parent / "mxref" / "bin" / "python")
    if framework == "torch":
        return os.environ.get("TORCH_PYTHON") or str(REPO_ROOT.parent / "torchref" / "bin" / "python")
    return sys.executable


def child_env(threads):
    """Child environment: thread counts pinned, OpenBLAS overrides removed."""
    env = dict(os.environ)
    for var in UNSET_ENV_VARS:
        env.pop(var, None)
    for var in THREAD_ENV_VARS:
        env[var] = str(threads)
    return env


def run_child(framework, cases, threads, quick):
    """Run one framework's child; return ``(record, None)`` or ``(None, note)``."""
    python = interpreter_for(framework)
    if not Path(python).exists():
        return None, f"interpreter not found: {python}"
    cmd = [python, str(WORKLOADS), "--framework", framework, "--threads", str(threads)]
    for case in cases:
        cmd += ["--case", case]
    if quick:
        cmd.append("--quick")
    return run_json_child(cmd, child_env(threads), python)


def run_json_child(cmd, env, python):
    """Run a child that prints JSON lines; return ``(last record, None)`` or ``(None, note)``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {CHILD_TIMEOUT_S} s"
    except OSError as exc:
        return None, f"could not start {python}: {exc}"
    json_lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not json_lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"exit code {proc.returncode}: {tail}"
    record = json.loads(json_lines[-1])
    if "error" in record:
        return None, f"import failed: {record['error']}"
    return record, None


def describe(info):
    """One-line summary of a child's versions, threads and BLAS."""
    parts = [f"v{info['version']}", f"threads={info['threads_requested']}"]
    if "torch_num_threads" in info:
        parts.append(f"torch.get_num_threads()={info['torch_num_threads']}")
        parts.append(f"cpu_capability={info['torch_cpu_capability']}")
    pools = info.get("threadpools")
    if isinstance(pools, str):
        parts.append(pools)
    else:
        for pool in pools or []:
            desc = pool["internal_api"]
            if "version" in pool:
                desc += f" {pool['version']}"
            if "architecture" in pool:
                desc += f" kernel={pool['architecture']}"
            parts.append(f"{desc} ({pool['num_threads']} thr)")
    if "features" in info:
        blas = [f for f in info["features"] if f.startswith(("BLAS", "MKLDNN", "OPENMP"))]
        parts.append("features=" + ",".join(blas))
    return "; ".join(parts)


def cpu_model():
    """CPU model name from /proc/cpuinfo, or the platform string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_busy_fraction(interval=1.0):
    """Share of all cores' time spent busy over ``interval`` s (None if unknown)."""

    def snapshot():
        fields = [int(x) for x in Path("/proc/stat").read_text().split()[1:9]]
        idle = fields[3] + fields[4]  # idle + iowait
        return idle, sum(fields)

    try:
        idle0, total0 = snapshot()
        time.sleep(interval)
        idle1, total1 = snapshot()
    except (OSError, ValueError):
        return None
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total > 0 else None


def build_rows(records):
    """Merge per-framework results into one row per case with mxrs ratios."""
    rows = {}
    for framework, record in records.items():
        for result in record["results"]:
            row = rows.setdefault(
                result["case"],
                {
                    "case": result["case"],
                    "unit": result["unit"],
                    "better": result["better"],
                },
            )
            row.setdefault("values", {})[framework] = result["value"]
    for row in rows.values():
        values = row["values"]
        peers = {fw: values[fw] for fw in PEERS if fw in values}
        pick = min if row["better"] == "lower" else max
        row["best_peer"] = pick(peers, key=peers.get) if peers else None
        mine = values.get("mxrs")
        row["mxrs_vs_mxnet"] = mine / values["mxnet"] if mine and "mxnet" in values else None
        row["mxrs_vs_best"] = mine / peers[row["best_peer"]] if mine and peers else None
    return list(rows.values())


def merge_rounds(rounds):
    """One record per framework from several rounds: each case's best result over the rounds.

    ``rounds`` is a list of ``{framework: record}``; the merged result of a case keeps every
    round's value under ``"rounds"``.
    """
    merged = {}
    for records in rounds:
        for framework, record in records.items():
            entry = merged.setdefault(framework, {"info": record["info"], "results": {}})
            for result in record["results"]:
                best = entry["results"].get(result["case"])
                values = (best["rounds"] if best else []) + [result["value"]]
                if best is None or (
                    result["value"] < best["value"] if result["better"] == "lower" else result["value"] > best["value"]
                ):
                    best = dict(result)
                best["rounds"] = values
                entry["results"][result["case"]] = best
    return {fw: {"info": e["info"], "results": list(e["results"].values())} for fw, e in merged.items()}


def add_round_spread(rows, rounds):
    """Add each row's range of mxrs/best-peer ratios over the rounds (``round_ratios``)."""
    per_round = [{row["case"]: row["mxrs_vs_best"] for row in build_rows(records)} for records in rounds]
    for row in rows:
        ratios = [r[row["case"]] for r in per_round if r.get(row["case"]) is not None]
        row["round_ratios"] = ratios
    return rows


def fmt_range(values, width):
    """``lo-hi`` of a list of ratios, right-aligned, or '-'."""
    if not values:
        return "-".rjust(width)
    if len(values) == 1:
        return f"{values[0]:.2f}".rjust(width)
    return f"{min(values):.2f}-{max(values):.2f}".rjust(width)


def fmt(value, width, digits=2):
    """Right-aligned number, or '-' when missing."""
    text = "-" if value is None else f"{value:.{digits}f}"
    return text.rjust(width)


def print_table(rows):
    """Print the results table and how to read its ratio columns."""
    header = ["case", "unit", *FRAMEWORKS, "mxrs/mxnet", "mxrs/best", "best peer", "rounds"]
    widths = [22, 8, 9, 9, 9, 9, 11, 10, 10, 10]
    print("  ".join(h.rjust(w) if i > 1 else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))))
    for row in rows:
        cells = [row["case"].ljust(widths[0]), row["unit"].ljust(widths[1])]
        cells += [fmt(row["values"].get(fw), 9) for fw in FRAMEWORKS]
        cells.append(fmt(row["mxrs_vs_mxnet"], 11))
        cells.append(fmt(row["mxrs_vs_best"], 10))
        cells.append((row["best_peer"] or "-").rjust(10))
        cells.append(fmt_range(row.get("round_ratios"), 10))
        print("  ".join(cells))
    print(
        "\nRatios are mxrs / peer."
        "\n  us/op (overhead): lower is better, ratio < 1 means mxrs is faster."
        "\n  GB/s, GFLOP/s: higher is better, ratio > 1 means mxrs is faster."
        "\nTorch and NumPy are synchronous: both overhead rows time the same loop."
        "\nValues are the best of the repeats over all rounds (the JSON file also has medians"
        "\nand every round's value); 'rounds' is the range of mxrs/best within single rounds."
    )


def memcpy_fractions(rows):
    """Each framework's streaming-op GB/s as a fraction of the machine's memcpy bandwidth.

    The memcpy bandwidth is NumPy's ``copy out= 1e7`` row (``np.copyto``, one read and one write
    per byte: glibc's memcpy). Returns ``(memcpy GB/s, {case: {framework: fraction}})``, or
    ``(None, {})`` when NumPy did not run.
    """
    by_case = {row["case"]: row for row in rows}
    copy = by_case.get("copy out= 1e7", {}).get("values", {}).get("numpy")
    if not copy:
        return None, {}
    fractions = {
        case: {fw: value / copy for fw, value in row["values"].items()}
        for case, row in by_case.items()
        if case.endswith(" out= 1e7")
    }
    return copy, fractions


def print_memcpy_fractions(rows):
    """Print the streaming rows as fractions of the machine's memcpy bandwidth."""
    copy, fractions = memcpy_fractions(rows)
    if not fractions:
        return
    print(f"\nStreaming ops as a fraction of this machine's memcpy bandwidth ({copy:.1f} GB/s, np.copyto):")
    print("  ".join(["case".ljust(22), *(fw.rjust(9) for fw in FRAMEWORKS)]))
    for case, values in fractions.items():
        print("  ".join([case.ljust(22), *(fmt(values.get(fw), 9) for fw in FRAMEWORKS)]))


def parse_args(argv=None):
    """Command-line options of the runner."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (under a minute)")
    parser.add_argument(
        "--only",
        action="append",
        choices=CASES,
        metavar="CASE",
        help=f"run only this case (repeatable): {', '.join(CASES)}",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="run every framework's child this many times, in turn (default 3; 1 with --quick)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads per framework")
    parser.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated subset of " + ",".join(FRAMEWORKS),
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Run every framework's child, print the table and write the JSON file."""
    args = parse_args(argv)
    cases = [case for case in CASES if not args.only or case in args.only]
    frameworks = [fw for fw in args.frameworks.split(",") if fw]
    unknown = sorted(set(frameworks) - set(FRAMEWORKS))
    if unknown:
        sys.exit(f"unknown framework(s): {', '.join(unknown)}")
    removed = {var: os.environ[var] for var in UNSET_ENV_VARS if var in os.environ}

    print(f"NDArray benchmark  {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"host: {cpu_model()}, {os.cpu_count()} cores")
    busy = cpu_busy_fraction()
    if busy is not None:
        print(f"CPU busy before the run (other processes): {busy:.0%}")
        if busy > BUSY_FRACTION:
            print("WARNING: the machine is busy; the figures will be unreliable.")
    print(f"threads per framework: {args.threads}; quick={args.quick}")
    print(f"cases: {', '.join(cases)}")
    if removed:
        print(f"unset for the children: {removed}")

    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds < 1:
        sys.exit("--rounds must be at least 1")
    round_records, notes, infos = [], {}, {}
    for index in range(rounds):
        records = {}
        # Each round starts with a different framework, so none always runs first or last.
        order = frameworks[index % len(frameworks) :] + frameworks[: index % len(frameworks)]
        for framework in order:
            if framework in notes:
                continue
            start = time.perf_counter()
            record, note = run_child(framework, cases, args.threads, args.quick)
            elapsed = time.perf_counter() - start
            if record is None:
                notes[framework] = note
                print(f"  {framework:6} SKIPPED ({note})")
                continue
            records[framework] = record
            if framework not in infos:
                infos[framework] = record["info"]
                print(f"  {framework:6} {describe(record['info'])}  [{elapsed:.1f} s]")
        round_records.append(records)
        if rounds > 1:
            print(f"  round {index + 1}/{rounds} done")
    busy_after = cpu_busy_fraction()
    if busy_after is not None:
        print(f"CPU busy after the run (other processes): {busy_after:.0%}")
        if busy_after > BUSY_FRACTION:
            print("WARNING: the machine got busy; the figures may be unreliable.")
    print()

    records = merge_rounds(round_records)
    rows = add_round_spread(build_rows(records), round_records)
    print_table(rows)
    print_memcpy_fractions(rows)

    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "rounds": rounds,
        "threads": args.threads,
        "cases": cases,
        "host": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
        },
        "unset_env": removed,
        "cpu_busy_before": busy,
        "cpu_busy_after": busy_after,
        "frameworks": {
            fw: {
                "python": interpreter_for(fw),
                "info": infos.get(fw),
                "skipped": notes.get(fw),
            }
            for fw in frameworks
        },
        "rows": rows,
        "memcpy_fractions": memcpy_fractions(rows)[1],
        "raw": {fw: rec["results"] for fw, rec in records.items()},
    }
    RESULTS_FILE.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {RESULTS_FILE.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
