"""DataLoader: batches of a dataset, as ``mxnet.gluon.data.DataLoader``.

``num_workers > 0`` loads batches in parallel. With ``thread_pool=True`` the workers are
threads of this process (as MXNet). Otherwise they are separate interpreters started without
``fork`` (see :mod:`mxrs.gluon.data._procpool` for why and how); a dataset or batchify
function that cannot be sent to them (a lambda, a class defined in ``__main__``) makes the
loader use threads instead, with a warning.
"""

import itertools
import multiprocessing
import warnings
from multiprocessing.pool import ThreadPool
from typing import Any

import numpy as np

from mxrs import context
from mxrs import ndarray as nd
from mxrs.gluon.data import _procpool
from mxrs.gluon.data import sampler as _sampler

__all__ = ["DataLoader", "default_batchify_fn", "default_mp_batchify_fn"]


def default_batchify_fn(data):
    """Collate a list of samples into a batch.

    NDArray samples are stacked; tuples are batched element-wise (giving a list); anything
    else goes through ``numpy.asarray`` and becomes an NDArray of numpy's dtype (so Python
    ints give int64 labels and float32 numpy samples stay float32).
    """
    if isinstance(data[0], nd.NDArray):
        return nd.stack(*data)
    if isinstance(data[0], tuple):
        return [default_batchify_fn(list(i)) for i in zip(*data)]
    arr = np.asarray(data)
    return nd.array(arr, dtype=arr.dtype)


def default_mp_batchify_fn(data):
    """The batchify function of worker processes (MXNet's puts the batch in shared memory;
    here batches travel back pickled, so it batches as :func:`default_batchify_fn`)."""
    return default_batchify_fn(data)


def _as_in_context(data, ctx):
    if isinstance(data, nd.NDArray):
        return data.as_in_context(ctx)
    if isinstance(data, (list, tuple)):
        return [_as_in_context(d, ctx) for d in data]
    return data


def _thread_worker_fn(samples, batchify_fn, dataset):
    return batchify_fn([dataset[i] for i in samples])


class _ThreadIter:
    """Batches computed by a thread pool, ``prefetch`` of them ahead, returned in order."""

    def __init__(self, loader, prefetch):
        self._loader = loader
        self._iter = iter(loader._batch_sampler)
        self._buffer = []
        for _ in range(prefetch):
            self._push_next()

    def _push_next(self):
        r = next(self._iter, None)
        if r is None:
            return
        ld = self._loader
        self._buffer.append(ld._worker_pool.apply_async(_thread_worker_fn, (r, ld._batchify_fn, ld._dataset)))

    def __iter__(self):
        return self

    def __next__(self):
        self._push_next()
        if not self._buffer:
            raise StopIteration
        ret = self._buffer.pop(0)
        try:
            batch = ret.get(self._loader._timeout)
        except multiprocessing.TimeoutError as exc:
            raise _procpool.WorkerTimeout(
                f"DataLoader worker thread gave no batch within {self._loader._timeout} s; "
                "a slow transform needs a larger timeout"
            ) from exc
        return self._loader._pin(batch)


_LOADER_KEYS = itertools.count()


class _ProcessIter:
    """Batches computed by the shared worker processes, ``prefetch`` ahead, in order."""

    _epochs = itertools.count()

    def __init__(self, loader, prefetch):
        self._epoch = (loader._key, next(_ProcessIter._epochs))
        self._workers = loader._num_workers
        self._timeout = loader._timeout
        self._pin = loader._pin
        self._pool = loader._worker_pool
        self._pool.open_epoch(self._epoch)
        self._iter = iter(loader._batch_sampler)
        self._sent = 0
        self._rcvd = 0
        for _ in range(max(prefetch, 1)):
            self._push_next()

    def _push_next(self):
        r = next(self._iter, None)
        if r is None:
            return
        self._pool.submit(self._sent % self._workers, (*self._epoch, self._sent), r)
        self._sent += 1

    def __iter__(self):
        return self

    def __next__(self):
        self._push_next()
        if self._rcvd == self._sent:
            self._pool.close_epoch(self._epoch)
            raise StopIteration
        k = self._rcvd
        try:
            batch = self._pool.result(k % self._workers, (*self._epoch, k), self._timeout)
        except BaseException:
            # The epoch ends here: what its workers still send is dropped.
            self._pool.close_epoch(self._epoch)
            raise
        self._rcvd += 1
        return self._pin(batch)

    def __del__(self):
        self._pool.close_epoch(self._epoch)


