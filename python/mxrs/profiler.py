"""``mx.profiler``: record the engine's ops and see where the time goes (MXNet's profiler API).

::

    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename="trace.json")
    mx.profiler.set_state("run")
    ...                                  # the code to profile
    mx.profiler.set_state("stop")
    mx.profiler.dump()                   # trace.json: open in chrome://tracing or ui.perfetto.dev
    print(mx.profiler.dumps())           # a table per op name: count, total, min, max, average

Every op the engine runs while the profiler runs (and is not paused) is recorded: its name, the
device it ran for, the worker thread, its start, its duration and the bytes it wrote. Recording
happens in the engine (``mxrs_engine::profiler``); when the profiler is off an op pays one relaxed
atomic load for it. ``MXNET_PROFILER_AUTOSTART=1`` starts it at import, as in MXNet.

Not implemented (accepted and ignored): ``profile_memory``, ``profile_api``, ``continuous_dump``,
``dump_period`` and ``profile_process='server'``; the ``Domain``/``Task``/``Frame``/``Counter``
objects of MXNet's instrumentation API.
"""

import json
import os
import threading
import warnings

from mxrs import _native
from mxrs.base import MXNetValueError

__all__ = ["set_config", "profiler_set_config", "set_state", "profiler_set_state", "dump", "dumps"]
__all__ += ["dump_profile", "pause", "resume", "reset"]

_VALID_KEYS = {
    "filename",
    "profile_all",
    "profile_symbolic",
    "profile_imperative",
    "profile_memory",
    "profile_api",
    "continuous_dump",
    "dump_period",
    "aggregate_stats",
    "profile_process",
}
_DEVICES = {1: "cpu", 2: "gpu"}


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.config: dict[str, object] = {
            "filename": "profile.json",
            "profile_symbolic": True,
            "profile_imperative": True,
        }
        self.running = False
        self.paused = False
        self.events: list[tuple] = []

    def records(self):
        c = self.config
        return bool(c.get("profile_all") or c.get("profile_symbolic") or c.get("profile_imperative"))

    def apply(self):
        _native.profiler_set_recording(self.running and not self.paused and self.records())

    def collect(self):
        self.events.extend(_native.profiler_take_events())
        return self.events


_state = _State()


def set_config(**kwargs):
    """Configure the profiler (MXNet's keys; see the module's notes for those ignored).

    ``filename`` is where :func:`dump` writes; ``profile_all``, ``profile_symbolic`` or
    ``profile_imperative`` (the last two on by default) make it record ops; ``aggregate_stats``
    is accepted for compatibility (:func:`dumps` always aggregates).
    """
    bad = sorted(set(kwargs) - _VALID_KEYS)
    if bad:
        raise MXNetValueError(f"profiler.set_config: unknown keys {bad}; valid keys are {sorted(_VALID_KEYS)}")
    with _state.lock:
        _state.config.update(kwargs)
        _state.apply()


def profiler_set_config(mode="symbolic", filename="profile.json"):
    """Deprecated MXNet form of :func:`set_config`: ``mode`` is ``'symbolic'`` or ``'all'``."""
    warnings.warn(
        "profiler.profiler_set_config() is deprecated. Please use profiler.set_config() instead", stacklevel=2
    )
    set_config(profile_all=mode == "all", profile_symbolic=True, filename=filename)


def set_state(state="stop", profile_process="worker"):
    """Start (``'run'``) or stop (``'stop'``) recording."""
    if state not in ("run", "stop"):
        raise MXNetValueError(f"profiler.set_state: state must be 'run' or 'stop', not {state!r}")
    with _state.lock:
        _state.collect()
        _state.running = state == "run"
        _state.paused = False
        _state.apply()


def profiler_set_state(state="stop"):
    """Deprecated MXNet name of :func:`set_state`."""
    warnings.warn("profiler.profiler_set_state() is deprecated. Please use profiler.set_state() instead", stacklevel=2)
    set_state(state)


def pause(profile_process="worker"):
    """Stop recording for a while (the profiler stays in the ``'run'`` state)."""
    with _state.lock:
        _state.paused = True
        _state.apply()


def resume(profile_process="worker"):
    """Record again after :func:`pause`."""
    with _state.lock:
        _state.paused = False
        _state.apply()


def reset():
    """Forget every event recorded so far."""
    with _state.lock:
        _state.collect()
        _state.events = []


