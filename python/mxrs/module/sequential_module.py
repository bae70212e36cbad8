"""``mx.mod.SequentialModule``: modules chained so that each one's outputs are the next one's
data; backward passes each module's input gradients to the one before."""

import copy
import logging

from mxrs.base import MXNetValueError
from mxrs.initializer import Uniform
from mxrs.module.base_module import BaseModule

__all__ = ["SequentialModule"]


def _need(cond, msg):
    if not cond:
        raise MXNetValueError(f"SequentialModule: {msg}")


class SequentialModule(BaseModule):
    """A chain of modules (see :meth:`add`)."""

    META_TAKE_LABELS = "take_labels"
    META_AUTO_WIRING = "auto_wiring"

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules = []
        self._metas = []
        self._label_shapes = None
        self._data_shapes = None
        self._meta_keys = {getattr(SequentialModule, x) for x in dir(SequentialModule) if x.startswith("META_")}

    def add(self, module, **kwargs):
        """Append ``module``; returns ``self``.

        Keyword arguments are meta information: ``take_labels=True`` gives the module the
        batch's labels (it then also updates the metric); ``auto_wiring=True`` renames the
        previous module's outputs to this module's data names.
        """
        _need(isinstance(module, BaseModule), f"add() takes a module, got {type(module).__name__}")
        for key in kwargs:
            _need(key in self._meta_keys, f'Unknown meta "{key}", a typo? Known: {sorted(self._meta_keys)}')
        self._modules.append(module)
        self._metas.append(kwargs)
        self.binded = False
        self.params_initialized = False
        self.optimizer_initialized = False
        return self

    @property
    def data_names(self):
        """The first module's data names."""
        if self._modules:
            return self._modules[0].data_names
        return []

    @property
    def output_names(self):
        """The last module's output names."""
        if self._modules:
            return self._modules[-1].output_names
        return []

    @property
    def data_shapes(self):
        """The first module's data shapes."""
        _need(self.binded, "call bind() first")
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        """The label shapes (None when no module takes labels)."""
        _need(self.binded, "call bind() first")
        return self._label_shapes

    @property
    def output_shapes(self):
        """The last module's output shapes."""
        _need(self.binded, "call bind() first")
        return self._modules[-1].output_shapes

    def get_params(self):
        """Every module's parameters, merged."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        arg_params = {}
        aux_params = {}
        for module in self._modules:
            arg, aux = module.get_params()
            arg_params.update(arg)
            aux_params.update(aux)
        return (arg_params, aux_params)

    def init_params(
        self,
        initializer=Uniform(0.01),  # noqa: B008 - MXNet's default, never mutated
        arg_params=None,
        aux_params=None,
        allow_missing=False,
        force_init=False,
        allow_extra=False,
    ):
        """Initialize every module's parameters; their names must not repeat across modules."""
        if self.params_initialized and not force_init:
            return
        _need(self.binded, "call bind before initializing the parameters")
        for module in self._modules:
            module.init_params(
                initializer=initializer,
                arg_params=arg_params,
                aux_params=aux_params,
                allow_missing=allow_missing,
                force_init=force_init,
                allow_extra=allow_extra,
            )

        def _check_name(known_names, new_names, modules, i):
            for name in new_names:
                _need(
                    name not in known_names,
                    f'Duplicated parameter names: name "{name}" in layer {i} ({type(modules[i])}) is already '
                    f"used in layer {known_names.get(name)} ({type(modules[known_names.get(name, 0)])}).",
                )
                known_names[name] = i

        arg_names: dict[str, int] = {}
        aux_names: dict[str, int] = {}
        for i_layer, module in enumerate(self._modules):
            args, auxs = module.get_params()
            _check_name(arg_names, args.keys(), self._modules, i_layer)
            _check_name(aux_names, auxs.keys(), self._modules, i_layer)
        self.params_initialized = True

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
        """Bind each module on the previous one's output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if inputs_need_grad:
            _need(for_training, "inputs_need_grad=True needs for_training=True")
        _need(shared_module is None, "Shared module is not supported")
        _need(len(self._modules) > 0, "Attempting to bind an empty SequentialModule")
        self._label_shapes = label_shapes
        my_data_shapes = data_shapes
        anybody_ever_needs_label = False
        for i_layer, module in enumerate(self._modules):
            meta = self._metas[i_layer]
            if meta.get(SequentialModule.META_TAKE_LABELS, False):
                my_label_shapes = label_shapes
                anybody_ever_needs_label = True
            else:
                my_label_shapes = None
            my_inputs_need_grad = bool(inputs_need_grad or (for_training and i_layer > 0))
            if meta.get(SequentialModule.META_AUTO_WIRING, False):
                data_names = module.data_names
                _need(
                    len(data_names) == len(my_data_shapes),
                    f"auto_wiring of layer {i_layer}: it takes {len(data_names)} data inputs {list(data_names)} "
                    f"but the previous layer gives {len(my_data_shapes)}",
                )
                my_data_shapes = [(new_name, shape) for (new_name, (_, shape)) in zip(data_names, my_data_shapes)]
            module.bind(
                data_shapes=my_data_shapes,
                label_shapes=my_label_shapes,
                for_training=for_training,
                inputs_need_grad=my_inputs_need_grad,
                force_rebind=force_rebind,
                shared_module=None,
                grad_req=grad_req,
            )
            my_data_shapes = module.output_shapes
        self.binded = True
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        if not anybody_ever_needs_label:
            self._label_shapes = None

    def init_optimizer(
        self, kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),), force_init=False
    ):
        """Create each module's optimizer."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters before init_optimizer()")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        for module in self._modules:
            module.init_optimizer(
                kvstore=kvstore, optimizer=optimizer, optimizer_params=optimizer_params, force_init=force_init
            )
        self.optimizer_initialized = True

    def forward(self, data_batch, is_train=None):
        """Forward each module on the previous one's outputs."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters before forward()")
        data_batch = copy.copy(data_batch)
        for i_layer, module in enumerate(self._modules):
            module.forward(data_batch, is_train=is_train)
            if i_layer + 1 == len(self._modules):
                break
            data_batch.data = module.get_outputs()
            if hasattr(data_batch, "provide_data"):
                data_names = [x[0] for x in module.output_shapes]
                _need(len(data_names) == len(data_batch.data), f"layer {i_layer} gave an unexpected number of outputs")
                data_batch.provide_data = [(name, x.shape) for name, x in zip(data_names, data_batch.data)]

    def backward(self, out_grads=None):
        """Backward from the last module to the first."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters before backward()")
        for i_layer, module in reversed(list(enumerate(self._modules))):
            module.backward(out_grads=out_grads)
            if i_layer == 0:
                break
            out_grads = module.get_input_grads()

    def update(self):
        """Update every module's parameters."""
        _need(
            self.binded and self.params_initialized and self.optimizer_initialized,
            "call init_optimizer() before update()",
        )
        for module in self._modules:
            module.update()

    def get_outputs(self, merge_multi_context=True):
        """The last module's outputs."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        return self._modules[-1].get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """The first module's input gradients (bind with ``inputs_need_grad=True``)."""
        _need(
            self.binded and self.params_initialized and self.inputs_need_grad,
            "bind with inputs_need_grad=True to get input gradients",
        )
        return self._modules[0].get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update ``eval_metric`` with the outputs of the modules that take labels."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        for meta, module in zip(self._metas, self._modules):
            if meta.get(SequentialModule.META_TAKE_LABELS, False):
                module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        """Install ``mon`` on every module."""
        _need(self.binded, "call bind() first")
        for module in self._modules:
            module.install_monitor(mon)
