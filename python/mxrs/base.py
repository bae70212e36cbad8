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


class _NullType:
    """Marks an argument that was not given (the default of every generated op function)."""

    def __repr__(self):
        return "_Null"


_Null = _NullType()

mx_real_t = np.float32
numeric_types = (float, int, np.generic)
integer_types = (int, np.integer)
string_types = (str,)
