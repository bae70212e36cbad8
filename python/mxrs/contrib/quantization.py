"""Quantization module for generating quantized (INT8) models from FP32 models, as MXNet
1.9.1's ``mx.contrib.quantization`` (alias ``mx.contrib.quant``).

``quantize_model`` rewrites a Symbol into its INT8 version (``_contrib_quantize_v2`` before
the quantized layers, ``_contrib_quantized_*`` operators, ``_contrib_requantize`` after the
int32 ones, ``_contrib_dequantize`` before float consumers; see
:mod:`mxrs.contrib._quantize_graph`), quantizes the weights and biases offline, and with
``calib_mode='naive'`` or ``'entropy'`` runs the FP32 model on calibration data to set each
quantize/requantize node's ``min_calib_range``/``max_calib_range`` (the layer outputs' min/max,
or the thresholds minimizing the KL divergence). ``quantize_graph`` + ``calib_graph`` are the
same in two steps with a collector the caller fills; ``quantize_net_v2`` does it for a Gluon
HybridBlock and returns a SymbolBlock.

Differences from MXNet: mxrs has no oneDNN subgraph backend, so ``quantize_model_mkldnn`` and
``quantize_net_v2`` on CPU do not fuse convolutions with their batch norm/activation before
quantizing (``get_backend_symbol('MKLDNN_QUANTIZE')``); their graphs are those of
``quantize_model``. The calibration collects every layer output as MXNet does with its
subgraph backend off (a oneDNN-built MXNet fuses the FP32 layers of its calibration Module and
then only calibrates the graph inputs). The entropy thresholds are computed by
``_contrib_calibrate_entropy`` where mxrs has it, else by the same algorithm in NumPy.
"""

import json
import logging
import os
import tempfile
import warnings
from typing import Any, cast

from mxrs import ndarray
from mxrs.context import Context, cpu
from mxrs.contrib import _quantize_graph as _qgraph
from mxrs.contrib._quantize_calib import (
    CalibrationCollector,
    _calibrate_entropy,
    _collect_layer_histogram,
    _collect_layer_output_min_max,
    _collect_layer_statistics,
    _get_optimal_threshold,
    _get_optimal_thresholds,
    _has_op,
    _LayerHistogramCollector,
    _LayerOutputMinMaxCollector,
    _smooth_distribution,
    combine_histogram,
    contrib_op,
)
from mxrs.io import DataBatch, DataDesc, DataIter
from mxrs.module import Module
from mxrs.ndarray import load as nd_load
from mxrs.ndarray import save as nd_save
from mxrs.symbol import Symbol
from mxrs.symbol import load as sym_load
from mxrs.symbol import load_json as sym_load_json

_CPU = cpu()  # MXNet's default ``ctx=cpu()``

__all__ = [
    "CalibrationCollector",
    "calib_graph",
    "combine_histogram",
    "quantize_graph",
    "quantize_model",
    "quantize_model_mkldnn",
    "quantize_net",
    "quantize_net_v2",
]


def _quantize_params(qsym, params, th_dict):
    """Given a quantized symbol and a dict of params that have not been quantized, generate
    quantized params: every ``*weight_quantize``/``*bias_quantize`` argument of ``qsym`` is the
    int8 version of its FP32 param (with ``_min``/``_max``); other arguments keep their value,
    and ``NAME_min``/``NAME_max`` of an output in ``th_dict`` get its thresholds."""
    quantized_params = {}
    for name in qsym.list_arguments():
        if name.endswith(("weight_quantize", "bias_quantize")):
            original_name = name[: -len("_quantize")]
            param = params[original_name]
            val, vmin, vmax = contrib_op("quantize")(
                data=param, min_range=ndarray.min(param), max_range=ndarray.max(param), out_type="int8"
            )
            quantized_params[name] = val
            quantized_params[name + "_min"] = vmin
            quantized_params[name + "_max"] = vmax
        elif name in params:
            quantized_params[name] = params[name]
        elif name.endswith("_min"):
            output = name[: -len("_min")]
            if output in th_dict:
                quantized_params[name] = ndarray.array([th_dict[output][0]])
        elif name.endswith("_max"):
            output = name[: -len("_max")]
            if output in th_dict:
                quantized_params[name] = ndarray.array([th_dict[output][1]])
    return quantized_params


