"""Server processes of distributed stores (MXNet's ``mxnet.kvstore_server``).

In a job started with ``python -m mxrs.launch -n W -s S`` (or ``mpirun`` with
``DMLC_NUM_WORKER``/``DMLC_NUM_SERVER``), MPI ranks ``W..W+S`` are servers: as in MXNet,
``import mxrs`` in a server process runs the server loop (which keeps the keys, sums the
workers' pushes and runs the optimizer the workers send with ``set_optimizer``) and then exits,
so user code after the import runs only on workers. A process's role is read from the
environment at import (MPI's rank variables and ``DMLC_*``), which costs nothing outside a job;
MPI itself starts only when a distributed store is created or a server starts.

:class:`KVStoreServer` is MXNet's class for that loop: ``KVStoreServer(kvstore).run()`` installs
its controller and serves until every worker finished (``import mxrs`` does exactly this in a
server process, so user code rarely needs it).
"""

import atexit
import logging
import os
import pickle
import sys

from mxrs import _native, profiler
from mxrs import optimizer as opt
from mxrs.ndarray.ndarray import _wrap

__all__ = ["KVStoreServer", "controller"]

# Server command ids, as MXNet's (kvstore_server.py / kvstore_dist_server.h).
K_CONTROLLER = 0
K_SET_MULTI_PRECISION = 1
K_STOP_SERVER = 2
K_SYNC_MODE = 3
K_SET_GRADIENT_COMPRESSION = 4
K_SET_PROFILER_PARAMS = profiler.K_SET_PROFILER_PARAMS

_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID")
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS")
_shutdown_registered: list[bool] = []


def _env_int(names):
    for n in names:
        v = os.environ.get(n, "").strip()
        if v.isdigit():
            return int(v)
    return None


def _server_index():
    """This process's index among the servers (MXNet's ``ps::MyRank()`` on a server), from the
    environment: asking MPI from a command handler, or before the server loop installed its
    executor, can deadlock (a handler running outside the main thread waits for the import of
    mxrs that the main thread, serving, never finishes)."""
    rank = _env_int(_RANK_VARS) or 0
    nw, ns = _env_int(("DMLC_NUM_WORKER",)), _env_int(("DMLC_NUM_SERVER",))
    if role() != "server":
        return rank  # servers inside the workers: worker r hosts shard r
    if nw is not None:
        return rank - nw
    size = _env_int(_SIZE_VARS)
    return rank - (size - ns) if size is not None and ns is not None else 0


def controller(cmd, body):
    """Run server command ``cmd`` (MXNet's ids): for ``kController`` (0) ``body`` is the pickled
    optimizer, and the updater to install is returned; ``kSetProfilerParams`` (5) runs a
    profiler call a worker made with ``profile_process='server'``."""
    if cmd == K_SET_PROFILER_PARAMS:
        profiler._server_command(body, _server_index())
        return None
    if cmd == K_CONTROLLER:
        updater = opt.get_updater(pickle.loads(body))

        def call(key, h_input, h_stored):
            # As the local store: str keys reach the Updater as bytes.
            if isinstance(key, str):
                key = key.encode()
            updater(key, _wrap(h_input), _wrap(h_stored))

        return call
    return None


class KVStoreServer:
    """The server of a distributed store (MXNet's ``mx.kv.KVStoreServer``).

    ``kvstore`` is the store the server belongs to, or None: in mxrs a server process cannot
    create a worker's store (its rank is a server's), so :meth:`run` needs none."""

    def __init__(self, kvstore=None):
        self.kvstore = kvstore
        self.handle = getattr(kvstore, "handle", None)
        self.init_logginig = False

    def _controller(self):
        """The server controller: ``controller(cmd_id, cmd_body)`` runs a command sent with
        ``_send_command_to_servers`` and returns the updater to install for ``kController``
        (0, a pickled optimizer); unknown commands are printed, as MXNet does."""

        def server_controller(cmd_id, cmd_body, _=None):
            if not self.init_logginig:
                head = f"%(asctime)-15s Server[{_server_index()}] %(message)s"
                logging.basicConfig(level=logging.DEBUG, format=head)
                self.init_logginig = True
            if cmd_id in (K_CONTROLLER, K_SET_PROFILER_PARAMS):
                return controller(cmd_id, cmd_body)
            if cmd_id not in (K_SET_MULTI_PRECISION, K_STOP_SERVER, K_SYNC_MODE):
                print(f"server {_server_index()}, unknown command ({cmd_id}, {cmd_body!r})")
            return None

        return server_controller

    def run(self):
        """Serve until every worker finished: receive requests; a command runs the controller,
        a push runs the updater the workers' ``set_optimizer`` installed. Then MPI ends."""
        _native.dist_set_controller(self._controller())
        _native.dist_run_server()


def _shutdown(connect):
    try:
        _native.dist_shutdown(connect)
    except Exception as e:  # noqa: BLE001 - at exit, report and go on
        print(f"mxrs kvstore: {e}", file=sys.stderr)


def register_shutdown(connect=False):
    """End this worker's part of the MPI job when the interpreter exits (once)."""
    if not _shutdown_registered:
        _shutdown_registered.append(connect)
        atexit.register(_shutdown, connect)


def role():
    """This process's role from the environment: ``'server'``, ``'scheduler'``, ``'worker'`` (in
    a launched job) or None (not launched for distributed training)."""
    r = os.environ.get("DMLC_ROLE", "").strip().lower()
    rank = _env_int(_RANK_VARS)
    nw, ns = _env_int(("DMLC_NUM_WORKER",)), _env_int(("DMLC_NUM_SERVER",))
    if r in ("server", "scheduler", "worker"):
        return r
    if rank is None or (nw is None and ns is None):
        return None
    if nw is not None and rank >= nw:
        return "server"
    size = _env_int(_SIZE_VARS)
    if nw is None and ns is not None and size is not None and rank >= size - ns:
        return "server"
    return "worker"


def _mark_mxrs_imported():
    """Let other threads import from mxrs while a server serves inside ``import mxrs``.

    The server loop runs in the last statement of ``mxrs/__init__``, so the package stays
    "being imported" while it serves; a command that reaches the server before its loop took
    over (it then runs on the communication thread) unpickles the optimizer, and that import of
    ``mxrs`` would wait for the main thread's import to finish: forever. Everything is defined
    by then, so mark the import done."""
    spec = getattr(sys.modules.get(__name__.rpartition(".")[0]), "__spec__", None)
    if spec is not None and getattr(spec, "_initializing", False):
        spec._initializing = False


def _init_kvstore_server_module():
    """Called by ``import mxrs``: a server runs its loop and exits the process."""
    r = role()
    if r == "server":
        _mark_mxrs_imported()
        KVStoreServer().run()
        sys.exit(0)
    if r == "scheduler":
        # MPI needs no scheduler (ps-lite's): nothing to do.
        sys.exit(0)
    if r == "worker":
        # The servers end once every worker finished, even one that made no store.
        register_shutdown(connect=True)
