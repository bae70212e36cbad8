"""Child process of the crash-safety tests: save generation after generation to one target.

Usage: ``python _save_loop.py TARGET N START``. Prints ``ready``, then the number of each
generation once its save has returned. Every file holds ``gen`` (the generation g) and two
arrays of N float32 that are ``arange(N) + g`` and ``2 * arange(N) + g``, so a reader can tell
a complete file of any generation from a torn one.
"""

import sys

import mxrs as mx
import numpy as np


def main():
    target, n, gen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    base = np.arange(n, dtype=np.float32)
    print("ready", flush=True)
    while True:
        gen += 1
        mx.nd.save(target, {"gen": mx.nd.array([gen]), "a": mx.nd.array(base + gen), "b": mx.nd.array(base * 2 + gen)})
        print(gen, flush=True)


if __name__ == "__main__":
    main()
