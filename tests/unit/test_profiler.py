"""mx.profiler: engine ops recorded while it runs, a Chrome trace and MXNet's aggregate table."""

import json
import subprocess
import sys

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetValueError


@pytest.fixture(autouse=True)
def _stopped():
    mx.profiler.set_state("stop")
    mx.profiler.reset()
    yield
    mx.profiler.set_state("stop")
    mx.profiler.set_config(profile_all=False, profile_symbolic=True, profile_imperative=True)
    mx.profiler.reset()


def _work():
    a = mx.nd.ones((64, 64))
    b = mx.nd.dot(a, a)
    c = b + 1
    c.wait_to_read()
    return c


def test_trace_has_engine_ops_with_device_thread_time_and_bytes(tmp_path):
    fname = tmp_path / "trace.json"
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=str(fname))
    mx.profiler.set_state("run")
    _work()
    mx.profiler.set_state("stop")
    mx.profiler.dump()
    doc = json.loads(fname.read_text())
    assert doc["displayTimeUnit"] == "ms"
    ops = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    names = {e["name"] for e in ops}
    assert {"_full", "dot", "_plus_scalar"} <= names  # mx.nd.ones is _full here
    dot = next(e for e in ops if e["name"] == "dot")
    assert dot["cat"] == "operator" and dot["dur"] >= 0 and dot["ts"] >= 0
    assert dot["args"]["bytes"] == 64 * 64 * 4
    meta = [e for e in doc["traceEvents"] if e["ph"] == "M"]
    procs = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert procs[dot["pid"]] == "cpu/0"
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    assert (dot["pid"], dot["tid"]) in threads
    # Ordered in time; every event names a known process and thread.
    starts = [e["ts"] for e in ops]
    assert starts == sorted(starts)
    assert all((e["pid"], e["tid"]) in threads for e in ops)


def test_nothing_is_recorded_when_stopped_or_paused(tmp_path):
    mx.profiler.set_config(profile_all=True, filename=str(tmp_path / "t.json"))
    _work()
    mx.profiler.set_state("run")
    mx.profiler.pause()
    mx.nd.zeros((3,)).wait_to_read()
    mx.profiler.resume()
    (mx.nd.ones((5,)) * 3).wait_to_read()
    mx.profiler.set_state("stop")
    mx.nd.arange(4).wait_to_read()
    mx.profiler.dump()
    names = [e["name"] for e in json.loads((tmp_path / "t.json").read_text())["traceEvents"] if e["ph"] == "X"]
    assert names == ["_full", "_mul_scalar"]


def test_profile_flags_off_records_nothing():
    mx.profiler.set_config(profile_all=False, profile_symbolic=False, profile_imperative=False)
    mx.profiler.set_state("run")
    _work()
    mx.profiler.set_state("stop")
    assert "dot" not in mx.profiler.dumps()


def test_dumps_table_as_mxnet():
    mx.profiler.set_config(profile_all=True, aggregate_stats=True)
    mx.profiler.set_state("run")
    for _ in range(3):
        _work()
    mx.profiler.set_state("stop")
    text = mx.profiler.dumps()
    lines = text.splitlines()
    assert "Profile Statistics:" in lines and "operator" in lines
    header = next(line for line in lines if line.startswith("Name"))
    assert header.split() == "Name Total Count Time (ms) Min Time (ms) Max Time (ms) Avg Time (ms)".split()
    dot = next(line for line in lines if line.startswith("dot "))
    count, total, mn, mx_, avg = dot.split()[1:]
    assert int(count) == 3
    assert float(mn) <= float(avg) <= float(mx_) and abs(float(avg) * 3 - float(total)) < 1e-3
    data = json.loads(mx.profiler.dumps(format="json", reset=True))
    assert data["Time"]["operator"]["dot"]["Count"] == 3 and data["Unit"]["Time"] == "ms"
    assert "dot" not in mx.profiler.dumps()


def test_bad_arguments():
    with pytest.raises(MXNetValueError, match="unknown keys"):
        mx.profiler.set_config(bogus=1)
    with pytest.raises(MXNetValueError, match="'run' or 'stop'"):
        mx.profiler.set_state("go")
    with pytest.raises(MXNetValueError, match="format"):
        mx.profiler.dumps(format="xml")


def test_symbolic_executor_ops_are_recorded():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    ex = net.simple_bind(mx.cpu(), data=(2, 3))
    mx.profiler.set_config(profile_all=True)
    mx.profiler.set_state("run")
    ex.forward(data=mx.nd.ones((2, 3)))
    ex.outputs[0].wait_to_read()
    mx.profiler.set_state("stop")
    assert np.isfinite(ex.outputs[0].asnumpy()).all()
    assert "FullyConnected" in mx.profiler.dumps() or "fc" in mx.profiler.dumps()


def test_autostart_from_environment(tmp_path):
    path = str(tmp_path / "a.json")
    code = (
        "import json, mxrs as mx\n"
        f"mx.profiler.set_config(filename={path!r})\n"
        "(mx.nd.ones((2,)) + 1).wait_to_read()\n"
        "mx.profiler.dump()\n"
        f"print(sorted({{e['name'] for e in json.load(open({path!r}))['traceEvents'] if e['ph'] == 'X'}}))\n"
    )
    env = {"MXNET_PROFILER_AUTOSTART": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "_plus_scalar" in out.stdout
