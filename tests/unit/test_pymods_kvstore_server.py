"""mx.kv.KVStoreServer, mx.kv.kvstore and mx.profiler.set_kvstore_handle (profile_process='server')."""

import json
import os
import pickle
import shutil
import subprocess
import sys

import mxrs as mx
import numpy as np
import pytest
from mxrs import kvstore_server

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "dist", "pymods_profile_server.py")


@pytest.fixture(autouse=True)
def _restore_profiler():
    old = mx.profiler.profiler_kvstore_handle
    yield
    mx.profiler.set_kvstore_handle(old)
    mx.profiler.set_state("stop")
    mx.profiler.set_config(filename="profile.json", profile_all=False)
    mx.profiler.reset()


def test_import_paths():
    assert mx.kv.kvstore is mx.kv is mx.kvstore
    import mxrs.kvstore.kvstore as k  # noqa: PLC0415 - the import path is what is tested

    assert k is mx.kv
    from mxrs.kvstore.kvstore import KVStore  # noqa: PLC0415

    assert KVStore is mx.kv.KVStore
    assert mx.kv.KVStoreServer is kvstore_server.KVStoreServer
    assert mx.kv.kvstore_server is kvstore_server
    assert "KVStoreServer" in mx.kv.__all__


def test_server_controller_installs_the_pickled_optimizer():
    kv = mx.kv.create("local")
    server = mx.kv.KVStoreServer(kv)
    assert server.kvstore is kv and server.handle is kv.handle
    ctrl = server._controller()
    updater = ctrl(kvstore_server.K_CONTROLLER, pickle.dumps(mx.optimizer.SGD(learning_rate=0.5), 0), None)
    w, g = mx.nd.ones((2, 3)), mx.nd.ones((2, 3)) * 2
    updater(3, g._handle, w._handle)
    np.testing.assert_allclose(w.asnumpy(), np.zeros((2, 3)))  # 1 - 0.5 * 2
    # A str key reaches the optimizer's Updater (as bytes) and gets its own state.
    updater("w", g._handle, w._handle)
    np.testing.assert_allclose(w.asnumpy(), -np.ones((2, 3)))


def test_server_controller_other_commands(capsys):
    ctrl = mx.kv.KVStoreServer()._controller()
    assert ctrl(kvstore_server.K_SET_MULTI_PRECISION, b"") is None
    assert ctrl(kvstore_server.K_SYNC_MODE, b"") is None
    assert ctrl(42, b"hi") is None
    assert "unknown command (42, b'hi')" in capsys.readouterr().out


def test_server_profiler_commands_run_the_local_profiler(tmp_path):
    # What a server does with kSetProfilerParams: the call's kind is the body's last character.
    fname = tmp_path / "prof.json"
    ctrl = mx.kv.KVStoreServer()._controller()
    body = f"profile_all:True,filename:{fname},aggregate_stats:False0".encode()
    assert ctrl(kvstore_server.K_SET_PROFILER_PARAMS, body) is None
    assert mx.profiler._state.config["profile_all"] is True
    assert mx.profiler._state.config["aggregate_stats"] is False
    assert mx.profiler._state.config["filename"] == str(tmp_path / "rank0_prof.json")
    ctrl(kvstore_server.K_SET_PROFILER_PARAMS, b"11")  # set_state('run')
    assert mx.profiler._state.running
    ctrl(kvstore_server.K_SET_PROFILER_PARAMS, b"12")  # pause
    assert mx.profiler._state.paused
    ctrl(kvstore_server.K_SET_PROFILER_PARAMS, b"02")  # resume
    assert not mx.profiler._state.paused
    (mx.nd.ones((3,)) + 1).wait_to_read()
    ctrl(kvstore_server.K_SET_PROFILER_PARAMS, b"01")  # set_state('stop')
    ctrl(kvstore_server.K_SET_PROFILER_PARAMS, b"13")  # dump
    names = [e["name"] for e in json.loads((tmp_path / "rank0_prof.json").read_text())["traceEvents"]]
    assert any("plus" in n or "add" in n for n in names), names
    with pytest.raises(mx.base.MXNetValueError, match="improper"):
        ctrl(kvstore_server.K_SET_PROFILER_PARAMS, b"filename0")


def test_create_sets_the_profiler_handle():
    kv = mx.kv.create("local")
    assert mx.profiler.profiler_kvstore_handle is kv.handle
    mx.kv.create("teststore")  # registry stores have no native handle: unchanged (as MXNet)
    assert mx.profiler.profiler_kvstore_handle is kv.handle


@pytest.mark.parametrize(
    "call",
    [
        lambda: mx.profiler.set_config(profile_all=True, profile_process="server"),
        lambda: mx.profiler.set_state("run", profile_process="server"),
        lambda: mx.profiler.pause(profile_process="server"),
        lambda: mx.profiler.resume(profile_process="server"),
        lambda: mx.profiler.dump(profile_process="server"),
    ],
)
def test_server_profiling_needs_a_dist_store(call):
    mx.profiler.set_kvstore_handle(None)
    with pytest.raises(mx.base.MXNetError, match="no kvstore handle"):
        call()
    mx.profiler.set_kvstore_handle(mx.kv.create("local").handle)
    with pytest.raises(mx.base.MXNetError, match="'local', which has no servers"):
        call()
    assert not mx.profiler._state.running  # the worker's profiler was not touched


def test_bad_profile_process():
    with pytest.raises(mx.base.MXNetValueError, match="'worker' or 'server'"):
        mx.profiler.set_state("run", profile_process="scheduler")


def test_worker_profiling_unchanged(tmp_path):
    mx.profiler.set_config(profile_all=True, filename=str(tmp_path / "w.json"), profile_process="worker")
    mx.profiler.set_state("run", profile_process="worker")
    (mx.nd.ones((2,)) * 3).wait_to_read()
    mx.profiler.set_state("stop")
    mx.profiler.dump(profile_process="worker")
    assert json.loads((tmp_path / "w.json").read_text())["traceEvents"]


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun is not installed")
def test_profile_the_server_of_a_dist_store(tmp_path):
    env = dict(os.environ)
    for k in ("DMLC_NUM_WORKER", "DMLC_NUM_SERVER", "DMLC_ROLE"):
        env.pop(k, None)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MXNET_KVSTORE_TIMEOUT="20")
    env.update(OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [sys.executable, "-m", "mxrs.launch", "-n", "1", "-s", "2", sys.executable, SCRIPT, str(tmp_path)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = json.loads((tmp_path / "worker.json").read_text())
    files = ["rank0_server.json", "rank1_server.json"]
    assert seen == {"handle_set": True, "value": pytest.approx(0.6), "server_files": files, "worker_file": False}
    # The servers (their own processes, run by KVStoreServer at import) recorded the optimizer's
    # updates of the key they hold while running and not paused: 3 of the 4 pushes.
    ops = []
    for f in files:
        trace = json.loads((tmp_path / f).read_text())["traceEvents"]
        ops += [e["name"] for e in trace if e.get("ph") == "X"]
    assert len([n for n in ops if "sgd" in n]) == 3, ops
