"""Distributed kvstore over MPI: real processes on loopback started by mpirun / mxrs.launch.

Expected values follow MXNet 1.9.1's dist semantics as verified on loopback
(``shared/reference/mxnet-compat.md`` section 8.4): sync pushes sum over workers and replace the
stored value (no optimizer) or feed one server-side update per round; async applies each push.
Skipped where ``mpirun`` is absent; the no-MPI error is tested everywhere.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import mxrs as mx
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "dist", "kv_scenarios.py")
MPIRUN = shutil.which("mpirun")
_spec = importlib.util.spec_from_file_location("dist_helpers", os.path.join(HERE, "..", "dist", "dist_helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="mpirun is not installed")
# With the servers inside the workers, dist_sync sums with MPI allreduces among the workers (the
# default) or sends to the server shards (MXRS_KVSTORE_ALLREDUCE=0): both are tested.
MODES = {"allreduce": {}, "server": {"MXRS_KVSTORE_ALLREDUCE": "0"}}
both_modes = pytest.mark.parametrize("mode", list(MODES))


def _env(**extra):
    env = dict(os.environ)
    for k in ("DMLC_NUM_WORKER", "DMLC_NUM_SERVER", "DMLC_ROLE"):
        env.pop(k, None)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MXNET_KVSTORE_TIMEOUT="20")
    env.update(OMPI_MCA_rmaps_base_oversubscribe="1", MXNET_ENGINE_TYPE=env.get("MXNET_ENGINE_TYPE", ""))
    if not env["MXNET_ENGINE_TYPE"]:
        env.pop("MXNET_ENGINE_TYPE")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _mpirun(tmp_path, scenario, np_, launch=None, timeout=60, **env):
    """Run the scenario on np_ processes; returns (exit status, output, {rank: result})."""
    if launch:
        cmd = [sys.executable, "-m", "mxrs.launch", *launch, sys.executable, SCRIPT, scenario, str(tmp_path)]
    else:
        cmd = [MPIRUN, "--oversubscribe", "-np", str(np_), sys.executable, SCRIPT, scenario, str(tmp_path)]
    p = subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=timeout, check=False)
    res = {}
    for f in os.listdir(tmp_path):
        if f.startswith("rank"):
            with open(tmp_path / f) as fh:
                res[int(f[4:-5])] = json.load(fh)
    return p.returncode, p.stdout + p.stderr, res


def _every_rank_ran(tmp_path, scenario, np_, mode):
    """Run the scenario in `mode` on np_ ranks; the results of ranks that all ended without an
    error."""
    rc, out, res = _mpirun(tmp_path, scenario, np_, **MODES[mode])
    assert rc == 0, out
    assert sorted(res) == list(range(np_))
    for r in res.values():
        assert "error" not in r, r
    return list(res.values())


def test_dist_store_without_mpi_says_what_to_install():
    code = (
        "import mxrs as mx\n"
        "kv = mx.kv.create('local'); kv.init(3, mx.nd.ones((2,))); print('local ok')\n"
        "try:\n    mx.kv.create('dist_sync')\nexcept mx.base.NotSupported as e:\n    print('ERR', e)\n"
    )
    env = _env(MXRS_MPI_LIBRARY="/nonexistent/libmpi.so.40")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "local ok" in p.stdout
    assert "ERR distributed kvstore needs MPI" in p.stdout and "apt-get install openmpi-bin" in p.stdout


@needs_mpi
def test_seed_sequence_2_workers_1_server_via_launcher(tmp_path):
    rc, out, res = _mpirun(tmp_path, "seed", 3, launch=["-n", "2", "-s", "1"])
    assert rc == 0, out
    assert sorted(res) == [0, 1]
    for r in res.values():
        assert (r["type"], r["num_workers"]) == ("dist_sync", 2)
        assert r["init"] == 2.0  # rank 0's init value
        assert r["push8"] == 16.0  # 8 from each of 2 workers, summed, replaces
        assert r["push4dev"] == [8.0, 8.0]  # 4 device values summed per worker, then over workers
        assert r["list"] == [3.0, 3.0, 3.0]  # 1 + 2
        assert r["big_ok"]
        assert r["sgd"] == -1.5  # 0 - 0.5 * (1 + 2), MXNet's verified value
        assert r["pushpull_sgd"] == -0.5  # 1 - 0.5 * 3


@needs_mpi
@both_modes
def test_seed_sequence_3_workers_2_servers_split_keys(tmp_path, mode):
    env = dict(DMLC_NUM_WORKER=3, DMLC_NUM_SERVER=2, MXNET_KVSTORE_BIGARRAY_BOUND=10, **MODES[mode])
    rc, out, res = _mpirun(tmp_path, "seed", 3, **env)
    assert rc == 0, out
    assert sorted(res) == [0, 1, 2]
    for r in res.values():
        assert r["push8"] == 24.0 and r["push4dev"] == [12.0, 12.0] and r["list"] == [6.0] * 3
        assert r["big_ok"]  # split over 2 servers, summed per part
        assert r["sgd"] == -3.0 and r["pushpull_sgd"] == -2.0


@needs_mpi
@both_modes
def test_large_and_mixed_dtype_pushes_sum_on_every_rank(tmp_path, mode):
    # Over 4 MiB: the allreduce path's non-blocking sums; with an int64 key in the same push:
    # one fused buffer per dtype.
    for r in _every_rank_ran(tmp_path, "large", 2, mode):
        assert r["ok"] == [True] * 6, r


@needs_mpi
@both_modes
def test_pushes_read_views_and_pending_values_in_place(tmp_path, mode):
    total = sum(k + 1 for k in range(2))  # the ranks push (rank + 1) times the value
    for r in _every_rank_ran(tmp_path, "views", 2, mode):
        assert r["row"] == [8.0, 10.0, 12.0, 14.0], r  # row 1 of arange(12) from both ranks
        assert r["lazy"] == [51.0 * total] * 2, r
        # SGD with learning rate 1 from 0: w -= sum of the step's pushes (1+step, 2+step).
        assert r["sgd"] == [-3.0, -8.0, -15.0], r


@needs_mpi
@both_modes
def test_pushpull_without_updater_sums_into_out_and_keeps_the_value(tmp_path, mode):
    # 3 workers: the ranks push (rank + 1 + step) times ones; the sums are 6 + 3 * step.
    for r in _every_rank_ran(tmp_path, "pushpull", 3, mode):
        assert r["rounds"] == [[6.0, 6.0], [9.0, 9.0], [12.0, 12.0]], r
        assert r["pending"] == [21.0 * 6] * 2, r
        assert r["inplace"] == 6.0, r
        assert r["view"] == [0.0, 6.0, 0.0], r
        assert r["two_outs"] == [6.0, 6.0], r
        assert r["big"] == [True, True], r
        for e in r["bad_shape"]:
            assert "kvstore.push" in e and "shape (3,2)" in e and "stored shape (2,3)" in e, r


@needs_mpi
def test_plain_mpirun_str_keys(tmp_path):
    rc, out, res = _mpirun(tmp_path, "str_keys", 2)
    assert rc == 0, out
    for r in res.values():
        assert (r["weight"], r["bias"]) == (3.0, 2.0)
        assert "Mixed key types are not allowed" in r["mixed"]


@needs_mpi
def test_dist_async_applies_every_push(tmp_path):
    rc, out, res = _mpirun(tmp_path, "async_updates", 3, launch=["-n", "2", "-s", "1"])
    assert rc == 0, out
    for r in res.values():
        assert r["type"] == "dist_async"
        assert "Updater needs to be set for async mode" in r["no_updater"]
        assert r["final"] == -0.5 * 3 * (1 + 2)  # every push applied, none merged
    assert res[0]["mine"] <= -1.5 and res[1]["mine"] <= -3.0


@needs_mpi
@pytest.mark.parametrize(
    "scenario,mode", [("module_fit", "allreduce"), ("module_fit", "server"), ("feedforward_fit", "allreduce")]
)
def test_fit_dist_sync_equals_union_batch_training(tmp_path, scenario, mode):
    rc, out, res = _mpirun(tmp_path, scenario, 2, **MODES[mode])
    assert rc == 0, out
    assert res[0]["fc_weight"] == res[1]["fc_weight"] and res[0]["fc_bias"] == res[1]["fc_bias"]  # identical
    x, y, init = helpers.fit_data(2)
    mod = mx.mod.Module(helpers.fit_net(), context=mx.cpu())
    params = {k: mx.nd.array(v) for k, v in init.items()}
    it = mx.io.NDArrayIter(x, y, batch_size=8)
    mod.fit(
        it, kvstore="local", optimizer="sgd", optimizer_params={"learning_rate": 0.5}, arg_params=params, num_epoch=2
    )
    arg, _ = mod.get_params()
    for k in ("fc_weight", "fc_bias"):
        np.testing.assert_allclose(np.array(res[0][k]), arg[k].asnumpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(arg["fc_weight"].asnumpy(), init["fc_weight"])  # it trained


@needs_mpi
@both_modes
@pytest.mark.parametrize("on_store", ["0", "1"])
def test_gluon_trainer_dist_sync_equals_union_batch_training(tmp_path, mode, on_store):
    rc, out, res = _mpirun(tmp_path, "gluon_trainer", 2, GLUON_UPDATE_ON_KVSTORE=on_store, **MODES[mode])
    assert rc == 0, out
    assert "error" not in res[0] and res[0] == res[1] | {"rank": 0}, res  # identical weights
    x, y, init = helpers.fit_data(2)
    want = helpers.gluon_train(x, y, init, None, False, b=4, w=2)
    assert not np.allclose(want["fc_weight"], init["fc_weight"])  # it trained
    for name in ("fc_weight", "fc_bias"):
        np.testing.assert_allclose(res[0][name], want[name], rtol=1e-5, atol=1e-6)


def test_single_process_dist_store_and_aliases():
    # Without mpirun, MPI starts as a singleton: 1 worker hosting the only server shard.
    code = (
        "import mxrs as mx\n"
        "kv = mx.kv.create('Dist_Device_Sync')\n"
        "print(kv.type, kv.rank, kv.num_workers)\n"
        "kv.init('w', mx.nd.ones((3,)))\n"
        "kv.push('w', [mx.nd.ones((3,)) * 2, mx.nd.ones((3,))])\n"
        "a = mx.nd.zeros((3,)); kv.pull('w', out=a); print(a.asnumpy().tolist())\n"
        "kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1))\n"
        "kv.pushpull('w', mx.nd.ones((3,)), out=a); print(a.asnumpy().tolist())\n"
        "try:\n    kv.save_optimizer_states('x')\nexcept AssertionError as e:\n    print(e)\n"
    )
    if MPIRUN is None:
        pytest.skip("mpirun is not installed")
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "dist_device_sync 0 1"
    assert lines[1] == "[3.0, 3.0, 3.0]"  # the pushed list summed, replacing
    np.testing.assert_allclose(json.loads(lines[2]), [2.9] * 3, rtol=1e-6)  # server-side SGD
    assert lines[3] == "Cannot save states for distributed training"  # as MXNet


def _errors(res, n):
    assert sorted(res) == list(range(n)), res
    return [res[r].get("error", "") for r in range(n)]


@needs_mpi
@both_modes
def test_ranks_that_disagree_on_a_shape_all_fail(tmp_path, mode):
    rc, out, res = _mpirun(tmp_path, "disagree", 2, **MODES[mode])
    for e in _errors(res, 2):
        assert "ranks disagree on key 3" in e and "rank 1 has shape (3,2)" in e, e


@needs_mpi
def test_allreduce_workers_pushing_different_keys_all_fail(tmp_path):
    rc, out, res = _mpirun(tmp_path, "disagree_push", 2)
    for r, e in enumerate(_errors(res, 2)):
        assert f"kvstore.push (rank {r}): the workers pushed different keys, shapes or dtypes" in e, e
        assert f"this rank pushed key {3 if r == 0 else 5} (2,3) float32" in e, e


@needs_mpi
def test_allreduce_workers_hold_bitwise_identical_values(tmp_path):
    # 3 workers (not a power of two), Adam, keys of two dtypes fused per dtype into one allreduce.
    rc, out, res = _mpirun(tmp_path, "identical", 3)
    assert rc == 0 and sorted(res) == [0, 1, 2], out
    assert res[0]["values"] == res[1]["values"] == res[2]["values"]
    rc, out, ref = _mpirun(tmp_path, "identical", 3, **MODES["server"])
    assert rc == 0, out
    for a, b, dt in zip(res[0]["values"], ref[0]["values"], ["float32", "float32", "float32", "float64"]):
        got, want = np.frombuffer(bytes.fromhex(a), dt), np.frombuffer(bytes.fromhex(b), dt)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # the server sums in another order
        assert not np.allclose(got, np.linspace(-1, 1, got.size), atol=1e-3)  # it trained


@needs_mpi
def test_allreduce_updater_that_raises(tmp_path):
    rc, out, res = _mpirun(tmp_path, "failing_updater", 2)
    for r, e in enumerate(_errors(res, 2)):
        assert f"key 3: the updater on rank {r} raised" in e and "update refused on purpose" in e, e


@needs_mpi
def test_server_updater_that_raises(tmp_path):
    rc, out, res = _mpirun(tmp_path, "failing_updater", 3, launch=["-n", "2", "-s", "1"])
    for e in _errors(res, 2):
        assert "key 3: the updater on server 0 (rank 2) raised" in e and "update refused on purpose" in e, e


@needs_mpi
@both_modes
@pytest.mark.parametrize("scenario,why", [("uneven_barrier", "reached a barrier"), ("uneven_end", "finished")])
def test_uneven_push_counts_fail_instead_of_hanging(tmp_path, scenario, why, mode):
    rc, out, res = _mpirun(tmp_path, scenario, 2, **MODES[mode])
    e0 = res[0]["error"]
    assert f"key 3: rank 1 {why} without pushing it while rank(s) [0] pushed it" in e0, e0
    assert "uneven batch counts" in e0


@needs_mpi
@both_modes
def test_dead_worker_ends_the_job(tmp_path, mode):
    rc, out, res = _mpirun(tmp_path, "dies", 2, timeout=60, **MODES[mode])
    assert rc != 0
    assert "exit code" in out.lower() or "exited" in out.lower(), out


@needs_mpi
@both_modes
def test_silent_worker_times_out(tmp_path, mode):
    # Rank 1 stays away for 6 s; rank 0's pull (server path) or push (allreduce path) gives up
    # after 3 s. Rank 0 then finishes, its shard serving rank 1 until rank 1 is done: rank 1's
    # round completes with rank 0's push (the server's queue, or the allreduce still running).
    rc, out, res = _mpirun(tmp_path, "silent", 2, timeout=60, MXNET_KVSTORE_TIMEOUT=3, **MODES[mode])
    e0, e1 = _errors(res, 2)
    op = "push" if mode == "allreduce" else "pull"
    assert f"kvstore.{op} of key 3 on rank 0" in e0 and "no reply within 3 s" in e0, e0
    assert e1 == "" and rc == 0, out


@needs_mpi
@both_modes
def test_ctrl_c_interrupts_a_waiting_pull(tmp_path, mode):
    rc, out, res = _mpirun(tmp_path, "interrupt", 2, **MODES[mode])
    assert res[0]["interrupted"] is True, out
    assert rc == 0, out


def _launch(*args):
    return subprocess.run(
        [sys.executable, "-m", "mxrs.launch", *args], env=_env(), capture_output=True, text=True, timeout=60
    )


@needs_mpi
def test_launcher_arguments(tmp_path):
    p = _launch("-n", "0", "python", "x.py")
    assert p.returncode == 2 and "-n must be at least 1" in p.stderr
    p = _launch("-n", "2")
    assert p.returncode == 2 and "no command given" in p.stderr
    p = _launch("-n", "2", "-H", "/nonexistent/hosts", "python", "x.py")
    assert p.returncode == 2 and "does not exist" in p.stderr
    p = _launch("-n", "2", "--mpirun", "/nonexistent/mpirun", "python", "x.py")
    assert p.returncode == 2 and "apt-get install openmpi-bin" in p.stderr
    p = _launch("-n", "2", "-s", "1", "--env", "FOO=1", "--dry-run", "python", "x.py")
    assert p.returncode == 0
    assert "-np 3" in p.stdout and "-x DMLC_NUM_WORKER" in p.stdout and "-x FOO" in p.stdout
    hosts = tmp_path / "hosts"
    hosts.write_text("localhost slots=4\n")
    p = _launch("-n", "2", "-s", "0", "-H", str(hosts), "--dry-run", "python", "x.py")
    assert p.returncode == 0
    assert "-np 2" in p.stdout and f"--hostfile {hosts}" in p.stdout and "-x HOME" in p.stdout
    assert "DMLC_NUM_SERVER" not in p.stdout  # -s 0: servers live in the workers
    p = _launch("-n", "2", "-s", "1", sys.executable, "-c", "import mxrs, sys; sys.exit(5)")
    assert p.returncode != 0
