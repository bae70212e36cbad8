"""``PythonModule`` and ``PythonLossModule``: modules whose computation is written in Python
(most module methods do nothing), e.g. a custom loss at the end of a ``SequentialModule``."""

import logging
from typing import Any

from mxrs import ndarray as nd
from mxrs.base import MXNetValueError, NotSupported
from mxrs.initializer import Uniform
from mxrs.module.base_module import BaseModule

__all__ = ["PythonModule", "PythonLossModule"]


def _need(cond, msg):
    if not cond:
        raise MXNetValueError(msg)


class PythonModule(BaseModule):
    """A module without parameters whose computation subclasses write in Python.

    Subclasses implement ``forward``, ``backward``, ``get_outputs``, ``get_input_grads`` and
    ``_compute_output_shapes``.

    Parameters
    ----------
    data_names : list of str
    label_names : list of str or None
    output_names : list of str
    """

    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        if isinstance(data_names, tuple):
            data_names = list(data_names)
        if isinstance(label_names, tuple):
            label_names = list(label_names)
        self._data_names = data_names
        self._label_names = label_names
        self._output_names = output_names
        self._data_shapes: Any = None
        self._label_shapes: Any = None
        self._output_shapes: Any = None

    @property
    def data_names(self):
        """Names of the data inputs."""
        return self._data_names

    @property
    def output_names(self):
        """Names of the outputs."""
        return self._output_names

    @property
    def data_shapes(self):
        """``[(name, shape)]`` of the data inputs."""
        return self._data_shapes

    @property
    def label_shapes(self):
        """``[(name, shape)]`` of the labels (None without labels)."""
        return self._label_shapes

    @property
    def output_shapes(self):
        """``[(name, shape)]`` of the outputs."""
        return self._output_shapes

    def get_params(self):
        """No parameters: ``({}, {})``."""
        return ({}, {})

    def init_params(
        self,
        initializer=Uniform(0.01),  # noqa: B008 - MXNet's default, never mutated
        arg_params=None,
        aux_params=None,
        allow_missing=False,
        force_init=False,
        allow_extra=False,
    ):
        """Nothing to initialize."""
        self.params_initialized = True

    def update(self):
        """Nothing to update."""

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update ``eval_metric`` with the outputs, when the module takes labels."""
        if self._label_shapes is None:
            return
        if pre_sliced:
            raise NotSupported("PythonModule does not support presliced labels")
        eval_metric.update(labels, self.get_outputs())

    def bind(
        self,
        data_shapes,
        label_shapes=None,
        for_training=True,
        inputs_need_grad=False,
        force_rebind=False,
        shared_module=None,
        grad_req="write",
    ):
        """Record the input shapes and compute the output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        _need(grad_req == "write", f"Python module only support write gradient, got grad_req={grad_req!r}")
        data_shapes = [(x[0], tuple(x[1])) for x in data_shapes]
        names = [x[0] for x in data_shapes]
        _need(
            names == list(self._data_names),
            f"{type(self).__name__}: data_shapes {data_shapes} do not match data_names {self._data_names}",
        )
        if label_shapes is not None:
            label_shapes = [(x[0], tuple(x[1])) for x in label_shapes]
            _need(self._label_names is not None, f"{type(self).__name__} takes no labels, got {label_shapes}")
            _need(
                [x[0] for x in label_shapes] == list(self._label_names),
                f"{type(self).__name__}: label_shapes {label_shapes} do not match label_names {self._label_names}",
            )
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._data_shapes = data_shapes
        self._label_shapes = label_shapes
        self._output_shapes = self._compute_output_shapes()
        self.binded = True

    def _compute_output_shapes(self):
        """``[(name, shape)]`` of the outputs, from ``_data_shapes``/``_label_shapes``."""
        raise NotImplementedError()

    def init_optimizer(
        self, kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),), force_init=False
    ):
        """No optimizer needed."""
        self.optimizer_initialized = True


class PythonLossModule(PythonModule):
    """A loss written in Python: the output is the input scores; backward gives
    ``grad_func(scores, labels)`` as the scores' gradient.

    Parameters
    ----------
    name : str, default 'pyloss'
        The output is named ``name + '_output'``.
    data_names : one name, default ``('data',)``
    label_names : one name, default ``('softmax_label',)``
    grad_func : callable or None
        ``grad_func(scores, labels) -> gradient`` (an NDArray or a numpy array); otherwise
        subclasses override ``_backward_impl``.
    """

    def __init__(
        self, name="pyloss", data_names=("data",), label_names=("softmax_label",), logger=logging, grad_func=None
    ):
        super().__init__(data_names, label_names, [name + "_output"], logger=logger)
        self._name = name
        _need(len(data_names) == 1, f"PythonLossModule takes one data name, got {list(data_names)}")
        _need(len(label_names) == 1, f"PythonLossModule takes one label name, got {list(label_names)}")
        self._scores = None
        self._labels = None
        self._scores_grad = None
        if grad_func is not None:
            _need(callable(grad_func), f"grad_func must be callable, got {type(grad_func).__name__}")
        self._grad_func = grad_func

    def _compute_output_shapes(self):
        return [(self._name + "_output", self._data_shapes[0][1])]

    def forward(self, data_batch, is_train=None):
        """Keep the scores (and, when training, the labels)."""
        self._scores = data_batch.data[0]
        if is_train is None:
            is_train = self.for_training
        if is_train:
            _need(data_batch.label, "PythonLossModule.forward(is_train=True) needs a batch with labels")
            self._labels = data_batch.label[0]

    def get_outputs(self, merge_multi_context=True):
        """``[scores]``."""
        _need(merge_multi_context is True, "PythonLossModule runs on one context: merge_multi_context must be True")
        return [self._scores]

    def backward(self, out_grads=None):
        """Compute the scores' gradient."""
        _need(out_grads is None, "For a loss module, out_grads should be None")
        _need(self.for_training, "bind with for_training=True to run backward")
        self._backward_impl()

    def _backward_impl(self):
        if self._grad_func is None:
            raise NotImplementedError("PythonLossModule needs grad_func= or an overridden _backward_impl")
        grad = self._grad_func(self._scores, self._labels)
        if not isinstance(grad, nd.NDArray):
            grad = nd.array(grad)
        self._scores_grad = grad

    def get_input_grads(self, merge_multi_context=True):
        """``[gradient of the scores]``."""
        _need(merge_multi_context is True, "PythonLossModule runs on one context: merge_multi_context must be True")
        return [self._scores_grad]

    def install_monitor(self, mon):
        """Not supported."""
        raise NotSupported("PythonLossModule has no executors to monitor")
