"""Contrib optimizers (MXNet's ``mx.optimizer.contrib``): GroupAdaGrad."""

from mxrs import ndarray as nd
from mxrs.base import MXNetError
from mxrs.ndarray.contrib import group_adagrad_update
from mxrs.optimizer.optimizer import Optimizer, register

__all__ = ["GroupAdaGrad"]


@register
class GroupAdaGrad(Optimizer):
    """AdaGrad with one learning rate per row of a 2-d weight::

        grad = clip(grad * rescale_grad, clip_gradient)
        history += mean(square(grad), axis=1, keepdims=True)
        weight -= lr * grad / sqrt(history + eps)

    A row_sparse gradient updates only its rows (``mx.nd.contrib.group_adagrad_update``).
    Weight decay is not supported, as in MXNet.

    Parameters
    ----------
    eps : float
        Added to the history under the square root.
    """

    def __init__(self, eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        if len(weight.shape) != 2:
            raise MXNetError(f"GroupAdaGrad: the weight must be 2-d, got shape {weight.shape}")
        return nd.zeros((weight.shape[0], 1), weight.context, dtype=weight.dtype)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        if wd != 0:
            raise MXNetError("GroupAdaGrad: weight decay is not supported (wd must be 0)")
        clip = self.clip_gradient if self.clip_gradient else -1.0
        group_adagrad_update(
            weight,
            grad,
            state,
            out=weight,
            lr=lr,
            rescale_grad=self.rescale_grad,
            clip_gradient=clip,
            epsilon=self.float_stable_eps,
        )
