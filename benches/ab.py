"""A/B of two mxrs builds on the NDArray workloads of ``benches/run.py`` (CPU).

Usage::

    python benches/ab.py --before SITE_DIR [--after SITE_DIR] [--rounds 3]

``SITE_DIR`` is a folder holding an installed ``mxrs`` (``pip install --target DIR wheel``);
without ``--after`` the ``mxrs`` this interpreter imports is the second build. The two builds run
``benches/workloads.py`` in child processes, alternating which goes first round by round, and
each case reports its best over the rounds: on a small, noisy machine that separates a real
change from the 5-10% that one child differs from the next.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKLOADS = Path(__file__).resolve().parent / "workloads.py"


def run_child(site):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if site:
        env["PYTHONPATH"] = site
    out = subprocess.run(
        [sys.executable, str(WORKLOADS), "--framework", "mxrs"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/tmp",
        check=False,
    ).stdout
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"the child for {site or 'this interpreter'} printed no result")
    return json.loads(lines[-1])["results"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="site folder of the first build")
    p.add_argument("--after", default="", help="site folder of the second build (default: this mxrs)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    builds = {"before": args.before, "after": args.after}
    best = {name: {} for name in builds}
    for r in range(args.rounds):
        for name in list(builds) if r % 2 == 0 else list(builds)[::-1]:
            for x in run_child(builds[name]):
                lower = x["better"] == "lower"
                old = best[name].get(x["case"])
                if old is None or (x["value"] < old[0] if lower else x["value"] > old[0]):
                    best[name][x["case"]] = (x["value"], x["unit"], lower)
    print(f"{'case':<24}{'before':>10}{'after':>10}  unit     after vs before (>1: faster)")
    for case, (v0, unit, lower) in best["before"].items():
        v1 = best["after"][case][0]
        print(f"{case:<24}{v0:>10.3f}{v1:>10.3f}  {unit:<8} {(v0 / v1 if lower else v1 / v0):.2f}")


if __name__ == "__main__":
    main()
