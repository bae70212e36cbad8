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

The workers are started once (by the first such DataLoader) and serve every DataLoader of
the process: each loader registers its dataset with them, so a program that makes many
loaders (the d2l book makes two per model) pays the interpreter start-up once. Batches come
back pickled through the pipe (one copy), read by one thread per worker; the arrays of a
batch are rebuilt as NDArrays in the parent. Batch ``k`` goes to worker ``k % n``.
"""

import atexit
import io
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
from typing import cast

from mxrs.base import MXNetError
from mxrs.gluon.data import _worker

__all__ = ["NotPortable", "portable_payload", "ProcessPool", "WorkerTimeout", "shared_pool"]


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


class ProcessPool:
    """Worker interpreters shared by every DataLoader of this process (started on demand).

    A loader registers its pickled dataset under a key (:meth:`register`) and asks worker
    ``w`` for batches under tags ``(key, epoch, k)``. One reader thread per worker takes its
    answers off the pipe as they come (so a worker never waits to write while the parent
    waits to write to it) and keeps them until asked for, unless their epoch was closed.
    """

    def __init__(self):
        self._procs: list[subprocess.Popen] = []
        self._buffers: list[dict] = []
        self._exited: list[int | None] = []
        self._live: set = set()
        self._cond = threading.Condition()

    def __len__(self):
        return len(self._procs)

    def ensure(self, num_workers):
        """Start workers until there are ``num_workers``."""
        env = dict(os.environ)
        # Several workers share the cores: one engine thread each is enough for batchify.
        env.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")
        while len(self._procs) < num_workers:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from mxrs.gluon.data._worker import main; main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                bufsize=0,
            )
            proc.stdin = io.BufferedWriter(cast(io.RawIOBase, proc.stdin))
            worker = len(self._procs)
            self._procs.append(proc)
            self._buffers.append({})
            self._exited.append(None)
            reader = threading.Thread(target=self._read, args=(worker,), name=f"DataLoader-reader-{worker}")
            reader.daemon = True
            reader.start()
            self._send(worker, list(sys.path))

    def _read(self, worker):
        proc = self._procs[worker]
        stream = io.BufferedReader(cast(io.RawIOBase, proc.stdout))
        while True:
            try:
                msg = _worker.recv(stream)
            except Exception:
                msg = None
            with self._cond:
                if msg is None:
                    self._exited[worker] = proc.wait()
                    self._cond.notify_all()
                    return
                if msg[0][:2] in self._live:
                    self._buffers[worker][msg[0]] = msg
                    self._cond.notify_all()

    def _send(self, worker, msg):
        proc = self._procs[worker]
        try:
            _worker.send(proc.stdin, msg)
        except (BrokenPipeError, OSError) as exc:
            raise MXNetError(f"DataLoader worker {worker} is gone (exit code {proc.poll()})") from exc

    def register(self, key, payload, num_workers):
        """Start ``num_workers`` workers if needed and give them the loader's payload."""
        self.ensure(num_workers)
        for worker in range(num_workers):
            self._send(worker, ("setup", key, payload))

    def unregister(self, key, num_workers):
        """Let the workers forget loader ``key``."""
        for worker in range(min(num_workers, len(self._procs))):
            if self._procs[worker].poll() is None:
                try:
                    self._send(worker, ("drop", key, None))
                except MXNetError:
                    pass

    def open_epoch(self, epoch):
        """Answers tagged ``(*epoch, k)`` are wanted from now on."""
        with self._cond:
            self._live.add(epoch)

    def close_epoch(self, epoch):
        """Answers of ``epoch`` still to come are dropped; those kept are freed."""
        with self._cond:
            self._live.discard(epoch)
            for buf in self._buffers:
                for tag in [t for t in buf if t[:2] == epoch]:
                    del buf[tag]

    def submit(self, worker, tag, indices):
        """Ask ``worker`` for the batch of ``indices``, answered under ``tag``."""
        self._send(worker, ("batch", tag, list(indices)))

    def result(self, worker, tag, timeout):
        """The batch submitted to ``worker`` under ``tag``."""
        buf = self._buffers[worker]
        with self._cond:
            self._cond.wait_for(lambda: tag in buf or self._exited[worker] is not None, timeout)
            msg = buf.pop(tag, None)
            if msg is None and self._exited[worker] is not None:
                code = self._exited[worker]
                raise MXNetError(f"DataLoader worker {worker} exited (code {code}) while loading a batch")
        if msg is None:
            raise WorkerTimeout(
                f"DataLoader worker {worker} gave no batch within {timeout} s (timeout=); "
                "a slow transform needs a larger timeout"
            )
        _, ok, value = msg
        if ok:
            return value
        exc, text = value
        if exc is None:
            raise MXNetError(f"DataLoader worker {worker} failed:\n{text}")
        raise exc from MXNetError(f"in DataLoader worker {worker}:\n{text}")

    def terminate(self):
        """Stop the workers (end of input, then kill any that do not exit at once)."""
        for proc in self._procs:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs = []
        self._buffers = []
        self._exited = []


_SHARED: list[ProcessPool] = []


def shared_pool():
    """The process's :class:`ProcessPool` (stopped at exit)."""
    if not _SHARED:
        _SHARED.append(ProcessPool())
        atexit.register(_SHARED[0].terminate)
    return _SHARED[0]
