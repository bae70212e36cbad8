"""Executor manager (MXNet's ``mx.executor_manager``): data-parallel executors over devices.

MXNet's old ``FeedForward`` model trained with these: :class:`DataParallelExecutorManager` binds
the network once per device (each device gets a slice of every batch, sized by
``work_load_list``), loads a batch's slices into them, runs forward/backward on all, updates a
metric and copies the parameters back (averaged over the devices). The executors are mxrs's
``Symbol.bind`` executors; the parameters are updated by the caller (a kvstore or an updater
over ``param_arrays``/``grad_arrays``), as in MXNet.
"""

import logging
from typing import Any

import numpy as np

from mxrs import ndarray as nd
from mxrs.base import mx_real_t
from mxrs.context import cpu
from mxrs.io import DataDesc

__all__ = ["DataParallelExecutorGroup", "DataParallelExecutorManager"]


def _split_input_slice(batch_size, work_load_list):
    """Slices of a batch of ``batch_size`` samples, one per device, sized in proportion to
    ``work_load_list``; ``ValueError`` when a slice would be empty."""
    total_work_load = sum(work_load_list)
    batch_num_list = [round(work_load * batch_size / total_work_load) for work_load in work_load_list]
    batch_num_sum = sum(batch_num_list)
    if batch_num_sum < batch_size:
        batch_num_list[-1] += batch_size - batch_num_sum
    slices = []
    end = 0
    for batch_num in batch_num_list:
        begin = int(min((end, batch_size)))
        end = int(min((begin + batch_num, batch_size)))
        if begin >= end:
            raise ValueError("Too many slices. Some splits are empty.")
        slices.append(slice(begin, end))
    return slices


def _check_arguments(symbol):
    """``ValueError`` when ``symbol`` has two arguments (or two auxiliary states) of one name."""
    arg_set = set()
    arg_names = symbol.list_arguments()
    for name in arg_names:
        if name in arg_set:
            raise ValueError(
                f'Find duplicated argument name "{name}", please make the weight name non-duplicated'
                f"(using name arguments), arguments are {arg_names}"
            )
        arg_set.add(name)
    aux_set = set()
    aux_names = symbol.list_auxiliary_states()
    for name in aux_names:
        if name in aux_set:
            raise ValueError(
                f'Find duplicated auxiliary param name "{name}", please make the weight name non-duplicated'
                f"(using name arguments), arguments are {arg_names}, auxiliary params are {aux_names}"
            )
        aux_set.add(name)


def _load_general(data, targets):
    """Copy each array of ``data`` into its target: an NDArray, or a list of (slice, array)
    pairs receiving the slices of the batch."""
    for d_src, d_targets in zip(data, targets):
        if isinstance(d_targets, nd.NDArray):
            d_src.copyto(d_targets)
        else:
            assert d_targets[-1][0].stop == d_src.shape[0], (
                f"Batch size miss match. Expected {d_targets[-1][0].stop}, got {d_src.shape[0]}"
            )
            for slice_idx, d_dst in d_targets:
                d_src[slice_idx].copyto(d_dst)


def _load_data(batch, targets):
    """Load a batch's data into sliced arrays."""
    _load_general(batch.data, targets)


def _load_label(batch, targets):
    """Load a batch's labels into sliced arrays."""
    _load_general(batch.label, targets)


def _bind_exec(
    sym,
    ctx,
    input_shapes,
    param_names,
    need_grad=False,
    base_exec=None,
    shared_data_arrays=None,
    input_types=None,
    logger=logging,
):
    """Bind ``sym`` on ``ctx`` for inputs of ``input_shapes`` (bucketing: parameters, gradients
    and auxiliary states are ``base_exec``'s when given; data arrays are shared through
    ``shared_data_arrays`` when large enough). ``need_grad``: False, True (every non-input
    argument) or a set of names."""
    arg_shape, _, aux_shape = sym.infer_shape(**input_shapes)
    assert arg_shape is not None
    if input_types is None:
        input_types = {k: mx_real_t for k in input_shapes}
    arg_types, _, aux_types = sym.infer_type(**input_types)
    assert arg_types is not None

    arg_arrays = []
    grad_arrays: dict[str, Any] = {}
    arg_names = sym.list_arguments()
    if need_grad is False:
        need_grad = set()
    elif need_grad is True:
        need_grad = set(arg_names) - set(input_shapes.keys())
    elif not isinstance(need_grad, set):
        raise AssertionError("need_grad must be boolean or set.")
    grad_req = {name: ("write" if name in need_grad else "null") for name in arg_names}

    for i, name in enumerate(arg_names):
        if name not in param_names:
            arg_arrays.append(_data_array(name, arg_shape[i], arg_types[i], ctx, shared_data_arrays, logger))
        elif base_exec is None:
            arg_arr = nd.zeros(arg_shape[i], ctx, dtype=arg_types[i])
            if name in need_grad:
                grad_arrays[name] = nd.zeros(arg_shape[i], ctx, dtype=arg_types[i])
            arg_arrays.append(arg_arr)
        else:
            arg_arr = base_exec.arg_dict[name]
            assert arg_arr.shape == arg_shape[i]
            assert arg_arr.dtype == arg_types[i]
            if name in need_grad:
                grad_arrays[name] = base_exec.grad_dict[name]
            arg_arrays.append(arg_arr)

    if base_exec is None:
        aux_arrays = [nd.zeros(s, ctx, dtype=t) for s, t in zip(aux_shape, aux_types)]
    else:
        for i, a in enumerate(base_exec.aux_arrays):
            assert aux_shape[i] == a.shape
            assert aux_types[i] == a.dtype
        aux_arrays = list(base_exec.aux_arrays)

    return sym.bind(
        ctx=ctx,
        args=arg_arrays,
        args_grad=grad_arrays if need_grad else None,
        aux_states=aux_arrays,
        grad_req=grad_req,
        shared_exec=base_exec,
    )


