"""What ``mx.model`` (FeedForward) and ``mx.mod`` share: the batch-end callback record, the
kvstore set-up and parameter updates, and checkpoint files.

Checkpoint files are MXNet's: ``prefix-symbol.json`` and ``prefix-%04d.params`` holding
``arg:<name>``/``aux:<name>`` arrays, so real MXNet loads them and the other way round.
"""

import logging
import os
from collections import namedtuple

import numpy as np

from mxrs import kvstore as kvs
from mxrs import ndarray as nd
from mxrs import symbol as sym
from mxrs.context import cpu

__all__ = [
    "BatchEndParam",
    "save_checkpoint",
    "load_checkpoint",
    "load_params",
    "multiple_callbacks",
    "create_kvstore",
    "initialize_kvstore",
    "update_params",
    "update_params_on_kvstore",
]

# MXNet's type name, shown by repr().
BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])  # type: ignore[name-match]


# --------------------------------------------------------------------------- kvstore helpers
def create_kvstore(kvstore, num_device, arg_params):
    """``(kvstore or None, update_on_kvstore)`` as MXNet chooses them.

    'local' on one device (and not dist) means no kvstore: updates are done locally.
    """
    update_on_kvstore = bool(int(os.getenv("MXNET_UPDATE_ON_KVSTORE", "1")))
    if kvstore is None:
        kv = None
    elif isinstance(kvstore, str):
        if num_device == 1 and "dist" not in kvstore:
            kv = None
        else:
            kv = kvs.create(kvstore)
            if kvstore == "local" and arg_params:
                max_size = max(int(np.prod(p.shape)) for p in arg_params.values())
                if max_size > 1024 * 1024 * 16:
                    update_on_kvstore = False
    elif hasattr(kvstore, "push") and hasattr(kvstore, "pull"):
        kv = kvstore
    else:
        raise TypeError("kvstore must be KVStore, str or None")
    if kv is None:
        update_on_kvstore = False
    elif hasattr(kv, "is_capable"):
        try:
            update_on_kvstore &= bool(kv.is_capable("optimizer"))
        except Exception:  # noqa: BLE001 - a store without capability flags can optimize
            pass
    return (kv, update_on_kvstore)


def initialize_kvstore(kvstore, param_arrays, arg_params, param_names, update_on_kvstore):
    """Register every parameter with the store (and broadcast it when the store updates)."""
    for idx, param_on_devs in enumerate(param_arrays):
        name = param_names[idx]
        kvstore.init(name, arg_params[name])
        if update_on_kvstore:
            kvstore.pull(name, param_on_devs, priority=-idx)


def update_params_on_kvstore(param_arrays, grad_arrays, kvstore, param_names):
    """Push gradients and pull updated weights (the store runs the optimizer)."""
    for index, (arg_list, grad_list) in enumerate(zip(param_arrays, grad_arrays)):
        if grad_list[0] is None:
            continue
        name = param_names[index]
        kvstore.push(name, grad_list, priority=-index)
        kvstore.pull(name, arg_list, priority=-index)


def update_params(param_arrays, grad_arrays, updater, num_device, kvstore=None, param_names=None):
    """Sum gradients through ``kvstore`` (if any), then run ``updater`` on each device.

    All of a device's parameters go to the updater in one call (index, grad, weight lists).
    """
    updates: list[list] = [[] for _ in range(num_device)]
    for index, (arg_list, grad_list) in enumerate(zip(param_arrays, grad_arrays)):
        if grad_list[0] is None:
            continue
        if kvstore:
            name = param_names[index]
            kvstore.push(name, grad_list, priority=-index)
            kvstore.pull(name, grad_list, priority=-index)
        for k, (w, g) in enumerate(zip(arg_list, grad_list)):
            updates[k].append((index * num_device + k, g, w))
    for dev_updates in updates:
        if dev_updates:
            idx, grads, weights = zip(*dev_updates)
            updater(list(idx), list(grads), list(weights))


def multiple_callbacks(callbacks, *args, **kwargs):
    if isinstance(callbacks, list):
        for cb in callbacks:
            cb(*args, **kwargs)
        return
    if callbacks:
        callbacks(*args, **kwargs)


# ------------------------------------------------------------------------------ checkpoints
def _write_file(fname, data):
    """Replace the file at ``fname`` (a path or a URI such as ``s3://bucket/key``) with the
    bytes ``data``, atomically, through mxrs's storage layer."""
    try:
        from mxrs import _native  # noqa: PLC0415 - see the except clause
    except ImportError:  # tools/mxnet_hybrid.py runs this file over MXNet, which has no _native
        with open(fname, "wb") as f:
            f.write(data)
        return
    _native.write_file(os.fspath(fname), data)


def _read_file(fname):
    """The bytes of the file at ``fname`` (a path or a URI), through mxrs's storage layer."""
    try:
        from mxrs import _native  # noqa: PLC0415 - see _write_file
    except ImportError:
        with open(fname, "rb") as f:
            return f.read()
    return _native.read_file(os.fspath(fname))


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Save ``prefix-symbol.json`` (unless ``symbol`` is None) and ``prefix-%04d.params``."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json")
    save_dict = {f"arg:{k}": v.as_in_context(cpu()) for k, v in arg_params.items()}
    save_dict.update({f"aux:{k}": v.as_in_context(cpu()) for k, v in aux_params.items()})
    param_name = f"{prefix}-{epoch:04d}.params"
    nd.save(param_name, save_dict)
    logging.info('Saved checkpoint to "%s"', param_name)


def load_params(prefix, epoch):
    """``(arg_params, aux_params)`` from ``prefix-%04d.params`` (other key prefixes dropped)."""
    fname = f"{prefix}-{epoch:04d}.params"
    save_dict = nd.load(fname)
    arg_params: dict = {}
    aux_params: dict = {}
    if not save_dict:
        logging.warning("Params file '%s' is empty", fname)
        return (arg_params, aux_params)
    for k, v in save_dict.items():
        tp, name = k.split(":", 1)
        if tp == "arg":
            arg_params[name] = v
        if tp == "aux":
            aux_params[name] = v
    return (arg_params, aux_params)


def load_checkpoint(prefix, epoch):
    """``(symbol, arg_params, aux_params)`` saved by :func:`save_checkpoint`."""
    symbol = sym.load(f"{prefix}-symbol.json")
    arg_params, aux_params = load_params(prefix, epoch)
    return (symbol, arg_params, aux_params)
