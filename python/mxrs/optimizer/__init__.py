"""Optimizers (MXNet's ``mx.optimizer``).

Each optimizer turns ``(index, weight, grad, state)`` into an in-place update of ``weight``
(and of its state), mostly through the fused update ops of ``mx.nd``. The base class, SGD, NAG,
the Adam family and the updater are in :mod:`mxrs.optimizer.optimizer`; FTML, LAMB, LARS, LBSGD,
DCASGD, SGLD, Adamax, Nadam, Test and ccSGD in :mod:`mxrs.optimizer.extra`.
"""

from mxrs.ndarray import abs as NDabs  # noqa: F401 (in MXNet's mx.optimizer namespace)
from mxrs.optimizer import contrib, optimizer  # noqa: F401 (submodules, as in MXNet)
from mxrs.optimizer.extra import DCASGD, FTML, LAMB, LARS, LBSGD, SGLD, Adamax, Nadam, Test, ccSGD
from mxrs.optimizer.optimizer import (
    NAG,
    SGD,
    AdaDelta,
    AdaGrad,
    Adam,
    Ftrl,
    Optimizer,
    RMSProp,
    Signum,
    Updater,
    create,
    get_updater,
    register,
)

__all__ = [
    "Optimizer",
    "SGD",
    "NAG",
    "Adam",
    "AdaGrad",
    "RMSProp",
    "AdaDelta",
    "Signum",
    "Ftrl",
    "FTML",
    "LARS",
    "LBSGD",
    "LAMB",
    "DCASGD",
    "SGLD",
    "Adamax",
    "Nadam",
    "Test",
    "ccSGD",
    "Updater",
    "create",
    "get_updater",
    "register",
    "optimizer",
]
