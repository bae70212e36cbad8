"""The asynchronous dependency engine seen from Python (mxrs only).

Stress from many Python threads, interpreter exit with work pending, memory growth
over 10^6 ops, run-time failures beyond the basic cases of ``test_ndarray_basic.py``
(big ops on workers, views, other threads, many errors at once) and equality of
results across ``MXNET_ENGINE_TYPE`` values.

Every test that could deadlock runs its body on a daemon thread (or in a child
process) with a timeout, so a deadlock fails the test instead of hanging the run.
"""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal

pytestmark = pytest.mark.skipif(IS_MXNET, reason="mxrs engine")
# Under MXNET_ENGINE_TYPE=NaiveEngine a run-time failure is raised by the op call itself.
DEFERRED_FAILURES = pytest.mark.skipif(
    not IS_MXNET and mx._native.engine_name() == "NaiveEngine", reason="NaiveEngine raises failures at the call"
)

GAUSS_MSG = "scale parameter in gaussian has to be positive"
# Ops touching more than this many elements, or not ready at push time, go to workers.
LIGHT_LIMIT = 16384
BIG = 100_000


def _drain():
    """Forget errors left unseen by earlier tests."""
    with contextlib.suppress(mx.base.MXNetError):
        mx.nd.waitall()


def _run_bounded(body, timeout):
    """Run ``body()`` on a daemon thread; fail on timeout (deadlock), re-raise its exception."""
    outcome = {}

    def target():
        try:
            outcome["value"] = body()
        except BaseException as exc:  # re-raised on the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="bounded-test-body")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"did not finish within {timeout} s (deadlock?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _child_env(**extra):
    """Environment for a child interpreter: no inherited engine choice, plus ``extra``."""
    env = dict(os.environ)
    env.pop("MXNET_ENGINE_TYPE", None)
    env.update(extra)
    return env


def _run_child(code, timeout=60, args=(), **env):
    """Run ``code`` (with ``args`` in ``sys.argv[1:]``) in a fresh interpreter; return the process."""
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(**env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"child did not finish within {timeout} s (hang?); stderr: {exc.stderr!r}")


def _thread_names():
    """Names of this process's threads (Linux), as the kernel reports them."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
    return names


def _raises_gauss(arr):
    """Assert that reading ``arr`` raises the failed gaussian's error."""
    with pytest.raises(mx.base.MXNetError, match=GAUSS_MSG):
        arr.wait_to_read()
    with pytest.raises(mx.base.MXNetError, match=GAUSS_MSG):
        arr.asnumpy()


# --------------------------------------------------------------------------- stress

N_THREADS = 8
OPS_PER_THREAD = 10_000
# One loop iteration pushes this many ops; one in PERIOD iterations also reads.
OPS_PER_ITER = 10
ITERS = OPS_PER_THREAD // OPS_PER_ITER
READ_EVERY = 25


