"""Worker processes for ``DataLoader(num_workers > 0)`` without ``fork``.

MXNet forks its workers. mxrs must not: the parent runs the Rust engine's worker threads, and
a forked child inherits their mutexes in whatever state they were, with none of the threads
that would release them (the classic fork-with-threads deadlock). Each worker here is a new
interpreter (``python -m mxrs.gluon.data._worker``, see that module for the protocol) that
receives the pickled dataset and batchify function once and then index lists.

Unlike ``multiprocessing``'s ``spawn`` and ``forkserver`` start methods, the workers never
import the user's ``__main__`` script: code written for MXNet on Linux has no
``if __name__ == '__main__'`` guard, and re-running it in every worker would train the model
again there. The price is that the dataset and batchify function must pickle without
anything defined in ``__main__`` (or lambdas); :func:`portable_payload` checks that and the
DataLoader then falls back to a thread pool.

Batches come back pickled through the pipe (protocol 5, one copy); the arrays of a batch are
rebuilt as NDArrays in the parent. Batch ``k`` goes to worker ``k % n`` and each worker
answers in order, so the parent reads the answers in batch order without a reader thread.
"""

import io
import multiprocessing
import os
import pickle
import select
import subprocess
import sys
from collections import deque

from mxrs.base import MXNetError
from mxrs.gluon.data import _worker

__all__ = ["NotPortable", "portable_payload", "ProcessPool", "WorkerTimeout"]


class NotPortable(Exception):
    """The dataset or batchify function cannot be sent to a fresh interpreter."""


class WorkerTimeout(MXNetError, multiprocessing.TimeoutError):
    """A worker gave no batch within the DataLoader's ``timeout``."""


class _MainChecker(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, type) or callable(obj):
            module = getattr(obj, "__module__", None)
            qualname = getattr(obj, "__qualname__", "")
            if module == "__main__" or "<lambda>" in qualname or "<locals>" in qualname:
                raise NotPortable(f"{qualname or obj!r} is defined in {module or 'a function'}")
        return NotImplemented


def portable_payload(obj):
    """``obj`` pickled for a worker; raises :class:`NotPortable` when it cannot be."""
    buf = io.BytesIO()
    try:
        _MainChecker(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except NotPortable:
        raise
    except Exception as exc:
        raise NotPortable(f"{type(exc).__name__}: {exc}") from exc
    return buf.getvalue()


class _Raw:
    """Bytes already pickled: sent as they are (``pickle.loads`` in the worker)."""

    def __init__(self, data):
        self.data = data

    def __reduce__(self):
        return (pickle.loads, (self.data,))


class ProcessPool:
    """``num_workers`` worker interpreters serving batches of ``payload``'s dataset."""

    def __init__(self, num_workers, payload):
        self._procs = []
        self._pending: list[deque] = []
        env = dict(os.environ)
        # Several workers share the cores: one engine thread each is enough for batchify.
        env.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")
        for _ in range(num_workers):
            proc = subprocess.Popen(
                [sys.executable, "-c", "from mxrs.gluon.data._worker import main; main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                bufsize=0,
            )
            # Unbuffered reads, so that ``select`` on the pipe sees every byte not yet read;
            # buffered writes (each message is one flush).
            proc.stdin = io.BufferedWriter(proc.stdin)
            self._procs.append(proc)
            self._pending.append(deque())
        for proc in self._procs:
            _worker.send(proc.stdin, list(sys.path))
            _worker.send(proc.stdin, _Raw(payload))

    def __len__(self):
        return len(self._procs)

    def submit(self, worker, tag, indices):
        """Ask ``worker`` for the batch of ``indices``, answered under ``tag``."""
        proc = self._procs[worker]
        try:
            _worker.send(proc.stdin, (tag, list(indices)))
        except (BrokenPipeError, OSError) as exc:
            raise MXNetError(f"DataLoader worker {worker} is gone (exit code {proc.poll()})") from exc
        self._pending[worker].append(tag)

    def result(self, worker, tag, timeout):
        """The batch submitted to ``worker`` under ``tag``; earlier answers are dropped."""
        proc = self._procs[worker]
        pending = self._pending[worker]
        while pending:
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            if not ready:
                raise WorkerTimeout(
                    f"DataLoader worker {worker} gave no batch within {timeout} s (timeout=); "
                    "a slow transform needs a larger timeout"
                )
            msg = _worker.recv(proc.stdout)
            if msg is None:
                raise MXNetError(f"DataLoader worker {worker} exited (code {proc.wait()}) while loading a batch")
            got, ok, value = msg
            pending.popleft()
            if got != tag:
                continue
            if ok:
                return value
            exc, text = value
            if exc is None:
                raise MXNetError(f"DataLoader worker {worker} failed:\n{text}")
            raise exc from MXNetError(f"in DataLoader worker {worker}:\n{text}")
        raise MXNetError(f"no batch was asked of DataLoader worker {worker} under {tag!r}")

    def terminate(self):
        """Stop the workers (end of input, then kill any that do not exit at once)."""
        for proc in self._procs:
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self._procs = []