def _can_run(quantized_op):
    """Whether mxrs can run a quantized operator (with the quantize/requantize/dequantize
    operators around it); MXNet leaves a layer in float when its device lacks the kernel."""
    return all(_has_op(op) for op in (quantized_op, _qgraph.QUANTIZE_V2, _qgraph.REQUANTIZE, _qgraph.DEQUANTIZE))


def _quantize_symbol(
    sym,
    ctx,
    excluded_symbols=None,
    excluded_operators=None,
    offline_params=None,
    quantized_dtype="int8",
    quantize_mode="smart",
    quantize_granularity="tensor-wise",
    as_json=False,
):
    """Quantize the FP32 symbol ``sym`` (MXNet's ``MXQuantizeSymbol``): the INT8 symbol (its
    JSON graph as a dict with ``as_json``) and the names of the layer outputs its
    quantize/requantize nodes calibrate from."""
    if excluded_symbols is not None and not isinstance(excluded_symbols, list):
        raise AssertionError("excluded_symbols must be a list")
    if excluded_operators is not None and not isinstance(excluded_operators, list):
        raise AssertionError("excluded_operators must be a list")
    if Context(ctx).device_type == "gpu" and quantize_granularity == "channel-wise":
        raise ValueError(
            "`channel-wise` quantization option is not supported yet by GPU, please set "
            "quantize_granularity to `tensor-wise` when quantizing model."
        )
    graph, calib_layer = _qgraph.quantize_graph_json(
        json.loads(sym.tojson()),
        excluded_symbols or [],
        excluded_operators or [],
        offline_params or [],
        quantized_dtype,
        quantize_mode,
        available=_can_run,
    )
    if as_json:
        return graph, calib_layer
    return sym_load_json(json.dumps(graph)), calib_layer


def _calibrate_quantized_sym(qsym, th_dict):
    """Given a dictionary containing the thresholds for quantizing the layers, set the
    thresholds into the quantized symbol as the params of requantize operators."""
    if th_dict is None or len(th_dict) == 0:
        return qsym
    graph = _qgraph.set_calib_table_json(json.loads(qsym.tojson()), th_dict)
    return sym_load_json(json.dumps(graph))


def _load_sym(sym, logger=None):
    """Given a str as a path the symbol .json file or a symbol, returns a Symbol object."""
    if isinstance(sym, str):  # sym is a symbol file path
        cur_path = os.path.dirname(os.path.realpath(__file__))
        symbol_file_path = os.path.join(cur_path, sym)
        if logger:
            logger.info("Loading symbol from file %s" % symbol_file_path)
        return sym_load(symbol_file_path)
    if isinstance(sym, Symbol):
        return sym
    raise ValueError(
        "_load_sym only accepts Symbol or path to the symbol file, while received type %s" % str(type(sym))
    )


def _load_params(params, logger=None):
    """Given a str as a path to the .params file or a pair of params, returns two dictionaries
    representing arg_params and aux_params."""
    if isinstance(params, str):
        cur_path = os.path.dirname(os.path.realpath(__file__))
        param_file_path = os.path.join(cur_path, params)
        if logger:
            logger.info("Loading params from file %s" % param_file_path)
        save_dict = nd_load(param_file_path)
        arg_params = {}
        aux_params = {}
        for k, v in save_dict.items():
            tp, name = k.split(":", 1)
            if tp == "arg":
                arg_params[name] = v
            if tp == "aux":
                aux_params[name] = v
        return arg_params, aux_params
    if isinstance(params, (tuple, list)) and len(params) == 2:
        return params[0], params[1]
    raise ValueError(
        "Unsupported params provided. Must be either a path to the param file or"
        " a pair of dictionaries representing arg_params and aux_params"
    )


class _DataIterWrapper(DataIter):
    """DataIter wrapper for general iterator, e.g., gluon dataloader"""

    def __init__(self, calib_data):
        super().__init__()
        self._data = calib_data
        try:
            calib_iter = iter(calib_data)
        except TypeError as e:
            raise TypeError("calib_data is not a valid iterator. {}".format(str(e))) from e
        data_example = next(calib_iter)
        if isinstance(data_example, (list, tuple)):
            data_example = list(data_example)
        else:
            data_example = [data_example]
        # suppose there must be one label in data_example
        num_data = len(data_example)
        assert num_data > 0
        # here reshape is to handle the 5D/6D input data
        if len(data_example[0].shape) > 4:
            data_example[0] = data_example[0].reshape((-1,) + data_example[0].shape[2:])
        self.provide_data = [DataDesc(name="data", shape=(data_example[0].shape))]
        self.provide_data += [DataDesc(name="data{}".format(i), shape=x.shape) for i, x in enumerate(data_example[1:])]
        # data0, data1, ..., label
        if num_data >= 3:
            self.provide_data = [
                DataDesc(name="data{}".format(i), shape=x.shape) for i, x in enumerate(data_example[0:])
            ]
        self.batch_size = data_example[0].shape[0]
        self.reset()

    def reset(self):
        self._iter = iter(self._data)

    def next(self):
        next_data = next(self._iter)
        # here reshape is to handle the 5D/6D input data
        if len(next_data[0].shape) > 4:
            next_data[0] = next_data[0].reshape((-1,) + next_data[0].shape[2:])
        return DataBatch(data=next_data)


