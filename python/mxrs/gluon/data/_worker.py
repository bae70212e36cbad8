"""A DataLoader worker process (:func:`main`).

The parent (:mod:`mxrs.gluon.data._procpool`) starts it with a fresh interpreter, never with
``fork``: the parent runs the Rust engine's threads, and a forked child would inherit their
locks held and no threads to release them. The protocol on stdin/stdout is a sequence of
length-prefixed pickles (:func:`send` / :func:`recv`):

1. parent -> worker: ``sys.path`` of the parent (so the dataset's classes import as there);
2. parent -> worker: the pickled ``(dataset, batchify_fn)``;
3. then, per batch, parent -> worker ``(tag, indices)`` and worker -> parent
   ``(tag, True, batch)`` or ``(tag, False, (exception or None, formatted traceback))``.

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


def serve(inp, out):
    """Answer batch requests from ``inp`` on ``out`` until end of input."""
    path = recv(inp)
    if path is None:
        return
    sys.path[:] = path
    setup = recv(inp)
    if setup is None:
        return
    dataset, batchify_fn = setup
    while True:
        msg = recv(inp)
        if msg is None:
            return
        tag, indices = msg
        try:
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
