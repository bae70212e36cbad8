"""``mx.model``: checkpoints and the deprecated FeedForward API.

Checkpoint files are MXNet's (see :mod:`mxrs._training`, shared with ``mx.mod``).
``FeedForward`` keeps MXNet 1.9.1's behaviour (numpy input named ``data``/``softmax_label``,
1-based ``nbatch`` in batch callbacks, ``epoch_size``, the same log lines) on top of a
:class:`mxrs.module.Module`.
"""

import logging
import time
import warnings

import numpy as np

from mxrs import io, metric
from mxrs import ndarray as nd
from mxrs import optimizer as opt
from mxrs._training import (
    BatchEndParam,
    create_kvstore,
    load_checkpoint,
    load_params,
    multiple_callbacks,
    save_checkpoint,
)
from mxrs.base import mx_real_t
from mxrs.callback import LogValidationMetricsCallback, ProgressLine, is_terminal
from mxrs.context import Context, cpu
from mxrs.initializer import Uniform
from mxrs.module import Module
from mxrs.module.executor_group import as_desc
from mxrs.symbol import Symbol

__all__ = ["BatchEndParam", "FeedForward", "save_checkpoint", "load_checkpoint", "load_params"]


def _check_arguments(symbol):
    """Argument and auxiliary names must be unique (ValueError otherwise)."""
    arg_names = symbol.list_arguments()
    seen = set()
    for name in arg_names:
        if name in seen:
            raise ValueError(
                f'Find duplicated argument name "{name}", please make the weight name non-duplicated'
                f"(using name arguments), arguments are {arg_names}"
            )
        seen.add(name)
    aux_names = symbol.list_auxiliary_states()
    seen = set()
    for name in aux_names:
        if name in seen:
            raise ValueError(
                f'Find duplicated auxiliary param name "{name}", please make the weight name non-duplicated'
                f"(using name arguments), arguments are {arg_names}, auxiliary params are {aux_names}"
            )
        seen.add(name)


def _load_data(batch, targets):
    for src, dst in zip(batch.data, targets):
        src.copyto(dst)


_DEFAULT = object()


