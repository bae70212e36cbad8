"""``mx.gluon.Block``, ``HybridBlock`` and ``SymbolBlock``, with MXNet 1.9.1's semantics.

A Block owns a ParameterDict (names ``<prefix><name>``) and child Blocks registered by
attribute assignment. A HybridBlock writes ``hybrid_forward(F, x, *args, **params)``: F is
``mx.nd`` when it runs imperatively and ``mx.sym`` when ``hybridize()`` traces it; the traced
Symbol then runs through the executor (see :mod:`mxrs.gluon._cached_graph`).
"""

import copy
import threading
import warnings
from collections import OrderedDict, defaultdict
from typing import Any

from mxrs import initializer, ndarray, symbol
from mxrs import name as _name
from mxrs.base import mx_real_t
from mxrs.gluon._cached_graph import CachedGraph
from mxrs.gluon.parameter import (
    DeferredInitializationError,
    Parameter,
    ParameterDict,
    _brief_print_list,
    _indent,
    _select,
)
from mxrs.gluon.utils import HookHandle
from mxrs.ndarray.ndarray import NDArray
from mxrs.symbol.symbol import Symbol

__all__ = ["Block", "HybridBlock", "SymbolBlock"]

_current = threading.local()


class _BlockScope:
    """The name scope of a Block: children made inside get ``<parent prefix><hint><n>_``."""

    def __init__(self, block):
        self._block = block
        self._counter: dict = {}
        self._old_scope: Any = None
        self._name_scope: Any = None

    @staticmethod
    def create(prefix, params, hint):
        """The prefix and ParameterDict of a new Block made in the current scope."""
        current = getattr(_current, "value", None)
        if current is None:
            if prefix is None:
                prefix = _name.current().get(None, hint) + "_"
            params = ParameterDict(prefix) if params is None else ParameterDict(params.prefix, params)
            return prefix, params
        if prefix is None:
            count = current._counter.get(hint, 0)
            prefix = f"{hint}{count}_"
            current._counter[hint] = count + 1
        if params is None:
            parent = current._block.params
            params = ParameterDict(parent.prefix + prefix, parent._shared)
        else:
            params = ParameterDict(params.prefix, params)
        return current._block.prefix + prefix, params

    def __enter__(self):
        if self._block._empty_prefix:
            return self
        self._old_scope = getattr(_current, "value", None)
        _current.value = self
        self._name_scope = _name.Prefix(self._block.prefix)
        self._name_scope.__enter__()
        return self

    def __exit__(self, *exc):
        if self._block._empty_prefix:
            return
        self._name_scope.__exit__(*exc)
        self._name_scope = None
        _current.value = self._old_scope


def _flatten(args, inout_str):
    if isinstance(args, NDArray):
        return [args], 0
    if isinstance(args, Symbol):
        length = len(args.list_outputs())
        return [args], length if length > 1 else 0
    if args is None:
        return [None], -1
    if not isinstance(args, (list, tuple)):
        raise AssertionError(
            f"HybridBlock {inout_str} must be (nested) list of Symbol or NDArray, but got {args} of type {type(args)}"
        )
    flat, fmts = [], []
    for i in args:
        arg, fmt = _flatten(i, inout_str)
        flat.extend(arg)
        fmts.append(fmt)
    return flat, fmts


def _regroup(args, fmt):
    def merger(args, fmt):
        if isinstance(fmt, int):
            if fmt == 0:
                return args[0], args[1:]
            if fmt == -1:
                return None, args[1:]
            return args[:fmt], args[fmt:]
        ret = []
        for i in fmt:
            res, args = merger(args, i)
            ret.append(res)
        return ret, args

    return merger(args, fmt)[0]


def _common_prefix(names):
    if not names:
        return ""
    prefix = names[0]
    for name in names:
        i = 0
        while i < len(prefix) and i < len(name) and prefix[i] == name[i]:
            i += 1
        prefix = prefix[:i]
    return prefix


def _arrays_on(reg_params, x, ctx):
    """``{attribute: param.data(ctx)}``, taking a parameter's only array directly when it is on x's context."""
    pair = x._ctx
    out = {}
    for k, v in reg_params.items():
        arrays = v._data
        if arrays is not None and len(arrays) == 1 and arrays[0]._ctx == pair:
            out[k] = arrays[0]
        else:
            out[k] = v.data(ctx)
    return out