def test_stress_many_threads():
    """8 threads x 10,000 ops on shared and private arrays, small and big, with reads."""
    _drain()
    engine = mx._native.engine_name()
    # Shared: one small array every thread increments, and one big array whose rows
    # (views of one buffer, hence one engine variable) each belong to one thread.
    shared = {"small": mx.nd.zeros((2, 3)), "rows": mx.nd.zeros((N_THREADS, BIG // 4))}
    small_base = mx.nd.ones((2, 3))

    def worker(t, results):
        rng = np.random.default_rng(t)
        big = mx.nd.zeros((BIG,))  # private, 100k elements: ops on it go to workers
        tiny = mx.nd.zeros((2, 3))  # private, tiny: inline unless its inputs are pending
        acc = mx.nd.zeros((2, 3))
        row = shared["rows"][t]
        for i in range(ITERS):
            big += 1  # 1 (worker)
            row += 2  # 2 (worker, shared variable, serialised with the other threads)
            shared["small"] += 1  # 3 (shared small array, ordered by the engine)
            tiny += 1  # 4
            tmp = tiny * 2  # 5
            acc += tmp  # 6: acc = sum over k<=i of 2 * (k + 1)
            head = big[:3]  # a view of a pending big array: not ready, goes to a worker
            mixed = head.reshape((3,)) - 1  # 7
            acc -= small_base  # 8: net acc = sum 2 * (k + 1) - (i + 1)
            part = mx.nd.sum(tmp)  # 9
            both = part + mixed  # 10
            if i % READ_EVERY == 0 or i == ITERS - 1:
                n = i + 1
                assert_array_equal(tiny.asnumpy(), np.full((2, 3), n, np.float32))
                assert_array_equal(acc.asnumpy(), np.full((2, 3), n * (n + 1) - n, np.float32))
                assert_array_equal(mixed.asnumpy(), np.full((3,), n - 1, np.float32))
                assert_array_equal(both.asnumpy(), np.full((3,), 12 * n + n - 1, np.float32))
                seen = shared["small"].asnumpy()
                # every thread's increments are whole ops: all six elements agree
                assert (seen == seen.flat[0]).all(), seen
                assert n <= seen.flat[0] <= N_THREADS * ITERS
                if rng.random() < 0.5:
                    assert row.asnumpy()[rng.integers(row.shape[0])] == 2 * n
        results[t] = (big.asnumpy(), tiny.asnumpy(), acc.asnumpy())

    def body():
        results, errors = {}, []

        def guarded(t):
            try:
                worker(t, results)
            except BaseException as exc:  # reported below
                errors.append((t, exc))

        threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in range(N_THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise AssertionError(f"{len(errors)} thread(s) failed; first: thread {errors[0][0]}") from errors[0][1]
        mx.nd.waitall()
        return results

    start = time.perf_counter()
    results = _run_bounded(body, timeout=180)
    elapsed = time.perf_counter() - start
    n = ITERS
    for t in range(N_THREADS):
        big, tiny, acc = results[t]
        assert_array_equal(big, np.full((BIG,), n, np.float32))
        assert_array_equal(tiny, np.full((2, 3), n, np.float32))
        assert_array_equal(acc, np.full((2, 3), n * (n + 1) - n, np.float32))
    assert_array_equal(shared["small"].asnumpy(), np.full((2, 3), N_THREADS * n, np.float32))
    assert_array_equal(shared["rows"].asnumpy(), np.full((N_THREADS, BIG // 4), 2 * n, np.float32))
    if engine != "NaiveEngine":  # the big ops really went to the engine's workers
        assert any(name.startswith("mxrs-") and "worker" in name for name in _thread_names()), _thread_names()
    print(f"{N_THREADS} threads x {OPS_PER_THREAD} ops: {elapsed:.2f} s")


def test_stress_big_dependent_chains_across_threads():
    """Threads pass big pending arrays to each other: every op waits on another thread's op."""
    _drain()
    n_threads, rounds = 4, 200
    chain = [mx.nd.zeros((BIG,)) for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads, timeout=60)

    def worker(t):
        for r in range(rounds):
            src = chain[(t + 1) % n_threads]  # written by the next thread in the previous round
            out = src + 1  # depends on a pending op pushed by another thread
            barrier.wait()
            chain[t] = out
            barrier.wait()
            if r % 50 == 0:
                out.wait_to_read()

    def body():
        errors = []

        def guarded(t):
            try:
                worker(t)
            except BaseException as exc:  # reported below
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise errors[0]
        return [c.asnumpy() for c in chain]

    for values in _run_bounded(body, timeout=120):
        assert_array_equal(values, np.full((BIG,), rounds, np.float32))


# --------------------------------------------------------------------------- exit


EXIT_CASES = {
    "independent big ops": """
        import mxrs as mx
        a = mx.nd.ones((1000, 1000))
        outs = [mx.nd.exp(a) for _ in range(200)]
    """,
    "one dependent chain": """
        import mxrs as mx
        a = mx.nd.ones((1000, 1000))
        for _ in range(200):
            a = mx.nd.exp(a * 0.5)
    """,
    "failed op pending": """
        import mxrs as mx
        a = mx.nd.random.normal(0, -1, shape=(1000, 1000))
        outs = [mx.nd.exp(a) for _ in range(100)]
    """,
    "daemon thread still pushing": """
        import threading, time
        import mxrs as mx
        def spin():
            a = mx.nd.ones((1000, 1000))
            while True:
                a = mx.nd.exp(a * 0.5)
                if a.shape[0] < 0:
                    a.wait_to_read()
        for _ in range(2):
            threading.Thread(target=spin, daemon=True).start()
        time.sleep(0.5)
    """,
    "daemon thread blocked in a wait": """
        import threading, time
        import mxrs as mx
        a = mx.nd.ones((1000, 1000))
        for _ in range(100):
            a = mx.nd.exp(a * 0.5)
        threading.Thread(target=a.wait_to_read, daemon=True).start()
        time.sleep(0.05)
    """,
}


@pytest.mark.parametrize("case", list(EXIT_CASES))
def test_exit_with_work_pending(case):
    """A process that exits with ops pending neither hangs nor crashes."""
    start = time.perf_counter()
    proc = _run_child(EXIT_CASES[case], timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, f"exit code {proc.returncode}; stderr: {proc.stderr[-2000:]}"
    assert "panic" not in proc.stderr.lower(), proc.stderr[-2000:]
    assert "Fatal Python error" not in proc.stderr, proc.stderr[-2000:]
    print(f"{case}: exited in {elapsed:.2f} s")


ENGINE_NAME_CHILD = """
import mxrs
print(mxrs._native.engine_name())
"""


@pytest.mark.parametrize("name", ["NaiveEngine", " ThreadedEngine ", "ThreadedEnginePerDevice"])
def test_known_engine_names_are_used(name):
    """MXNET_ENGINE_TYPE picks the engine; the name is read as the engine reads it (trimmed)."""
    proc = _run_child(ENGINE_NAME_CHILD, MXNET_ENGINE_TYPE=name)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == name.strip()


def test_unknown_engine_name_is_an_error_at_import():
    """An unknown MXNET_ENGINE_TYPE is an MXNetError naming it and the valid names, raised by
    the core's own check when mxrs is imported (never a silent fallback)."""
    proc = _run_child(
        """
        try:
            import mxrs
        except Exception as e:
            print(type(e).__name__, "|", e)
        """,
        MXNET_ENGINE_TYPE="Bogus",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    kind, _, msg = proc.stdout.partition(" | ")
    assert kind == "MXNetError", proc.stdout
    assert "Bogus" in msg and "NaiveEngine" in msg and "ThreadedEnginePerDevice" in msg, msg


# --------------------------------------------------------------------------- leaks

LEAK_CHILD = """
import json, os, time
import mxrs as mx

PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

a = mx.nd.ones((2, 3))
b = mx.nd.ones((2, 3)) * 2
for i in range(10**5):
    c = a + b
    if i % 10000 == 0:
        mx.nd.waitall()
mx.nd.waitall()
before = rss()
start = time.perf_counter()
for i in range(10**6):
    c = a + b
    if i % 10000 == 0:
        mx.nd.waitall()
mx.nd.waitall()
elapsed = time.perf_counter() - start
after = rss()
print(json.dumps({"before": before, "after": after, "seconds": elapsed, "c": c.asnumpy().tolist()}))
"""

LEAK_BOUND = 20 * 2**20


def test_no_growth_over_a_million_tiny_ops():
    """RSS after 10^6 more tiny ops grows by less than 20 MiB (child process: clean RSS)."""
    proc = _run_child(LEAK_CHILD, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec["c"] == [[3.0] * 3] * 2
    growth = rec["after"] - rec["before"]
    print(f"10^6 ops in {rec['seconds']:.2f} s; RSS {rec['before'] / 2**20:.1f} -> {rec['after'] / 2**20:.1f} MiB")
    assert growth < LEAK_BOUND, f"RSS grew by {growth / 2**20:.1f} MiB over 10^6 ops"


LEAK_ERRORS_CHILD = """
import contextlib, json, os
import mxrs as mx

PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def burst(n):
    for i in range(n):
        bad = mx.nd.random.normal(0, -1, shape=(2, 2))
        dep = bad + 1
        if i % 3 == 0:
            with contextlib.suppress(mx.base.MXNetError):
                dep.wait_to_read()
    with contextlib.suppress(mx.base.MXNetError):
        mx.nd.waitall()

burst(10**4)
before = rss()
burst(10**5)
after = rss()
print(json.dumps({"before": before, "after": after}))
"""


def test_no_growth_from_failed_ops():
    """Failed ops and their dependents (seen or not) are freed too."""
    proc = _run_child(LEAK_ERRORS_CHILD, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = rec["after"] - rec["before"]
    assert growth < LEAK_BOUND, f"RSS grew by {growth / 2**20:.1f} MiB over 10^5 failed ops"


# --------------------------------------------------------------------------- failures
# test_ndarray_basic.py covers a failed tiny op: dependents and the array raise on each
# read, unrelated arrays are fine, a[:] = 3 clears it, waitall raises once.  Here: the
# message, big ops on workers, in-place ops on a failed array, views, other threads.


@DEFERRED_FAILURES
def test_failure_in_big_ops_on_workers():
    """A big failing op and its big dependents run on workers; errors still flow."""
    _drain()
    bad = mx.nd.random.normal(0, -1, shape=(1000, 1000))
    dep = mx.nd.exp(bad)  # pushed while `bad` is pending: runs on a worker, skipped
    dep2 = dep * 2 + 1
    fine = mx.nd.ones((1000, 1000)) * 3
    for _ in range(2):
        _raises_gauss(dep2)
        _raises_gauss(dep)
        _raises_gauss(bad)
    assert float(fine.sum().asscalar()) == 3e6
    bad[:] = 0  # a write clears it
    assert_array_equal((bad + 1).asnumpy(), np.ones((1000, 1000), np.float32))
    _raises_gauss(dep2)  # computed from the failed value: stays failed until rewritten
    _drain()
    mx.nd.waitall()


@DEFERRED_FAILURES
def test_failure_in_place_chain():
    """In-place ops on a failed array are skipped and keep the error; a write clears it."""
    _drain()
    for n in (6, 10 * LIGHT_LIMIT):
        x = mx.nd.zeros((n,))
        x += 1
        mx.nd.random.normal(0, -1, shape=(n,), out=x)
        x += 1  # skipped
        x *= 3  # skipped
        _raises_gauss(x)
        x[:] = 5
        x += 1
        assert_array_equal(x.asnumpy(), np.full((n,), 6, np.float32))
    _drain()


@DEFERRED_FAILURES
def test_failure_on_a_view_reaches_its_base():
    """A failed write through a view fails its base and the base's other views."""
    _drain()
    base = mx.nd.ones((4, BIG // 4))
    base += 1  # pending big op ahead of the failing one
    view = base[1]
    other = base[2:4]
    mx.nd.random.normal(0, -1, shape=view.shape, out=view)
    total = base.sum()
    _raises_gauss(base)
    _raises_gauss(other)
    _raises_gauss(view)
    _raises_gauss(total)
    base[:] = 7  # writing the whole buffer clears it
    assert_array_equal(other.asnumpy(), np.full((2, BIG // 4), 7, np.float32))
    assert float(base.sum().asscalar()) == 7 * BIG
    _drain()


@DEFERRED_FAILURES
def test_failure_seen_from_another_thread():
    """An op failing in one thread fails dependents pushed by another; waitall reports once."""
    _drain()
    shared = mx.nd.ones((BIG,))
    pushed = threading.Event()
    outcome = {}

    def producer():
        mx.nd.random.normal(0, -1, shape=(BIG,), out=shared)
        outcome["private"] = mx.nd.ones((3,)) + 1
        pushed.set()

    def consumer():
        assert pushed.wait(30)
        dep = shared + 1
        try:
            dep.wait_to_read()
        except mx.base.MXNetError as exc:
            outcome["consumer"] = str(exc)
        outcome["consumer_fine"] = (mx.nd.ones((2,)) * 4).asnumpy()

    def body():
        threads = [threading.Thread(target=f, daemon=True) for f in (consumer, producer)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    _run_bounded(body, timeout=60)
    assert GAUSS_MSG in outcome.get("consumer", ""), outcome
    assert_array_equal(outcome["consumer_fine"], [4, 4])
    assert_array_equal(outcome["private"].asnumpy(), [2, 2, 2])
    _raises_gauss(shared)  # the main thread sees it too, on every read
    _drain()


@DEFERRED_FAILURES
def test_waitall_reports_an_error_from_another_thread_once():
    """An unseen failure pushed by another thread is raised by this thread's waitall, once."""
    _drain()
    holder = {}

    def producer():
        holder["bad"] = mx.nd.random.normal(0, -1, shape=(1000, 1000))
        holder["dep"] = mx.nd.exp(holder["bad"])

    _run_bounded(producer, timeout=30)
    with pytest.raises(mx.base.MXNetError, match=GAUSS_MSG):
        mx.nd.waitall()
    mx.nd.waitall()
    _raises_gauss(holder["dep"])  # the error stays on the arrays
    mx.nd.waitall()  # reads never re-arm waitall


@DEFERRED_FAILURES
def test_engine_survives_many_failures():
    """More failures than the unseen-error list holds: one waitall raises, then all is well."""
    _drain()
    bad = [mx.nd.random.normal(0, -1, shape=(2, 2)) for _ in range(600)]
    big_bad = [mx.nd.random.normal(0, -1, shape=(BIG,)) for _ in range(20)]
    with pytest.raises(mx.base.MXNetError, match=GAUSS_MSG):
        mx.nd.waitall()
    mx.nd.waitall()
    _raises_gauss(bad[-1])
    _raises_gauss(big_bad[0])
    x = mx.nd.ones((BIG,))
    for _ in range(50):
        x = x + 1
    assert_array_equal(x.asnumpy(), np.full((BIG,), 51, np.float32))
    mx.nd.waitall()


@DEFERRED_FAILURES
def test_read_error_is_not_reported_again_by_waitall():
    """An error already raised by a read is not raised again by waitall (MXNet's 'once')."""
    _drain()
    bad = mx.nd.random.normal(0, -1, shape=(BIG,))
    dep = bad * 2
    _raises_gauss(dep)
    mx.nd.waitall()
    _raises_gauss(bad)


NAIVE_RAISES_AT_CALL_CHILD = """
import mxrs as mx
assert mx._native.engine_name() == "NaiveEngine"
try:
    a = mx.nd.random.normal(0, -1, shape=(2, 2))
except mx.base.MXNetError as exc:
    print("raised at call:", exc)
else:
    print("deferred")
"""


def test_naive_engine_raises_at_the_call():
    proc = _run_child(NAIVE_RAISES_AT_CALL_CHILD, timeout=60, MXNET_ENGINE_TYPE="NaiveEngine")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "raised at call:" in proc.stdout and GAUSS_MSG in proc.stdout, proc.stdout


# --------------------------------------------------------------------------- engine types

# A seeded random workload over small (inline) and big (worker) arrays, some of whose ops
# fail at run time.  argv[1] == "contain": each failure is read at once and its array
# rewritten, so nothing depends on a failed array (then NaiveEngine, which raises at the
# call, must agree too); "spread": failures are left to propagate to dependents.
WORKLOAD_CHILD = """
import json, random, sys
import numpy as np
import mxrs as mx

CONTAIN = sys.argv[1] == "contain"

rng = random.Random(20240611)
nrng = np.random.default_rng(7)
SHAPES = {"small": (4, 5), "big": (200, 100)}  # 20 and 20,000 elements
arrs = {
    f"{g}{i}": mx.nd.array(nrng.random(shape, dtype=np.float32))
    for g, shape in SHAPES.items()
    for i in range(4)
}
log = []

def state(x):
    try:
        return round(float(x.asnumpy().astype(np.float64).sum()), 3)
    except mx.base.MXNetError as exc:
        return "error: " + str(exc).split(":")[0]

for step in range(400):
    g = rng.choice(list(SHAPES))
    names = [f"{g}{i}" for i in range(4)]
    d, s1, s2 = rng.choice(names), rng.choice(names), rng.choice(names)
    kind = rng.randrange(12)
    if kind == 0:
        arrs[d] += rng.randint(1, 3)
    elif kind == 1:
        arrs[d] *= 0.5
    elif kind == 2:
        arrs[d] = arrs[s1] * 0.5 + arrs[s2] * 0.5
    elif kind == 3:
        arrs[d] = mx.nd.tanh(arrs[s1] - arrs[s2])
    elif kind == 4 and d != s1:
        arrs[s1].copyto(arrs[d])
    elif kind == 5:
        row = arrs[d][rng.randrange(SHAPES[g][0])]
        row += 1  # in place through a view
    elif kind == 6:
        arrs[d][:] = rng.randint(0, 4)
    elif kind == 7 and rng.random() < 0.15:
        try:
            mx.nd.random.normal(0, -1, shape=SHAPES[g], out=arrs[d])
            if CONTAIN:
                arrs[d].wait_to_read()
        except mx.base.MXNetError as exc:
            log.append((step, d, "failed: " + str(exc).split(":")[0]))
        if CONTAIN:
            arrs[d][:] = step % 3
    elif kind == 8:
        arrs[d] = mx.nd.broadcast_add(arrs[s1], mx.nd.sum(arrs[s2], axis=0, keepdims=True) * 0.01)
    elif kind == 9:
        log.append((step, s1, state(arrs[s1])))
    elif kind == 10:
        arrs[d] = mx.nd.relu(arrs[s1] - 0.5) + arrs[d]
    else:
        arrs[d] = arrs[s1][1:2].broadcast_to(SHAPES[g]) + arrs[s2]
try:
    mx.nd.waitall()
    waitall = "ok"
except mx.base.MXNetError:
    waitall = "raised"
final = {name: state(x) for name, x in sorted(arrs.items())}
print(json.dumps({"engine": mx._native.engine_name(), "log": log, "final": final, "waitall": waitall}))
"""

ENGINE_TYPES = {
    "default": None,
    "NaiveEngine": "NaiveEngine",
    "ThreadedEngine": "ThreadedEngine",
    "ThreadedEnginePerDevice": "ThreadedEnginePerDevice",
}


def _workload(engine_type, mode):
    env = {} if engine_type is None else {"MXNET_ENGINE_TYPE": engine_type}
    proc = _run_child(WORKLOAD_CHILD, timeout=60, args=(mode,), **env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    assert run["engine"] == (engine_type or "ThreadedEnginePerDevice")
    return run


def _assert_same(runs, ref_label):
    ref = runs[ref_label]
    assert len(ref["log"]) > 10
    for label, run in runs.items():
        assert run["final"] == ref["final"], label
        assert run["log"] == ref["log"], label
        assert run["waitall"] == ref["waitall"], label


def test_engine_types_give_the_same_results():
    """Naive, pooled and per-device engines agree on values and on which ops failed."""
    runs = {label: _workload(engine, "contain") for label, engine in ENGINE_TYPES.items()}
    ref = runs["NaiveEngine"]
    assert any(str(entry[2]).startswith("failed") for entry in ref["log"]), "no op failed"
    assert not any(isinstance(v, str) for v in ref["final"].values())
    _assert_same(runs, "NaiveEngine")


def test_threaded_engine_types_propagate_errors_alike():
    """Pooled and per-device engines agree when failures spread to dependents.

    (NaiveEngine raises at the call, so a dependent's assignment never happens there.)
    """
    runs = {label: _workload(engine, "spread") for label, engine in ENGINE_TYPES.items() if engine != "NaiveEngine"}
    ref = runs["ThreadedEngine"]
    assert any(isinstance(v, str) for v in ref["final"].values()), "no failure reached the end"
    assert any(isinstance(v, (int, float)) for v in ref["final"].values()) or any(
        isinstance(entry[2], (int, float)) for entry in ref["log"]
    )
    _assert_same(runs, "ThreadedEngine")
