"""``mx.kv.KVStoreBase``: the interface of key-value stores and their registry (MXNet 1.9.1's
``mxnet/kvstore/base.py``). ``mx.kv.create(name)`` first looks ``name`` up among the stores
registered with :meth:`KVStoreBase.register`."""

import warnings

from mxrs.ndarray.ndarray import NDArray

__all__ = ["KVStoreBase", "TestStore"]


class KVStoreBase:
    """An abstract key-value store for data-parallel training. Subclasses implement the
    methods; ``@KVStoreBase.register`` makes ``mx.kv.create(<class name, lower case>)`` build one."""

    OPTIMIZER = "optimizer"
    kv_registry: dict = {}

    def broadcast(self, key, value, out, priority=0):
        """Broadcast ``value`` of rank 0 into ``out`` (an NDArray or a list) on every rank."""
        raise NotImplementedError()

    def pushpull(self, key, value, out=None, priority=0):
        """Sum ``value`` (an NDArray or a list) over devices and workers into ``out`` (or
        ``value`` itself when ``out`` is None)."""
        raise NotImplementedError()

    def set_optimizer(self, optimizer):
        """Run ``optimizer`` on the store's values when gradients are pushed."""
        raise NotImplementedError()

    def is_capable(self, capability):
        """Whether the store supports ``capability`` (``KVStoreBase.OPTIMIZER``...)."""
        raise NotImplementedError()

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Save the optimizer's states (and the optimizer if ``dump_optimizer``) to ``fname``."""
        raise NotImplementedError()

    def load_optimizer_states(self, fname):
        """Load the optimizer's states from ``fname``."""
        raise NotImplementedError()

    @property
    def type(self):
        """The store's type name."""
        raise NotImplementedError()

    @property
    def rank(self):
        """This worker's rank, in ``[0, num_workers)``."""
        raise NotImplementedError()

    @property
    def num_workers(self):
        """The number of workers."""
        raise NotImplementedError()

    @staticmethod
    def register(klass):
        """Class decorator: register ``klass`` for ``mx.kv.create(klass.__name__.lower())``."""
        assert isinstance(klass, type)
        name = klass.__name__.lower()
        if name in KVStoreBase.kv_registry:
            old = KVStoreBase.kv_registry[name]
            warnings.warn(
                f"WARNING: New kvstore {klass.__module__}.{klass.__name__} is overriding existing "
                f"kvstore {old.__module__}.{old.__name__}",
                stacklevel=2,
            )
        KVStoreBase.kv_registry[name] = klass
        return klass


@KVStoreBase.register
class TestStore(KVStoreBase):
    """A single-process store for tests (``mx.kv.create('teststore')``)."""

    def broadcast(self, key, value, out, priority=0):
        """Copy ``value`` into every array of ``out``."""
        out = out if isinstance(out, list) else [out]
        for o in out:
            o[:] = value

    def pushpull(self, key, value, out=None, priority=0):
        """Sum the arrays of ``value`` (on the first one's context) into ``out`` or ``value``."""
        ctx = value[0].context
        if isinstance(value, NDArray):
            if out is not None:
                out = out if isinstance(out, list) else [out]
                for o in out:
                    o[:] = value
            return
        reduced_value = sum(val.as_in_context(ctx) for val in value)
        targets = value if out is None else (out if isinstance(out, list) else [out])
        for o in targets:
            o[:] = reduced_value

    @staticmethod
    def is_capable(capability):
        """No optimizer on this store; other capabilities are unknown (``ValueError``)."""
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return False
        raise ValueError(f"Unknown capability: {capability}")

    @property
    def type(self):
        """``'teststore'``."""
        return "teststore"

    @property
    def rank(self):
        """0."""
        return 0

    @property
    def num_workers(self):
        """1."""
        return 1
