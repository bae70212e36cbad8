"""``mx.init``: weight initializers, dispatched on parameter names as MXNet does.

An initializer is called as ``init(desc, arr)``. With an :class:`InitDesc` (what Module passes)
a variable's ``__init__`` attribute wins; otherwise the name's suffix chooses the rule:
``*weight`` → the initializer's own rule, ``*bias``/``*beta``/``*min`` → 0,
``*gamma``/``*max`` → 1. A plain string name takes the older (deprecated) path, which also
knows ``moving_mean``/``moving_var``/``moving_inv_var``/``moving_avg`` and ``upsampling*``.
"""

import json
import logging
import re
import warnings
from math import sqrt

import numpy as np

from mxrs import _registry, _rnn_layout
from mxrs import ndarray as nd
from mxrs.ndarray import load
from mxrs.ndarray import random as _random
from mxrs.ndarray.ndarray import NDArray

__all__ = [
    "InitDesc",
    "Initializer",
    "register",
    "alias",
    "create",
    "Load",
    "Mixed",
    "Zero",
    "One",
    "Constant",
    "Uniform",
    "Normal",
    "Orthogonal",
    "Xavier",
    "MSRAPrelu",
    "Bilinear",
    "LSTMBias",
    "FusedRNN",
    "load",
]


class InitDesc(str):
    """A parameter name with the variable's attributes and the global initializer.

    Parameters
    ----------
    name : str
        Name of the variable.
    attrs : dict of str to str
        The variable's attributes (``Symbol.attr_dict()[name]``).
    global_init : Initializer
        The initializer to fall back to.
    """

    def __new__(cls, name, attrs=None, global_init=None):
        desc = super().__new__(cls, name)
        desc.attrs = attrs or {}
        desc.global_init = global_init
        return desc


# Name suffixes of the new-style dispatch, in MXNet's order. Aux states with no ``__init__``
# attribute fall back to the legacy rules (MXNet raises there; mxrs is lenient).
_NEW_RULES = (
    ("weight", "_init_weight"),
    ("bias", "_init_bias"),
    ("gamma", "_init_gamma"),
    ("beta", "_init_beta"),
    ("min", "_init_zero"),
    ("max", "_init_one"),
    ("moving_mean", "_init_zero"),
    ("moving_var", "_init_one"),
    ("moving_inv_var", "_init_zero"),
    ("moving_avg", "_init_zero"),
)

_LEGACY_RULES = (
    ("bias", "_init_bias"),
    ("gamma", "_init_gamma"),
    ("beta", "_init_beta"),
    ("weight", "_init_weight"),
    ("moving_mean", "_init_zero"),
    ("moving_var", "_init_one"),
    ("moving_inv_var", "_init_zero"),
    ("moving_avg", "_init_zero"),
    ("min", "_init_zero"),
    ("max", "_init_one"),
)


def _norm_stat(x):
    return str((nd.norm(x) / sqrt(x.size)).asscalar())


