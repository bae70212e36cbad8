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

MXNet's instrumentation objects record your own spans and values while the profiler runs:
``Domain``, ``Task``/``Frame``/``Event`` (``start()``/``stop()`` spans), ``Counter`` (values) and
``Marker`` (instants). They appear in the trace with MXNet's phases and categories, and the spans
in :func:`dumps` in one table per category (``<domain>``, ``<domain>,frame``, ``event``); their
times come from Python's monotonic clock, whose origin is not the engine's, so in the trace they
are not aligned with the ops. They are recorded while the profiler runs and is not paused
(MXNet 1.9.1 also records them before the first ``set_state('run')``). ``dumps`` lists the
spans, not the counters.

``profile_process='server'`` (in :func:`set_config`, :func:`set_state`, :func:`pause`,
:func:`resume` and :func:`dump`) sends the call to the servers of a distributed store, as MXNet
does: ``mx.kv.create`` hands each store's handle to :func:`set_kvstore_handle`, and worker 0
sends the command (MXNet's ``kSetProfilerParams``) to every server, which runs it on its own
profiler (a ``filename`` ``dir/name`` becomes ``dir/rank<server index>_name`` there). Without a
distributed store it raises :class:`~mxrs.base.MXNetError`. Where the servers run inside the
workers (a plain ``mpirun`` without ``DMLC_NUM_SERVER``) a server's profiler is its worker's.

Not implemented (accepted and ignored): ``profile_memory``, ``profile_api``, ``continuous_dump``
and ``dump_period``.
"""

import itertools
import json
import os
import threading
import time
import warnings

from mxrs import _native
from mxrs.base import MXNetError, MXNetValueError

__all__ = [
    "set_kvstore_handle",
    "set_config",
    "profiler_set_config",
    "set_state",
    "profiler_set_state",
    "dump",
    "dumps",
]
__all__ += ["dump_profile", "pause", "resume", "reset", "Domain", "Task", "Frame", "Event", "Counter", "Marker"]

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

# Server command of profiler calls (MXNet's CommandType::kSetProfilerParams), and the kinds of
# call (KVStoreServerProfilerCommand), sent as the body's last character.
K_SET_PROFILER_PARAMS = 5
_SERVER_SET_CONFIG, _SERVER_STATE, _SERVER_PAUSE, _SERVER_DUMP = 0, 1, 2, 3
_BOOL_KEYS = {"profile_all", "profile_symbolic", "profile_imperative", "profile_memory", "profile_api"}
_BOOL_KEYS |= {"continuous_dump", "aggregate_stats"}

profiler_kvstore_handle = None


def set_kvstore_handle(handle):
    """Make ``profile_process='server'`` calls go to the servers of the store ``handle`` (a
    ``KVStore``'s ``handle``; ``mx.kv.create`` sets it for each store it makes, as MXNet)."""
    global profiler_kvstore_handle  # noqa: PLW0603 - MXNet's module-level handle
    profiler_kvstore_handle = handle


def _process(profile_process, fn):
    if profile_process not in ("worker", "server"):
        raise MXNetValueError(f"profiler.{fn}: profile_process must be 'worker' or 'server', not {profile_process!r}")
    return profile_process == "server"


def _to_servers(fn, kind, params):
    """Send profiler call ``kind`` with ``params`` (str) to every server (from worker 0)."""
    h = profiler_kvstore_handle
    if h is None:
        raise MXNetError(
            f"profiler.{fn}(profile_process='server'): no kvstore handle; create a distributed store "
            "(mx.kv.create('dist_sync')) first or pass its handle to mx.profiler.set_kvstore_handle"
        )
    h = getattr(h, "handle", h)
    if getattr(h, "is_local", False):
        raise MXNetError(
            f"profiler.{fn}(profile_process='server'): the kvstore given to the profiler is "
            f"'{h.type_name}', which has no servers; servers exist only for distributed stores (dist_*)"
        )
    if h.rank == 0:
        h.send_command(K_SET_PROFILER_PARAMS, f"{params}{kind}".encode())


def _config_value(key, val):
    if key in _BOOL_KEYS:
        return val.strip().lower() in ("true", "1")
    if key == "dump_period":
        return float(val)
    return val


def _server_command(body, server_rank):
    """Run a profiler call a worker sent to this server (MXNet's ProcessServerProfilerCommands)."""
    text = body.decode() if isinstance(body, bytes) else body
    if not text or not text[-1].isdigit():
        raise MXNetValueError(f"profiler: improper server profiler command {text!r}")
    kind, params = int(text[-1]), text[:-1]
    if kind == _SERVER_SET_CONFIG:
        kwargs = {}
        for elem in filter(None, params.split(",")):
            parts = elem.split(":")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise MXNetValueError(f"profiler: improper profiler config passed from worker: {elem!r}")
            key, val = parts
            if key == "filename":  # MXNet prefixes the name; here the file's, not its folder's
                head, tail = os.path.split(val)
                val = os.path.join(head, f"rank{server_rank}_{tail}")
            kwargs[key] = _config_value(key, val)
        set_config(**kwargs)
    elif kind == _SERVER_STATE:
        set_state("run" if params[:1] == "1" else "stop")
    elif kind == _SERVER_PAUSE:
        (pause if params[:1] == "1" else resume)()
    elif kind == _SERVER_DUMP:
        dump(params[:1] == "1")
    else:
        raise MXNetValueError(f"profiler: unknown server profiler command {kind}")


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
        # Instrumentation objects: Chrome trace events, and spans (category, name, µs) for dumps.
        self.marks: list[dict] = []
        self.spans: list[tuple[str, str, float]] = []

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
    if _process(kwargs.get("profile_process", "worker"), "set_config"):
        params = ",".join(f"{k}:{v}" for k, v in kwargs.items() if k != "profile_process")
        return _to_servers("set_config", _SERVER_SET_CONFIG, params)
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
    if _process(profile_process, "set_state"):
        return _to_servers("set_state", _SERVER_STATE, "1" if state == "run" else "0")
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
    if _process(profile_process, "pause"):
        return _to_servers("pause", _SERVER_PAUSE, "1")
    with _state.lock:
        _state.paused = True
        _state.apply()


def resume(profile_process="worker"):
    """Record again after :func:`pause`."""
    if _process(profile_process, "resume"):
        return _to_servers("resume", _SERVER_PAUSE, "0")
    with _state.lock:
        _state.paused = False
        _state.apply()


def reset():
    """Forget every event recorded so far."""
    with _state.lock:
        _state.collect()
        _state.events = []
        _state.marks = []
        _state.spans = []


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
    return {"traceEvents": out + _state.marks, "displayTimeUnit": "ms"}


def dump(finished=True, profile_process="worker"):
    """Write every op recorded so far to the configured file as a Chrome trace (JSON)."""
    if _process(profile_process, "dump"):
        return _to_servers("dump", _SERVER_DUMP, "1" if finished is True else "0")
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
        _add_stat(stats, name, dur)
    return stats


def _add_stat(stats, name, dur):
    s = stats.setdefault(name, [0, 0.0, float("inf"), 0.0])
    s[0] += 1
    s[1] += dur
    s[2] = min(s[2], dur)
    s[3] = max(s[3], dur)


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
        tables = {"operator": _aggregate(_state.collect())}
        for cat, name, dur in _state.spans:
            _add_stat(tables.setdefault(cat, {}), name, dur)
        if reset:
            _state.events = []
            _state.spans = []
    idx = _SORT_KEYS[sort_by]

    def key(item):
        s = item[1]
        return s[1] / s[0] if idx is None else s[idx]

    if format == "json":
        times = {}
        for cat, stats in tables.items():
            rows = sorted(stats.items(), key=key, reverse=not ascending)
            times[cat] = {
                n: {"Count": c, "Total": t / 1e3, "Min": mn / 1e3, "Max": mx / 1e3, "Avg": t / c / 1e3}
                for n, (c, t, mn, mx) in rows
            }
        return json.dumps({"Time": times, "Unit": {"Time": "ms"}}, indent=4)
    lines = ["", "Profile Statistics:", "\tNote the difference in units for different entries."]
    for cat, stats in tables.items():
        if cat != "operator" and not stats:
            continue
        lines += [cat, "=================", _row("Name", "Total Count", "Time (ms)", "Min Time (ms)", "Max Time (ms)")]
        lines[-1] += f"{'Avg Time (ms)':>17}"
        lines.append(
            _row("----", "-----------", "---------", "-------------", "-------------") + f"{'-------------':>17}"
        )
        for n, (c, t, mn, mx) in sorted(stats.items(), key=key, reverse=not ascending):
            lines.append(f"{n:<30}{c:>11}{t / 1e3:>17.4f}{mn / 1e3:>17.4f}{mx / 1e3:>17.4f}{t / c / 1e3:>17.4f}")
        lines.append("")
    return "\n".join(lines[:-1] if lines[-1] == "" else lines) + "\n"


def _row(name, count, total, mn, mx):
    return f"{name:<30}{count:>11}{total:>17}{mn:>17}{mx:>17}"


_EPOCH = time.perf_counter()
_IDS = itertools.count(1)


def _now_us():
    return (time.perf_counter() - _EPOCH) * 1e6


def _recording():
    return _state.running and not _state.paused


def _mark(event):
    """Add a trace event (from an instrumentation object) while the profiler records."""
    with _state.lock:
        if _recording():
            event.update(pid=os.getpid(), tid=threading.get_ident(), ts=round(_now_us(), 3))
            _state.marks.append(event)


class Domain:
    """A named group of instrumentation objects (their category in the trace)."""

    def __init__(self, name):
        self.name = name

    def __str__(self):
        return self.name

    def new_task(self, name):
        """A :class:`Task` of this domain."""
        return Task(self, name)

    def new_frame(self, name):
        """A :class:`Frame` of this domain."""
        return Frame(self, name)

    def new_counter(self, name, value=None):
        """A :class:`Counter` of this domain, set to ``value`` if given."""
        return Counter(self, name, value)

    def new_marker(self, name):
        """A :class:`Marker` of this domain."""
        return Marker(self, name)


class _Span:
    """A span between ``start()`` and ``stop()``, recorded while the profiler runs."""

    _phases = ("B", "E")

    def __init__(self, category, name):
        self.name = name
        self._category = category
        self._start = None
        self._id = next(_IDS)

    def _event(self, phase):
        return {"name": self.name, "cat": self._category, "ph": phase}

    def start(self):
        """Begin the span."""
        self._start = _now_us()
        _mark(self._event(self._phases[0]))

    def stop(self):
        """End the span (its duration goes to :func:`dumps`)."""
        _mark(self._event(self._phases[1]))
        if self._start is not None:
            with _state.lock:
                if _recording():
                    _state.spans.append((self._category, self.name, _now_us() - self._start))
            self._start = None

    def __str__(self):
        return self.name


class Task(_Span):
    """A span of work in a domain (an async span, ``b``/``e``, in the trace)."""

    _phases = ("b", "e")

    def __init__(self, domain, name):
        super().__init__(domain.name, name)

    def _event(self, phase):
        return {**super()._event(phase), "id": self._id}


class Frame(_Span):
    """A frame (``(``/``)`` in the trace), e.g. one iteration of a loop, in a domain."""

    _phases = ("(", ")")

    def __init__(self, domain, name):
        super().__init__(f"{domain.name},frame", name)


class Event(_Span):
    """A span outside any domain (category ``event``)."""

    def __init__(self, name):
        super().__init__("event", name)


class Counter:
    """An integer counter of a domain; each change is a ``C`` event in the trace."""

    def __init__(self, domain, name, value=None):
        self.name = name
        self._category = domain.name
        self._value = 0
        if value is not None:
            self.set_value(value)

    def _emit(self):
        _mark({"name": self.name, "cat": self._category, "ph": "C", "args": {self.name: self._value}})

    def set_value(self, value):
        """Set the counter to ``value``."""
        self._value = int(value)
        self._emit()

    def increment(self, delta=1):
        """Add ``delta``."""
        self._value += int(delta)
        self._emit()

    def decrement(self, delta=1):
        """Subtract ``delta``."""
        self._value -= int(delta)
        self._emit()

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


_SCOPES = {"process": "p", "thread": "t", "global": "g"}


class Marker:
    """An instant in a domain; ``mark(scope)`` with scope ``process``, ``thread`` or ``global``."""

    def __init__(self, domain, name):
        self.name = name
        self.domain = domain

    def mark(self, scope="process"):
        """Record the instant."""
        if scope not in _SCOPES:
            raise MXNetValueError(f"Marker.mark: scope must be one of {sorted(_SCOPES)}, not {scope!r}")
        cat = f"{self.domain.name},instant_marker"
        _mark({"name": self.name, "cat": cat, "ph": "n", "s": _SCOPES[scope]})


if os.environ.get("MXNET_PROFILER_AUTOSTART", "0") not in ("", "0"):
    set_state("run")
