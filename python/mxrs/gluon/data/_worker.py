"""A DataLoader worker process (:func:`main`).

The parent (:mod:`mxrs.gluon.data._procpool`) starts it with a fresh interpreter, never with
``fork``: the parent runs the Rust engine's threads, and a forked child would inherit their
locks held and no threads to release them. The protocol on stdin/stdout is a sequence of
length-prefixed pickles (:func:`send` / :func:`recv`):

1. parent -> worker: ``sys.path`` of the parent (so the dataset's classes import as there);
2. then any of: ``("setup", key, payload)`` registers a DataLoader's pickled
   ``(dataset, batchify_fn)`` under ``key``; ``("drop", key, None)`` forgets it;
   ``("batch", tag, indices)`` asks for a batch of loader ``tag[0]``, answered with
   ``(tag, True, batch)`` or ``(tag, False, (exception or None, formatted traceback))``.

A worker serves every DataLoader of its parent, so interpreters start once per session.

The worker's own stdout is redirected to stderr so that prints in a transform do not
corrupt the protocol; end of input (the parent closed the pipe or died) ends the worker.
"""

import os
import pickle
import struct
import sys
import traceback

_LEN = struct.Struct("<Q")


def send(stream, obj):
    """Write ``obj`` as one length-prefixed pickle and flush."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_exact(stream, n):
    """``n`` bytes from ``stream``, or None at end of input."""
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(stream):
    """The next length-prefixed pickle from ``stream``, or None at end of input."""
    head = read_exact(stream, _LEN.size)
    if head is None:
        return None
    body = read_exact(stream, _LEN.unpack(head)[0])
    return None if body is None else pickle.loads(body)


def _failure(tag, exc):
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickle.dumps(exc)
    except Exception:
        exc = None
    return (tag, False, (exc, text))


def _setup(payload):
    """``(dataset, batchify_fn)`` from a payload, or the exception unpickling raised."""
    try:
        return pickle.loads(payload)
    except Exception as exc:
        return exc


def serve(inp, out):
    """Answer requests from ``inp`` on ``out`` until end of input."""
    path = recv(inp)
    if path is None:
        return
    sys.path[:] = path
    loaders = {}
    while True:
        msg = recv(inp)
        if msg is None:
            return
        kind, key, arg = msg
        if kind == "setup":
            loaders[key] = _setup(arg)
        elif kind == "drop":
            loaders.pop(key, None)
        else:
            tag, indices = key, arg
            try:
                setup = loaders[tag[0]]
                if isinstance(setup, Exception):
                    raise setup
                dataset, batchify_fn = setup
                reply = (tag, True, batchify_fn([dataset[i] for i in indices]))
                send(out, reply)
            except Exception as exc:  # reported to the parent, which raises it
                send(out, _failure(tag, exc))


def main():
    """Entry point: serve on the original stdin/stdout, with prints going to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        serve(sys.stdin.buffer, out)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
