"""The GPU test tier: every test here runs on the *device context* and compares with the CPU.

The device context is ``gpu(0)`` unless ``MXRS_GPU_TEST_CTX`` names another one, e.g.
``MXRS_GPU_TEST_CTX='cpu(1)'`` runs the whole tier on a machine without a GPU with ``cpu(1)``
standing in for the device (checks the harness itself; tests that only make sense on a real GPU
skip then). With a ``gpu`` device context and no usable GPU the whole directory is skipped, and
the reason says why (the error creating an array there).

Hang protection: ``tests/gpu/run.sh`` passes pytest-timeout's ``--timeout`` when that plugin is
installed. Independently of it, each test here arms ``faulthandler.dump_traceback_later`` with
``MXRS_GPU_TEST_HARD_TIMEOUT`` seconds (default 150): a test stuck in native code (where no
Python signal handler runs) dumps every thread's stack and ends the process instead of hanging.
The dump goes to ``MXRS_GPU_HANG_LOG`` (default ``/tmp/mxrs-gpu-hang.txt``), not to stderr, which
pytest captures into a file that is lost when the process ends; each test's start is logged there
too, and a SIGTERM (``timeout``) also dumps the stacks there before pytest ends.

``MXRS_GPU_RESULTS=path`` appends one JSON line per test phase (nodeid, outcome, duration and
the first lines of a failure) as the tests run, so a killed run still leaves its results.
"""

import faulthandler
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from _target import IS_MXNET, mx

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))


def _parse_ctx(text):
    m = re.fullmatch(r"\s*(cpu|gpu)\s*\(\s*(\d+)\s*\)\s*", text)
    if not m:
        raise pytest.UsageError(f"MXRS_GPU_TEST_CTX={text!r}: expected e.g. 'gpu(0)' or 'cpu(1)'")
    return mx.Context(m.group(1), int(m.group(2)))


DEVICE = _parse_ctx(os.environ.get("MXRS_GPU_TEST_CTX", "gpu(0)"))
IS_GPU = DEVICE.device_type == "gpu"


def _probe():
    """``None`` when the device context works, else why not (for the skip reason)."""
    if not IS_GPU:
        return None
    try:
        n = mx.context.num_gpus()
    except Exception as exc:  # report, never crash collection
        return f"mx.context.num_gpus() raised {type(exc).__name__}: {exc}"
    if n <= DEVICE.device_id:
        try:
            mx.nd.zeros((1,), ctx=DEVICE).wait_to_read()
            detail = "but creating an array there worked"
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
        return f"no {DEVICE}: mx.context.num_gpus() == {n} ({detail})"
    return None


SKIP_REASON = _probe()


def pytest_report_header(config):
    lines = [f"gpu tier: device context {DEVICE} ({'skipped: ' + SKIP_REASON if SKIP_REASON else 'available'})"]
    if not IS_MXNET:
        try:
            from mxrs import _cuda_libs

            lines.append(f"mxrs {mx.__file__}; build features {mx._native.build_features()}")
            found, errors = _cuda_libs.loaded()
            lines.append(f"preloaded CUDA libraries: {found or 'none'}; errors: {errors or 'none'}")
        except Exception as exc:
            lines.append(f"mxrs info unavailable: {exc!r}")
    if IS_GPU and SKIP_REASON is None:
        try:
            free, total = mx.context.gpu_memory_info(DEVICE.device_id)
            lines.append(f"{DEVICE}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB")
        except Exception as exc:
            lines.append(f"gpu_memory_info failed: {exc!r}")
    return lines


def pytest_collection_modifyitems(config, items):
    if SKIP_REASON is None:
        return
    mark = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(mark)


_HARD_TIMEOUT = float(os.environ.get("MXRS_GPU_TEST_HARD_TIMEOUT", "150"))
_RESULTS = os.environ.get("MXRS_GPU_RESULTS")
_hang_log = None


