"""``mx.gluon.Parameter``, ``Constant`` and ``ParameterDict``, with MXNet 1.9.1's semantics.

A Parameter holds one copy of its data (and gradient) per context. Its shape may have unknown
dimensions (0); ``initialize`` then defers the allocation until the first forward pass fills
them in (``Block`` infers them through the traced Symbol).
"""

import re
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from mxrs import autograd, initializer, symbol
from mxrs import ndarray as nd
from mxrs.base import MXNetError, mx_real_t
from mxrs.context import Context, cpu, current_context
from mxrs.ndarray.ndarray import NDArray

__all__ = ["DeferredInitializationError", "Parameter", "Constant", "ParameterDict", "tensor_types"]

tensor_types = (symbol.Symbol, NDArray)

_NAMING_HELP = (
    "For more info on naming, please see https://mxnet.io/api/python/docs/tutorials/packages/gluon/blocks/naming.html"
)


class DeferredInitializationError(MXNetError):
    """A Parameter's data was asked for before its deferred initialization ran."""


def _brief_print_list(lst, limit=7):
    """``'a', 'b', ..., 'z'``: at most ``limit`` quoted items."""
    lst = list(lst)
    if len(lst) > limit:
        return _brief_print_list(lst[: limit // 2], limit) + ", ..., " + _brief_print_list(lst[-limit // 2 :], limit)
    return ", ".join([f"'{str(i)}'" for i in lst])


def _shape_known(shape):
    return shape is not None and all(d > 0 for d in shape)


class Parameter:
    """A weight of a Block: its data and gradient on one or more contexts.

    Parameters
    ----------
    name : str
    grad_req : {'write', 'add', 'null'}
    shape : tuple of int; 0 marks a dimension filled in by deferred initialization
    dtype : numpy dtype or str
    lr_mult, wd_mult : float
        Multipliers of the learning rate and the weight decay for this parameter.
    init : Initializer or str
        This parameter's own initializer (wins over the global one).
    allow_deferred_init : bool
    differentiable : bool
        False makes ``grad_req`` 'null' (used by Constant and aux states).
    """

    def __init__(
        self,
        name,
        grad_req="write",
        shape=None,
        dtype=mx_real_t,
        lr_mult=1.0,
        wd_mult=1.0,
        init=None,
        allow_deferred_init=False,
        differentiable=True,
        stype="default",
        grad_stype="default",
    ):
        self._var: Any = None
        self._data: Any = None
        self._grad: Any = None
        self._ctx_list: Any = None
        self._ctx_map: Any = None
        self._trainer: Any = None
        self._deferred_init: tuple = ()
        self._differentiable = differentiable
        self._allow_deferred_init = allow_deferred_init
        self._grad_req: Any = None
        if isinstance(shape, int):
            shape = (shape,)
        self._shape: Any = tuple(shape) if shape is not None else None
        self.name = name
        self._dtype = dtype
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.grad_req = grad_req
        self.init = init
        for kind, st in (("stype", stype), ("grad_stype", grad_stype)):
            if st not in ("default", "row_sparse", "csr"):
                raise ValueError(
                    f"{kind} for Parameter '{name}' must be one of 'default', 'row_sparse', or 'csr', but got '{st}'"
                )
        self._stype = stype
        self._grad_stype = grad_stype

    def __repr__(self):
        return f"Parameter {self.name} (shape={self.shape}, dtype={self.dtype})"

    # ----- attributes ---------------------------------------------------------------------
    @property
    def grad_req(self):
        """'write', 'add' or 'null'."""
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req):
        if req not in ("write", "add", "null"):
            raise AssertionError(f"grad_req must be one of 'write', 'add', or 'null', but got '{req}'")
        if not self._differentiable:
            req = "null"
        if self._grad_req == req:
            return
        self._grad_req = req
        if req == "null" and self._grad is not None:
            self._grad = None
            self._data = [i.detach() if hasattr(i, "detach") else i for i in self._data]
        elif self._data is not None:
            self._init_grad()

    @property
    def dtype(self):
        """The data type of the parameter."""
        return self._dtype

    @dtype.setter
    def dtype(self, dtype):
        self._dtype = dtype

    @property
    def shape(self):
        """The shape; unknown dimensions are 0."""
        return self._shape

    @shape.setter
    def shape(self, new_shape):
        if self._shape is None:
            self._shape = tuple(new_shape)
            return
        new_shape = tuple(new_shape)
        if len(self._shape) != len(new_shape) or not all(j in (0, -1, i) for i, j in zip(new_shape, self._shape)):
            raise AssertionError(f"Expected shape {new_shape} is incompatible with given shape {self._shape}.")
        self._shape = new_shape

    @property
    def stype(self):
        """The storage type ('default')."""
        return self._stype

    # ----- access -------------------------------------------------------------------------
    def _check_and_get(self, arr_list, ctx):
        if arr_list is not None:
            if ctx is list:
                return arr_list
            if ctx is None:
                if len(arr_list) == 1:
                    return arr_list[0]
                ctx = current_context()
            idx = self._ctx_map.get(ctx)
            if idx is not None:
                return arr_list[idx]
            raise RuntimeError(
                f"Parameter '{self.name}' was not initialized on context {ctx}. "
                f"It was only initialized on {self._ctx_list}."
            )
        if self._deferred_init:
            raise DeferredInitializationError(
                f"Parameter '{self.name}' has not been initialized yet because initialization was deferred. "
                "Actual initialization happens during the first forward pass. Please pass one batch of data "
                "through the network before accessing Parameters. You can also avoid deferred initialization "
                "by specifying in_units, num_features, etc., for network layers."
            )
        raise RuntimeError(
            f"Parameter '{self.name}' has not been initialized. Note that you should initialize parameters "
            "and create Trainer with Block.collect_params() instead of Block.params because the later does "
            "not include Parameters of nested child Blocks"
        )

    def data(self, ctx=None):
        """The data on ``ctx`` (the only copy when there is one)."""
        return self._check_and_get(self._data, ctx)

    def list_data(self):
        """The data on every context, in ``list_ctx`` order."""
        return self._check_and_get(self._data, list)

    def grad(self, ctx=None):
        """The gradient on ``ctx``."""
        if self._data is not None and self._grad is None:
            raise RuntimeError(f"Cannot get gradient array for Parameter '{self.name}' because grad_req='null'")
        return self._check_and_get(self._grad, ctx)

    def list_grad(self):
        """The gradient on every context."""
        if self._data is not None and self._grad is None:
            raise RuntimeError(f"Cannot get gradient array for Parameter '{self.name}' because grad_req='null'")
        return self._check_and_get(self._grad, list)

    def list_ctx(self):
        """The contexts the parameter is (or will be) initialized on."""
        if self._data is None:
            if self._deferred_init:
                return self._deferred_init[1]
            raise RuntimeError(f"Parameter '{self.name}' has not been initialized")
        return self._ctx_list

    # ----- initialization -----------------------------------------------------------------
    def initialize(self, init=None, ctx=None, default_init=None, force_reinit=False):
        """Allocate and initialize the data on ``ctx`` (a Context or a list; the current one by default).

        ``init`` wins over the parameter's own ``init``, which wins over ``default_init``.
        With unknown dimensions and ``allow_deferred_init`` the work waits for ``set_data`` or
        the first forward pass.
        """
        if default_init is None:
            default_init = initializer.Uniform()
        if self._data is not None and not force_reinit:
            warnings.warn(
                f"Parameter '{self.name}' is already initialized, ignoring. Set force_reinit=True to re-initialize.",
                stacklevel=2,
            )
            return
        self._data = self._grad = None
        if ctx is None:
            ctx = [current_context()]
        if isinstance(ctx, Context):
            ctx = [ctx]
        if init is None:
            init = default_init if self.init is None else self.init
        if not _shape_known(self.shape):
            if self._allow_deferred_init:
                self._deferred_init = (init, ctx, default_init, None)
                return
            raise ValueError(f"Cannot initialize Parameter '{self.name}' because it has invalid shape: {self.shape}.")
        self._deferred_init = (init, ctx, default_init, None)
        self._finish_deferred_init()

    def _finish_deferred_init(self):
        if not self._deferred_init:
            return
        init, ctx, default_init, data = self._deferred_init
        self._deferred_init = ()
        if not _shape_known(self.shape):
            raise AssertionError(
                f"Cannot initialize Parameter '{self.name}' because it has invalid shape: {self.shape}. "
                "Please specify in_units, in_channels, etc for `Block`s."
            )
        with autograd.pause():
            if data is None:
                data = nd.zeros(self.shape, dtype=self.dtype, ctx=cpu())
                initializer.create(default_init)(initializer.InitDesc(self.name, {"__init__": init}), data)
            self._init_impl(data, ctx)

    def _init_impl(self, data, ctx_list):
        self._ctx_list = list(ctx_list)
        self._ctx_map = {c: i for i, c in enumerate(self._ctx_list)}
        self._data = [data.copyto(c) for c in self._ctx_list]
        self._init_grad()

    def _init_grad(self):
        if self.grad_req == "null":
            self._grad = None
            return
        self._grad = [nd.zeros(i.shape, dtype=i.dtype, ctx=i.context) for i in self._data]
        autograd.mark_variables(self._data, self._grad, self.grad_req)

    def _reduce(self):
        """The data averaged over the contexts, on the CPU."""
        block = self.list_data()
        if len(block) == 1:
            return block[0].copyto(cpu())
        total = block[0].copyto(cpu())
        for w in block[1:]:
            total = total + w.copyto(cpu())
        return total / len(block)

    def _load_init(self, data, ctx, cast_dtype=False, dtype_source="current"):
        """Take ``data`` (loaded from a file) as the value, initializing when needed."""
        if cast_dtype and dtype_source not in ("current", "saved"):
            raise AssertionError("dtype_source should be either 'current' or 'saved'")
        if self.shape:
            for self_dim, data_dim in zip(self.shape, data.shape):
                if self_dim not in (0, -1, data_dim) or len(self.shape) != len(data.shape):
                    raise AssertionError(
                        f"Failed loading Parameter '{self.name}' from saved params: shape incompatible "
                        f"expected {self.shape} vs saved {data.shape}"
                    )
            self.shape = tuple(i if i not in (0, -1) else j for i, j in zip(self.shape, data.shape))
        if self.dtype:
            if np.dtype(self.dtype) != np.dtype(data.dtype):
                if cast_dtype:
                    if dtype_source == "current":
                        data = data.astype(self.dtype, copy=False)
                    else:
                        self.dtype = np.dtype(data.dtype).type
                else:
                    raise AssertionError(
                        f"Failed loading Parameter '{self.name}' from saved params: dtype incompatible "
                        f"expected {np.dtype(self.dtype).type} vs saved {np.dtype(data.dtype).type}. "
                        "Set cast_dtype=True to cast the dtype of saved params."
                    )
        if isinstance(ctx, Context):
            ctx = [ctx]
        if self._data is None:
            if self._deferred_init:
                if ctx is not None and set(ctx) != set(self._deferred_init[1]):
                    raise AssertionError(
                        f"Failed to load Parameter '{self.name}' on {ctx} because it was previous initialized "
                        f"on {self.list_ctx()}."
                    )
                ctx = self._deferred_init[1]
            elif ctx is None:
                ctx = [cpu()]
            self._init_impl(data, ctx)
        else:
            if ctx is not None and set(ctx) != set(self.list_ctx()):
                raise AssertionError(
                    f"Failed to load Parameter '{self.name}' on {ctx} because it was previous initialized "
                    f"on {self.list_ctx()}."
                )
            self.set_data(data)
        self._deferred_init = ()

    # ----- changes ------------------------------------------------------------------------
    def set_data(self, data):
        """Copy ``data`` into every context's copy (or keep it for the deferred initialization)."""
        self.shape = data.shape
        if self._data is None:
            if not self._deferred_init:
                raise AssertionError(f"Parameter '{self.name}' has not been initialized")
            self._deferred_init = self._deferred_init[:3] + (data,)
            return
        if self._trainer is not None and self._trainer._kv_initialized and self._trainer._update_on_kvstore:
            if self not in self._trainer._params_to_init:
                self._trainer._reset_kvstore()
        for arr in self._check_and_get(self._data, list):
            arr[:] = data

    def zero_grad(self):
        """Set the gradient to 0 on every context."""
        if self._grad is None:
            return
        for g in self._grad:
            g[:] = 0

    def reset_ctx(self, ctx):
        """Move the data (and gradient) to ``ctx`` (a Context or a list)."""
        if ctx is None:
            ctx = [current_context()]
        if isinstance(ctx, Context):
            ctx = [ctx]
        if self._data:
            data = self._reduce()
            with autograd.pause():
                self._init_impl(data, ctx)
        elif self._deferred_init:
            init, _, default_init, data = self._deferred_init
            self._deferred_init = (init, ctx, default_init, data)
        else:
            raise ValueError(f"Cannot reset context for Parameter '{self.name}' because it has not been initialized.")

    def cast(self, dtype):
        """Change the data type of the data and the gradient."""
        self.dtype = dtype
        self._var = None
        if self._data is None:
            return
        with autograd.pause():
            self._data = [i.astype(dtype) for i in self._data]
            if self._grad is None:
                return
            self._grad = [i.astype(dtype) for i in self._grad]
            autograd.mark_variables(self._data, self._grad, self.grad_req)

    def var(self):
        """The Symbol variable standing for this parameter in a traced graph."""
        if self._var is None:
            self._var = symbol.var(
                self.name,
                shape=self.shape,
                dtype=self.dtype,
                lr_mult=self.lr_mult,
                wd_mult=self.wd_mult,
                init=self.init,
                stype=self._stype,
            )
        return self._var

    def row_sparse_data(self, row_id):
        """Sparse parameters are not supported: the dense data."""
        return self.data(row_id.context)


class Constant(Parameter):
    """A parameter whose value never changes (``grad_req`` is always 'null')."""

    def __init__(self, name, value):
        if not isinstance(value, NDArray):
            value = nd.array(value)
        self.value = value
        const = value

        class Init(initializer.Initializer):
            def _init_weight(self, _, arr):
                const.copyto(arr)

        init_name = f"Constant_{name}_{id(self)}"
        initializer.alias(init_name)(Init)
        super().__init__(name, grad_req="null", shape=value.shape, dtype=value.dtype, init=init_name)

    def __repr__(self):
        return f"Constant {self.name} (shape={self.shape}, dtype={self.dtype})"

    @property
    def grad_req(self):
        """Always 'null'."""
        return "null"

    @grad_req.setter
    def grad_req(self, req):
        if req != "null":
            warnings.warn(
                f'Constant parameter "{self.name}" does not support grad_req other than "null", '
                f'and new value "{req}" is ignored.',
                stacklevel=2,
            )


def _indent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class ParameterDict:
    """An ordered dict of Parameters whose names start with ``prefix``; ``shared`` lends others'."""

    def __init__(self, prefix="", shared=None):
        self._prefix = prefix
        self._params = OrderedDict()
        self._shared = shared

    def __repr__(self):
        name = self._prefix + " " if self._prefix else ""
        content = "\n".join(_indent(f"  {v}", 2) for v in self.values())
        return f"{name}(\n{content}\n)"

    def __getitem__(self, key):
        return self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)

    def __contains__(self, key):
        return key in self._params

    def items(self):
        """(name, Parameter) pairs."""
        return self._params.items()

    def keys(self):
        """Full parameter names."""
        return self._params.keys()

    def values(self):
        """The Parameters."""
        return self._params.values()

    @property
    def prefix(self):
        """The prefix of every name in this dict."""
        return self._prefix

    def _get_impl(self, name):
        if name in self._params:
            return self._params[name]
        if self._shared is not None and name in self._shared._params:
            self._params[name] = self._shared._params[name]
            return self._shared._params[name]
        return None

    def get(self, name, **kwargs):
        """The Parameter ``prefix + name``, made with ``kwargs`` when it does not exist yet.

        An existing one must agree with ``kwargs`` (unknown shape dimensions are filled in).
        """
        name = self.prefix + name
        param = self._get_impl(name)
        if param is None:
            param = Parameter(name, **kwargs)
            self._params[name] = param
            return param
        for k, v in kwargs.items():
            if hasattr(param, k) and getattr(param, k) is not None:
                existing = getattr(param, k)
                if k == "shape" and v is not None and len(v) == len(existing):
                    merged = _merge_shapes(v, existing)
                    if merged is not None:
                        param._shape = merged
                        continue
                elif k == "dtype" and np.dtype(v) == np.dtype(existing):
                    continue
                if v is not None and v != existing:
                    raise AssertionError(
                        f"Cannot retrieve Parameter '{name}' because desired attribute does not match with "
                        f"stored for attribute '{k}': desired '{v}' vs stored '{getattr(param, k)}'."
                    )
            else:
                setattr(param, k, v)
        return param

    def get_constant(self, name, value=None):
        """The Constant ``prefix + name``, made from ``value`` when it does not exist yet."""
        name = self.prefix + name
        param = self._get_impl(name)
        if param is None:
            if value is None:
                raise KeyError(
                    f"No constant named '{name}'. Please specify value if you want to create a new constant."
                )
            param = Constant(name, value)
            self._params[name] = param
        elif value is not None:
            if not isinstance(param, Constant):
                raise AssertionError(f"Parameter '{name}' already exists but it is not a constant.")
            if isinstance(value, NDArray):
                value = value.asnumpy()
            value = np.asarray(value)
            if not (param.shape == value.shape and (param.value.asnumpy() == value).all()):
                raise AssertionError(f"Constant '{name}' already exists but it's value doesn't match new value")
        return param

    def update(self, other):
        """Add ``other``'s Parameters (the same name must be the same Parameter)."""
        for k, v in other.items():
            if k in self._params and self._params[k] is not v:
                raise AssertionError(
                    f"Cannot update self with other because they have different Parameters with the same name '{k}'"
                )
        for k, v in other.items():
            self._params[k] = v

    def initialize(self, init=None, ctx=None, verbose=False, force_reinit=False):
        """Initialize every Parameter (``init`` is the default for those without their own)."""
        if init is None:
            init = initializer.Uniform()
        if verbose:
            init.set_verbosity(verbose=verbose)
        for v in self.values():
            v.initialize(None, ctx, init, force_reinit=force_reinit)

    def zero_grad(self):
        """Set every gradient to 0."""
        for v in self.values():
            v.zero_grad()

    def reset_ctx(self, ctx):
        """Move every Parameter to ``ctx``."""
        for v in self.values():
            v.reset_ctx(ctx)

    def list_ctx(self):
        """The contexts of all the Parameters."""
        s: list = []
        for v in self.values():
            s.extend(c for c in v.list_ctx() if c not in s)
        return s

    def setattr(self, name, value):
        """Set attribute ``name`` (``grad_req``, ``lr_mult``...) of every Parameter."""
        for v in self.values():
            setattr(v, name, value)

    def save(self, filename, strip_prefix=""):
        """Save the values to ``filename`` keyed by name (less ``strip_prefix``)."""
        arg_dict = {}
        for param in self.values():
            weight = param._reduce()
            if not param.name.startswith(strip_prefix):
                raise ValueError(
                    f"Prefix '{strip_prefix}' is to be striped before saving, but Parameter's name "
                    f"'{param.name}' does not start with '{strip_prefix}'. this may be due to your Block "
                    "shares parameters from other Blocks or you forgot to use 'with name_scope()' when "
                    f"creating child blocks. {_NAMING_HELP}"
                )
            arg_dict[param.name[len(strip_prefix) :]] = weight
        nd.save(filename, arg_dict)

    def load(
        self,
        filename,
        ctx=None,
        allow_missing=False,
        ignore_extra=False,
        restore_prefix="",
        cast_dtype=False,
        dtype_source="current",
    ):
        """Load values saved by ``save`` (or an ``export``/checkpoint file with arg:/aux: keys)."""
        if restore_prefix:
            for name in self.keys():
                if not name.startswith(restore_prefix):
                    raise AssertionError(
                        f"restore_prefix is '{restore_prefix}' but Parameters name '{name}' does not start "
                        f"with '{restore_prefix}'"
                    )
        loaded = nd.load(filename)
        if not isinstance(loaded, dict):
            raise ValueError(f"{filename}: the file holds unnamed arrays, not parameters")
        self.load_dict(loaded, ctx, allow_missing, ignore_extra, restore_prefix, filename, cast_dtype, dtype_source)

    def load_dict(
        self,
        param_dict,
        ctx=None,
        allow_missing=False,
        ignore_extra=False,
        restore_prefix="",
        filename=None,
        cast_dtype=False,
        dtype_source="current",
    ):
        """Load values from a dict of name -> NDArray."""
        lprefix = len(restore_prefix)
        loaded = [(k[4:] if k.startswith(("arg:", "aux:")) else k, v) for k, v in param_dict.items()]
        arg_dict = {restore_prefix + k: v for k, v in loaded}
        error_str = f"file '{filename}'" if filename else "param_dict"
        if not allow_missing:
            for name in self.keys():
                if name not in arg_dict:
                    raise AssertionError(
                        f"Parameter '{name[lprefix:]}' is missing in {error_str}, which contains parameters: "
                        f"{_brief_print_list(arg_dict.keys())}. Please make sure source and target networks "
                        f"have the same prefix.{_NAMING_HELP}"
                    )
        for name, value in arg_dict.items():
            if name not in self._params:
                if not ignore_extra:
                    raise AssertionError(
                        f"Parameter '{name[lprefix:]}' loaded from {error_str} is not present in ParameterDict, "
                        f"choices are: {_brief_print_list(self._params.keys())}. Set ignore_extra to True to "
                        f"ignore. Please make sure source and target networks have the same prefix.{_NAMING_HELP}"
                    )
                continue
            self[name]._load_init(value, ctx, cast_dtype=cast_dtype, dtype_source=dtype_source)


def _merge_shapes(wanted, existing):
    """``wanted`` and ``existing`` merged (unknown dims filled), or None when they disagree."""
    out = []
    for d1, d2 in zip(wanted, existing):
        if d1 != d2 and d1 > 0 and d2 > 0:
            return None
        out.append(d1 if d1 == d2 or d2 in (0, -1) else d2)
    return tuple(out)


def _select(params, select):
    """The (name, Parameter) pairs whose name matches the regular expression ``select``."""
    if not select:
        return dict(params.items())
    pattern = re.compile(select)
    return {name: value for name, value in params.items() if pattern.match(name)}
