"""The executors behind a Module: one per context, each on a slice of the batch.

With one context (the common case) the slice is the whole batch, nothing is split or merged,
and every per-batch call is a plain copy into the executor's input arrays plus ``forward``.
Arrays are kept in lists built once at bind time, so the training loop does no dict lookups.
"""

from collections import OrderedDict

import numpy as np

from mxrs import ndarray as nd
from mxrs.base import MXNetError, MXNetValueError, ShapeError
from mxrs.context import cpu
from mxrs.io import DataDesc
from mxrs.metric import EvalMetric

__all__ = ["ExecutorGroup", "DataParallelExecutorGroup", "split_input_slice", "batch_axis"]


def as_desc(item):
    """``item`` as a DataDesc (a DataDesc passes; a ``(name, shape)`` pair is wrapped)."""
    if hasattr(item, "name") and hasattr(item, "shape"):
        return item
    return DataDesc(*item)


def batch_axis(desc):
    """The batch axis of a DataDesc (its layout's 'N'; 0 without a layout)."""
    layout = getattr(desc, "layout", None)
    if layout is None:
        return 0
    return layout.find("N")


def split_input_slice(batch_size, work_load_list):
    """Split ``range(batch_size)`` into one slice per device, proportional to the work loads."""
    total = sum(work_load_list)
    nums = [round(w * batch_size / total) for w in work_load_list]
    if sum(nums) < batch_size:
        nums[-1] += batch_size - sum(nums)
    slices = []
    end = 0
    for n in nums:
        begin = int(min(end, batch_size))
        end = int(min(begin + n, batch_size))
        if begin >= end:
            raise ValueError("Too many slices. Some splits are empty.")
        slices.append(slice(begin, end))
    return slices


def _crop(src, axis, islice):
    """The ``islice`` part of ``src`` along ``axis`` (``src`` itself when it is all of it)."""
    if axis < 0 or (islice.start == 0 and islice.stop == src.shape[axis]):
        return src
    if axis == 0:
        return src[islice.start : islice.stop]
    return nd.slice_axis(src, axis=axis, begin=islice.start, end=islice.stop)


def _merge(arrays, axis):
    if len(arrays) == 1:
        return arrays[0]
    if axis < 0:
        return arrays[0]
    ctx = arrays[0].context
    return nd.concat(*[a.as_in_context(ctx) for a in arrays], dim=axis)


