"""Golden values of mx.runtime, mx.viz and mx.profiler from real MXNet 1.9.1
(tests/data/ecosystem_golden.json).

Run with MXNet's interpreter from the repository root:
    /work/mxref/bin/python tools/golden/ecosystem.py
"""

import contextlib
import io
import json
import os

import mxnet as mx


def net():
    """An MLP with a BatchNorm'd convolutional branch (no layer where MXNet's summary miscounts)."""
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    bn = mx.sym.BatchNorm(act, name="bn")
    fc2 = mx.sym.FullyConnected(bn, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def main():
    out = {"feature_names": [f.name for f in mx.runtime.feature_list()]}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        mx.viz.print_summary(net(), shape={"data": (1, 20)})
    out["summary"] = buf.getvalue()
    dot = mx.viz.plot_network(net(), shape={"data": (1, 20)})
    out["dot_edges"] = sorted(line.strip() for line in dot.source.splitlines() if "->" in line)
    mx.profiler.set_config(profile_all=True, aggregate_stats=True)
    mx.profiler.set_state("run")
    (mx.nd.ones((4, 4)) + 1).wait_to_read()
    mx.profiler.set_state("stop")
    table = mx.profiler.dumps()
    out["dumps_operator_header"] = next(
        line for line in table.splitlines() if line.startswith("Name") and "Time" in line
    )
    path = os.path.join(os.path.dirname(__file__), "../../tests/data/ecosystem_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
