"""Calibration helpers of ``mx.contrib.quantization``: the layer-output collectors (min/max
and histograms), MXNet's KL-divergence thresholds (``_get_optimal_threshold(s)``) and the
statistics run of the FP32 Module."""

import numpy as np

from mxrs import ndarray
from mxrs.context import cpu
from mxrs.io import DataBatch, DataIter
from mxrs.ndarray import NDArray


def contrib_op(name):
    """``mx.nd.contrib.NAME`` (the quantization operators; looked up when called)."""
    return getattr(ndarray.contrib, name)


def _py_str(name):
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


def _has_op(op_name):
    from mxrs import _native

    if not hasattr(_has_op, "names"):
        names = {op[0] for op in _native.list_ops()}
        names.update(alias for alias, _ in _native.list_aliases())
        _has_op.names = names  # type: ignore[attr-defined]
    return op_name in _has_op.names  # type: ignore[attr-defined]


def combine_histogram(old_hist, arr, new_min, new_max, new_th):
    """Collect layer histogram for arr and combine it with old histogram."""
    (old_hist, old_hist_edges, old_min, old_max, old_th) = old_hist
    if new_th <= old_th:
        hist, _ = np.histogram(arr, bins=len(old_hist), range=(-old_th, old_th))
        return (old_hist + hist, old_hist_edges, min(old_min, new_min), max(old_max, new_max), old_th)
    # Need to generate new histogram with new_th
    old_num_bins = len(old_hist)
    old_step = 2 * old_th / old_num_bins
    half_increased_bins = int((new_th - old_th) // old_step + 1)
    new_num_bins = half_increased_bins * 2 + old_num_bins
    new_th = half_increased_bins * old_step + old_th
    hist, hist_edges = np.histogram(arr, bins=new_num_bins, range=(-new_th, new_th))
    hist[half_increased_bins : new_num_bins - half_increased_bins] += old_hist
    return (hist, hist_edges, min(old_min, new_min), max(old_max, new_max), new_th)


def _as_numpy(arr):
    return arr.asnumpy() if isinstance(arr, NDArray) else np.asarray(arr)


class CalibrationCollector:
    """Base class of the layer-output collectors (MXNet 2.x's name; MXNet 1.9.1's collectors
    have no base class). ``collect(name, arr)`` is the monitor callback: it receives every
    layer output and input by name and keeps those in ``include_layer``; ``post_collect()``
    returns ``{layer name: (min, max)}`` for ``calib_graph(calib_mode='customize')``."""

    def __init__(self, include_layer=None, logger=None):
        self.include_layer = include_layer
        self.logger = logger
        self.min_max_dict = {}

    def collect(self, name, arr):
        """Receive the array ``arr`` of the layer output (or input) ``name``."""
        raise NotImplementedError("CalibrationCollector.collect must be overridden")

    def post_collect(self):
        """The thresholds ``{name: (min, max)}`` collected (``min_max_dict`` by default)."""
        return self.min_max_dict


class _LayerHistogramCollector(CalibrationCollector):
    """Saves layer histogram in a dict with layer names as keys and lists of NDArrays as
    values. The collected histogram will be used for calculating the optimal thresholds for
    quantization using KL divergence."""

    def __init__(self, num_bins=8001, include_layer=None, logger=None):
        super().__init__(include_layer, logger)
        self.hist_dict = {}
        self.num_bins = num_bins

    def collect(self, name, arr):
        """Callback function for collecting layer output NDArrays."""
        name = _py_str(name)
        if self.include_layer is not None and name not in self.include_layer:
            return
        arr = _as_numpy(arr)
        if self.logger:
            self.logger.debug("Collecting layer %s histogram of shape %s" % (name, arr.shape))
        min_range = np.min(arr)
        max_range = np.max(arr)
        th = max(abs(min_range), abs(max_range))
        if name in self.hist_dict:
            self.hist_dict[name] = combine_histogram(self.hist_dict[name], arr, min_range, max_range, th)
        else:
            hist, hist_edges = np.histogram(arr, bins=self.num_bins, range=(-th, th))
            self.hist_dict[name] = (hist, hist_edges, min_range, max_range, th)


class _LayerOutputMinMaxCollector(CalibrationCollector):
    """Saves layer output min and max values in a dict with layer names as keys. The collected
    min and max values will be directly used as thresholds for quantization."""

    def __init__(self, quantized_dtype, include_layer=None, logger=None):
        super().__init__(include_layer, logger)
        self.quantized_dtype = quantized_dtype

    def collect(self, name, arr):
        """Callback function for collecting min and max values from an NDArray."""
        name = _py_str(name)
        if self.include_layer is not None and name not in self.include_layer:
            return
        arr = _as_numpy(arr)
        min_range = float(np.min(arr))
        max_range = float(np.max(arr))
        if name in self.min_max_dict:
            cur_min_max = self.min_max_dict[name]
            self.min_max_dict[name] = (min(cur_min_max[0], min_range), max(cur_min_max[1], max_range))
        else:
            self.min_max_dict[name] = (min_range, max_range)
        if self.logger:
            self.logger.debug("Collecting layer %s min_range=%f, max_range=%f" % (name, min_range, max_range))


class _CollectorMonitor:
    """Installs ``collector.collect`` as the monitor callback of a Module's executors."""

    def __init__(self, collector):
        self.collector = collector

    def install(self, exe):
        exe.set_monitor_callback(self.collector.collect, monitor_all=True)


def _collect_layer_statistics(mod, data, collector, max_num_examples=None, logger=None):
    """Run ``mod`` forward on the batches of ``data``, giving the collector every layer output
    and every input (MXNet's monitor callback with ``monitor_all=True``)."""
    if not isinstance(data, DataIter):
        raise ValueError("Only supports data as a type of DataIter, while received type %s" % str(type(data)))
    mod.install_monitor(_CollectorMonitor(collector))  # also on executors made for new shapes
    num_batches = 0
    num_examples = 0
    for batch in data:
        n = len(mod.data_names)
        if len(batch.data) > n:  # MXNet's Module zips the batch with its data names
            batch = DataBatch(data=batch.data[:n], label=batch.label, pad=batch.pad, index=batch.index)
        mod.forward(data_batch=batch, is_train=False)
        for name, arr in mod._exec_group.execs[0].arg_dict.items():
            collector.collect(name, arr)
        num_batches += 1
        num_examples += data.batch_size
        if max_num_examples is not None and num_examples >= max_num_examples:
            break
    if logger is not None:
        logger.info("Collected statistics from %d batches with batch_size=%d" % (num_batches, data.batch_size))
    return num_examples


def _collect_layer_output_min_max(mod, data, quantized_dtype, include_layer=None, max_num_examples=None, logger=None):
    """Collect min and max values from layer outputs and save them in a dictionary mapped by
    layer names."""
    collector = _LayerOutputMinMaxCollector(quantized_dtype=quantized_dtype, include_layer=include_layer, logger=logger)
    num_examples = _collect_layer_statistics(mod, data, collector, max_num_examples, logger)
    return collector.min_max_dict, num_examples


def _collect_layer_histogram(mod, data, include_layer=None, max_num_examples=None, logger=None):
    """Collect layer outputs and save them in a dictionary mapped by layer names."""
    collector = _LayerHistogramCollector(include_layer=include_layer, logger=logger)
    num_examples = _collect_layer_statistics(mod, data, collector, max_num_examples, logger)
    return collector.hist_dict, num_examples


def _smooth_distribution(p, eps=0.0001):
    """Given a discrete distribution (may have not been normalized to 1), smooth it by
    replacing zeros with eps multiplied by a scaling factor and taking the corresponding amount
    off the non-zero values."""
    is_zeros = (p == 0).astype(np.float32)
    is_nonzeros = (p != 0).astype(np.float32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        raise ValueError("The discrete probability distribution is malformed. All entries are 0.")
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    assert eps1 < 1.0, "n_zeros=%d, n_nonzeros=%d, eps1=%f" % (n_zeros, n_nonzeros, eps1)
    hist = p.astype(np.float32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    assert (hist <= 0).sum() == 0
    return hist


def _calibrate_entropy(hist, hist_edges, num_quantized_bins):
    """The threshold minimizing the KL divergence between the histogram clipped at it and its
    quantization into ``num_quantized_bins`` bins, and that divergence: MXNet's
    ``_contrib_calibrate_entropy`` (src/operator/quantization/calibrate.cc) in NumPy."""
    hist = np.asarray(hist, dtype=np.float64)
    hist_edges = np.asarray(hist_edges, dtype=np.float32)
    num_bins = hist.size
    if hist_edges.size != num_bins + 1:
        raise ValueError(f"calibrate_entropy: hist_edges has {hist_edges.size} values, expected {num_bins + 1}")
    zero_bin_idx = num_bins // 2
    half = num_quantized_bins // 2
    if zero_bin_idx < half:
        raise ValueError(f"calibrate_entropy: {num_bins} bins are fewer than num_quantized_bins={num_quantized_bins}")
    thresholds = np.zeros(zero_bin_idx + 1 - half, dtype=np.float32)
    divergence = np.zeros(thresholds.size, dtype=np.float32)
    hist32 = hist.astype(np.float32)
    cum32 = np.cumsum(hist32, dtype=np.float32)  # MXNet adds the outliers one by one in float
    for i in range(half, zero_bin_idx + 1):
        start, stop = zero_bin_idx - i, zero_bin_idx + i + 1
        thresholds[i - half] = hist_edges[stop]
        # p: the histogram clipped to [start, stop), the outliers added to its end bins
        sliced = hist[start:stop].copy()
        sliced[0] = 0
        p = sliced.astype(np.float32)
        p[0] = cum32[start]
        p[-1] = _seq_sum(hist32[stop - 1 :])
        # q: the slice merged into num_quantized_bins bins, spread back over the non-empty bins
        merged = sliced.size // num_quantized_bins
        seg = np.minimum(np.arange(sliced.size) // merged, num_quantized_bins - 1)
        quantized = np.bincount(seg, weights=sliced, minlength=num_quantized_bins)
        norm = np.bincount(seg, weights=(sliced != 0), minlength=num_quantized_bins)
        spread = np.divide(quantized, norm, out=np.zeros_like(quantized), where=norm > 0).astype(np.float32)
        q = np.where((p != 0) & (norm[seg] > 0), spread[seg], np.float32(0)).astype(np.float32)
        divergence[i - half] = _kl(p, q)
    best = int(np.argmin(divergence))
    return float(thresholds[best]), float(divergence[best])


_EPS = np.float32(0.0001)


def _kl(p, q):
    def smooth(d, eps=_EPS):
        n_zeros = int((d == 0).sum())
        n_nonzeros = d.size - n_zeros
        if not n_nonzeros:
            return None
        eps1 = np.float32(eps * np.float32(n_zeros) / np.float32(n_nonzeros))
        if eps1 >= 1.0:
            return None
        return d + np.where(d == 0, eps, -eps1).astype(np.float32)

    p, q = smooth(p), smooth(q)
    if q is None or p is None:
        return np.inf
    p = p / _seq_sum(p)
    q = q / _seq_sum(q)
    return float(_seq_sum(p * np.log(p / q)))


def _seq_sum(values):
    """A float32 sum added left to right (``std::accumulate``), not pairwise as ``np.sum``."""
    return np.cumsum(values, dtype=np.float32)[-1] if values.size else np.float32(0)


def _get_optimal_threshold(hist_data, quantized_dtype, num_quantized_bins=255):
    """Given a dataset, find the optimal threshold for quantizing it. The reference
    distribution is `q`, and the candidate distribution is `p`. `q` is a truncated version of
    the original distribution. Returns ``(min_val, max_val, threshold, divergence)``."""
    (hist, hist_edges, min_val, max_val, _) = hist_data
    num_bins = len(hist)
    assert num_bins % 2 == 1
    if min_val >= 0 and quantized_dtype in ["auto", "uint8"]:
        # We need to move negative bins to positive bins to fit uint8 range.
        num_quantized_bins = num_quantized_bins * 2 + 1
    if _has_op("_contrib_calibrate_entropy"):
        threshold, divergence = contrib_op("calibrate_entropy")(
            hist=ndarray.array(hist, ctx=cpu()),
            hist_edges=ndarray.array(hist_edges, ctx=cpu()),
            num_quantized_bins=num_quantized_bins,
        )
        return min_val, max_val, threshold.asnumpy(), divergence.asnumpy()
    threshold, divergence = _calibrate_entropy(hist, hist_edges, num_quantized_bins)
    return min_val, max_val, np.float32(threshold), np.float32(divergence)


def _get_optimal_thresholds(hist_dict, quantized_dtype, num_quantized_bins=255, logger=None):
    """Given a ndarray dict, find the optimal threshold for quantizing each value of the key."""
    assert isinstance(hist_dict, dict)
    if logger is not None:
        logger.info(
            "Calculating optimal thresholds for quantization using KL divergence"
            " with num_quantized_bins=%d" % num_quantized_bins
        )
    th_dict: dict[str, tuple[float, float]] = {}
    # copy hist_dict keys since the keys() only returns a view in python3
    for name in list(hist_dict.keys()):
        min_val, max_val, th, divergence = _get_optimal_threshold(
            hist_dict[name], quantized_dtype, num_quantized_bins=num_quantized_bins
        )
        th = float(np.asarray(th).reshape(-1)[0])
        if min_val >= 0 and quantized_dtype in ["auto", "uint8"]:
            th_dict[name] = (0.0, th)
        else:
            th_dict[name] = (-th, th)
        del hist_dict[name]  # release the memory
        if logger:
            logger.debug(
                "layer=%s, min_val=%f, max_val=%f, th=%f, divergence=%f"
                % (name, min_val, max_val, th, float(np.asarray(divergence).reshape(-1)[0]))
            )
    return th_dict
