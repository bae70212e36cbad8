"""mxrs: an MXNet 1.x compatible deep-learning library with a Rust core.

``import mxrs as mx`` and use it as MXNet: ``mx.nd``, ``mx.cpu()``, ``mx.gpu()``...
"""

import os as _os
import sys as _sys

# The native module allocates with mimalloc, which by default hands freed pages back to the
# system after 10 ms; every large op output then pays page faults again (a 64x20x24x24 float32
# output cost 4 ms of CPU instead of 0.3-0.6 ms). Keep freed memory for half a second unless
# the user chose otherwise. Must be set before ``_native`` is loaded.
_os.environ.setdefault("MIMALLOC_PURGE_DELAY", "500")

# First: applies OMP_NUM_THREADS / MXNET_OMP_MAX_THREADS before any kernel starts its pool.
from mxrs import runtime  # isort: split

from mxrs import (
    attribute,
    autograd,
    base,
    callback,
    context,
    contrib,
    engine,
    error,
    executor,
    executor_manager,
    gluon,
    image,
    initializer,
    io,
    kvstore,
    library,
    lr_scheduler,
    metric,
    model,
    module,
    monitor,
    name,
    ndarray,
    notebook,
    onnx,
    operator,
    optimizer,
    profiler,
    random,
    recordio,
    rnn,
    rtc,
    symbol,
    test_utils,
    torch,
    viz,
)
from mxrs import image as img
from mxrs import initializer as init
from mxrs import kvstore as kv
from mxrs import module as mod
from mxrs import monitor as mon
from mxrs import ndarray as nd
from mxrs import random as rnd
from mxrs import symbol as sym
from mxrs import torch as th
from mxrs import viz as visualization
from mxrs._mxnet_alias import install_as_mxnet
from mxrs.attribute import AttrScope
from mxrs.base import MXNetError
from mxrs.context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus

__version__ = "0.1.0"

# MXNet's module is ``mxnet.visualization`` with ``mx.viz`` as its alias: both names, and
# ``import mxrs.visualization``, give the one module.
_sys.modules[__name__ + ".visualization"] = viz
# MXNet's Torch functions are ``mxnet.torch`` and ``mxnet.th``: one module.
_sys.modules[__name__ + ".th"] = torch

from mxrs import _blas, _native  # noqa: E402

_blas.enable()

# An unknown MXNET_ENGINE_TYPE raises MXNetError here; the engine itself would only warn on
# stderr and use the default.
_native.check_engine_env()

__all__ = [
    "base",
    "context",
    "ndarray",
    "autograd",
    "nd",
    "random",
    "rnd",
    "symbol",
    "sym",
    "executor",
    "executor_manager",
    "error",
    "gluon",
    "image",
    "img",
    "name",
    "attribute",
    "AttrScope",
    "init",
    "initializer",
    "metric",
    "callback",
    "model",
    "module",
    "mod",
    "kv",
    "kvstore",
    "library",
    "optimizer",
    "lr_scheduler",
    "io",
    "recordio",
    "rnn",
    "rtc",
    "profiler",
    "runtime",
    "viz",
    "visualization",
    "test_utils",
    "torch",
    "th",
    "onnx",
    "contrib",
    "engine",
    "monitor",
    "mon",
    "notebook",
    "operator",
    "MXNetError",
    "Context",
    "cpu",
    "cpu_pinned",
    "gpu",
    "current_context",
    "num_gpus",
    "install_as_mxnet",
]

# In a distributed job's server processes (MPI ranks after the workers), ``import mxrs`` runs
# the kvstore server loop and exits, as MXNet's import does.
from mxrs import kvstore_server as _kvstore_server  # noqa: E402

_kvstore_server._init_kvstore_server_module()
