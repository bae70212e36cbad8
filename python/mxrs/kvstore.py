"""Key-value stores (MXNet's ``mx.kv`` / ``mx.kvstore``).

``mx.kv.create('local')`` (or ``'device'``) makes a store for one process: ``init`` stores a copy
of a value under an int or str key, ``push`` sends values (a list of them, one per device, is
summed) and ``pull`` copies the stored value out to arrays on any contexts. Without an updater
a push *replaces* the stored value by the sum; ``set_optimizer`` / ``_set_updater`` install an
update rule instead. Push and pull are asynchronous engine operations, ordered against other
work on the same arrays.

``mx.kv.create('dist_sync')`` (also ``'dist'``, ``'dist_sync_device'``, ``'dist_device_sync'``)
and ``'dist_async'`` make a distributed store over MPI, for processes started by ``mpirun``,
Slurm's ``srun`` or ``python -m mxrs.launch``: workers push and pull, servers keep the keys, sum
each round's pushes (sync) or apply each push as it arrives (async), and run the optimizer the
workers send with ``set_optimizer``. See the README's "Distributed training".
"""

import os
import pickle
import sys

import numpy

from mxrs import _native, kvstore_server, profiler
from mxrs import optimizer as opt
from mxrs.base import MXNetError, NotSupported
from mxrs.kvstore_base import KVStoreBase
from mxrs.kvstore_server import KVStoreServer
from mxrs.ndarray import ndarray
from mxrs.ndarray.ndarray import NDArray, _wrap

__all__ = ["KVStore", "KVStoreBase", "KVStoreServer", "create"]


def _is_key(k):
    return isinstance(k, (int, str)) and not isinstance(k, bool)


def _check_key(k):
    if not _is_key(k):
        raise TypeError(f"a KVStore key must be an int or a str, got {type(k).__name__}")
    return k


def _value_list(v, what):
    """One value or a list of values for one key -> list of handles."""
    if isinstance(v, NDArray):
        return [v._handle]
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, NDArray) for x in v):
        return [x._handle for x in v]
    raise TypeError(f"{what} must be an NDArray or a list of NDArrays for each key")


def _pairs(key, value, what):
    """Normalise (key, value) as MXNet does: one key with one value or a list of values, or a
    list of keys with one value (or list of values) per key."""
    if isinstance(key, (list, tuple)):
        keys = [_check_key(k) for k in key]
        if not isinstance(value, (list, tuple)) or len(value) != len(keys):
            n = len(value) if isinstance(value, (list, tuple)) else 1
            raise MXNetError(f"kvstore.{what}: {len(keys)} keys need {len(keys)} values, got {n}")
        return keys, [_value_list(v, what) for v in value]
    return [_check_key(key)], [_value_list(value, what)]


