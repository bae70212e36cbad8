"""``mx.sym.sparse``: MXNet 1.9.1's names for the storage-typed variants of symbolic ops.

mxrs graphs compute densely: in MXNet these ops are the ordinary ops with storage-type
inference, and a graph of them gives the same values with dense arrays. So each name here is
the dense op of ``mx.sym`` (``mx.sym.sparse.dot`` is ``mx.sym.dot``...); ``cast_storage`` and
``retain`` keep their input's values (an identity and a row mask), and the optimizer updates
are the dense updates.
"""

from mxrs.symbol import _ops


def _alias(name, target=None):
    fn = getattr(_ops, target or name)

    def op(*args, **kwargs):
        return fn(*args, **kwargs)

    op.__name__ = name
    op.__doc__ = f"``mx.sym.{target or name}`` (graphs compute densely; MXNet's sparse variant has the same values)."
    return op


_NAMES = (
    "Embedding FullyConnected LinearRegressionOutput LogisticRegressionOutput MAERegressionOutput abs "
    "adam_update add_n arccos arccosh arcsin arcsinh arctan arctanh broadcast_add broadcast_div "
    "broadcast_mul broadcast_sub cbrt ceil clip cos cosh degrees dot elemwise_add elemwise_div elemwise_mul "
    "elemwise_sub exp expm1 fix floor ftrl_update gamma gammaln log log10 log1p log2 mean negative norm "
    "radians relu rint round rsqrt sgd_mom_update sgd_update sigmoid sign sin sinh slice sqrt square sum tan "
    "tanh trunc where zeros_like"
).split()
for _n in _NAMES:
    globals()[_n] = _alias(_n)
ElementWiseSum = _alias("ElementWiseSum", "add_n")
broadcast_plus = _alias("broadcast_plus", "broadcast_add")
broadcast_minus = _alias("broadcast_minus", "broadcast_sub")
concat = _alias("concat", "Concat")
stop_gradient = _alias("stop_gradient", "BlockGrad")
make_loss = _alias("make_loss", "identity")
_contrib_round_ste = _alias("_contrib_round_ste", "round")
_contrib_sign_ste = _alias("_contrib_sign_ste", "sign")


def cast_storage(data=None, stype=None, name=None, attr=None, **kwargs):
    """``cast_storage``: an identity in mxrs graphs (values are unchanged by a storage cast)."""
    return _ops.identity(data, name=name, attr=attr, **kwargs)


def retain(data=None, indices=None, name=None, attr=None, **kwargs):
    """Not available in mxrs graphs (``retain`` needs row_sparse storage)."""
    raise NotImplementedError("mx.sym.sparse.retain needs row_sparse storage, which mxrs graphs do not have")


def adagrad_update(*args, **kwargs):
    """Not available in mxrs graphs (MXNet's ``_sparse_adagrad_update`` needs row_sparse storage)."""
    raise NotImplementedError("mx.sym.sparse.adagrad_update needs row_sparse storage, which mxrs graphs do not have")


__all__ = _NAMES + [
    "ElementWiseSum",
    "broadcast_plus",
    "broadcast_minus",
    "concat",
    "stop_gradient",
    "make_loss",
    "_contrib_round_ste",
    "_contrib_sign_ste",
    "cast_storage",
    "retain",
    "adagrad_update",
]