def _as_data_iter(calib_data):
    """Convert normal iterator to mx.io.DataIter while parsing the data_shapes"""
    if isinstance(calib_data, DataIter):
        # already validated DataIter, just return
        return calib_data, getattr(calib_data, "provide_data")  # noqa: B009 (not on DataIter)
    wrapped = _DataIterWrapper(calib_data)
    return wrapped, wrapped.provide_data


def _check_lists(excluded_sym_names, excluded_op_names):
    if excluded_sym_names is None:
        excluded_sym_names = []
    if not isinstance(excluded_sym_names, list):
        raise ValueError(
            "excluded_sym_names must be a list of strings representing the names of the symbols"
            " that will not be quantized, while received type %s" % str(type(excluded_sym_names))
        )
    if excluded_op_names is None:
        excluded_op_names = []
    if not isinstance(excluded_op_names, list):
        raise ValueError(
            "excluded_op_names must be a list of strings representing the names of the operators"
            " that will not be quantized, while received type %s" % str(type(excluded_op_names))
        )
    return excluded_sym_names, excluded_op_names


def _check_dtype_granularity(quantized_dtype, quantize_granularity):
    if quantized_dtype not in ("int8", "uint8", "auto"):
        raise ValueError("unknown quantized_dtype %s received, expected `int8`, `uint8` or `auto`" % quantized_dtype)
    if quantize_granularity not in ("tensor-wise", "channel-wise"):
        raise ValueError(
            "unkonwn quantize_granularity %s received, expected `tensor-wise` or `channel-wise`." % quantize_granularity
        )


def quantize_model(
    sym,
    arg_params,
    aux_params,
    data_names=("data",),
    label_names=("softmax_label",),
    ctx=_CPU,
    excluded_sym_names=None,
    excluded_op_names=None,
    calib_mode="entropy",
    calib_data=None,
    num_calib_examples=None,
    quantized_dtype="int8",
    quantize_mode="smart",
    quantize_granularity="tensor-wise",
    logger=None,
):
    """User-level API for generating a quantized model from a FP32 model w/ or w/o calibration:
    returns ``(qsym, qarg_params, aux_params)``.

    ``calib_mode``: ``'none'`` (the requantize ranges are computed at run time), ``'naive'``
    (the min/max of the layer outputs on ``calib_data``, a DataIter) or ``'entropy'`` (the
    thresholds minimizing the KL divergence of the quantized layer outputs);
    ``num_calib_examples`` caps the calibration examples. ``excluded_sym_names`` /
    ``excluded_op_names`` keep those layers / operators in float. ``quantized_dtype``:
    ``'int8'``, ``'uint8'`` or ``'auto'``; ``quantize_mode``: ``'smart'`` or ``'full'``."""
    excluded_sym_names, excluded_op_names = _check_lists(excluded_sym_names, excluded_op_names)
    if logger:
        os.environ["MXNET_QUANTIZATION_VERBOSE"] = "1"
        logger.info("Quantizing symbol")
    _check_dtype_granularity(quantized_dtype, quantize_granularity)
    # calibrated on the JSON graph, made a Symbol once: mxrs's quantized batch norm needs
    # its calibration ranges when it is created
    qgraph, calib_layer = _quantize_symbol(
        sym,
        ctx,
        excluded_symbols=excluded_sym_names,
        excluded_operators=excluded_op_names,
        offline_params=list(arg_params.keys()),
        quantized_dtype=quantized_dtype,
        quantize_mode=quantize_mode,
        quantize_granularity=quantize_granularity,
        as_json=True,
    )
    th_dict = {}
    if calib_mode is not None and calib_mode != "none":
        if not isinstance(ctx, Context):
            raise ValueError("currently only supports single ctx, while received %s" % str(ctx))
        if calib_data is None:
            raise ValueError("calib_data must be provided when calib_mode=%s" % calib_mode)
        if not isinstance(calib_data, DataIter):
            raise ValueError(
                "calib_data must be of DataIter type when calib_mode=%s, while received type %s"
                % (calib_mode, str(type(calib_data)))
            )
        mod = Module(symbol=sym, data_names=data_names, label_names=label_names, context=ctx)
        calib_data = cast(Any, calib_data)  # an iterator with provide_data/provide_label
        if len(calib_data.provide_label) > 0:
            mod.bind(for_training=False, data_shapes=calib_data.provide_data, label_shapes=calib_data.provide_label)
        else:
            mod.bind(for_training=False, data_shapes=calib_data.provide_data)
        mod.set_params(arg_params, aux_params)
        if calib_mode == "entropy":
            hist_dict, num_examples = _collect_layer_histogram(
                mod, calib_data, include_layer=calib_layer, max_num_examples=num_calib_examples, logger=logger
            )
            if logger:
                logger.info("Collected layer outputs from FP32 model using %d examples" % num_examples)
                logger.info("Calculating optimal thresholds for quantization")
            th_dict = _get_optimal_thresholds(hist_dict, quantized_dtype, logger=logger)
        elif calib_mode == "naive":
            th_dict, num_examples = _collect_layer_output_min_max(
                mod,
                calib_data,
                quantized_dtype,
                include_layer=calib_layer,
                max_num_examples=num_calib_examples,
                logger=logger,
            )
            if logger:
                logger.info("Collected layer output min/max values from FP32 model using %d examples" % num_examples)
        else:
            raise ValueError(
                "unknown calibration mode %s received, expected `none`, `naive`, or `entropy`" % calib_mode
            )
        qgraph = _qgraph.set_calib_table_json(qgraph, th_dict)
    qsym = sym_load_json(json.dumps(qgraph))
    if logger:
        logger.info("Quantizing parameters")
    qarg_params = _quantize_params(qsym, arg_params, th_dict)
    return qsym, qarg_params, aux_params