class KVStore(KVStoreBase):
    """A key-value store for data exchange between devices (MXNet's ``KVStore``)."""

    def __init__(self, handle):
        self.handle = handle
        self._updater = None
        self._updater_func = None

    # -- properties -----------------------------------------------------------------------
    @property
    def type(self):
        """The store's type name (``'local'``, ``'device'``...)."""
        return self.handle.type_name

    @property
    def rank(self):
        """This worker's rank (0 for local stores)."""
        return self.handle.rank

    @property
    def num_workers(self):
        """Number of workers (1 for local stores)."""
        return self.handle.num_workers

    @property
    def _is_dist(self):
        return not self.handle.is_local

    def num_dead_node(self, node_id, timeout_sec=60):
        """Number of dead nodes in group ``node_id``. Always 0: when an MPI process dies, the MPI
        runtime ends the job, and the others' kvstore calls fail within MXNET_KVSTORE_TIMEOUT."""
        return 0

    def _send_command_to_servers(self, head, body):
        """Send command ``head`` with ``body`` (str or bytes) to every server (dist stores)."""
        if isinstance(body, str):
            body = body.encode()
        self.handle.send_command(int(head), bytes(body))

    def is_capable(self, capability):
        """Whether the store supports ``capability`` (only ``'optimizer'`` exists)."""
        if capability.lower() == "optimizer":
            return True
        raise MXNetError(f"Unknown capability: {capability}")

    # -- data -----------------------------------------------------------------------------
    def init(self, key, value):
        """Store a copy of ``value`` under ``key`` (or of each value under each key)."""
        keys, vals = _pairs(key, value, "init")
        flat = []
        for k, v in zip(keys, vals, strict=True):
            if len(v) != 1:
                raise MXNetError(f"kvstore.init: key {k!r} needs exactly one value, got {len(v)}")
            flat.append(v[0])
        self.handle.init(keys, flat)

    def push(self, key, value, priority=0):
        """Push values: a list of values for one key is summed; the sum replaces the stored
        value, or is given to the updater with it."""
        if type(value) is NDArray and _is_key(key):  # the common call, without normalising
            self.handle.push([key], [[value._handle]], priority)
            return
        keys, vals = _pairs(key, value, "push")
        self.handle.push(keys, vals, priority)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy the stored value of each key into its output array(s)."""
        if type(out) is NDArray and _is_key(key):  # one dense output, the common call
            self.handle.pull([key], [[out._handle]], priority)
            return
        if out is None:
            raise MXNetError("kvstore.pull: out must be given")
        flat = out if isinstance(out, (list, tuple)) else [out]
        if any(
            getattr(o, "stype", "default") != "default"
            for x in flat
            for o in (x if isinstance(x, (list, tuple)) else [x])
        ):
            raise MXNetError("kvstore.pull: sparse outputs are not supported; use row_sparse_pull for row_sparse")
        keys, outs = _pairs(key, out, "pull")
        self.handle.pull(keys, outs, priority)

    def pushpull(self, key, value, out=None, priority=0):
        """Push, then pull into ``out`` (into ``value`` itself when ``out`` is None)."""
        if type(value) is NDArray and _is_key(key) and (out is None or type(out) is NDArray):
            h = [[value._handle]]
            self.handle.pushpull([key], h, h if out is None else [[out._handle]], priority)
            return
        keys, vals = _pairs(key, value, "pushpull")
        outs = vals if out is None else _pairs(key, out, "pushpull")[1]
        self.handle.pushpull(keys, vals, outs, priority)

    def broadcast(self, key, value, out, priority=0):
        """Initialise ``key`` with ``value``, then pull it into ``out``."""
        self.init(key, value)
        self.pull(key, out=out, priority=priority)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Pull only the rows ``row_ids`` of the stored value of each key into row_sparse
        ``out`` arrays (one ``row_ids`` array per output; repeated and unsorted ids are fine):
        each output stores exactly those rows, sorted."""
        if out is None or row_ids is None:
            raise MXNetError("kvstore.row_sparse_pull: out and row_ids must be given")
        keys = [_check_key(k) for k in key] if isinstance(key, (list, tuple)) else [_check_key(key)]
        outs = out if isinstance(key, (list, tuple)) else [out]
        ids = row_ids if isinstance(key, (list, tuple)) else [row_ids]
        if len(outs) != len(keys) or len(ids) != len(keys):
            raise MXNetError(f"kvstore.row_sparse_pull: {len(keys)} keys need as many outputs and row_ids")
        for k, o, r in zip(keys, outs, ids, strict=True):
            os_ = list(o) if isinstance(o, (list, tuple)) else [o]
            rs = list(r) if isinstance(r, (list, tuple)) else [r] * len(os_)
            if len(rs) != len(os_):
                raise MXNetError(f"kvstore.row_sparse_pull: key {k!r} has {len(os_)} outputs but {len(rs)} row_ids")
            for dst, rid in zip(os_, rs, strict=True):
                self._pull_rows(k, dst, rid, priority)

    def _pull_rows(self, key, dst, rid, priority):
        from mxrs.ndarray import sparse  # noqa: PLC0415 - sparse builds on the ndarray package

        if not isinstance(dst, sparse.RowSparseNDArray):
            raise MXNetError(
                f"kvstore.row_sparse_pull: out must be a row_sparse array, got {getattr(dst, 'stype', type(dst))}"
            )
        full = ndarray.zeros(dst.shape, ctx=dst.context, dtype=dst.dtype)
        self.handle.pull([key], [[full._handle]], priority)
        ids = rid.asnumpy() if isinstance(rid, NDArray) else rid
        rows = numpy.unique(numpy.asarray(ids, dtype=numpy.int64).reshape(-1))
        if len(rows) and (rows[0] < 0 or rows[-1] >= dst.shape[0]):
            raise MXNetError(f"kvstore.row_sparse_pull: row ids must be in [0, {dst.shape[0]}), got {rows.tolist()}")
        idx = ndarray.array(rows, ctx=dst.context, dtype="int64")
        data = full.take(idx) if len(rows) else ndarray.zeros((0,) + dst.shape[1:], ctx=dst.context, dtype=dst.dtype)
        dst[:] = sparse.RowSparseNDArray(data, [idx], dst.shape)

    def set_gradient_compression(self, compression_params):
        """Not available for local stores (as in MXNet, which allows it only for device and dist)."""
        raise NotSupported("gradient compression is not supported yet")

    # -- updates --------------------------------------------------------------------------
    def set_optimizer(self, optimizer):
        """Apply ``optimizer`` inside the store: each push updates the stored weight. A
        distributed store sends it, pickled, to every server, which runs it (as MXNet)."""
        if not isinstance(optimizer, opt.Optimizer):
            raise TypeError("set_optimizer expects an mx.optimizer.Optimizer")
        if self._is_dist:
            self._send_command_to_servers(kvstore_server.K_CONTROLLER, pickle.dumps(optimizer, 0))
            if optimizer.multi_precision:
                self._send_command_to_servers(kvstore_server.K_SET_MULTI_PRECISION, b"")
            return
        self._set_updater(opt.get_updater(optimizer))

    def _set_updater(self, updater):
        """Install ``updater(key, input, stored)``, which must update ``stored`` in place.

        It runs on the pushing thread, after the pushed values are summed."""
        self._updater = updater
        if updater is None:
            self._updater_func = None
            self.handle.set_updater(None)
            return

        def call(key, h_input, h_stored):
            # As MXNet 1.9.1's local store: str keys reach a raw updater as bytes
            # (mx.optimizer.Updater decodes them).
            if isinstance(key, str):
                key = key.encode()
            updater(key, _wrap(h_input), _wrap(h_stored))

        self._updater_func = call
        self.handle.set_updater(call)

    set_updater = _set_updater

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the optimizer states (pickled; with the optimizer when ``dump_optimizer``)."""
        if self._updater is None:
            raise AssertionError("Cannot save states for distributed training")
        _native.write_file(os.fspath(fname), self._updater.get_states(dump_optimizer))

    def load_optimizer_states(self, fname):
        """Load optimizer states written by :meth:`save_optimizer_states`."""
        if self._updater is None:
            raise AssertionError("Cannot load states for distributed training")
        self._updater.set_states(_native.read_file(os.fspath(fname)))

    # -- synchronisation ------------------------------------------------------------------
    def _barrier(self):
        """Wait for all workers (a no-op for local stores)."""
        self.handle.barrier()

    barrier = _barrier

    def __repr__(self):
        return f"<KVStore type={self.type} rank={self.rank} num_workers={self.num_workers}>"


def create(name="local"):
    """Create a store: ``'local'``, ``'device'`` (any name without ``dist``/``nccl`` is a local
    store; with ``device`` in it, sums happen on the devices), or a distributed store over MPI:
    ``'dist_sync'`` (``'dist'``, ``'dist_sync_device'``, ``'dist_device_sync'``) or
    ``'dist_async'``."""
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    name = name.lower()
    if name in KVStoreBase.kv_registry:
        return KVStoreBase.kv_registry[name]()
    if "dist" in name:
        # This process may host a server shard (a plain ``mpirun -np N``): it runs the optimizer
        # the workers send. Installed before MPI starts, so no command can arrive before it.
        _native.dist_set_controller(kvstore_server.controller)
        # dist_sync sums with MPI_Iallreduce; Open MPI's default non-blocking algorithm for 2
        # ranks (binomial) runs large values at half the speed of MPI_Allreduce, its
        # Rabenseifner one (reduce-scatter + allgather) as fast. Read when MPI starts; the
        # user's (or mpirun's) setting wins.
        os.environ.setdefault("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3")
        handle = _native.KVStoreHandle(name)
        kvstore_server.register_shutdown()
    else:
        handle = _native.KVStoreHandle(name)
    kv = KVStore(handle)
    # As MXNet: profile_process='server' reaches the servers of the last store made.
    profiler.set_kvstore_handle(kv.handle)
    return kv


# MXNet's ``mx.kv`` is a package; ``mx.kv.kvstore`` is its module of the KVStore class (and
# ``import mxnet.kvstore.kvstore`` works). Here both are this module.
kvstore = sys.modules[__name__]
sys.modules[__name__ + ".kvstore"] = kvstore