def _trace(events):
    """The Chrome trace-event document of ``events``."""
    out: list[dict] = []
    pids: dict[tuple[int, int], int] = {}
    threads: dict[tuple[int, int], str] = {}
    for _name, dev, dev_id, tid, tname, _start, _dur, _bytes in events:
        pids.setdefault((dev, dev_id), len(pids))
        threads.setdefault((pids[(dev, dev_id)], tid), tname)
    for (dev, dev_id), pid in pids.items():
        label = f"{_DEVICES.get(dev, 'dev')}/{dev_id}"
        out.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": label}})
    for (pid, tid), tname in threads.items():
        out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": tname}})
    for name, dev, dev_id, tid, _tname, start, dur, nbytes in events:
        out.append(
            {
                "name": name,
                "cat": "operator",
                "ph": "X",
                "ts": round(start, 3),
                "dur": round(dur, 3),
                "pid": pids[(dev, dev_id)],
                "tid": tid,
                "args": {"bytes": nbytes},
            }
        )
    return {"traceEvents": out, "displayTimeUnit": "ms"}


def dump(finished=True, profile_process="worker"):
    """Write every op recorded so far to the configured file as a Chrome trace (JSON)."""
    with _state.lock:
        events = list(_state.collect())
        fname = str(_state.config.get("filename", "profile.json"))
    with open(fname, "w") as f:
        json.dump(_trace(events), f)


def dump_profile():
    """Deprecated MXNet name of :func:`dump`."""
    warnings.warn("profiler.dump_profile() is deprecated. Please use profiler.dump() instead", stacklevel=2)
    dump(True)


def _aggregate(events):
    stats: dict[str, list] = {}
    for name, *_, dur, _nbytes in events:
        s = stats.setdefault(name, [0, 0.0, float("inf"), 0.0])
        s[0] += 1
        s[1] += dur
        s[2] = min(s[2], dur)
        s[3] = max(s[3], dur)
    return stats


_SORT_KEYS = {"total": 1, "avg": None, "min": 2, "max": 3, "count": 0}


def dumps(reset=False, format="table", sort_by="total", ascending=False):
    """The aggregate statistics of the ops recorded so far, as MXNet prints them.

    ``format``: ``'table'`` or ``'json'``; ``sort_by``: ``'total'``, ``'avg'``, ``'min'``,
    ``'max'`` or ``'count'``; ``reset`` forgets the events afterwards.
    """
    if format not in ("table", "json"):
        raise MXNetValueError(f"profiler.dumps: format must be 'table' or 'json', not {format!r}")
    if sort_by not in _SORT_KEYS:
        raise MXNetValueError(f"profiler.dumps: sort_by must be one of {sorted(_SORT_KEYS)}, not {sort_by!r}")
    with _state.lock:
        stats = _aggregate(_state.collect())
        if reset:
            _state.events = []
    idx = _SORT_KEYS[sort_by]

    def key(item):
        s = item[1]
        return s[1] / s[0] if idx is None else s[idx]

    rows = sorted(stats.items(), key=key, reverse=not ascending)
    if format == "json":
        ops = {
            n: {"Count": c, "Total": t / 1e3, "Min": mn / 1e3, "Max": mx / 1e3, "Avg": t / c / 1e3}
            for n, (c, t, mn, mx) in rows
        }
        return json.dumps({"Time": {"operator": ops}, "Unit": {"Time": "ms"}}, indent=4)
    lines = ["", "Profile Statistics:", "\tNote the difference in units for different entries.", "operator"]
    lines += ["=================", _row("Name", "Total Count", "Time (ms)", "Min Time (ms)", "Max Time (ms)")]
    lines[-1] += f"{'Avg Time (ms)':>17}"
    lines.append(_row("----", "-----------", "---------", "-------------", "-------------") + f"{'-------------':>17}")
    for n, (c, t, mn, mx) in rows:
        lines.append(f"{n:<30}{c:>11}{t / 1e3:>17.4f}{mn / 1e3:>17.4f}{mx / 1e3:>17.4f}{t / c / 1e3:>17.4f}")
    return "\n".join(lines) + "\n"


def _row(name, count, total, mn, mx):
    return f"{name:<30}{count:>11}{total:>17}{mn:>17}{mx:>17}"


if os.environ.get("MXNET_PROFILER_AUTOSTART", "0") not in ("", "0"):
    set_state("run")
