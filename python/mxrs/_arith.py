"""The one table of binary arithmetic and comparison operators, shared by NDArray and Symbol.

Each entry names the registered ops an operator maps to: for two arrays (NDArray broadcasts,
as MXNet's NDArray operators do), for two symbols (MXNet's element-wise symbol ops), for a
tensor and a number, and for a number and a tensor (``2 - x``); ``number`` computes it for two
plain numbers (``mx.nd.subtract(5, 3)``). The NDArray dunders, ``mx.nd.add`` and friends, and
the Symbol dunders all read it.
"""

import operator
from collections.abc import Callable
from typing import Any, NamedTuple


class Arith(NamedTuple):
    """The registered ops behind one binary operator."""

    array: str
    symbol: str
    symbol_hint: str  # default node name of ``symbol`` (MXNet's ``_plus0``, ``_minus0``...)
    scalar: str
    rscalar: str
    number: Callable[[Any, Any], Any]


def _flag(compare):
    return lambda a, b: float(compare(a, b))


ADD = Arith("broadcast_add", "elemwise_add", "_plus", "_plus_scalar", "_plus_scalar", operator.add)
SUB = Arith("broadcast_sub", "elemwise_sub", "_minus", "_minus_scalar", "_rminus_scalar", operator.sub)
MUL = Arith("broadcast_mul", "elemwise_mul", "_mul", "_mul_scalar", "_mul_scalar", operator.mul)
DIV = Arith("broadcast_div", "elemwise_div", "_div", "_div_scalar", "_rdiv_scalar", operator.truediv)
MOD = Arith("broadcast_mod", "_mod", "_mod", "_mod_scalar", "_rmod_scalar", operator.mod)
POW = Arith("broadcast_power", "_power", "_power", "_power_scalar", "_rpower_scalar", operator.pow)
MAXIMUM = Arith("broadcast_maximum", "_maximum", "_maximum", "_maximum_scalar", "_maximum_scalar", max)
MINIMUM = Arith("broadcast_minimum", "_minimum", "_minimum", "_minimum_scalar", "_minimum_scalar", min)
EQ = Arith("broadcast_equal", "_equal", "_equal", "_equal_scalar", "_equal_scalar", _flag(operator.eq))
NE = Arith(
    "broadcast_not_equal",
    "_not_equal",
    "_not_equal",
    "_not_equal_scalar",
    "_not_equal_scalar",
    _flag(operator.ne),
)
GT = Arith("broadcast_greater", "_greater", "_greater", "_greater_scalar", "_lesser_scalar", _flag(operator.gt))
GE = Arith(
    "broadcast_greater_equal",
    "_greater_equal",
    "_greater_equal",
    "_greater_equal_scalar",
    "_lesser_equal_scalar",
    _flag(operator.ge),
)
LT = Arith("broadcast_lesser", "_lesser", "_lesser", "_lesser_scalar", "_greater_scalar", _flag(operator.lt))
LE = Arith(
    "broadcast_lesser_equal",
    "_lesser_equal",
    "_lesser_equal",
    "_lesser_equal_scalar",
    "_greater_equal_scalar",
    _flag(operator.le),
)
LOGICAL_AND = Arith(
    "broadcast_logical_and",
    "_logical_and",
    "_logical_and",
    "_logical_and_scalar",
    "_logical_and_scalar",
    lambda a, b: float(bool(a) and bool(b)),
)
LOGICAL_OR = Arith(
    "broadcast_logical_or",
    "_logical_or",
    "_logical_or",
    "_logical_or_scalar",
    "_logical_or_scalar",
    lambda a, b: float(bool(a) or bool(b)),
)
LOGICAL_XOR = Arith(
    "broadcast_logical_xor",
    "_logical_xor",
    "_logical_xor",
    "_logical_xor_scalar",
    "_logical_xor_scalar",
    lambda a, b: float(bool(a) != bool(b)),
)