class ExecutorGroup:
    """Binds ``symbol`` once per context and runs them in step (MXNet's DataParallelExecutorGroup).

    Parameters
    ----------
    symbol : Symbol
    contexts : list of Context
    work_load_list : list of numbers, one per context
    data_shapes, label_shapes : list of DataDesc (label_shapes may be None)
    param_names : list of str, the trainable arguments
    for_training, inputs_need_grad : bool
    shared_group : ExecutorGroup or None, whose parameter arrays are shared
    fixed_param_names : list of str, params that get no gradient
    grad_req : str or dict
    """

    def __init__(
        self,
        symbol,
        contexts,
        work_load_list,
        data_shapes,
        label_shapes,
        param_names,
        for_training,
        inputs_need_grad,
        shared_group=None,
        logger=None,
        fixed_param_names=None,
        grad_req="write",
        state_names=None,
    ):
        self.symbol = symbol
        self.contexts = contexts
        self.workload = work_load_list
        self.param_names = list(param_names)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.output_names = symbol.list_outputs()
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.logger = logger
        self.fixed_param_names = list(fixed_param_names or [])
        self.state_names = list(state_names or [])
        self.shared_group = shared_group
        self.grad_req = self._grad_req_dict(grad_req, data_shapes, label_shapes)
        self.execs = []
        self._exec_cache = {}
        self.monitor = None
        self.bind_exec(data_shapes, label_shapes, shared_group)

    def _grad_req_dict(self, grad_req, data_shapes, label_shapes):
        data_names = [as_desc(x).name for x in data_shapes]
        if isinstance(grad_req, dict):
            req = {name: "null" for name in self.arg_names}
            req.update(grad_req)
            return req
        if isinstance(grad_req, (list, tuple)):
            return dict(zip(self.arg_names, grad_req))
        req = {}
        for name in self.arg_names:
            if not self.for_training:
                req[name] = "null"
            elif name in self.param_names:
                req[name] = "null" if name in self.fixed_param_names else grad_req
            elif name in data_names:
                req[name] = grad_req if self.inputs_need_grad else "null"
            else:
                req[name] = "null"
        return req

    # ------------------------------------------------------------------ binding
    def _check_names(self, descs):
        args = set(self.arg_names)
        for d in descs:
            if d.name not in args:
                raise MXNetValueError(
                    f"input '{d.name}' is not an argument of the symbol; its arguments are {self.arg_names}"
                )

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        """Bind (or, with ``reshape``, re-bind sharing the parameters) every executor."""
        data_shapes = [as_desc(x) for x in data_shapes]
        label_shapes = [as_desc(x) for x in label_shapes] if label_shapes else []
        self._check_names(data_shapes + label_shapes)
        self.data_shapes = data_shapes
        self.label_shapes = label_shapes or None
        self.data_names = [d.name for d in data_shapes]
        self.label_names = [d.name for d in label_shapes]
        self.data_layouts = [batch_axis(d) for d in data_shapes]
        self.label_layouts = [batch_axis(d) for d in label_shapes]
        sizes = {d.shape[ax] for d, ax in zip(data_shapes, self.data_layouts) if ax >= 0}
        if len(sizes) != 1:
            raise ShapeError(f"all data must have the same batch size: {data_shapes}")
        self.batch_size = sizes.pop()
        self.slices = split_input_slice(self.batch_size, self.workload)
        new_execs = []
        for i, ctx in enumerate(self.contexts):
            shared = None
            if reshape:
                shared = self.execs[i]
            elif shared_group is not None:
                shared = shared_group.execs[i]
            new_execs.append(self._bind_one(i, ctx, shared))
        self.execs = new_execs
        self._collect_arrays()

    def _sliced_shapes(self, descs, layouts, islice):
        out = {}
        for d, ax in zip(descs, layouts):
            shape = list(d.shape)
            if ax >= 0:
                shape[ax] = islice.stop - islice.start
            out[d.name] = tuple(shape)
        return out

    def _bind_one(self, i, ctx, shared):
        islice = self.slices[i]
        shapes = self._sliced_shapes(self.data_shapes, self.data_layouts, islice)
        shapes.update(self._sliced_shapes(self.label_shapes or [], self.label_layouts, islice))
        key = (i, tuple(sorted(shapes.items())))
        cached = self._exec_cache.get(key)
        if cached is not None and (shared is None or cached is shared or self._shares_params(cached, shared)):
            return cached
        types = {d.name: getattr(d, "dtype", np.float32) for d in self.data_shapes + (self.label_shapes or [])}
        try:
            if shared is None:
                exe = self.symbol.simple_bind(ctx, grad_req=self.grad_req, type_dict=types, **shapes)
            else:
                exe = self._bind_shared(ctx, shared, shapes, types)
        except (ValueError, TypeError, RuntimeError, KeyError) as err:
            desc = ", ".join(f"{k}{v}" for k, v in shapes.items())
            cls = type(err) if isinstance(err, MXNetError) else MXNetValueError
            raise cls(f"cannot bind the symbol with inputs {desc}: {err}") from err
        if self.monitor is not None:
            self.monitor.install(exe)
        self._exec_cache[key] = exe
        return exe

    def _shares_params(self, exe, shared):
        return all(exe.arg_dict[n] is shared.arg_dict[n] for n in self.param_names)

    def _bind_shared(self, ctx, shared, shapes, types):
        """A new executor for new input shapes that uses ``shared``'s parameter arrays."""
        arg_shapes, _, aux_shapes = self.symbol.infer_shape(**shapes)
        if arg_shapes is None:
            raise ShapeError(f"cannot infer the shapes of the arguments from {shapes}")
        arg_types, _, _ = self.symbol.infer_type(**types)
        args, grads = {}, {}
        for name, shape, dtype in zip(self.arg_names, arg_shapes, arg_types or [None] * len(arg_shapes)):
            old = shared.arg_dict.get(name)
            if name in self.param_names or name not in shapes and old is not None and old.shape == tuple(shape):
                if old.shape != tuple(shape):
                    raise ShapeError(f"parameter {name} would change shape from {old.shape} to {tuple(shape)}")
                args[name] = old
                if self.grad_req.get(name, "null") != "null":
                    grads[name] = shared.grad_dict[name]
            else:
                args[name] = nd.zeros(shape, ctx=ctx, dtype=dtype or np.float32)
                if self.grad_req.get(name, "null") != "null":
                    grads[name] = nd.zeros(shape, ctx=ctx, dtype=dtype or np.float32)
        aux = [shared.aux_dict[name] for name in self.aux_names]
        for name, shape in zip(self.aux_names, aux_shapes):
            if shared.aux_dict[name].shape != tuple(shape):
                raise ShapeError(f"aux state {name} would change shape")
        return self.symbol.bind(ctx, args, args_grad=grads or None, grad_req=self.grad_req, aux_states=aux)

    def _collect_arrays(self):
        execs = self.execs
        self.data_arrays = [
            [(self.slices[i], e.arg_dict[name]) for i, e in enumerate(execs)] for name in self.data_names
        ]
        self.label_arrays = [
            [(self.slices[i], e.arg_dict[name]) for i, e in enumerate(execs)] for name in self.label_names
        ]
        self.param_arrays = [[e.arg_dict[name] for e in execs] for name in self.param_names]
        self.grad_arrays = [
            [e.grad_dict.get(name) for e in execs] if self.grad_req.get(name, "null") != "null" else [None] * len(execs)
            for name in self.param_names
        ]
        self.aux_arrays = [[e.aux_dict[name] for e in execs] for name in self.aux_names]
        if self.inputs_need_grad:
            self.input_grad_arrays: list[list] | None = [[e.grad_dict[name] for e in execs] for name in self.data_names]
        else:
            self.input_grad_arrays = None
        # The single-device fast path: flat lists of (source position, destination array).
        self._single = len(execs) == 1
        self._data_dst = [e.arg_dict[n] for e in execs[:1] for n in self.data_names]
        self._label_dst = [e.arg_dict[n] for e in execs[:1] for n in self.label_names]
        # As in MXNet, outputs carry no layout attribute, so their batch axis is 0.
        self.output_layouts = [0] * len(self.output_names)

    def reshape(self, data_shapes, label_shapes):
        """Re-bind for new input shapes, keeping the parameter arrays."""
        new = [as_desc(x) for x in data_shapes]
        new_l = [as_desc(x) for x in label_shapes] if label_shapes else []
        if new == self.data_shapes and (new_l or None) == self.label_shapes:
            return
        self.bind_exec(new, new_l, reshape=True)

    # ---------------------------------------------------------------- parameters
    def set_params(self, arg_params, aux_params, allow_extra=False):
        """Copy parameters into every executor."""
        for exe in self.execs:
            exe.copy_params_from(arg_params, aux_params, allow_extra_params=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Copy the (device-averaged) parameters into the given dicts of arrays."""
        for names, blocks, out in (
            (self.param_names, self.param_arrays, arg_params),
            (self.aux_names, self.aux_arrays, aux_params),
        ):
            for name, block in zip(names, blocks):
                if len(block) == 1:
                    src = block[0]
                else:
                    src = sum(w.copyto(cpu()) for w in block) / len(block)
                dst = out[name]
                if src.dtype != dst.dtype:
                    src = src.astype(dst.dtype)
                src.copyto(dst)

    # ------------------------------------------------------------------ running
    def _load(self, arrays, targets, layouts):
        for src, dsts, ax in zip(arrays, targets, layouts):
            for islice, dst in dsts:
                part = _crop(src, ax, islice)
                if part is not dst:
                    part.copyto(dst)

    def forward(self, data_batch, is_train=None):
        """Copy the batch into the executors and run them forward."""
        if is_train is None:
            is_train = self.for_training
        if self._single:
            for src, dst in zip(data_batch.data, self._data_dst):
                if src is not dst:
                    src.copyto(dst)
            label = data_batch.label
            if label and self._label_dst:
                for src, dst in zip(label, self._label_dst):
                    if src is not dst:
                        src.copyto(dst)
            self.execs[0].forward(is_train=is_train)
            return
        self._load(data_batch.data, self.data_arrays, self.data_layouts)
        if data_batch.label and self.label_arrays:
            self._load(data_batch.label, self.label_arrays, self.label_layouts)
        for exe in self.execs:
            exe.forward(is_train=is_train)

    def backward(self, out_grads=None):
        """Backward on every executor (head gradients sliced like the outputs)."""
        if not self.for_training:
            raise AssertionError("re-bind with for_training=True to run backward")
        if out_grads is None:
            for exe in self.execs:
                exe.backward()
            return
        if not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        if self._single:
            self.execs[0].backward(out_grads=list(out_grads))
            return
        for i, exe in enumerate(self.execs):
            sliced = [
                _crop(g, ax, self.slices[i]).as_in_context(exe.outputs[0].context)
                for g, ax in zip(out_grads, self.output_layouts)
            ]
            exe.backward(out_grads=sliced)

    def get_outputs(self, merge_multi_context=True):
        """Outputs, merged along the batch axis (or one list per output with False)."""
        outputs = [[e.outputs[i] for e in self.execs] for i in range(len(self.execs[0].outputs))]
        if merge_multi_context:
            return [_merge(o, ax) for o, ax in zip(outputs, self.output_layouts)]
        return outputs

    def get_output_shapes(self):
        """``[(name, shape)]`` of the merged outputs."""
        shapes = []
        for name, out, ax in zip(self.output_names, self.execs[0].outputs, self.output_layouts):
            shape = list(out.shape)
            if ax >= 0:
                shape[ax] = self.batch_size
            shapes.append((name, tuple(shape)))
        return shapes

    def get_input_grads(self, merge_multi_context=True):
        """Gradients of the data inputs."""
        if not self.inputs_need_grad:
            raise AssertionError("bind with inputs_need_grad=True to get input gradients")
        grads = self.input_grad_arrays or []
        if merge_multi_context:
            return [_merge(g, ax) for g, ax in zip(grads, self.data_layouts)]
        return grads

    def get_states(self, merge_multi_context=True):
        """Arrays of the state inputs."""
        states = [[e.arg_dict[n] for e in self.execs] for n in self.state_names]
        if merge_multi_context:
            return [_merge(s, 0) for s in states]
        return states

    def set_states(self, states=None, value=None):
        """Set the state inputs from arrays or to a value."""
        if states is not None:
            if value is not None:
                raise AssertionError("Only one of states & value can be specified.")
            for name, src in zip(self.state_names, states):
                for e, s in zip(self.execs, src if isinstance(src, (list, tuple)) else [src] * len(self.execs)):
                    s.copyto(e.arg_dict[name])
        else:
            for name in self.state_names:
                for e in self.execs:
                    e.arg_dict[name][:] = value

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update ``eval_metric`` with the outputs and ``labels`` of each executor."""
        plain = (
            getattr(eval_metric, "output_names", None) is None
            and getattr(eval_metric, "label_names", None) is None
            and type(eval_metric).update_dict is EvalMetric.update_dict
        )
        for i, exe in enumerate(self.execs):
            if pre_sliced:
                labels_slice = labels[i]
            elif self._single:
                labels_slice = labels
            else:
                labels_slice = [_crop(lab, ax, self.slices[i]) for lab, ax in zip(labels, self.label_layouts)]
            if plain:
                eval_metric.update(list(labels_slice), list(exe.outputs))
            else:
                eval_metric.update_dict(
                    OrderedDict(zip(self.label_names, labels_slice)), OrderedDict(zip(self.output_names, exe.outputs))
                )

    def install_monitor(self, mon):
        """Install ``mon`` on every executor (and those made later)."""
        self.monitor = mon
        for exe in self.execs:
            mon.install(exe)


DataParallelExecutorGroup = ExecutorGroup  # MXNet's name
