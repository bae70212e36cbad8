"""``mx.mod.BucketingModule``: one :class:`Module` per bucket key (say, a sequence length),
made by ``sym_gen(key)``, all sharing the default bucket's parameter arrays, gradients and
optimizer. Each batch's ``bucket_key`` picks (and, the first time, binds) its module.
"""

import logging
import warnings
from typing import Any

import numpy as np

from mxrs import context as ctx
from mxrs import ndarray as nd
from mxrs import symbol as sym
from mxrs._training import load_params
from mxrs.base import MXNetValueError
from mxrs.initializer import Uniform
from mxrs.module.base_module import BaseModule, _check_input_names
from mxrs.module.module import Module
from mxrs.name import NameManager

__all__ = ["BucketingModule"]


def _need(cond, msg):
    if not cond:
        raise MXNetValueError(f"BucketingModule: {msg}")


class BucketingModule(BaseModule):
    """A module over a family of symbols, one per bucket key, with shared parameters.

    Parameters
    ----------
    sym_gen : callable
        ``sym_gen(bucket_key) -> (symbol, data_names, label_names)``.
    default_bucket_key : hashable
        The key bound first; its module owns the parameters. Usually the largest bucket.
    logger : logging-like
    context : Context or list of Context
    work_load_list : list of numbers or None
    fixed_param_names : list of str or None
    state_names : list of str or None
    group2ctxs : ignored (as by Module)
    compression_params : dict or None
    """

    def __init__(
        self,
        sym_gen,
        default_bucket_key=None,
        logger=logging,
        context=ctx.cpu(),  # noqa: B008 - an immutable Context
        work_load_list=None,
        fixed_param_names=None,
        state_names=None,
        group2ctxs=None,
        compression_params=None,
    ):
        super().__init__(logger=logger)
        _need(default_bucket_key is not None, "default_bucket_key is required")
        _need(callable(sym_gen), f"sym_gen must be callable, got {type(sym_gen).__name__}")
        self._default_bucket_key = default_bucket_key
        self._sym_gen = sym_gen
        symbol, data_names, label_names = self._call_sym_gen(default_bucket_key)
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        _check_input_names(symbol, data_names, "data", True)
        _check_input_names(symbol, label_names, "label", False)
        _check_input_names(symbol, state_names, "state", True)
        _check_input_names(symbol, fixed_param_names, "fixed_param", True)
        self._compression_params = compression_params
        self._fixed_param_names = fixed_param_names
        self._state_names = state_names
        self._context = context
        self._work_load_list = work_load_list
        self._group2ctxs = group2ctxs
        self._buckets: dict = {}
        self._curr_module: Any = None
        self._curr_bucket_key: Any = None
        self._params_dirty = False
        self._monitor = None
        self._grad_req = None

    def _reset_bind(self):
        self.binded = False
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None

    def _call_sym_gen(self, *args, **kwargs):
        with NameManager():
            out = self._sym_gen(*args, **kwargs)
        _need(
            isinstance(out, (tuple, list)) and len(out) == 3 and isinstance(out[0], sym.Symbol),
            f"sym_gen({args[0] if args else ''!r}) must return (symbol, data_names, label_names), "
            f"got {type(out).__name__}",
        )
        return out

    def _new_module(self, symbol, data_names, label_names):
        return Module(
            symbol,
            data_names,
            label_names,
            logger=self.logger,
            context=self._context,
            work_load_list=self._work_load_list,
            fixed_param_names=self._fixed_param_names,
            state_names=self._state_names,
            group2ctxs=self._group2ctxs,
            compression_params=self._compression_params,
        )

    @property
    def data_names(self):
        """Names of the data inputs (of the current bucket once bound)."""
        if self.binded:
            return self._curr_module.data_names
        _, data_names, _ = self._call_sym_gen(self._default_bucket_key)
        return data_names

    @property
    def output_names(self):
        """Names of the outputs (of the current bucket once bound)."""
        if self.binded:
            return self._curr_module.output_names
        symbol, _, _ = self._call_sym_gen(self._default_bucket_key)
        return symbol.list_outputs()

    @property
    def data_shapes(self):
        """DataDesc of the current bucket's data."""
        _need(self.binded, "call bind() first")
        return self._curr_module.data_shapes

    @property
    def label_shapes(self):
        """DataDesc of the current bucket's labels (None without labels)."""
        _need(self.binded, "call bind() first")
        return self._curr_module.label_shapes

    @property
    def output_shapes(self):
        """``[(name, shape)]`` of the current bucket's outputs."""
        _need(self.binded, "call bind() first")
        return self._curr_module.output_shapes

    @property
    def symbol(self):
        """The current bucket's symbol."""
        _need(self.binded, "call bind() first")
        return self._curr_module.symbol

    # ------------------------------------------------------------------ parameters
    def get_params(self):
        """``(arg_params, aux_params)``, shared by every bucket."""
        _need(self.params_initialized, "parameters are not initialized; call init_params() first")
        self._curr_module._params_dirty = self._params_dirty
        params = self._curr_module.get_params()
        self._params_dirty = False
        return params

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True, allow_extra=False):
        """Assign parameter values (to the arrays every bucket shares)."""
        if not allow_missing:
            self.init_params(
                initializer=None,
                arg_params=arg_params,
                aux_params=aux_params,
                allow_missing=allow_missing,
                force_init=force_init,
                allow_extra=allow_extra,
            )
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. set_params call ignored.", stacklevel=2)
            return
        self._curr_module.set_params(
            arg_params, aux_params, allow_missing=allow_missing, force_init=force_init, allow_extra=allow_extra
        )
        self._params_dirty = True
        self.params_initialized = True

    def init_params(
        self,
        initializer=Uniform(0.01),  # noqa: B008 - MXNet's default, never mutated
        arg_params=None,
        aux_params=None,
        allow_missing=False,
        force_init=False,
        allow_extra=False,
    ):
        """Initialize the parameters (through the current bucket's module)."""
        if self.params_initialized and not force_init:
            return
        _need(self.binded, "call bind before initializing the parameters")
        self._curr_module.init_params(
            initializer=initializer,
            arg_params=arg_params,
            aux_params=aux_params,
            allow_missing=allow_missing,
            force_init=force_init,
            allow_extra=allow_extra,
        )
        self._params_dirty = False
        self.params_initialized = True

    def get_states(self, merge_multi_context=True):
        """The current bucket's state arrays."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        return self._curr_module.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None):
        """Set the current bucket's state arrays."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        self._curr_module.set_states(states, value)

    # --------------------------------------------------------------------- binding
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
        """Bind the default bucket's module (other buckets bind on first use)."""
        if self.params_initialized:
            arg_params, aux_params = self.get_params()
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        _need(shared_module is None, "shared_module for BucketingModule is not supported")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        symbol, data_names, label_names = self._call_sym_gen(self._default_bucket_key)
        module = self._buckets.get(self._default_bucket_key)
        if module is None:
            module = self._new_module(symbol, data_names, label_names)
        module.bind(
            data_shapes,
            label_shapes,
            for_training,
            inputs_need_grad,
            force_rebind=False,
            shared_module=None,
            grad_req=self._grad_req,
        )
        self.binded = True
        self._curr_module = module
        self._curr_bucket_key = self._default_bucket_key
        self._buckets[self._default_bucket_key] = module
        if self.params_initialized:
            self.set_params(arg_params, aux_params)

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None):
        """Make ``bucket_key``'s module current, creating and binding it (sharing the default
        bucket's parameters) the first time."""
        _need(self.binded, "call bind before switching bucket")
        if bucket_key not in self._buckets:
            _need(data_shapes is not None, f"bucket {bucket_key!r} is new: its data_shapes are needed to bind it")
            symbol, data_names, label_names = self._call_sym_gen(bucket_key)
            module = self._new_module(symbol, data_names, label_names)
            self._bind_shared(module, data_shapes, label_shapes)
            if self._monitor is not None:
                module.install_monitor(self._monitor)
            self._buckets[bucket_key] = module
        else:
            module = self._buckets[bucket_key]
            if not module.binded:
                self._bind_shared(module, data_shapes, label_shapes)
        self._curr_module = self._buckets[bucket_key]
        self._curr_bucket_key = bucket_key

    def _bind_shared(self, module, data_shapes, label_shapes):
        default = self._buckets[self._default_bucket_key]
        module.bind(
            data_shapes,
            label_shapes,
            self._curr_module.for_training,
            self._curr_module.inputs_need_grad,
            force_rebind=False,
            shared_module=default,
            grad_req=self._grad_req,
        )

    # ------------------------------------------------------------------- optimizer
    def init_optimizer(
        self, kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),), force_init=False
    ):
        """Create the optimizer once; every bucket uses it."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters before init_optimizer()")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        self._curr_module.init_optimizer(kvstore, optimizer, optimizer_params, force_init=force_init)
        for mod in self._buckets.values():
            if mod is not self._curr_module:
                mod.borrow_optimizer(self._curr_module)
        self.optimizer_initialized = True

    # ----------------------------------------------------------------- computation
    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Bind ``data_batch``'s bucket if needed (the current bucket does not change)."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        bucket_key = data_batch.bucket_key
        original_bucket_key = self._curr_bucket_key
        self.switch_bucket(bucket_key, data_batch.provide_data, data_batch.provide_label)
        self._curr_module.prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
        self.switch_bucket(original_bucket_key, None, None)

    def forward(self, data_batch, is_train=None):
        """Switch to ``data_batch.bucket_key`` (the default bucket when None) and forward."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters before forward()")
        key = getattr(data_batch, "bucket_key", None)
        if key is None:
            key = self._default_bucket_key
        provide_data = getattr(data_batch, "provide_data", None)
        if provide_data is None and key not in self._buckets:
            names = self._call_sym_gen(key)[1]
            provide_data = list(zip(names, [d.shape for d in data_batch.data]))
        self.switch_bucket(key, provide_data, getattr(data_batch, "provide_label", None))
        self._curr_module.forward(data_batch, is_train=is_train)

    def backward(self, out_grads=None):
        """Backward the current bucket."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters before backward()")
        self._curr_module.backward(out_grads=out_grads)

    def update(self):
        """Apply the optimizer with the current bucket's gradients."""
        _need(
            self.binded and self.params_initialized and self.optimizer_initialized,
            "call init_optimizer() before update()",
        )
        self._params_dirty = True
        self._curr_module.update()

    def get_outputs(self, merge_multi_context=True):
        """Outputs of the last forward."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        return self._curr_module.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """Gradients of the data inputs (bind with ``inputs_need_grad=True``)."""
        _need(
            self.binded and self.params_initialized and self.inputs_need_grad,
            "bind with inputs_need_grad=True to get input gradients",
        )
        return self._curr_module.get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update ``eval_metric`` with the last outputs."""
        _need(self.binded and self.params_initialized, "bind and initialize parameters first")
        self._curr_module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        """Install ``mon`` on every bucket (and those bound later)."""
        _need(self.binded, "call bind() first")
        self._monitor = mon
        for mod in self._buckets.values():
            mod.install_monitor(mon)

    # ----------------------------------------------------------------- checkpoints
    def save_checkpoint(self, prefix, epoch, remove_amp_cast=False):
        """Save ``prefix-%04d.params``, one ``prefix-<key>-symbol.json`` per bucket and the
        keys in ``prefix.buckets`` (integer keys, as MXNet)."""
        _need(len(self._buckets) > 0, "Empty BucketingModule cannot be saved")
        self.save_params(f"{prefix}-{epoch:04d}.params")
        for bucket_key in self._buckets:
            symbol, _, _ = self._call_sym_gen(bucket_key)
            symbol.save(f"{prefix}-{bucket_key}-symbol.json", remove_amp_cast=remove_amp_cast)
        nd.save(f"{prefix}.buckets", nd.array(list(self._buckets.keys()), dtype=np.int32))

    @staticmethod
    def load(prefix, epoch, sym_gen=None, default_bucket_key=None, **kwargs):
        """A BucketingModule from :meth:`save_checkpoint`'s files (parameters set at bind)."""
        _need(sym_gen is not None, "sym_gen is required for loading BucketingModule")
        _need(default_bucket_key is not None, "default_bucket_key is required for loading BucketingModule")
        buckets = nd.load(f"{prefix}.buckets")
        buckets = [int(k) for k in buckets[0].asnumpy().astype("int32")]
        bucketing_mod = BucketingModule(sym_gen, default_bucket_key, **kwargs)
        for bucket_key in buckets:
            _, data_names, label_names = sym_gen(bucket_key)
            symbol = sym.load(f"{prefix}-{bucket_key}-symbol.json")
            bucketing_mod._buckets[bucket_key] = Module(symbol, data_names, label_names, **kwargs)
            if bucket_key == default_bucket_key:
                bucketing_mod._curr_module = bucketing_mod._buckets[bucket_key]
        _need(
            bucketing_mod._curr_module is not None,
            f"default_bucket_key {default_bucket_key!r} is not among the saved buckets {buckets}",
        )
        arg_params, aux_params = load_params(prefix, epoch)
        bucketing_mod._curr_module._arg_params = arg_params
        bucketing_mod._curr_module._aux_params = aux_params
        bucketing_mod._curr_module.params_initialized = True
        bucketing_mod.params_initialized = True
        return bucketing_mod

    @staticmethod
    def load_dict(sym_dict=None, sym_gen=None, default_bucket_key=None, arg_params=None, aux_params=None, **kwargs):
        """A BucketingModule from ``{bucket_key: symbol}`` and shared parameters."""
        _need(sym_dict is not None, "sym_dict needs to be provided for BucketingModule.load_dict")
        _need(arg_params is not None, "arg_params need to be provided for BucketingModule.load_dict")
        _need(aux_params is not None, "aux_params need to be provided for BucketingModule.load_dict")
        _need(default_bucket_key is not None, "default_bucket_key needs to be provided for BucketingModule.load_dict")
        bucketing_mod = BucketingModule(sym_gen, default_bucket_key, **kwargs)
        for bucket_key, loaded_sym in sym_dict.items():
            _, data_names, label_names = sym_gen(default_bucket_key)
            bucketing_mod._buckets[bucket_key] = Module(loaded_sym, data_names, label_names, **kwargs)
            if bucket_key == default_bucket_key:
                bucketing_mod._curr_module = bucketing_mod._buckets[bucket_key]
        _need(bucketing_mod._curr_module is not None, f"default_bucket_key {default_bucket_key!r} is not in sym_dict")
        bucketing_mod._curr_module._arg_params = arg_params
        bucketing_mod._curr_module._aux_params = aux_params
        bucketing_mod._curr_module.params_initialized = True
        bucketing_mod.params_initialized = True
        return bucketing_mod
