"""mx.error: MXNet's registry of error types, wired to mxrs's own error classes."""

import mxrs as mx
import pytest
from mxrs import base


def test_names_and_root():
    assert mx.error.MXNetError is mx.base.MXNetError is mx.MXNetError
    assert mx.error.register is mx.error.register_error is base.register_error
    assert issubclass(mx.error.InternalError, mx.base.MXNetError)
    assert set(mx.error.__all__) >= {"MXNetError", "register"}


def test_internal_error_hint_once():
    e = mx.error.InternalError("boom")
    # The text MXNet 1.9.1 gives for InternalError("boom").
    assert str(e) == (
        "boom\nMXNet hint: You hit an internal error. Please open an issue in "
        "https://github.com/apache/incubator-mxnet/issues/new/choose to report it."
    )
    assert str(mx.error.InternalError("x\nMXNet hint: mine")) == "x\nMXNet hint: mine"


@pytest.mark.parametrize(
    "name,builtin",
    [
        ("ValueError", ValueError),
        ("TypeError", TypeError),
        ("AttributeError", AttributeError),
        ("IndexError", IndexError),
        ("NotImplementedError", NotImplementedError),
    ],
)
def test_builtin_names_are_mxnet_errors(name, builtin):
    cls = base.error_types[name]
    assert issubclass(cls, builtin) and issubclass(cls, mx.base.MXNetError)
    e = base.error_from_message(f"{name}: bad thing")
    assert isinstance(e, builtin) and isinstance(e, mx.base.MXNetError)
    assert str(e) == f"{name}: bad thing"


def test_mxrs_classes_registered():
    for cls in (base.ShapeError, base.DTypeError, base.ContextError, base.MXNetValueError, base.AutogradError):
        assert base.error_types[cls.__name__] is cls
    assert base.error_types["InternalError"] is mx.error.InternalError
    assert isinstance(base.error_from_message("mxnet.error.InternalError: x"), mx.error.InternalError)
    assert isinstance(base.error_from_message("ShapeError: (2,3) vs (4,)"), base.ShapeError)


def test_errors_raised_by_ops_are_registered_classes():
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.ones((2, 3)).reshape((7,))
    assert type(info.value) in base.error_types.values()


def test_register_forms():
    @mx.error.register
    class MyError(mx.base.MXNetError):
        pass

    deco = mx.error.register("OtherName")

    class Other(mx.base.MXNetError):
        pass

    assert deco(Other) is Other
    try:
        assert isinstance(base.error_from_message("MyError: xyz"), MyError)
        assert isinstance(base.error_from_message("OtherName: xyz"), Other)
    finally:
        del base.error_types["MyError"], base.error_types["OtherName"]


def test_c2pyerror_matches_mxnet():
    # Values from MXNet 1.9.1's mx.base.c2pyerror.
    assert base.c2pyerror("ValueError: bad\nStack trace:\n  a\n  b\n") == (
        "Traceback (most recent call last):\n  b\n  a\nValueError: bad",
        "ValueError",
    )
    assert base.c2pyerror("no colon here") == ("no colon here", None)
    assert base.c2pyerror("a b: c") == ("a b: c", None)
    assert base.c2pyerror("mxnet.error.InternalError: x")[1] == "mxnet.error.InternalError"
    e = base.error_from_message("unknown: x")
    assert type(e) is mx.base.MXNetError
