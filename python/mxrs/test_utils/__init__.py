"""``mx.test_utils``: MXNet 1.9.1's tools for testing, for use in your own tests.

Comparisons with MXNet's tolerances and messages (:func:`assert_almost_equal`), symbol checks
through executors (:func:`check_numeric_gradient`, :func:`check_symbolic_forward`,
:func:`check_symbolic_backward`, :func:`check_consistency` over contexts and dtypes), random
inputs, environment variables, data sets.

As in MXNet there is no ``__all__``: ``from mxrs.test_utils import *`` also brings ``np``
and the other modules MXNet's ``test_utils`` imports (not ``mx``: import it yourself).
Sparse helpers (``rand_sparse_ndarray``, ``create_sparse_array``...) are not here: mxrs has no
sparse arrays yet.
"""

import bz2  # noqa: F401 (MXNet's test_utils namespace)
import errno  # noqa: F401
import gzip  # noqa: F401
import json
import logging  # noqa: F401
import numbers  # noqa: F401
import os
import platform
import struct  # noqa: F401
import sys
import time  # noqa: F401
import traceback  # noqa: F401
import zipfile  # noqa: F401
from collections import OrderedDict  # noqa: F401
from contextlib import contextmanager

import numpy as np  # noqa: F401
import numpy.random as rnd  # noqa: F401
import numpy.testing as npt  # noqa: F401

from mxrs import autograd, initializer
from mxrs import ndarray as nd
from mxrs import random as _mx_random
from mxrs.context import Context, current_context, num_gpus
from mxrs.ndarray import array  # noqa: F401
from mxrs.runtime import Features
from mxrs.symbol import Symbol  # noqa: F401
from mxrs.test_utils._compare import *  # noqa: F403
from mxrs.test_utils._compare import assert_almost_equal, same
from mxrs.test_utils._data import *  # noqa: F403
from mxrs.test_utils._random import *  # noqa: F403
from mxrs.test_utils._sparse import *  # noqa: F403
from mxrs.test_utils._symbolic import *  # noqa: F403


def default_context():
    """The context tests run on: the current default context (``cpu(0)`` unless set)."""
    return current_context()


def set_default_context(ctx):
    """Make ``ctx`` the default context of this thread (as ``with ctx:`` without an end)."""
    Context._default_ctx.value = ctx


def list_gpus():
    """``range(n)`` for the ``n`` GPUs mxrs can use (empty without CUDA or a GPU)."""
    return range(num_gpus())


def getenv(name):
    """The value of environment variable ``name`` as the library sees it, or ``None``."""
    return os.environ.get(name)