def _data_array(name, shape, dtype, ctx, shared_data_arrays, logger):
    """The array of input ``name``: the shared one (reshaped) when large enough, else new."""
    if shared_data_arrays is not None and name in shared_data_arrays:
        arg_arr = shared_data_arrays[name]
        size = int(np.prod(shape))
        if int(np.prod(arg_arr.shape)) >= size:
            assert dtype == arg_arr.dtype
            # The first ``size`` elements, sharing memory (MXNet 1.9.1's NDArray.reshape refuses
            # a smaller shape, so there a smaller bucket fails here).
            return arg_arr.reshape((-1,))[0:size].reshape(shape)
        logger.warning(
            f'bucketing: data "{name}" has a shape {shape}, which is larger than already allocated '
            f"shape {arg_arr.shape}. Need to re-allocate. Consider putting default_bucket_key to be "
            "the bucket taking the largest input for better memory sharing."
        )
        arg_arr = nd.zeros(shape, ctx, dtype=dtype)
        shared_data_arrays[name] = arg_arr
        return arg_arr
    arg_arr = nd.zeros(shape, ctx, dtype=dtype)
    if shared_data_arrays is not None:
        shared_data_arrays[name] = arg_arr
    return arg_arr


class DataParallelExecutorGroup:
    """Executors of one network on several devices, each on its slice of the batch.

    ``sym``: the network; ``arg_names``: ``sym.list_arguments()``; ``param_names``: the
    trainable parameters; ``ctx``: the devices; ``slices``: each device's slice of a batch;
    ``train_data``: anything with ``provide_data``/``provide_label`` (a DataIter or DataBatch);
    ``shared_group``: a group whose parameters (and data arrays) to share (bucketing).
    """

    def __init__(self, sym, arg_names, param_names, ctx, slices, train_data, shared_group=None):
        _check_arguments(sym)
        if shared_group is None:
            self.shared_data_arrays: list[dict[str, Any]] = [{} for _ in ctx]
        else:
            self.shared_data_arrays = shared_group.shared_data_arrays

        self.data_names = [x[0] for x in train_data.provide_data]
        self.label_names = [x[0] for x in train_data.provide_label]
        self.aux_names = sym.list_auxiliary_states()
        self.param_idx = [i for i in range(len(arg_names)) if arg_names[i] in param_names]
        self.param_names = [arg_names[i] for i in self.param_idx]

        self.train_execs = []
        for i, ctxi in enumerate(ctx):
            data_shapes = {}
            data_types = {}
            for x in list(train_data.provide_data) + list(train_data.provide_label):
                data_shapes[x[0]] = tuple([slices[i].stop - slices[i].start] + list(x[1][1:]))
                data_types[x[0]] = getattr(x, "dtype", mx_real_t) if isinstance(x, DataDesc) else mx_real_t
            shared_exec = None if shared_group is None else shared_group.train_execs[i]
            train_exec = _bind_exec(
                sym,
                ctxi,
                data_shapes,
                self.param_names,
                need_grad=True,
                base_exec=shared_exec,
                shared_data_arrays=self.shared_data_arrays[i],
                input_types=data_types,
            )
            self.train_execs.append(train_exec)

        self.data_arrays = [
            [(slices[i], e.arg_dict[name]) for i, e in enumerate(self.train_execs)] for name in self.data_names
        ]
        self.label_arrays = [
            [(slices[i], e.arg_dict[name]) for i, e in enumerate(self.train_execs)] for name in self.label_names
        ]
        self.param_arrays = [[e.arg_arrays[i] for e in self.train_execs] for i in self.param_idx]
        self.grad_arrays = [[e.grad_arrays[i] for e in self.train_execs] for i in self.param_idx]
        self.aux_arrays = [[e.aux_arrays[i] for e in self.train_execs] for i in range(len(self.aux_names))]
        self.slices = slices

    def load_data_batch(self, data_batch):
        """Load a batch's data and labels into the executors' slices."""
        _load_data(data_batch, self.data_arrays)
        _load_label(data_batch, self.label_arrays)

    def forward(self, is_train=False):
        """Forward on each executor."""
        for texec in self.train_execs:
            texec.forward(is_train=is_train)

    def backward(self):
        """Backward on each executor."""
        for texec in self.train_execs:
            texec.backward()

    def update_metric(self, metric, labels, pre_sliced=False):
        """Update ``metric`` with each executor's outputs and its slice of ``labels`` (or
        ``labels[i]`` for executor ``i`` when ``pre_sliced``)."""
        for current_exec, (texec, islice) in enumerate(zip(self.train_execs, self.slices)):
            labels_slice = labels[current_exec] if pre_sliced else [label[islice] for label in labels]
            metric.update(labels_slice, texec.outputs)


