"""Structured error classes (MXNet's ``mx.error``): the registry of error types.

``mx.error.register`` (also ``register_error``) names a class so that a native error message
starting with ``"<Name>: "`` raises it (see ``mxrs.base.error_from_message``)::

    @mx.error.register
    class MyError(mx.base.MXNetError):
        pass

    raise mx.base.error_from_message("MyError: details")    # a MyError

Every error mxrs raises derives from :class:`mxrs.base.MXNetError`, which stays the root. MXNet
registers the built-in ``ValueError``, ``TypeError``, ``AttributeError``, ``IndexError`` and
``NotImplementedError`` under their names; mxrs registers its own subclasses of both
``MXNetError`` and the built-in instead (``MXNetValueError``, ``MXNetTypeError``,
:class:`MXNetAttributeError`, ``MXNetIndexError``, ``NotSupported``), so such an error is caught by
``except ValueError`` (as in MXNet) and by ``except MXNetError``. mxrs's other error classes
(``ShapeError``, ``DTypeError``, ``ContextError``...) are registered under their own names.
"""

from mxrs import base
from mxrs.base import MXNetError, register_error

__all__ = ["MXNetError", "register", "register_error", "InternalError", "MXNetAttributeError"]

register = register_error

_HINT = (
    "\nMXNet hint: You hit an internal error. Please open an issue in "
    "https://github.com/apache/incubator-mxnet/issues/new/choose to report it."
)


@register_error
class InternalError(MXNetError):
    """An internal error of the system; the message gets MXNet's hint to report it appended
    (once)."""

    def __init__(self, msg):
        if "MXNet hint:" not in msg:
            msg += _HINT
        super().__init__(msg)


class MXNetAttributeError(MXNetError, AttributeError):
    """An attribute that does not exist (registered as ``AttributeError``)."""


# mxrs's own classes, under their names.
for _name in base.__all__:
    _cls = getattr(base, _name)
    if isinstance(_cls, type) and issubclass(_cls, MXNetError):
        register_error(_cls)
register_error(MXNetAttributeError)

# MXNet's built-in names, mapped to mxrs's subclasses of both MXNetError and the built-in.
register_error("MXNetError", MXNetError)
register_error("ValueError", base.MXNetValueError)
register_error("TypeError", base.MXNetTypeError)
register_error("AttributeError", MXNetAttributeError)
register_error("IndexError", base.MXNetIndexError)
register_error("NotImplementedError", base.NotSupported)