class Block:
    """Base class of all layers and models: override ``forward``.

    Parameters
    ----------
    prefix : str
        Prefix of the names of this Block's Parameters and children (``<class name><n>_`` by default).
    params : ParameterDict
        Share these Parameters instead of making new ones.
    """

    def __init__(self, prefix=None, params=None):
        self._empty_prefix = prefix == ""
        self._prefix, self._params = _BlockScope.create(prefix, params, self._alias())
        self._name = self._prefix[:-1] if self._prefix.endswith("_") else self._prefix
        self._scope = _BlockScope(self)
        self._children = OrderedDict()
        self._reg_params = {}
        self._forward_hooks = OrderedDict()
        self._forward_pre_hooks = OrderedDict()

    def __repr__(self):
        modstr = "\n".join(
            f"  ({key}): {_indent(repr(block), 2)}" for key, block in self.__dict__.items() if isinstance(block, Block)
        )
        return f"{self.__class__.__name__}(\n{modstr}\n)"

    def __setattr__(self, name, value):
        """Register Blocks and Parameters assigned as attributes."""
        if hasattr(self, name):
            existing = getattr(self, name)
            if isinstance(existing, (Parameter, Block)) and not isinstance(value, type(existing)):
                raise TypeError(
                    f"Changing attribute type for {name} from {type(existing)} to {type(value)}is not allowed."
                )
        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            if name in self._reg_params:
                raise AssertionError(
                    f"Overriding Parameter attribute {name} is not allowed. If you want to share parameters "
                    "between blocks, please set 'params' at Block construction instead."
                )
            self._reg_params[name] = value
        super().__setattr__(name, value)

    def _check_container_with_block(self):
        children = set(self._children.values())

        def check(data):
            if isinstance(data, (list, tuple)):
                for ele in data:
                    if isinstance(ele, Block) and ele not in children:
                        return True
                    if check(ele):
                        return True
            elif isinstance(data, dict):
                return check(list(data.values()))
            return False

        for k, v in self.__dict__.items():
            if isinstance(v, (list, tuple, dict)) and not (k.startswith("__") or k == "_children") and check(v):
                warnings.warn(
                    f'"{self.name}" is an unregistered container with Blocks. Note that Blocks inside the list, '
                    "tuple or dict will not be registered automatically. Make sure to register them using "
                    "register_child() or switching to nn.Sequential/nn.HybridSequential instead. ",
                    stacklevel=3,
                )

    def _alias(self):
        return self.__class__.__name__.lower()

    @property
    def prefix(self):
        """Prefix of this Block's names."""
        return self._prefix

    @property
    def name(self):
        """The prefix without its trailing underscore."""
        return self._name

    def name_scope(self):
        """``with self.name_scope():`` around the creation of children gives them this prefix."""
        return self._scope

    @property
    def params(self):
        """This Block's own ParameterDict (not its children's)."""
        return self._params

    def collect_params(self, select=None):
        """A ParameterDict of this Block's and its children's Parameters whose names match ``select``."""
        self._check_container_with_block()
        ret = ParameterDict(self._params.prefix)
        ret.update(_select(self.params, select))
        for cld in self._children.values():
            ret.update(cld.collect_params(select=select))
        return ret

    def _collect_params_with_prefix(self, prefix=""):
        if prefix:
            prefix += "."
        ret = {prefix + key: val for key, val in self._reg_params.items()}
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name))
        return ret

    def save_parameters(self, filename, deduplicate=False):
        """Save the Parameters keyed by structure (``0.weight``, ``features.1.bias``), as MXNet."""
        params = self._collect_params_with_prefix()
        if deduplicate:
            reverse = {v: k for k, v in params.items()}
            params = {v: k for k, v in reverse.items()}
        ndarray.save(filename, {key: val._reduce() for key, val in params.items()})

    def save_params(self, filename):
        """Deprecated: save with the Parameters' full names."""
        warnings.warn(
            "save_params is deprecated. Please use save_parameters. Note that if you want load from "
            "SymbolBlock later, please use export instead.",
            stacklevel=2,
        )
        self.collect_params().save(filename, strip_prefix=self.prefix)

    def load_parameters(
        self, filename, ctx=None, allow_missing=False, ignore_extra=False, cast_dtype=False, dtype_source="current"
    ):
        """Load a file written by ``save_parameters`` (mxrs or MXNet)."""
        loaded = ndarray.load(filename)
        if isinstance(loaded, list):
            loaded = {}
        params = self._collect_params_with_prefix()
        if not loaded and not params:
            return
        if not any("." in i for i in loaded.keys()):
            # The older format of save_params: full parameter names.
            self.collect_params().load(
                filename,
                ctx,
                allow_missing,
                ignore_extra,
                self.prefix,
                cast_dtype=cast_dtype,
                dtype_source=dtype_source,
            )
            return
        if not allow_missing:
            params_inv = defaultdict(list)
            for k, v in params.items():
                params_inv[v].append(k)
            for name, param in params.items():
                if not any(p in loaded for p in params_inv[param]):
                    raise AssertionError(
                        f"Parameter '{name}' is missing in file '{filename}', which contains parameters: "
                        f"{_brief_print_list(loaded.keys())}. Set allow_missing=True to ignore missing parameters."
                    )
        for name in loaded:
            if not ignore_extra and name not in params:
                raise ValueError(
                    f"Parameter '{name}' loaded from file '{filename}' is not present in ParameterDict, which "
                    f"contains parameters {_brief_print_list(self._params.keys())}. Set ignore_extra=True to ignore. "
                )
            if name in params:
                params[name]._load_init(loaded[name], ctx, cast_dtype=cast_dtype, dtype_source=dtype_source)

    def load_params(self, filename, ctx=None, allow_missing=False, ignore_extra=False):
        """Deprecated alias of ``load_parameters``."""
        warnings.warn("load_params is deprecated. Please use load_parameters.", stacklevel=2)
        self.load_parameters(filename, ctx, allow_missing, ignore_extra)

    def register_child(self, block, name=None):
        """Register ``block`` as a child (named by its index by default)."""
        if name is None:
            name = str(len(self._children))
        self._children[name] = block

    def register_forward_pre_hook(self, hook):
        """Call ``hook(block, inputs)`` before each forward; returns a HookHandle."""
        handle = HookHandle()
        handle.attach(self._forward_pre_hooks, hook)
        return handle

    def register_forward_hook(self, hook):
        """Call ``hook(block, inputs, outputs)`` after each forward; returns a HookHandle."""
        handle = HookHandle()
        handle.attach(self._forward_hooks, hook)
        return handle

    def apply(self, fn):
        """Call ``fn(block)`` on every child (recursively) then on this Block."""
        for cld in self._children.values():
            cld.apply(fn)
        fn(self)
        return self

    def initialize(self, init=None, ctx=None, verbose=False, force_reinit=False):
        """Initialize this Block's and its children's Parameters (``Uniform()`` by default)."""
        if init is None:
            init = initializer.Uniform()
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def hybridize(self, active=True, **kwargs):
        """Hybridize the HybridBlock children (a plain Block itself stays imperative)."""
        for cld in self._children.values():
            cld.hybridize(active, **kwargs)

    def cast(self, dtype):
        """Cast the Parameters of this Block and its children to ``dtype``."""
        for child in self._children.values():
            child.cast(dtype)
        for _, param in self.params.items():
            param.cast(dtype)

    def zero_grad(self):
        """Set the gradients of every Parameter to 0."""
        self.collect_params().zero_grad()

    def reset_ctx(self, ctx):
        """Move every Parameter to ``ctx``."""
        self.collect_params().reset_ctx(ctx)

    def __call__(self, *args):
        """Run the pre-hooks, ``forward`` and the hooks."""
        for hook in self._forward_pre_hooks.values():
            hook(self, args)
        out = self.forward(*args)
        for hook in self._forward_hooks.values():
            hook(self, args, out)
        return out

    def forward(self, *args):
        """Override to define the computation."""
        raise NotImplementedError

    def summary(self, *inputs):
        """Print each layer's output shape and parameter count for a forward pass on ``inputs``."""
        rows: list = []
        seen: set = set()

        def hook(block, _, out):
            outs = out if isinstance(out, (list, tuple)) else [out]
            shapes = [tuple(o.shape) for o in outs if isinstance(o, NDArray)]
            n = 0
            for p in block.params.values():
                if id(p) not in seen and p.shape is not None:
                    seen.add(id(p))
                    size = 1
                    for d in p.shape:
                        size *= d
                    n += size
            rows.append((f"{block.__class__.__name__}-{len(rows) + 1}", shapes[0] if len(shapes) == 1 else shapes, n))

        handles = []

        def register(block):
            if isinstance(block, HybridBlock) and block._active:
                raise AssertionError(f'"{block.name}" must not be hybridized to print summary.')
            # Containers are not rows of the table (as MXNet, which skips (Hybrid)Sequential).
            if not getattr(block, "_is_container", False):
                handles.append(block.register_forward_hook(hook))

        self.apply(register)
        try:
            self(*inputs)
        finally:
            for h in handles:
                h.detach()
        _print_summary(rows, self.collect_params(), inputs)


