"""``mx.sym.Custom``: a Python operator (registered with :func:`mxrs.operator.register`) as a
node of a Symbol graph.

The node is the native ``Custom`` op with the attribute ``op_type`` and the operator's keyword
arguments as strings (MXNet's JSON). Its inputs are the prop's ``list_arguments`` then its
``list_auxiliary_states``; those not given become variables ``NAME_<input>`` (a loss op's
``label`` becomes ``NAME_label``). Shape and dtype inference, forward and backward call the
prop and the operator it creates (see :mod:`mxrs.ndarray._custom`).
"""

from mxrs.base import MXNetError
from mxrs.symbol.symbol import Symbol, _create

__all__ = ["Custom"]


def Custom(*data, op_type=None, name=None, attr=None, **kwargs):  # noqa: N802  (MXNet's name)
    """Apply the Python operator registered as ``op_type`` to ``data`` (positional inputs, in
    the order of its ``list_arguments``) and to symbols given by input name. Other keyword
    arguments go, as strings, to the operator's ``CustomOpProp`` constructor."""
    if op_type is None:
        raise MXNetError("Custom: op_type is required")
    if len(data) == 1 and isinstance(data[0], (list, tuple)):
        data = tuple(data[0])
    for i, a in enumerate(data):
        if not isinstance(a, Symbol):
            raise MXNetError(f"Custom({op_type}): positional input {i} must be a Symbol, got {type(a).__name__}")
    syms = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
    params["op_type"] = op_type
    return _create("Custom", list(data), params, name, attr, "custom", syms)