def _hang_file():
    global _hang_log
    if _hang_log is None:
        path = os.environ.get("MXRS_GPU_HANG_LOG")
        # run.sh's log collects all its pytest groups; the default one holds this session only
        _hang_log = open(path or "/tmp/mxrs-gpu-hang.txt", "a" if path else "w", encoding="utf-8")
        # `timeout` (tests/gpu/run.sh) ends a stuck pytest with SIGTERM: dump the stacks first.
        if hasattr(signal, "SIGTERM"):
            faulthandler.register(signal.SIGTERM, file=_hang_log, all_threads=True, chain=True)
    return _hang_log


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    armed = SKIP_REASON is None and _HARD_TIMEOUT > 0 and _HERE in Path(str(item.fspath)).resolve().parents
    if armed:
        log = _hang_file()
        log.write(f"{time.strftime('%H:%M:%S')} start {item.nodeid}\n")
        log.flush()
        faulthandler.dump_traceback_later(_HARD_TIMEOUT, exit=True, file=log)
    try:
        yield
    finally:
        if armed:
            faulthandler.cancel_dump_traceback_later()


def pytest_runtest_logreport(report):
    if not _RESULTS:
        return
    if report.when != "call" and report.outcome == "passed":
        return
    record = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "duration": round(report.duration, 4),
        "time": time.time(),
    }
    if report.failed:
        record["error"] = str(report.longrepr)[-2000:]
    elif report.skipped and isinstance(report.longrepr, tuple):
        record["reason"] = str(report.longrepr[2])
    try:
        with open(_RESULTS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError:
        pass


# ---- which registered ops the tier ran on the device ---------------------------------------
# mxrs only: wraps the Python entry points of op calls and records each op that got an input (or
# an output context) on the device. Ops that run inside the native side only (the Symbol
# executor's graph, the backward ops of autograd) are not seen here.
_device_ops: set[str] = set()


def _install_op_recorder():
    if IS_MXNET or SKIP_REASON is not None:
        return False
    from mxrs import _native
    from mxrs.ndarray import ndarray as _ndmod

    pair = DEVICE._pair()
    invoke = _native.invoke
    invoke_fast = _ndmod._invoke_fast

    def recording_invoke(name, inputs, *args, **kwargs):
        ctx = args[2] if len(args) > 2 else kwargs.get("ctx")
        if ctx == pair or any(h.ctx == pair for h in inputs):
            _device_ops.add(name)
        return invoke(name, inputs, *args, **kwargs)

    def recording_invoke_fast(name, a, *args, **kwargs):
        if a.ctx == pair:
            _device_ops.add(name)
        return invoke_fast(name, a, *args, **kwargs)

    _native.invoke = recording_invoke
    _ndmod._invoke_fast = recording_invoke_fast
    return True


_RECORDING = _install_op_recorder()


def pytest_terminal_summary(terminalreporter):
    if not _RECORDING or not _device_ops:
        return
    from mxrs import _native

    canonical = dict(_native.list_aliases())
    registered = {op[0] for op in _native.list_ops() if not op[0].startswith("_backward")}
    used = {canonical.get(n, n) for n in _device_ops}
    missing = sorted(registered - used)
    terminalreporter.write_line(
        f"gpu tier op coverage: {len(used & registered)} of {len(registered)} registered forward ops were "
        f"called with inputs on {DEVICE} (imperative calls); not called there: {', '.join(missing)}"
    )
    if _RESULTS:  # run.sh unites the groups' records
        with open(_RESULTS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"ops_used": sorted(used), "ops_registered": sorted(registered)}) + "\n")


@pytest.fixture
def dev():
    """The device context under test (``gpu(0)``, or ``MXRS_GPU_TEST_CTX``)."""
    return DEVICE


@pytest.fixture
def needs_gpu():
    """Skip a test that only means something on a real GPU (memory pool, device ids)."""
    if not IS_GPU:
        pytest.skip(f"needs a real GPU (device context is {DEVICE})")


@pytest.fixture(autouse=True)
def _sync_after_each_test():
    """Surface a test's pending asynchronous errors in that test, not in the next one."""
    yield
    mx.nd.waitall()
