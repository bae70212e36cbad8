"""``mx.random``: seeding and the sampling functions of ``mx.nd.random``."""

from mxrs import _native
from mxrs.context import Context
from mxrs.ndarray.random import (
    exponential,
    gamma,
    generalized_negative_binomial,
    multinomial,
    negative_binomial,
    normal,
    poisson,
    randint,
    randn,
    shuffle,
    uniform,
)

__all__ = [
    "seed",
    "uniform",
    "normal",
    "randn",
    "poisson",
    "exponential",
    "gamma",
    "multinomial",
    "negative_binomial",
    "generalized_negative_binomial",
    "shuffle",
    "randint",
]


def seed(seed_state, ctx="all"):
    """Seed the random generators of every context (or of ``ctx`` only).

    Draws after the same seed are reproducible: every sampling op is ordered after the seed
    through the engine, whatever runs in parallel.
    """
    if not isinstance(seed_state, int):
        raise ValueError("seed_state must be int")
    state = seed_state & 0xFFFFFFFFFFFFFFFF
    if ctx == "all":
        _native.random_seed(state, None)
    else:
        _native.random_seed(state, Context(ctx)._pair())