def _print_summary(rows, params, inputs):
    line = "-" * 80
    print(line)
    print(f"{'Layer (type)':>20}{'Output Shape':>42}{'Param #':>15}")
    print("=" * 80)
    shapes = [tuple(i.shape) for i in inputs]
    print(f"{'Input':>20}{str(shapes[0] if len(shapes) == 1 else shapes):>42}{0:>15}")
    total = 0
    for name, shape, n in rows:
        total += n
        print(f"{name:>20}{str(shape):>42}{n:>15}")
    trainable = 0
    for p in params.values():
        size = 1
        for d in p.shape or ():
            size *= d
        if p.grad_req != "null":
            trainable += size
    print("=" * 80)
    print(f"Parameters in forward computation graph, duplicate included\n   Total params: {total}")
    print(f"   Trainable params: {trainable}\n   Non-trainable params: {total - trainable}")
    print(f"Shared params in forward computation graph: 0\nUnique parameters in model: {total}")
    print(line)


class HybridBlock(Block):
    """A Block that can be traced to a Symbol: override ``hybrid_forward(F, x, *args, **params)``."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._cached_graph: Any = ()
        self._cached_op: Any = None
        self._out_format: Any = None
        self._in_format: Any = None
        self._active = False
        self._flags: list = []

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if isinstance(value, HybridBlock):
            self._clear_cached_op()

    def register_child(self, block, name=None):
        """Register a HybridBlock child (anything else is a ValueError)."""
        if not isinstance(block, HybridBlock):
            raise ValueError(
                f"Children of HybridBlock must also be HybridBlock, but {block} has type {type(block)}. "
                "If you are using Sequential, please try HybridSequential instead."
            )
        super().register_child(block, name)
        self._clear_cached_op()

    def _clear_cached_op(self):
        self._cached_graph = ()
        self._cached_op = None

    def hybridize(self, active=True, static_alloc=False, static_shape=False, **kwargs):
        """Trace to a Symbol at the next call and run the graph through the executor from then on.

        The bound executor (with its memory plan) is kept per input signature and reused, so
        ``static_alloc``/``static_shape`` are always in effect.
        """
        self._active = active
        self._flags = [("static_alloc", static_alloc), ("static_shape", static_shape)] + list(kwargs.items())
        self._clear_cached_op()
        if active and (self._forward_hooks or self._forward_pre_hooks):
            warnings.warn(
                f'"{self}" is being hybridized while still having forward hook/pre-hook. If "{self}" is a '
                "child of HybridBlock, the hooks will not take effect.",
                stacklevel=2,
            )
        super().hybridize(active, static_alloc=static_alloc, static_shape=static_shape, **kwargs)

    def cast(self, dtype):
        """Cast the Parameters (and drop the traced graph)."""
        self._clear_cached_op()
        super().cast(dtype)

    def _get_graph(self, *args):
        if not self._cached_graph:
            flat_args, self._in_format = _flatten(args, "input")
            real = sum(a is not None for a in flat_args)
            if real == 0:
                raise ValueError(f"All args are None and we do not support such a case. Received args={args}")
            flat_inputs: list = []
            sym_inputs: list = []
            for arg in flat_args:
                if arg is None:
                    flat_inputs.append(None)
                    continue
                s = symbol.var(f"data{len(sym_inputs)}" if real > 1 else "data")
                flat_inputs.append(s)
                sym_inputs.append(s)
            grouped = _regroup(flat_inputs, self._in_format)
            params = {i: j.var() for i, j in self._reg_params.items()}
            with self.name_scope():
                out = self.hybrid_forward(symbol, *grouped, **params)
            out, self._out_format = _flatten(out, "output")
            self._cached_graph = sym_inputs, symbol.Group(out)
        return self._cached_graph

    def infer_shape(self, *args):
        """Fill in the unknown Parameter shapes from the input shapes."""
        self._infer_attrs("infer_shape", "shape", *args)

    def infer_type(self, *args):
        """Fill in the Parameter dtypes from the input dtypes."""
        self._infer_attrs("infer_type", "dtype", *args)

    def _infer_attrs(self, infer_fn, attr, *args):
        inputs, out = self._get_graph(*args)
        flat, _ = _flatten(args, "input")
        flat = [a for a in flat if a is not None]
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            arg_attrs, _, aux_attrs = getattr(out, infer_fn)(**{i.name: getattr(j, attr) for i, j in zip(inputs, flat)})
            if arg_attrs is None:
                raise ValueError(str(w[0].message) if w else f"{infer_fn} failed")
        sdict = dict(zip(out.list_arguments(), arg_attrs))
        sdict.update(zip(out.list_auxiliary_states(), aux_attrs))
        for i in self.collect_params().values():
            if i.name in sdict:
                setattr(i, attr, sdict[i.name])

    def _deferred_infer_shape(self, *args):
        try:
            self.infer_shape(*args)
        except Exception as e:
            raise ValueError(f"Deferred initialization failed because shape cannot be inferred. {e}") from e

    def _call_cached_op(self, *args):
        if self._cached_op is None:
            inputs, out = self._get_graph(*args)
            self._cached_op = CachedGraph(inputs, out, self.collect_params())
        flat, fmt = _flatten(args, "input")
        if fmt != self._in_format:
            raise ValueError(
                "The argument structure of HybridBlock does not match the cached version. "
                f"Stored format = {fmt}, input format = {self._in_format}"
            )
        data = [a for a in flat if a is not None]
        try:
            out = self._cached_op(data)
        except DeferredInitializationError:
            self._deferred_infer_shape(*args)
            for p in self._cached_op.params():
                p._finish_deferred_init()
            out = self._cached_op(data)
        return _regroup(out, self._out_format)

    def forward(self, x, *args):
        """Run imperatively (F = mx.nd), through the cached graph when hybridized, or trace (F = mx.sym)."""
        if isinstance(x, NDArray):
            with x.context as ctx:
                if self._active:
                    return self._call_cached_op(x, *args)
                try:
                    params = _arrays_on(self._reg_params, x, ctx)
                except DeferredInitializationError:
                    self._deferred_infer_shape(x, *args)
                    for v in self.params.values():
                        v._finish_deferred_init()
                    params = _arrays_on(self._reg_params, x, ctx)
                return self.hybrid_forward(ndarray, x, *args, **params)
        if not isinstance(x, Symbol):
            raise AssertionError(
                f"HybridBlock requires the first argument to forward be either Symbol or NDArray, but got {type(x)}"
            )
        params = {i: j.var() for i, j in self._reg_params.items()}
        with self.name_scope():
            return self.hybrid_forward(symbol, x, *args, **params)

    def hybrid_forward(self, F, x, *args, **kwargs):
        """Override: the computation, with ``F`` either ``mx.nd`` or ``mx.sym``."""
        raise NotImplementedError

    def export(self, path, epoch=0, remove_amp_cast=True):
        """Write ``path-symbol.json`` and ``path-%04d.params`` (``arg:``/``aux:`` keys), loadable by MXNet."""
        if not self._cached_graph:
            raise RuntimeError(
                "Please first call block.hybridize() and then run forward with this block at least once before "
                "calling export."
            )
        sym = self._cached_graph[1]
        sym_file = f"{path}-symbol.json"
        sym.save(sym_file, remove_amp_cast=remove_amp_cast)
        arg_names = set(sym.list_arguments())
        aux_names = set(sym.list_auxiliary_states())
        arg_dict = {}
        for name, param in self.collect_params().items():
            if name in arg_names:
                arg_dict[f"arg:{name}"] = param._reduce()
            elif name in aux_names:
                arg_dict[f"aux:{name}"] = param._reduce()
        params_file = f"{path}-{epoch:04d}.params"
        ndarray.save(params_file, arg_dict)
        return sym_file, params_file


class SymbolBlock(HybridBlock):
    """A HybridBlock made from a Symbol (``SymbolBlock.imports`` loads MXNet's exported files)."""

    def __init__(self, outputs, inputs, params=None):
        super().__init__(prefix=None, params=None)
        self._prefix = ""
        self._params = ParameterDict("", params)
        if isinstance(inputs, Symbol) and len(inputs.list_outputs()) == 1:
            inputs = [inputs]
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        syms, self._in_format = _flatten(inputs, "input")
        out, self._out_format = _flatten(outputs, "output")
        out = symbol.Group(out)
        input_names = set()
        for i in syms:
            if len(i.get_internals().list_outputs()) != 1:
                raise AssertionError(f"Input symbols must be variable, but {i} is an output of operators")
            input_names.add(i.name)
        for i in out.list_arguments():
            if i not in input_names:
                self.params.get(i, allow_deferred_init=True)
        for i in out.list_auxiliary_states():
            if i not in input_names:
                self.params.get(i, grad_req="null", allow_deferred_init=True)
        self._cached_graph = syms, out
        len_prefix = len(_common_prefix(list(self._params.keys())))
        self._reg_params = {key[len_prefix:]: val for key, val in self._params.items()}
        self._active = True

    @staticmethod
    def imports(symbol_file, input_names, param_file=None, ctx=None, allow_missing=False, ignore_extra=False):
        """A SymbolBlock from ``export``'s files (``path-symbol.json``, ``path-0000.params``)."""
        sym = symbol.load(symbol_file)
        if isinstance(input_names, str):
            input_names = [input_names]
        if param_file is None:
            inputs = [symbol.var(i, dtype=mx_real_t) for i in input_names]
        else:
            inputs = [symbol.var(i) for i in input_names]
        ret = SymbolBlock(sym, inputs)
        if param_file is not None:
            ret.collect_params().load(
                param_file, ctx, allow_missing, ignore_extra, cast_dtype=True, dtype_source="saved"
            )
        return ret

    def _clear_cached_op(self):
        cached = getattr(self, "_cached_graph", ())
        super()._clear_cached_op()
        self._cached_graph = cached

    def hybridize(self, active=True, static_alloc=False, static_shape=False, **kwargs):
        """A SymbolBlock always runs its graph; this only records the flags."""
        super().hybridize(True, static_alloc=static_alloc, static_shape=static_shape, **kwargs)

    def cast(self, dtype):
        """Cast the Parameters (the graph's inputs follow)."""
        self._clear_cached_op()
        super().cast(dtype)

    def forward(self, x, *args):
        """Run the graph on NDArrays, or compose it with Symbols."""
        if isinstance(x, NDArray):
            with x.context:
                return self._call_cached_op(x, *args)
        if not isinstance(x, Symbol):
            raise AssertionError(
                f"HybridBlock requires the first argument to forward be either Symbol or NDArray, but got {type(x)}"
            )
        flat, in_fmt = _flatten([x] + list(args), "input")
        if in_fmt != self._in_format:
            raise AssertionError("Invalid input format")
        ret = copy.copy(self._cached_graph[1])
        ret = ret(**{k.name: v for k, v in zip(self._cached_graph[0], flat)})
        return _regroup(list(ret), self._out_format)

    def hybrid_forward(self, F, x, *args, **kwargs):
        """A SymbolBlock has no hybrid_forward."""
        raise NotImplementedError
