"""Cost of the op profiler on a tiny-op loop (``c = a + b`` on 4-element arrays).

    .venv/bin/python benches/profiler_overhead.py [--n 200000] [--rounds 5]

Prints the best per-op time over the rounds with the profiler off, and on (recording every op).
Run it with another build's interpreter to compare (the "off" line runs on any mxrs).
"""

import argparse
import time

import mxrs as mx


def loop(n):
    a = mx.nd.ones((4,))
    b = mx.nd.ones((4,))
    c = a + b
    c.wait_to_read()
    t = time.perf_counter()
    for _ in range(n):
        c = a + b
    c.wait_to_read()
    return (time.perf_counter() - t) / n * 1e6


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    off = min(loop(args.n) for _ in range(args.rounds))
    print(f"profiler off: {off:.3f} us/op")
    if hasattr(mx, "profiler"):
        mx.profiler.set_config(profile_all=True)
        on = []
        for _ in range(args.rounds):
            mx.profiler.set_state("run")
            on.append(loop(args.n))
            mx.profiler.set_state("stop")
            mx.profiler.reset()
        print(f"profiler on:  {min(on):.3f} us/op ({min(on) - off:+.3f} us)")


if __name__ == "__main__":
    main()
