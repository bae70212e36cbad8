"""``mx.sym`` / ``mx.symbol``: symbolic graphs.

One function per registered op (and alias) is made here from the native registry, so
``mx.sym.FullyConnected`` and ``mx.nd.FullyConnected`` are the same op.
"""

from mxrs import _native
from mxrs.symbol.symbol import (
    Group,
    Symbol,
    Variable,
    _make_op_function,
    create,
    load,
    load_json,
    var,
)

__all__ = ["Symbol", "Variable", "var", "Group", "load", "load_json", "create"]


def _init_ops():
    ops = {}
    for name, inputs, params, doc in _native.list_ops():
        ops[name] = (inputs, params, doc)
    g = globals()
    for name, (inputs, params, doc) in ops.items():
        if name.startswith("_backward_"):
            continue
        g[name] = _make_op_function(name, name, inputs, params, doc)
        __all__.append(name)
    for alias, canonical in _native.list_aliases():
        inputs, params, doc = ops[canonical]
        g[alias] = _make_op_function(canonical, alias, inputs, params, doc)
        __all__.append(alias)


_init_ops()


def zeros(shape, dtype=None, **kwargs):
    """A symbol of zeros."""
    return _zeros(shape=shape, dtype=dtype or "float32", **kwargs)  # noqa: F821


def ones(shape, dtype=None, **kwargs):
    """A symbol of ones."""
    return _ones(shape=shape, dtype=dtype or "float32", **kwargs)  # noqa: F821