def setenv(name, value):
    """Set environment variable ``name`` to ``value`` (remove it when ``value`` is ``None``)
    for Python and the native library alike."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@contextmanager
def environment(*args):
    """Set environment variables for the body of a ``with`` block and restore them after it,
    even on an exception: ``environment(name, value)`` or ``environment({name: value, ...})``;
    a value of ``None`` unsets the variable. Pending operations finish before the restore."""
    if len(args) == 1 and isinstance(args[0], dict):
        env_vars = args[0]
    else:
        assert len(args) == 2, "Expecting one dict arg or two args: env var name and value"
        env_vars = {args[0]: args[1]}
    snapshot = {name: os.environ.get(name) for name in env_vars}
    for name, value in env_vars.items():
        setenv(name, value)
    try:
        yield
    finally:
        nd.waitall()
        for name, value in snapshot.items():
            setenv(name, value)


def retry(n):
    """Decorator: run a stochastic test up to ``n`` times until it raises no ``AssertionError``."""
    assert n > 0

    def decorate(f):
        def wrapper(*args, **kwargs):
            for i in range(n):
                try:
                    f(*args, **kwargs)
                    return
                except AssertionError:
                    if i == n - 1:
                        raise
                    nd.waitall()

        return wrapper

    return decorate


def same_array(array1, array2):
    """Whether two NDArrays share memory (a change to one shows in the other)."""
    array1[:] += 1
    if not same(array1.asnumpy(), array2.asnumpy()):
        array1[:] -= 1
        return False
    array1[:] -= 1
    return same(array1.asnumpy(), array2.asnumpy())


@contextmanager
def discard_stderr():
    """Discard what the body of the ``with`` block writes to the stderr file descriptor."""
    with open(os.devnull, "w") as bit_bucket:
        try:
            stderr_fileno = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            # stderr may be a stream without a file descriptor.
            yield
            return
        old_stderr = os.dup(stderr_fileno)
        try:
            os.dup2(bit_bucket.fileno(), stderr_fileno)
            yield
        finally:
            os.dup2(old_stderr, stderr_fileno)
            os.close(old_stderr)


def same_symbol_structure(sym1, sym2):
    """Whether two symbols have the same operator at every node position."""
    nodes = json.loads(sym1.tojson())["nodes"]
    nodes2 = json.loads(sym2.tojson())["nodes"]
    return all(n1["op"] == n2["op"] for n1, n2 in zip(nodes, nodes2, strict=False))


def _compare_states(state1, state2, rtol=None, atol=None):
    from mxrs.test_utils._compare import compare_ndarray_tuple

    compare_ndarray_tuple(state1, state2, rtol, atol)


def compare_optimizer(
    opt1,
    opt2,
    shape,
    dtype,
    w_stype="default",
    g_stype="default",
    rtol=1e-4,
    atol=1e-5,
    compare_states=True,
    ntensors=1,
):
    """Update the same random weight and gradient with ``opt1`` and ``opt2`` and compare
    weights and states (dense storage; a list of shapes runs ``opt2`` multi-tensor)."""
    if w_stype != "default" or g_stype != "default":
        raise NotImplementedError("compare_optimizer: mxrs has no sparse arrays")
    ctx = default_context()
    if not isinstance(shape, list):
        assert ntensors == 1
        w2 = _mx_random.uniform(shape=shape, ctx=ctx, dtype=dtype)
        w1 = w2.copyto(ctx)
        g2 = _mx_random.uniform(shape=shape, ctx=ctx, dtype=dtype)
        g1 = g2.copyto(ctx)
        state1 = opt1.create_state_multi_precision(0, w1)
        state2 = opt2.create_state_multi_precision(0, w2)
        if compare_states:
            _compare_states(state1, state2)
        opt1.update_multi_precision(0, w1, g1, state1)
        opt2.update_multi_precision(0, w2, g2, state2)
        if compare_states:
            _compare_states(state1, state2, rtol=rtol, atol=atol)
        assert_almost_equal(w1, w2, rtol=rtol, atol=atol)
        return
    w1 = tuple(_mx_random.uniform(shape=s, ctx=ctx, dtype=dtype) for s in shape)
    g1 = tuple(_mx_random.uniform(shape=s, ctx=ctx, dtype=dtype) for s in shape)
    w2 = tuple(w.copy() for w in w1)
    g2 = tuple(g.copy() for g in g1)
    state2 = [opt2.create_state_multi_precision(0, w2[i]) for i in range(ntensors)]
    opt2.update_multi_precision(list(range(ntensors)), w2, g2, state2)
    for i in range(ntensors):
        state1 = opt1.create_state_multi_precision(i, w1[i])
        opt1.update_multi_precision(i, w1[i], g1[i], state1)
        if compare_states:
            _compare_states(state1, state2[i], rtol, atol)
        _compare_states(w1[i], w2[i], rtol, atol)


def is_cd_run():
    """Whether the tests run in a continuous-delivery job (``CD_JOB=1``)."""
    return os.environ.get("CD_JOB", 0) == "1"


def is_aarch64_run():
    """Whether this machine is aarch64."""
    return platform.machine() == "aarch64"


def has_tvm_ops():
    """Whether this build has TVM-generated operators: never in mxrs."""
    return Features().is_enabled("TVM_OP")


def is_op_runnable():
    """Whether operators built with TVM can run here: always, as mxrs has none."""
    return True


def _numpy_param_init(np_params):
    class _NumpyParamDictInit(initializer.Initializer):
        """Initializes parameters from a dict of NumPy arrays by name."""

        def _init_weight(self, name, arr):
            arr[:] = np_params[name]

    return _NumpyParamDictInit()


def check_gluon_hybridize_consistency(net_builder, data_l, numpy_func=None, test_grad=True, rtol=1e-4, atol=1e-4):
    """Check that a HybridBlock built by ``net_builder(prefix=...)`` gives the same outputs
    (and input gradients, with ``test_grad``) hybridized or not, with and without autograd,
    and matches ``numpy_func`` on the inputs ``data_l`` when it is given."""
    saved_out_np = None
    saved_grad_np_l = None
    params_init = None
    for hybridize in (False, True):
        for use_autograd in (False, True) if test_grad else (False,):
            net = net_builder(prefix="net_")
            net.initialize(params_init)
            if hybridize:
                net.hybridize()
            in_data_l = [ele.copy() for ele in data_l]
            if use_autograd:
                for ele in in_data_l:
                    ele.attach_grad()
                with autograd.record():
                    out = net(*in_data_l)
                out.backward(out)
            else:
                out = net(*in_data_l)
            if params_init is None:
                params_init = _numpy_param_init({k: v.data().asnumpy() for k, v in net.collect_params().items()})
            if saved_out_np is None:
                saved_out_np = out.asnumpy()
            else:
                assert_almost_equal(out.asnumpy(), saved_out_np, rtol=rtol, atol=atol)
            if use_autograd:
                grads = [ele.grad.asnumpy() for ele in in_data_l]
                if saved_grad_np_l is None:
                    saved_grad_np_l = grads
                else:
                    for grad, saved in zip(grads, saved_grad_np_l, strict=False):
                        assert_almost_equal(grad, saved, rtol=rtol, atol=atol)
    if numpy_func is not None:
        numpy_out = numpy_func(*[ele.asnumpy() for ele in data_l])
        assert_almost_equal(saved_out_np, numpy_out, rtol=rtol, atol=atol)