class DataParallelExecutorManager:
    """Executors for data parallelism over the devices ``ctx``.

    ``symbol``: the network; ``train_data``: the training DataIter (its ``batch_size`` is split
    over the devices by ``work_load_list``, default equal); ``arg_names``, ``param_names``,
    ``aux_names``: the network's arguments, trainable parameters and auxiliary states;
    ``sym_gen``: ``bucket_key -> Symbol`` for bucketing (``train_data.default_bucket_key``
    names the first bucket).
    """

    def __init__(
        self,
        symbol,
        ctx,
        train_data,
        arg_names,
        param_names,
        aux_names,
        work_load_list=None,
        logger=None,
        sym_gen=None,
    ):
        if logger is None:
            logger = logging
        num_device = len(ctx)
        logger.info("Start training with %s", str(ctx))
        if work_load_list is None:
            work_load_list = [1] * num_device
        assert isinstance(work_load_list, list) and len(work_load_list) == num_device, (
            "Invalid settings for work load. "
        )
        slices = _split_input_slice(train_data.batch_size, work_load_list)
        self.slices = slices
        self.arg_names = arg_names
        self.param_names = param_names
        self.aux_names = aux_names
        self.ctx = ctx
        self.execgrp = DataParallelExecutorGroup(
            symbol, self.arg_names, self.param_names, self.ctx, self.slices, train_data
        )
        self.symbol = symbol
        self.sym_gen = sym_gen
        self.curr_execgrp: Any = None  # set when data is loaded
        if self.sym_gen is not None:
            self.execgrp_bucket = {train_data.default_bucket_key: self.execgrp}

    def install_monitor(self, monitor):
        """Install ``monitor`` on every executor (not with bucketing)."""
        if self.sym_gen is not None:
            raise NotImplementedError("Monitoring is not implemented for bucketing")
        for train_exec in self.execgrp.train_execs:
            monitor.install(train_exec)

    def set_params(self, arg_params, aux_params):
        """Copy parameter and auxiliary values (dicts of NDArrays) into every executor."""
        for texec in self.execgrp.train_execs:
            texec.copy_params_from(arg_params, aux_params)

    def copy_to(self, arg_params, aux_params):
        """Copy the parameters and auxiliary states, averaged over the devices, into the
        NDArrays of ``arg_params`` and ``aux_params`` (in place)."""
        for name, block in zip(self.param_names, self.param_arrays):
            weight = sum(w.copyto(cpu()) for w in block) / len(block)
            weight.astype(arg_params[name].dtype).copyto(arg_params[name])
        for name, block in zip(self.aux_names, self.aux_arrays):
            weight = sum(w.copyto(cpu()) for w in block) / len(block)
            weight.astype(aux_params[name].dtype).copyto(aux_params[name])

    @property
    def param_arrays(self):
        """The parameter arrays: one list per parameter, one array per device."""
        return self.execgrp.param_arrays

    @property
    def grad_arrays(self):
        """The gradient arrays: one list per parameter, one array per device."""
        return self.execgrp.grad_arrays

    @property
    def aux_arrays(self):
        """The auxiliary states: one list per state, one array per device."""
        return self.execgrp.aux_arrays

    def load_data_batch(self, data_batch):
        """Load a batch (into the group of its bucket, made on first use, with bucketing)."""
        if self.sym_gen is not None:
            key = data_batch.bucket_key
            if key not in self.execgrp_bucket:
                symbol = self.sym_gen(key)
                execgrp = DataParallelExecutorGroup(
                    symbol,
                    self.arg_names,
                    self.param_names,
                    self.ctx,
                    self.slices,
                    data_batch,
                    shared_group=self.execgrp,
                )
                self.execgrp_bucket[key] = execgrp
            self.curr_execgrp = self.execgrp_bucket[key]
        else:
            self.curr_execgrp = self.execgrp
        self.curr_execgrp.load_data_batch(data_batch)

    def forward(self, is_train=False):
        """Forward on the current group."""
        self.curr_execgrp.forward(is_train=is_train)

    def backward(self):
        """Backward on the current group."""
        self.curr_execgrp.backward()

    def update_metric(self, metric, labels, pre_sliced=False):
        """Update ``metric`` with the current group's outputs."""
        self.curr_execgrp.update_metric(metric, labels, pre_sliced)
