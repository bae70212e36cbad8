"""MXNet's first autograd interface (``mx.contrib.autograd``), kept for old scripts.

``train_section()`` records and runs in training mode at once (as ``mx.autograd.record()``),
``test_section()`` neither; ``compute_gradient`` is ``backward``; ``grad``/``grad_and_loss``
turn a loss function into one that returns the gradients of its arguments. All of it runs on
the tape of :mod:`mxrs.autograd`.
"""

import functools

from mxrs import autograd as _ag
from mxrs.base import MXNetValueError
from mxrs.ndarray import NDArray, zeros_like

__all__ = [
    "set_is_training",
    "TrainingStateScope",
    "train_section",
    "test_section",
    "mark_variables",
    "backward",
    "compute_gradient",
    "grad_and_loss",
    "grad",
]


def set_is_training(is_train):
    """Turn training mode and recording on or off together; returns the previous state."""
    prev = _ag.set_training(bool(is_train))
    _ag.set_recording(bool(is_train))
    return bool(prev)


class TrainingStateScope:
    """``with`` scope that sets training mode and recording to ``enter_state`` and restores
    the previous state on exit."""

    def __init__(self, enter_state):
        self._enter_state = enter_state
        self._prev = None

    def __enter__(self):
        self._prev = set_is_training(self._enter_state)

    def __exit__(self, ptype, value, trace):
        if self._prev != self._enter_state:
            set_is_training(self._prev)


def train_section():
    """A scope that records operations for gradients, in training mode."""
    return TrainingStateScope(True)


def test_section():
    """A scope that neither records nor runs in training mode (inside a train_section)."""
    return TrainingStateScope(False)


def mark_variables(variables, gradients, grad_reqs="write"):
    """Mark ``variables`` whose gradients ``backward`` writes into ``gradients``."""
    _ag.mark_variables(variables, gradients, grad_reqs)


def backward(outputs, out_grads=None, retain_graph=False):
    """Gradients of the list ``outputs`` (with head gradients ``out_grads``) into the marked
    variables' gradient arrays."""
    if not isinstance(outputs, (list, tuple)):
        raise MXNetValueError("outputs must be a list or tuple of NDArrays")
    if out_grads is not None and len(out_grads) != len(outputs):
        raise MXNetValueError("outputs and out_grads must have the same length")
    _ag.backward(list(outputs), None if out_grads is None else list(out_grads), retain_graph=retain_graph)


def compute_gradient(outputs):
    """Deprecated name of :func:`backward`."""
    backward(outputs)


def grad_and_loss(func, argnum=None):
    """A function computing ``(gradients, loss)``: the gradients of ``func``'s arguments (those
    at ``argnum``, an int or a list, or all) and ``func``'s value."""

    @functools.wraps(func)
    def wrapped(*args):
        variables = list(args)
        if argnum is not None:
            nums = argnum if isinstance(argnum, list) else [argnum]
            variables = [args[i] for i in nums]
        for x in variables:
            if not isinstance(x, NDArray):
                raise MXNetValueError(f"type of autograd input should be NDArray, got {type(x).__name__}")
        grads = [zeros_like(x) for x in variables]
        mark_variables(variables, grads)
        with train_section():
            outputs = func(*args)
        compute_gradient([outputs] if isinstance(outputs, NDArray) else outputs)
        return grads, outputs

    return wrapped


def grad(func, argnum=None):
    """A function computing the gradients of ``func``'s arguments (see :func:`grad_and_loss`)."""
    grad_with_loss_func = grad_and_loss(func, argnum)

    @functools.wraps(grad_with_loss_func)
    def wrapped(*args):
        return grad_with_loss_func(*args)[0]

    return wrapped