class Initializer:
    """Base class of initializers; subclasses override ``_init_weight``."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log each initialized array (with ``print_func(arr)``, default its RMS)."""
        self._verbose = verbose
        self._print_func = print_func or _norm_stat
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            logging.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def dumps(self):
        """The JSON string ``[name, kwargs]`` that ``create`` (and ``__init__`` attrs) accept."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        """Initialize ``arr`` for the parameter described by ``desc``."""
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method in _NEW_RULES:
            if desc.endswith(suffix):
                getattr(self, method)(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        warnings.warn(
            "Calling initializer with init(str, NDArray) has been deprecated."
            "please use init(mx.init.InitDesc(...), NDArray) instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        if not isinstance(name, str):
            raise TypeError("name must be string")
        if not isinstance(arr, NDArray):
            raise TypeError("arr must be NDArray")
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
            return
        if name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, arr)
            return
        if name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, arr)
            return
        for suffix, method in _LEGACY_RULES:
            if name.endswith(suffix):
                getattr(self, method)(name, arr)
                return
        self._init_default(name, arr)

    def _init_bilinear(self, _, arr):
        shape = arr.shape
        f = np.ceil(shape[3] / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        x = np.arange(shape[3]) / f - c
        y = np.arange(shape[2]) / f - c
        kernel = np.outer(1 - np.abs(y), 1 - np.abs(x)).astype(np.float32)
        arr[:] = np.broadcast_to(kernel, shape).copy()

    def _init_loc_bias(self, _, arr):
        if arr.shape[0] != 6:
            raise AssertionError("stn_loc bias must have 6 elements")
        arr[:] = np.array([1.0, 0, 0, 0, 1.0, 0])

    def _init_zero(self, _, arr):
        arr[:] = 0.0

    def _init_one(self, _, arr):
        arr[:] = 1.0

    def _init_bias(self, _, arr):
        arr[:] = 0.0

    def _init_gamma(self, _, arr):
        arr[:] = 1.0

    def _init_beta(self, _, arr):
        arr[:] = 0.0

    def _init_weight(self, name, arr):
        raise NotImplementedError("Must override it")

    def _init_default(self, name, _):
        raise ValueError(
            f"Unknown initialization pattern for {name}. Default initialization is now limited to "
            '"weight", "bias", "gamma" (1.0), and "beta" (0.0).'
            "Please use mx.sym.Variable(init=mx.init.*) to set initialization pattern"
        )

    def __eq__(self, other):
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = object.__hash__

    def __repr__(self):
        return self.dumps()


_register = _registry.get_register_func(Initializer, "initializer")
alias = _registry.get_alias_func(Initializer, "initializer")
create = _registry.get_create_func(Initializer, "initializer")


def register(klass):
    """Register a custom initializer class so that ``create`` finds it by lower-cased name."""
    return _register(klass)


class Load:
    """Initialize from saved arrays (a file name or a dict), falling back to ``default_init``.

    The ``arg:``/``aux:`` prefixes of checkpoint files are stripped.
    """

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            param = nd.load(param)
        if not isinstance(param, dict):
            raise AssertionError("param must be a file name or a dict of NDArrays")
        self.param = {}
        for name, arr in param.items():
            if name.startswith("arg:") or name.startswith("aux:"):
                name = name[4:]
            self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        """Copy the saved array of ``name`` into ``arr``."""
        if name in self.param:
            src = self.param[name]
            if arr.shape != src.shape:
                raise AssertionError(
                    f"Parameter {name} cannot be initialized from loading. "
                    f"Shape mismatch, target {arr.shape} vs loaded {src.shape}"
                )
            arr[:] = src
            if self.verbose:
                logging.info("Initialized %s by loading", name)
        else:
            if self.default_init is None:
                raise AssertionError(
                    f"Cannot Initialize {name}. Not found in loaded param and no default Initializer is provided."
                )
            self.default_init(name, arr)
            if self.verbose:
                logging.info("Initialized %s by default", name)


class Mixed:
    """Use the first initializer whose regular expression matches the parameter name."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise AssertionError("patterns and initializers must have the same length")
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        """Initialize ``arr`` with the matching initializer."""
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise ValueError(
            f"Parameter name {name} did not match any pattern. Consider"
            'add a ".*" pattern at the and with default Initializer.'
        )


@register
@alias("zeros")
class Zero(Initializer):
    """Weights are 0."""

    def _init_weight(self, _, arr):
        arr[:] = 0


@register
@alias("ones")
class One(Initializer):
    """Weights are 1."""

    def _init_weight(self, _, arr):
        arr[:] = 1


@register
class Constant(Initializer):
    """Weights are ``value`` (a scalar or an array broadcast to the weight)."""

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        arr[:] = self.value

    def dumps(self):
        val = self._kwargs["value"]
        if not np.isscalar(val):
            val = val.tolist() if isinstance(val, np.ndarray) else val.asnumpy().tolist()
        return json.dumps([self.__class__.__name__.lower(), {"value": val}])


@register
class Uniform(Initializer):
    """Weights drawn from U(-scale, scale)."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _random.uniform(-self.scale, self.scale, out=arr)


@register
class Normal(Initializer):
    """Weights drawn from N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _random.normal(0, self.sigma, out=arr)