def quantize_model_mkldnn(
    sym,
    arg_params,
    aux_params,
    data_names=("data",),
    label_names=("softmax_label",),
    ctx=_CPU,
    excluded_sym_names=None,
    excluded_op_names=None,
    calib_mode="entropy",
    calib_data=None,
    num_calib_examples=None,
    quantized_dtype="int8",
    quantize_mode="smart",
    quantize_granularity="tensor-wise",
    logger=None,
):
    """``quantize_model`` for the CPU (MXNet: with Intel MKL-DNN's fusion first). mxrs has no
    MKL-DNN subgraph backend: the layers are quantized as ``quantize_model`` does."""
    if not isinstance(ctx, Context):
        raise ValueError("currently only supports single ctx, while received %s" % str(ctx))
    if ctx.device_type != "cpu":
        raise ValueError("quantize_model_mkldnn only support Intel cpu platform with MKL-DNN Backend")
    return quantize_model(
        sym=sym,
        arg_params=arg_params,
        aux_params=aux_params,
        data_names=data_names,
        label_names=label_names,
        ctx=ctx,
        excluded_sym_names=excluded_sym_names,
        excluded_op_names=excluded_op_names,
        calib_mode=calib_mode,
        calib_data=calib_data,
        num_calib_examples=num_calib_examples,
        quantized_dtype=quantized_dtype,
        quantize_mode=quantize_mode,
        quantize_granularity=quantize_granularity,
        logger=logger,
    )