class FeedForward:
    """The deprecated MXNet model API: ``fit``, ``predict``, ``score``, ``save``/``load``.

    Parameters
    ----------
    symbol : Symbol or callable ``sym_gen(bucket_key)``
    ctx : Context or list of Context (default ``[cpu()]``)
    num_epoch, epoch_size : int or None
        Epochs to train; with ``epoch_size`` an epoch is exactly that many batches.
    optimizer : str or Optimizer
    initializer : Initializer (default ``Uniform(0.01)``)
    numpy_batch_size : int
        Batch size used when ``fit``/``predict`` get numpy arrays.
    arg_params, aux_params : dict of str to NDArray
    allow_extra_params : bool
        Drop entries of arg/aux_params that the symbol does not have.
    begin_epoch : int
    **kwargs
        Optimizer arguments, e.g. ``learning_rate=0.1, momentum=0.9``.
    """

    def __init__(
        self,
        symbol,
        ctx=None,
        num_epoch=None,
        epoch_size=None,
        optimizer="sgd",
        initializer=Uniform(0.01),  # noqa: B008 - MXNet's default, never mutated
        numpy_batch_size=128,
        arg_params=None,
        aux_params=None,
        allow_extra_params=False,
        begin_epoch=0,
        **kwargs,
    ):
        warnings.warn(
            "mxrs.model.FeedForward has been deprecated. Please use mxrs.mod.Module instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        if isinstance(symbol, Symbol):
            self.symbol = symbol
            self.sym_gen = None
        else:
            if not callable(symbol):
                raise AssertionError("symbol must be a Symbol or a callable sym_gen")
            self.symbol = None
            self.sym_gen = symbol
        self.arg_params = arg_params
        self.aux_params = aux_params
        self.allow_extra_params = allow_extra_params
        self.argument_checked = False
        if self.sym_gen is None:
            self._check_arguments()
        if ctx is None:
            ctx = [cpu()]
        elif isinstance(ctx, Context):
            ctx = [ctx]
        self.ctx = ctx
        self.num_epoch = num_epoch
        self.epoch_size = epoch_size
        self.kwargs = kwargs.copy()
        self.optimizer = optimizer
        self.initializer = initializer
        self.numpy_batch_size = numpy_batch_size
        self._pred_exec = None
        self.begin_epoch = begin_epoch

    def _check_arguments(self):
        if self.argument_checked:
            return
        self.argument_checked = True
        _check_arguments(self.symbol)
        if self.allow_extra_params:
            if self.arg_params:
                names = set(self.symbol.list_arguments())
                self.arg_params = {k: v for k, v in self.arg_params.items() if k in names}
            if self.aux_params:
                names = set(self.symbol.list_auxiliary_states())
                self.aux_params = {k: v for k, v in self.aux_params.items() if k in names}

    def _init_params(self, inputs, overwrite=False):
        """Allocate and initialize every non-input argument and aux state."""
        inputs = [as_desc(x) for x in inputs]
        input_shapes = {d.name: d.shape for d in inputs}
        arg_shapes, _, aux_shapes = self.symbol.infer_shape(**input_shapes)
        if arg_shapes is None:
            raise ValueError(f"cannot infer the parameter shapes from {input_shapes}")
        input_dtypes = {d.name: getattr(d, "dtype", mx_real_t) for d in inputs}
        arg_dtypes, _, aux_dtypes = self.symbol.infer_type(**input_dtypes)
        arg_names = self.symbol.list_arguments()
        param_names = [k for k in arg_names if k not in input_shapes]
        aux_names = self.symbol.list_auxiliary_states()
        arg_params = {
            k: nd.zeros(shape=s, dtype=t) for k, s, t in zip(arg_names, arg_shapes, arg_dtypes) if k in param_names
        }
        aux_params = {k: nd.zeros(shape=s, dtype=t) for k, s, t in zip(aux_names, aux_shapes, aux_dtypes)}
        for given, fresh in ((self.arg_params, arg_params), (self.aux_params, aux_params)):
            for k, v in fresh.items():
                if given and k in given and not overwrite:
                    v[:] = given[k][:]
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        self.initializer(k, v)
        self.arg_params = arg_params
        self.aux_params = aux_params
        return (arg_names, list(param_names), aux_names)

    def __getstate__(self):
        this = self.__dict__.copy()
        this["_pred_exec"] = None
        return this

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _init_predictor(self, input_shapes, type_dict=None):
        # Only the symbol's own arguments: an extra parameter is reported by copy_params_from.
        names = set(self.symbol.list_arguments())
        shapes = {name: arr.shape for name, arr in self.arg_params.items() if name in names}
        shapes.update(dict(input_shapes))
        if self._pred_exec is not None:
            arg_shapes, _, _ = self.symbol.infer_shape(**shapes)
            if arg_shapes is None:
                raise AssertionError("Incomplete input shapes")
            if [tuple(s) for s in arg_shapes] == [x.shape for x in self._pred_exec.arg_arrays]:
                return
        pred_exec = self.symbol.simple_bind(self.ctx[0], grad_req="null", type_dict=type_dict, **shapes)
        pred_exec.copy_params_from(self.arg_params, self.aux_params)
        _check_arguments(self.symbol)
        self._pred_exec = pred_exec

    def _init_iter(self, X, y, is_train):
        if isinstance(X, (np.ndarray, nd.NDArray)):
            if y is None:
                if is_train:
                    raise ValueError("y must be specified when X is numpy.ndarray")
                y = np.zeros(X.shape[0])
            if not isinstance(y, (np.ndarray, nd.NDArray)):
                raise TypeError("y must be ndarray when X is numpy.ndarray")
            if X.shape[0] != y.shape[0]:
                raise ValueError("The numbers of data points and labels not equal")
            if y.ndim == 2 and y.shape[1] == 1:
                y = y.flatten() if isinstance(y, np.ndarray) else y.reshape((-1,))
            if y.ndim != 1:
                raise ValueError("Label must be 1D or 2D (with 2nd dimension being 1)")
            batch = min(X.shape[0], self.numpy_batch_size)
            if is_train:
                return io.NDArrayIter(X, y, batch, shuffle=is_train, last_batch_handle="roll_over")
            return io.NDArrayIter(X, y, batch, shuffle=False)
        if not isinstance(X, io.DataIter):
            raise TypeError("X must be DataIter, NDArray or numpy.ndarray")
        return X

    def _init_eval_iter(self, eval_data):
        if eval_data is None:
            return eval_data
        if isinstance(eval_data, (tuple, list)) and len(eval_data) == 2:
            if eval_data[0] is None:
                raise ValueError("Eval data is NONE")
            if eval_data[1] is None and isinstance(eval_data[0], io.DataIter):
                return eval_data[0]
            data = np.array(eval_data[0]) if isinstance(eval_data[0], list) else eval_data[0]
            label = np.array(eval_data[1]) if isinstance(eval_data[1], list) else eval_data[1]
            return self._init_iter(data, label, is_train=True)
        if not isinstance(eval_data, io.DataIter):
            raise TypeError(
                "Eval data must be DataIter, or NDArray/numpy.ndarray/list pair (i.e. tuple/list of length 2)"
            )
        return eval_data

    def _predict_setup(self, X):
        data_shapes = X.provide_data
        data_names = [x[0] for x in data_shapes]
        names = set(self.symbol.list_arguments())
        type_dict = {key: value.dtype for key, value in self.arg_params.items() if key in names}
        for x in data_shapes:
            type_dict[x[0]] = getattr(x, "dtype", mx_real_t)
        self._init_predictor(data_shapes, type_dict)
        return [self._pred_exec.arg_dict[name] for name in data_names]

    def predict(self, X, num_batch=None, return_data=False, reset=True):
        """Outputs for ``X`` as numpy (a list for several outputs), padding removed.

        With ``return_data``, returns ``(outputs, data, label)``.
        """
        X = self._init_iter(X, None, is_train=False)
        if reset:
            X.reset()
        data_arrays = self._predict_setup(X)
        batch_size = X.batch_size
        outputs_nd = self._pred_exec.outputs
        output_list = [[] for _ in outputs_nd]
        data_list = [[] for _ in X.provide_data]
        label_list = [[] for _ in X.provide_label]
        i = 0
        for batch in X:
            _load_data(batch, data_arrays)
            self._pred_exec.forward(is_train=False)
            real_size = batch_size - (batch.pad or 0)
            for o_list, o_nd in zip(output_list, self._pred_exec.outputs):
                o_list.append(o_nd[0:real_size].asnumpy())
            if return_data:
                for j, x in enumerate(batch.data):
                    data_list[j].append(x[0:real_size].asnumpy())
                for j, x in enumerate(batch.label):
                    label_list[j].append(x[0:real_size].asnumpy())
            i += 1
            if num_batch is not None and i == num_batch:
                break
        outputs = [np.concatenate(x) for x in output_list]
        if len(outputs) == 1:
            outputs = outputs[0]
        if not return_data:
            return outputs
        data = [np.concatenate(x) for x in data_list]
        label = [np.concatenate(x) for x in label_list]
        return outputs, data[0] if len(data) == 1 else data, label[0] if len(label) == 1 else label

    def score(self, X, eval_metric="acc", num_batch=None, batch_end_callback=None, reset=True):
        """The value of ``eval_metric`` on ``X``."""
        if not isinstance(eval_metric, metric.EvalMetric):
            eval_metric = metric.create(eval_metric)
        X = self._init_iter(X, None, is_train=False)
        if reset:
            X.reset()
        data_arrays = self._predict_setup(X)
        for i, batch in enumerate(X):
            if num_batch is not None and i == num_batch:
                break
            _load_data(batch, data_arrays)
            self._pred_exec.forward(is_train=False)
            eval_metric.update(batch.label, self._pred_exec.outputs)
            if batch_end_callback is not None:
                params = BatchEndParam(epoch=0, nbatch=i, eval_metric=eval_metric, locals=locals())
                multiple_callbacks(batch_end_callback, params)
        return eval_metric.get()[1]

    def fit(
        self,
        X,
        y=None,
        eval_data=None,
        eval_metric="acc",
        epoch_end_callback=None,
        batch_end_callback=None,
        kvstore="local",
        logger=None,
        work_load_list=None,
        monitor=None,
        eval_end_callback=_DEFAULT,
        eval_batch_end_callback=None,
    ):
        """Train on ``X`` (numpy/NDArray with ``y``, or a DataIter) for ``num_epoch`` epochs."""
        if eval_end_callback is _DEFAULT:
            eval_end_callback = LogValidationMetricsCallback()
        data = self._init_iter(X, y, is_train=True)
        eval_data = self._init_eval_iter(eval_data)
        if self.sym_gen:
            self.symbol = self.sym_gen(data.default_bucket_key)
            self._check_arguments()
        self.kwargs["sym"] = self.symbol
        _arg_names, param_names, _aux_names = self._init_params(data.provide_data + data.provide_label)
        if not isinstance(eval_metric, metric.EvalMetric):
            eval_metric = metric.create(eval_metric)
        kvstore, update_on_kvstore = create_kvstore(kvstore, len(self.ctx), self.arg_params)
        param_idx2name = {}
        if update_on_kvstore:
            param_idx2name.update(enumerate(param_names))
        else:
            for i, n in enumerate(param_names):
                for k in range(len(self.ctx)):
                    param_idx2name[i * len(self.ctx) + k] = n
        self.kwargs["param_idx2name"] = param_idx2name
        if isinstance(self.optimizer, str):
            batch_size = data.batch_size
            if kvstore and "dist" in kvstore.type and "_async" not in kvstore.type:
                batch_size *= kvstore.num_workers
            optimizer = opt.create(self.optimizer, rescale_grad=(1.0 / batch_size), **(self.kwargs))
        else:
            optimizer = self.optimizer
            if not optimizer.idx2name:
                optimizer.idx2name = param_idx2name.copy()
        self._train(
            data,
            eval_data,
            eval_metric,
            optimizer,
            kvstore,
            epoch_end_callback,
            batch_end_callback,
            logger or logging,
            work_load_list,
            monitor,
            eval_end_callback,
            eval_batch_end_callback,
        )

    def _train(
        self,
        train_data,
        eval_data,
        eval_metric,
        optimizer,
        kvstore,
        epoch_end_callback,
        batch_end_callback,
        logger,
        work_load_list,
        monitor,
        eval_end_callback,
        eval_batch_end_callback,
    ):
        data_names = [x[0] for x in train_data.provide_data]
        label_names = [x[0] for x in train_data.provide_label]
        logger.info("Start training with %s", str(self.ctx))
        mod = Module(
            self.symbol,
            data_names=data_names,
            label_names=label_names,
            logger=logger,
            context=self.ctx,
            work_load_list=work_load_list,
        )
        mod.bind(train_data.provide_data, train_data.provide_label, for_training=True)
        if monitor is not None:
            mod.install_monitor(monitor)
        mod.init_params(initializer=None, arg_params=self.arg_params, aux_params=self.aux_params)
        mod.init_optimizer(kvstore=kvstore, optimizer=optimizer)
        group = mod._exec_group
        callbacks = batch_end_callback
        end_epoch = self.num_epoch
        epoch_size = self.epoch_size
        train_data.reset()
        bar, per_epoch = (ProgressLine() if is_terminal() else None), None
        for epoch in range(self.begin_epoch, end_epoch):
            tic = time.time()
            eval_metric.reset()
            nbatch = 0
            while True:
                do_reset = True
                for data_batch in train_data:
                    if monitor is not None:
                        monitor.tic()
                    mod.forward(data_batch, is_train=True)
                    mod.backward()
                    mod.update()
                    if monitor is not None:
                        monitor.toc_print()
                    mod.update_metric(eval_metric, data_batch.label)
                    nbatch += 1
                    if callbacks is not None:
                        params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric, locals=locals())
                        multiple_callbacks(callbacks, params)
                    if bar is not None:
                        bar.update(f"Epoch {epoch}", nbatch, per_epoch, time.time() - tic, force=nbatch == per_epoch)
                    if epoch_size is not None and nbatch >= epoch_size:
                        do_reset = False
                        break
                if do_reset:
                    logger.info("Epoch[%d] Resetting Data Iterator", epoch)
                    train_data.reset()
                if epoch_size is None or nbatch >= epoch_size:
                    break
            if bar is not None:
                bar.close()
                per_epoch = nbatch
            logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
            if epoch_end_callback or epoch + 1 == end_epoch:
                group.get_params(self.arg_params, self.aux_params)
            multiple_callbacks(epoch_end_callback, epoch, self.symbol, self.arg_params, self.aux_params)
            if eval_data:
                eval_metric.reset()
                eval_data.reset()
                total_num_batch = 0
                for i, eval_batch in enumerate(eval_data):
                    mod.forward(eval_batch, is_train=False)
                    mod.update_metric(eval_metric, eval_batch.label)
                    if eval_batch_end_callback is not None:
                        params = BatchEndParam(epoch=epoch, nbatch=i, eval_metric=eval_metric, locals=locals())
                        multiple_callbacks(eval_batch_end_callback, params)
                    total_num_batch += 1
                if eval_end_callback is not None:
                    params = BatchEndParam(
                        epoch=epoch, nbatch=total_num_batch, eval_metric=eval_metric, locals=locals()
                    )
                    multiple_callbacks(eval_end_callback, params)
                eval_data.reset()
        self._pred_exec = None

    def save(self, prefix, epoch=None, remove_amp_cast=True):
        """Checkpoint to ``prefix`` at ``epoch`` (default ``num_epoch``)."""
        if epoch is None:
            epoch = self.num_epoch
        if epoch is None:
            raise AssertionError("give an epoch to save")
        save_checkpoint(prefix, epoch, self.symbol, self.arg_params, self.aux_params)

    @staticmethod
    def load(prefix, epoch, ctx=None, **kwargs):
        """A model from a checkpoint, continuing at ``begin_epoch=epoch``."""
        symbol, arg_params, aux_params = load_checkpoint(prefix, epoch)
        return FeedForward(symbol, ctx=ctx, arg_params=arg_params, aux_params=aux_params, begin_epoch=epoch, **kwargs)

    @staticmethod
    def create(
        symbol,
        X,
        y=None,
        ctx=None,
        num_epoch=None,
        epoch_size=None,
        optimizer="sgd",
        initializer=Uniform(0.01),  # noqa: B008
        eval_data=None,
        eval_metric="acc",
        epoch_end_callback=None,
        batch_end_callback=None,
        kvstore="local",
        logger=None,
        work_load_list=None,
        eval_end_callback=_DEFAULT,
        eval_batch_end_callback=None,
        **kwargs,
    ):
        """Construct a model and ``fit`` it; returns the model."""
        model = FeedForward(
            symbol,
            ctx=ctx,
            num_epoch=num_epoch,
            epoch_size=epoch_size,
            optimizer=optimizer,
            initializer=initializer,
            **kwargs,
        )
        model.fit(
            X,
            y,
            eval_data=eval_data,
            eval_metric=eval_metric,
            epoch_end_callback=epoch_end_callback,
            batch_end_callback=batch_end_callback,
            kvstore=kvstore,
            logger=logger,
            work_load_list=work_load_list,
            eval_end_callback=eval_end_callback,
            eval_batch_end_callback=eval_batch_end_callback,
        )
        return model