class DataLoader:
    """Loads batches from ``dataset``.

    Parameters are MXNet's: ``batch_size``; ``shuffle`` (a new random order each epoch);
    ``sampler`` (instead of ``shuffle``); ``last_batch`` (``'keep'``, ``'discard'`` or
    ``'rollover'``); ``batch_sampler`` (instead of the four before); ``batchify_fn`` (how a
    list of samples becomes a batch, :func:`default_batchify_fn` by default);
    ``num_workers``; ``pin_memory`` / ``pin_device_id`` (batches in ``cpu_pinned`` memory);
    ``prefetch`` (batches computed ahead, ``2 * num_workers`` by default); ``thread_pool``
    (threads rather than processes); ``timeout`` (seconds to wait for a worker's batch);
    ``auto_reload`` (start the next epoch's prefetch at the end of one).
    """

    def __init__(
        self,
        dataset,
        batch_size=None,
        shuffle=False,
        sampler=None,
        last_batch=None,
        batch_sampler=None,
        batchify_fn=None,
        num_workers=0,
        pin_memory=False,
        pin_device_id=0,
        prefetch=None,
        thread_pool=False,
        timeout=120,
        auto_reload=False,
    ):
        assert timeout > 0, f"timeout must be positive, given {timeout}"
        self._dataset = dataset
        self._pin_memory = pin_memory
        self._pin_device_id = pin_device_id
        self._thread_pool = thread_pool
        self._timeout = timeout
        self._batch_sampler = _make_batch_sampler(dataset, batch_size, shuffle, sampler, last_batch, batch_sampler)
        self._num_workers = num_workers if num_workers >= 0 else 0
        self._prefetch = max(0, int(prefetch) if prefetch is not None else 2 * self._num_workers)
        if batchify_fn is None:
            batchify_fn = default_mp_batchify_fn if self._num_workers > 0 else default_batchify_fn
        self._batchify_fn = batchify_fn
        self._worker_pool = None
        self._process_pool = False
        if self._num_workers > 0:
            self._start_workers()
        self._iter: Any = None
        self.auto_reload = auto_reload
        if auto_reload:
            self.refresh()

    def _start_workers(self):
        if not self._thread_pool:
            try:
                payload = _procpool.portable_payload((self._dataset, self._batchify_fn))
            except _procpool.NotPortable as exc:
                warnings.warn(
                    "DataLoader: the dataset or batchify_fn cannot be sent to worker processes "
                    f"({exc}); using {self._num_workers} worker threads instead",
                    stacklevel=3,
                )
            else:
                self._worker_pool = _procpool.shared_pool()
                self._key = next(_LOADER_KEYS)
                self._worker_pool.register(self._key, payload, self._num_workers)
                self._process_pool = True
                return
        self._worker_pool = ThreadPool(self._num_workers)

    def _pin(self, batch):
        if self._pin_memory:
            return _as_in_context(batch, context.cpu_pinned(self._pin_device_id))
        return batch

    def _same_process_iter(self):
        for batch in self._batch_sampler:
            yield self._pin(self._batchify_fn([self._dataset[idx] for idx in batch]))

    def _prefetch_iter(self):
        if self._num_workers == 0:
            return self._same_process_iter()
        if self._process_pool:
            return _ProcessIter(self, self._prefetch)
        return _ThreadIter(self, self._prefetch)

    def __iter__(self):
        if self._iter is None:
            self.refresh()
        it = self._iter
        self._iter = None
        yield from it
        if self._iter is None and self.auto_reload:
            self.refresh()

    def __len__(self):
        return len(self._batch_sampler)

    def refresh(self):
        """Start a new epoch's iterator (and its prefetch) now."""
        self._iter = self._prefetch_iter()

    def clean(self):
        """Drop the prefetched iterator; the next epoch starts at ``__iter__``."""
        self._iter = None

    def __del__(self):
        pool = getattr(self, "_worker_pool", None)
        if pool is None:
            return
        if self._process_pool:
            pool.unregister(self._key, self._num_workers)
        else:
            pool.terminate()
        self._worker_pool = None


def _make_batch_sampler(dataset, batch_size, shuffle, sampler, last_batch, batch_sampler):
    if batch_sampler is not None:
        if batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise ValueError(
                "batch_size, shuffle, sampler and last_batch must not be specified if batch_sampler is specified."
            )
        return batch_sampler
    if batch_size is None:
        raise ValueError("batch_size must be specified unless batch_sampler is specified")
    if sampler is None:
        sampler = _sampler.RandomSampler(len(dataset)) if shuffle else _sampler.SequentialSampler(len(dataset))
    elif shuffle:
        raise ValueError("shuffle must not be specified if sampler is specified")
    return _sampler.BatchSampler(sampler, batch_size, last_batch if last_batch else "keep")