def quantize_graph(
    sym,
    arg_params,
    aux_params,
    ctx=_CPU,
    excluded_sym_names=None,
    excluded_op_names=None,
    calib_mode="entropy",
    quantized_dtype="int8",
    quantize_mode="full",
    quantize_granularity="tensor-wise",
    LayerOutputCollector=None,
    logger=None,
):
    """User-level API for generating a quantized model from a FP32 model w/o calibration and a
    collector for naive or entropy calibration (fill it with ``collector.collect(name, array)``,
    e.g. as an executor's monitor callback, then call :func:`calib_graph`). Returns
    ``(qsym, qarg_params, aux_params, collector)``."""
    excluded_sym_names, excluded_op_names = _check_lists(excluded_sym_names, excluded_op_names)
    if not isinstance(ctx, Context):
        raise ValueError("currently only supports single ctx, while received %s" % str(ctx))
    if logger:
        os.environ["MXNET_QUANTIZATION_VERBOSE"] = "1"
        logger.info("Quantizing graph")
    _check_dtype_granularity(quantized_dtype, quantize_granularity)
    qsym, calib_layer = _quantize_symbol(
        sym,
        ctx,
        excluded_symbols=excluded_sym_names,
        excluded_operators=excluded_op_names,
        offline_params=list(arg_params.keys()),
        quantized_dtype=quantized_dtype,
        quantize_mode=quantize_mode,
        quantize_granularity=quantize_granularity,
    )
    collector: Any = None
    if calib_mode is not None and calib_mode != "none":
        if calib_mode == "entropy":
            collector = _LayerHistogramCollector(include_layer=calib_layer, logger=logger)
        elif calib_mode == "naive":
            collector = _LayerOutputMinMaxCollector(
                quantized_dtype=quantized_dtype, include_layer=calib_layer, logger=logger
            )
        elif calib_mode == "customize" and LayerOutputCollector is not None:
            collector = LayerOutputCollector
        else:
            raise ValueError(
                "unknown calibration mode %s received, expected `none`, `naive`, `entropy` or `customize`" % calib_mode
            )
        if logger:
            logger.info("Collector created, please use set_monitor_callback to collect calibration information.")
    if logger:
        logger.info("Quantizing parameters")
    qarg_params = _quantize_params(qsym, arg_params, {})
    return qsym, qarg_params, aux_params, collector


def calib_graph(qsym, arg_params, aux_params, collector, calib_mode="entropy", quantized_dtype="int8", logger=logging):
    """User-level API for calibrating a quantized model using a filled collector: returns the
    calibrated ``(qsym, qarg_params, aux_params)``."""
    th_dict = {}
    if calib_mode is not None and calib_mode != "none":
        if calib_mode == "entropy":
            if logger:
                logger.info("Calculating optimal thresholds for quantization")
            th_dict = _get_optimal_thresholds(collector.hist_dict, quantized_dtype, logger=logger)
        elif calib_mode == "naive":
            th_dict = collector.min_max_dict
        elif calib_mode == "customize":
            post = getattr(collector, "post_collect", None)
            th_dict = post() if post is not None else collector.min_max_dict
        else:
            raise ValueError(
                "unknown calibration mode %s received, expected `none`, `naive`, `entropy` or `customize`" % calib_mode
            )
        qsym = _calibrate_quantized_sym(qsym, th_dict)
    else:
        raise ValueError("please set calibration mode to naive or entropy.")
    if logger:
        logger.info("Quantizing parameters")
    qarg_params = _quantize_params(qsym, arg_params, th_dict)
    return qsym, qarg_params, aux_params


def _export_net(network, data_shapes, calib_data):
    """Hybridize and run ``network`` once on zeros, then export it: (symbol, args, auxs)."""
    from mxrs.model import load_checkpoint

    network.hybridize()
    data_nd = [ndarray.zeros(shape.shape) for shape in data_shapes]
    while True:
        try:
            network(*data_nd)
        except TypeError:
            del data_nd[-1]
            if calib_data is not None:
                del calib_data.provide_data[-1]
            continue
        break
    with tempfile.TemporaryDirectory() as tmpdirname:
        prefix = os.path.join(tmpdirname, "tmp")
        network.export(prefix, epoch=0)
        return load_checkpoint(prefix, 0)


