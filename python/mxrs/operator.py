"""Python operators, as MXNet 1.9.1's ``mx.operator``: subclass :class:`CustomOp` (the
computation) and :class:`CustomOpProp` (names, shapes, types, and the factory), register the
prop with :func:`register`, and call it with ``mx.nd.Custom(*inputs, op_type=NAME, **kwargs)``.

The operator runs eagerly on the calling thread (see :mod:`mxrs.ndarray._custom`); under
``mx.autograd.record`` its ``backward`` is called by ``backward()``. ``mx.sym.Custom`` (Symbol
executors) is not supported yet.
"""

from mxrs.base import MXNetError
from mxrs.ndarray._custom import REGISTRY, Custom

__all__ = ["Custom", "CustomOp", "CustomOpProp", "get_all_registered_operators", "register"]


class CustomOp:
    """Base class of a Python operator's computation."""

    def __init__(self):
        pass

    def forward(self, is_train, req, in_data, out_data, aux):
        """Compute ``out_data`` from ``in_data``; write each output with :meth:`assign`."""
        raise NotImplementedError

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Compute ``in_grad`` from ``out_grad``; write each gradient with :meth:`assign`."""
        raise NotImplementedError

    def assign(self, dst, req, src):
        """Write ``src`` into ``dst`` as ``req`` says: 'null' (nothing), 'write'/'inplace'
        (copy) or 'add' (accumulate)."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] = dst + src
        else:
            raise MXNetError(f"CustomOp.assign: unknown req {req!r} (null, write, inplace, add)")


class CustomOpProp:
    """Base class of a Python operator's properties. ``need_top_grad`` says whether
    ``backward`` uses the output gradients (False for loss heads, which then get zeros)."""

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape):
        """Return ``(in_shapes, out_shapes, aux_shapes)``; by default every output has the
        first input's shape."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type):
        """Return ``(in_types, out_types, aux_types)``; by default everything has the first
        input's type."""
        t = in_type[0]
        return (
            [t] * len(self.list_arguments()),
            [t] * len(self.list_outputs()),
            [t] * len(self.list_auxiliary_states()),
        )

    def infer_storage_type(self, in_stype):
        """Storage types: only 'default' (dense) is supported."""
        for s in in_stype:
            if s != "default":
                raise MXNetError(f"CustomOpProp.infer_storage_type: only 'default' storage is supported, got {s!r}")
        return in_stype, ["default"] * len(self.list_outputs()), ["default"] * len(self.list_auxiliary_states())

    def list_outputs(self):
        """Names of the outputs."""
        return ["output"]

    def list_arguments(self):
        """Names of the inputs."""
        return ["data"]

    def list_auxiliary_states(self):
        """Names of the auxiliary states."""
        return []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The arrays ``backward`` uses (all of them are always kept here)."""
        deps = []
        if self.need_top_grad_:
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps

    def create_operator(self, ctx, in_shapes, in_dtypes):
        """Return the :class:`CustomOp` that computes this operator."""
        return CustomOp()


def register(reg_name):
    """Class decorator: register a :class:`CustomOpProp` subclass as ``op_type=reg_name``."""

    def do_register(prop_cls):
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise MXNetError(f"operator.register({reg_name!r}): expects a CustomOpProp subclass")
        REGISTRY[reg_name] = prop_cls
        return prop_cls

    return do_register


def get_all_registered_operators():
    """Names of the registered Python operators."""
    return sorted(REGISTRY)