@register
class Orthogonal(Initializer):
    """``scale`` times an orthogonal matrix (from the SVD of a random one)."""

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            tmp = _random.uniform(-1.0, 1.0, shape=(nout, nin)).asnumpy()
        elif self.rand_type == "normal":
            tmp = _random.normal(0.0, 1.0, shape=(nout, nin)).asnumpy()
        else:
            raise ValueError(f"Unknown random type {self.rand_type}")
        u, _s, v = np.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        arr[:] = (self.scale * res).reshape(arr.shape)


@register
class Xavier(Initializer):
    """Xavier/Glorot: scale = sqrt(magnitude / fan), fan chosen by ``factor_type``.

    ``rnd_type`` 'uniform' draws U(-scale, scale), 'gaussian' N(0, scale^2). For more than 2
    dims the fans are multiplied by the product of the trailing (kernel) dims.
    """

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise ValueError(f"Xavier initializer cannot be applied to vector {name}. It requires at least 2D.")
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        if self.factor_type == "avg":
            factor = (fan_in + fan_out) / 2.0
        elif self.factor_type == "in":
            factor = fan_in
        elif self.factor_type == "out":
            factor = fan_out
        else:
            raise ValueError("Incorrect factor type")
        scale = np.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            _random.uniform(-scale, scale, out=arr)
        elif self.rnd_type == "gaussian":
            _random.normal(0, scale, out=arr)
        else:
            raise ValueError("Unknown random type")


@register
class MSRAPrelu(Xavier):
    """He/MSRA initialization for PReLU nets: gaussian Xavier with magnitude 2/(1+slope^2)."""

    def __init__(self, factor_type="avg", slope=0.25):
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope**2))
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """Bilinear upsampling kernels."""

    def _init_weight(self, name, arr):
        self._init_bilinear(name, arr)


@register
class LSTMBias(Initializer):
    """LSTM biases: 0 except the forget gate (the second quarter), set to ``forget_bias``."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        arr[:] = 0.0
        n = arr.shape[0] // 4
        arr[n : 2 * n] = self.forget_bias


@register
class FusedRNN(Initializer):
    """Initialize the packed ``parameters`` of a fused RNN (``FusedRNNCell``, the ``RNN`` op).

    The vector is unpacked into per-gate weights and biases, each initialized by ``init`` (the
    global initializer when None) by its name, then packed again; LSTM forget-gate biases are
    set to ``forget_bias``.

    Parameters
    ----------
    init : Initializer, its ``dumps()`` string, or None
    num_hidden, num_layers : int
    mode : str
        'rnn_relu', 'rnn_tanh', 'lstm' or 'gru'.
    bidirectional : bool, default False
    forget_bias : float, default 1.0
    """

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False, forget_bias=1.0):
        if isinstance(init, str):
            init = create(init)
        super().__init__(
            init=init.dumps() if init is not None else None,
            num_hidden=num_hidden,
            num_layers=num_layers,
            mode=mode,
            bidirectional=bidirectional,
            forget_bias=forget_bias,
        )
        self._init = init
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        h, layers, mode, bidir = self._num_hidden, self._num_layers, self._mode, self._bidirectional
        if mode not in _rnn_layout.GATES:
            raise ValueError(f"FusedRNN: mode must be one of {sorted(_rnn_layout.GATES)}, got {mode!r}")
        li = _rnn_layout.num_input(arr.size, h, layers, mode, bidir)
        views = _rnn_layout.slice_fused(arr, "", layers, mode, bidir, li, h)
        global_init = getattr(desc, "global_init", None)
        for name, view in views.items():
            value = view.copy()
            if mode == "lstm" and name.endswith("_f_bias"):
                value[:] = self._forget_bias
            elif self._init is None:
                if global_init is None:
                    raise ValueError(
                        "FusedRNN(init=None) initializes with the global initializer; call it with an "
                        "InitDesc that has one (as Module does) or pass an initializer"
                    )
                global_init(InitDesc(name, global_init=global_init), value)
            else:
                self._init(InitDesc(name, global_init=global_init), value)
            view[:] = value