def quantize_net_v2(
    network,
    quantized_dtype="auto",
    quantize_mode="full",
    quantize_granularity="tensor-wise",
    exclude_layers=None,
    exclude_layers_match=None,
    exclude_operators=None,
    calib_data=None,
    data_shapes=None,
    calib_mode="none",
    num_calib_examples=None,
    ctx=_CPU,
    LayerOutputCollector=None,
    logger=None,
):
    """User-level API for Gluon users to generate a quantized SymbolBlock from a FP32
    HybridBlock w/ or w/o calibration. ``calib_data``: a DataIter or any iterable of batches
    (a gluon DataLoader); ``data_shapes``: DataDescs of the inputs, needed without
    ``calib_data``; ``exclude_layers_match``: substrings of the layer names to keep in float."""
    if logger:
        logger.info("Export HybridBlock")
    if calib_data is not None:
        if isinstance(calib_data, DataIter):
            dshapes = cast(Any, calib_data).provide_data
        else:
            calib_data, dshapes = _as_data_iter(calib_data)
        if not data_shapes:
            data_shapes = dshapes
    if not data_shapes:
        raise ValueError("data_shapes required")
    for i, desc in enumerate(data_shapes):  # in place: the calibration iterator shares the list
        if not isinstance(desc, DataDesc):
            data_shapes[i] = DataDesc(*desc)
    symnet, args, auxs = _export_net(network, data_shapes, calib_data)

    exclude_layers = list(exclude_layers or [])
    exclude_operators = list(exclude_operators or [])
    for name_match in exclude_layers_match or []:
        for layers in list(symnet.get_internals()):
            if layers.name.find(name_match) != -1:
                exclude_layers.append(layers.name)
    if logger:
        logger.info("These layers have been excluded %s" % exclude_layers)

    qsym, qarg_params, aux_params, collector = quantize_graph(
        sym=symnet,
        arg_params=args,
        aux_params=auxs,
        ctx=ctx,
        excluded_sym_names=exclude_layers,
        excluded_op_names=exclude_operators,
        calib_mode=calib_mode,
        quantized_dtype=quantized_dtype,
        quantize_mode=quantize_mode,
        quantize_granularity=quantize_granularity,
        LayerOutputCollector=LayerOutputCollector,
        logger=logger,
    )

    if calib_mode is not None and calib_mode != "none":
        if not isinstance(ctx, Context):
            raise ValueError("currently only supports single ctx, while received %s" % str(ctx))
        if calib_data is None:
            raise ValueError("calib_data must be provided when calib_mode=%s" % calib_mode)
        data_names = [pair[0] for pair in calib_data.provide_data]
        mod = Module(symbol=symnet, context=ctx, data_names=data_names, label_names=None)
        mod.bind(for_training=False, data_shapes=data_shapes)
        mod.set_params(args, auxs, allow_missing=False, force_init=True)
        num_examples = _collect_layer_statistics(mod, calib_data, collector, num_calib_examples, logger)
        if logger:
            logger.info("Collected layer output values from FP32 model using %d examples" % num_examples)
        qsym, qarg_params, aux_params = calib_graph(
            qsym=qsym,
            arg_params=args,
            aux_params=auxs,
            collector=collector,
            calib_mode=calib_mode,
            quantized_dtype=quantized_dtype,
            logger=logger,
        )
    else:
        data_names = [pair[0] for pair in data_shapes]

    from mxrs import symbol
    from mxrs.gluon import SymbolBlock

    net = SymbolBlock(qsym, [symbol.var(name) for name in data_names])
    with tempfile.TemporaryDirectory() as tmpdirname:
        param_name = os.path.join(tmpdirname, "tmpnet-quantized-0000.params")
        save_dict = {("arg:%s" % k): v.as_in_context(cpu()) for k, v in qarg_params.items()}
        save_dict.update({("aux:%s" % k): v.as_in_context(cpu()) for k, v in aux_params.items()})
        nd_save(param_name, save_dict)
        net.collect_params().load(param_name, cast_dtype=True, dtype_source="saved")
        net.collect_params().reset_ctx(ctx)
    return net


def quantize_net(
    network,
    quantized_dtype="auto",
    quantize_mode="full",
    exclude_layers=None,
    exclude_layers_match=None,
    exclude_operators=None,
    calib_data=None,
    data_shapes=None,
    calib_mode="none",
    num_calib_examples=None,
    ctx=_CPU,
    logger=None,
):
    """``quantize_net_v2`` with tensor-wise quantization (MXNet: deprecated after 2.0)."""
    warnings.warn("WARNING: This will be deprecated after MXNet 2.0, please use quantize_net_v2.", stacklevel=2)
    return quantize_net_v2(
        network=network,
        quantized_dtype=quantized_dtype,
        quantize_mode=quantize_mode,
        quantize_granularity="tensor-wise",
        exclude_layers=exclude_layers,
        exclude_layers_match=exclude_layers_match,
        exclude_operators=exclude_operators,
        calib_data=calib_data,
        data_shapes=data_shapes,
        calib_mode=calib_mode,
        num_calib_examples=num_calib_examples,
        ctx=ctx,
        LayerOutputCollector=None,
        logger=logger,
    )


# MXNet's module-level names that its own code uses (kept importable from here).
_PRIVATE = (
    _calibrate_entropy,
    _collect_layer_statistics,
    _get_optimal_threshold,
    _has_op,
    _smooth_distribution,
    combine_histogram,
    DataBatch,
)
