"""Exceptions and small helpers shared by the whole package.

Every error mxrs raises derives from :class:`MXNetError`. Subclasses also derive from the
matching built-in exception, so ``except ValueError`` catches a shape error as well as
``except MXNetError`` does. This module must not import the native extension.
"""

import numpy as np

__all__ = [
    "MXNetError",
    "ShapeError",
    "DTypeError",
    "ContextError",
    "NotSupported",
    "MXNetIndexError",
    "MXNetValueError",
    "MXNetTypeError",
    "MXNetMemoryError",
    "MXNetIOError",
    "AutogradError",
    "mx_real_t",
    "numeric_types",
    "integer_types",
    "string_types",
    "error_types",
    "register_error",
]


class MXNetError(RuntimeError):
    """Base class of every error raised by mxrs (as in MXNet)."""


class ShapeError(MXNetError, ValueError):
    """Shapes that do not fit an operator."""


class DTypeError(MXNetError, TypeError):
    """A dtype an operator does not accept, or inputs of mixed dtypes."""


class ContextError(MXNetError):
    """Arrays on different or unavailable devices."""


class NotSupported(MXNetError, NotImplementedError):
    """A feature this build or device does not provide."""


class MXNetIndexError(MXNetError, IndexError):
    """An index out of range."""


class MXNetValueError(MXNetError, ValueError):
    """A bad operator parameter or argument."""


class MXNetTypeError(MXNetError, TypeError):
    """An argument of the wrong kind (an unknown keyword, a non-NDArray where one is needed)."""


class MXNetMemoryError(MXNetError, MemoryError):
    """An allocation the system refused; the message names the bytes asked for."""


class AutogradError(MXNetError):
    """Misuse of autograd: backward outside a recorded graph, or writing into an array that a
    recorded graph uses."""


class MXNetIOError(MXNetError, OSError):
    """A file that cannot be read or written."""


# MXNet's registry of error types (``mx.error.register``): the name an error message starts with
# (``"ValueError: ..."``) -> the class raised for it. ``mxrs.error`` fills in MXNet's names.
error_types: dict[str, type] = {}


def register_error(func_name=None, cls=None):
    """Register an error class under a name (by default the class's own name), as MXNet's
    ``register_error``: ``@register_error`` on a class, ``register_error("Name", cls)``, or
    ``register_error("Name")`` giving a decorator. Returns the class (or the decorator)."""
    if callable(func_name):
        cls = func_name
        func_name = cls.__name__

    def register(mycls):
        err_name = func_name if isinstance(func_name, str) else mycls.__name__
        error_types[err_name] = mycls
        return mycls

    if cls is None:
        return register
    return register(cls)


def _valid_error_name(name):
    """Whether ``name`` can name an error type (letters, digits, ``_`` and ``.``)."""
    return all(x.isalnum() or x in "_." for x in name)


def _find_error_type(line):
    """The error name a message's first line starts with (``"ValueError: ..."``), or None."""
    end_pos = line.find(":")
    if end_pos == -1:
        return None
    err_name = line[:end_pos]
    return err_name if _valid_error_name(err_name) else None


def c2pyerror(err_msg):
    """Split a native error message into (message with any ``Stack trace`` block turned into a
    Python-style traceback, the error name it starts with or None), as MXNet's ``c2pyerror``."""
    arr = err_msg.split("\n")
    if arr and arr[-1] == "":
        arr.pop()
    err_type = _find_error_type(arr[0]) if arr else None
    trace_mode = False
    stack_trace: list[str] = []
    message: list[str] = []
    for line in arr:
        if trace_mode:
            if line.startswith("  "):
                stack_trace.append(line)
            else:
                trace_mode = False
        if not trace_mode:
            if line.startswith("Stack trace"):
                trace_mode = True
            else:
                message.append(line)
    out_msg = ""
    if stack_trace:
        out_msg += "Traceback (most recent call last):\n" + "\n".join(reversed(stack_trace)) + "\n"
    return out_msg + "\n".join(message), err_type


def error_from_message(err_msg):
    """The exception for a native error message: the class registered under the name it starts
    with (``mxnet.error.`` prefix allowed), else :class:`MXNetError` (MXNet's
    ``get_last_ffi_error`` on a given message)."""
    py_err_msg, err_type = c2pyerror(err_msg)
    if err_type is not None and err_type.startswith("mxnet.error."):
        err_type = err_type[len("mxnet.error.") :]
    return error_types.get(err_type or "", MXNetError)(py_err_msg)


class _NullType:
    """Marks an argument that was not given (the default of every generated op function)."""

    def __repr__(self):
        return "_Null"


_Null = _NullType()

mx_real_t = np.float32
numeric_types = (float, int, np.generic)
integer_types = (int, np.integer)
string_types = (str,)
