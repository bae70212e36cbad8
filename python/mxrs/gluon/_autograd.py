"""The autograd entry points Gluon uses (a stand-in until ``mxrs.autograd`` is merged)."""

import contextlib

try:
    from mxrs import autograd as _ag  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the interim build without mx.autograd
    _ag = None

__all__ = ["pause", "mark_variables", "is_recording", "is_training", "Function"]


def pause(train_mode=False):
    """``autograd.pause()``."""
    return _ag.pause(train_mode) if _ag is not None else contextlib.nullcontext()


def mark_variables(variables, gradients, grad_reqs="write"):
    """``autograd.mark_variables``."""
    if _ag is not None:
        _ag.mark_variables(variables, gradients, grad_reqs)


def is_recording():
    """``autograd.is_recording()``."""
    return _ag.is_recording() if _ag is not None else False


def is_training():
    """``autograd.is_training()``."""
    return _ag.is_training() if _ag is not None else False


Function = _ag.Function if _ag is not None else object
