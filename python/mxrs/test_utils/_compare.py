"""Tolerances and array comparisons of ``mx.test_utils`` (MXNet 1.9.1's semantics and messages)."""

import numbers

import numpy as np
import numpy.testing as npt

from mxrs import ndarray as nd

__all__ = [
    "default_dtype",
    "default_rtols",
    "default_atols",
    "default_numeric_eps",
    "effective_dtype",
    "get_tolerance",
    "get_tols",
    "get_atol",
    "get_rtol",
    "get_etol",
    "same",
    "checkShapes",
    "almost_equal",
    "locationError",
    "assert_almost_equal",
    "assert_allclose",
    "assert_almost_equal_with_err",
    "assert_almost_equal_ignore_nan",
    "assert_exception",
    "compare_ndarray_tuple",
    "collapse_sum_like",
]

_F64 = np.dtype(np.float64)
_INT_TYPES = (np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64)


def default_dtype():
    """The default data type of the test helpers: ``np.float32``."""
    return np.float32


def default_rtols():
    """Default relative tolerance per data type (MXNet's table)."""
    tols = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-5}
    tols.update({np.dtype(t): 0 for t in _INT_TYPES})
    return tols


def default_atols():
    """Default absolute tolerance per data type (MXNet's table)."""
    tols = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-20}
    tols.update({np.dtype(t): 0 for t in _INT_TYPES})
    return tols


def default_numeric_eps():
    """Default finite-difference step per data type (powers of two, as MXNet)."""
    return {
        np.dtype(np.float16): 1.0 / 2**6,
        np.dtype(np.float32): 1.0 / 2**9,
        np.dtype(np.float64): 1.0 / 2**14,
    }


def effective_dtype(dat):
    """The dtype whose tolerance applies to ``dat`` (a NumPy array or an NDArray).

    MXNet answers float16 for float32 data on GPUs of compute capability 8.0 or newer, whose
    GEMMs and convolutions run in TF32. mxrs's GPU kernels compute float32 in full precision,
    so the answer is always the data's own dtype.
    """
    return np.dtype(dat.dtype)


def get_tolerance(dat, tol, default_tol):
    """``tol`` when it is a number, else ``tol[dtype]`` or ``default_tol[dtype]`` for ``dat``'s
    effective dtype (``tol`` may be ``None`` or a dict of dtype to tolerance)."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = effective_dtype(dat)
    tol = {} if tol is None else tol
    return tol.get(dtype, default_tol[dtype])


def get_tols(x, y, rtol, atol):
    """The ``(rtol, atol)`` to compare ``x`` with ``y``: the larger default of the two dtypes
    unless given."""
    if isinstance(x, numbers.Number):
        x = np.array(x)
    if isinstance(y, numbers.Number):
        y = np.array(y)
    rtol = max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols()))
    atol = max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols()))
    return rtol, atol


def get_atol(atol=None, dtype=_F64):
    """``atol``, or the default absolute tolerance of ``dtype`` (float64) when it is ``None``."""
    return default_atols()[dtype] if atol is None else atol


def get_rtol(rtol=None, dtype=_F64):
    """``rtol``, or the default relative tolerance of ``dtype`` (float64) when it is ``None``."""
    return default_rtols()[dtype] if rtol is None else rtol


def get_etol(etol=None):
    """``etol``, or 0 (no mismatching element allowed) when it is ``None``."""
    return 0 if etol is None else etol


def _find_max_violation(a, b, rtol, atol):
    """The index (a tuple of ints) and size of the largest tolerance violation."""
    absdiff = np.where(np.equal(a, b), 0, np.abs(a - b))
    tol = atol + rtol * np.abs(b)
    violation = absdiff / (tol + 1e-20)
    loc = np.argmax(violation)
    idx = tuple(int(i) for i in np.unravel_index(loc, violation.shape))
    return idx, np.max(violation)


def same(a, b):
    """Whether two NumPy arrays have the same shape and elements."""
    return np.array_equal(a, b)


def checkShapes(a, b):  # noqa: N802 (MXNet's name)
    """Raise ``AssertionError`` when ``a`` and ``b`` have different shapes."""
    if a.shape != b.shape:
        msg = npt.build_err_msg([a, b], err_msg=f"a.shape = {a.shape!s} and b.shape = {b.shape!s} are not equal")
        raise AssertionError(msg)


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """Whether two NumPy arrays are equal within ``rtol``/``atol`` (float64 defaults)."""
    if not use_broadcast:
        checkShapes(a, b)
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol), equal_nan=equal_nan))


def locationError(a, b, index, names, maxError=False):  # noqa: N802, N803 (MXNet's names)
    """The line naming the mismatching element at ``index`` and both values."""
    maximum = "maximum " if maxError else ""
    return "Location of %serror: %s, %s=%.8f, %s=%.8f" % (
        maximum,
        str(index),
        names[0],
        a[index],
        names[1],
        b[index],
    )


def _as_numpy(x):
    if isinstance(x, nd.NDArray):
        return x.asnumpy()
    return x


def _mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches):
    """Print the largest mismatches (as MXNet does) and return its error message."""
    index, rel = _find_max_violation(a, b, rtol, atol)
    if index == ():
        return "Error %f exceeds tolerance rtol=%e, atol=%e.\n" % (rel, rtol, atol)
    index_err, rel_err = index, rel
    print(f"\n*** Maximum errors for vector of size {a.size}:  rtol={rtol}, atol={atol}\n")
    a_tmp = a.copy()
    b_tmp = b.copy()
    i = 1
    while i <= a.size:
        if i <= mismatches[0]:
            print("%3d: Error %f  %s" % (i, rel, locationError(a, b, index, names)))
        a_tmp[index] = b_tmp[index] = 0
        if almost_equal(a_tmp, b_tmp, rtol, atol, equal_nan=equal_nan):
            break
        i += 1
        if i <= mismatches[1] or mismatches[1] <= 0:
            index, rel = _find_max_violation(a_tmp, b_tmp, rtol, atol)
        else:
            break
    degree = "at least " if mismatches[1] > 0 and i > mismatches[1] else ""
    return "Error %f exceeds tolerance rtol=%e, atol=%e (mismatch %s%f%%).\n%s" % (
        rel_err,
        rtol,
        atol,
        degree,
        100 * i / a.size,
        locationError(a, b, index_err, names, maxError=True),
    )


def _raise_mismatch(a, b, err_msg):
    # MXNet sets these print options globally before formatting; scoping them keeps the
    # message identical without changing the caller's NumPy settings.
    with np.printoptions(threshold=4, suppress=True):
        msg = npt.build_err_msg([a, b], err_msg=err_msg)
    raise AssertionError(msg)


def assert_almost_equal(
    a,
    b,
    rtol=None,
    atol=None,
    names=("a", "b"),
    equal_nan=False,
    use_broadcast=True,
    mismatches=(10, 10),
):
    """Raise ``AssertionError`` unless ``a`` and ``b`` (NumPy arrays or NDArrays) are equal
    within the tolerances.

    ``rtol``/``atol``: a number, a dict of dtype to number, or ``None`` for the larger default
    of the two dtypes. ``names`` name the arrays in the message; ``mismatches`` bounds how many
    mismatching elements are printed and counted. The message is MXNet's: the largest error
    relative to the tolerance, the share of mismatching elements, the location and both arrays.
    """
    if not use_broadcast:
        checkShapes(a, b)
    rtol, atol = get_tols(a, b, rtol, atol)
    a = _as_numpy(a)
    b = _as_numpy(b)
    if getattr(a, "dtype", None) == np.bool_ and getattr(b, "dtype", None) == np.bool_:
        np.testing.assert_equal(a, b)
        return
    if almost_equal(a, b, rtol, atol, equal_nan=equal_nan):
        return
    a = np.asarray(a)
    b = np.asarray(b)
    _raise_mismatch(a, b, _mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    """:func:`assert_almost_equal` with NumPy's ``assert_allclose`` defaults."""
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_almost_equal_with_err(
    a, b, rtol=None, atol=None, etol=None, names=("a", "b"), equal_nan=False, mismatches=(10, 10)
):
    """As :func:`assert_almost_equal`, but passes while the share of mismatching elements is at
    most ``etol`` (a fraction; ``None`` or 0 requires every element to match)."""
    etol = get_etol(etol)
    if etol <= 0:
        assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
        return
    rtol, atol = get_tols(a, b, rtol, atol)
    a = np.asarray(_as_numpy(a))
    b = np.asarray(_as_numpy(b))
    equals = np.isclose(a, b, rtol=rtol, atol=atol)
    err = 1 - np.count_nonzero(equals) / equals.size
    if err > etol:
        _raise_mismatch(a, b, _mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches))


def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=("a", "b")):
    """:func:`assert_almost_equal` after setting both arrays to 0 wherever either is NaN."""
    a = np.copy(_as_numpy(a))
    b = np.copy(_as_numpy(b))
    nan_mask = np.logical_or(np.isnan(a), np.isnan(b))
    a[nan_mask] = 0
    b[nan_mask] = 0
    assert_almost_equal(a, b, rtol, atol, names)


def assert_exception(f, exception_type, *args, **kwargs):
    """Raise ``AssertionError`` unless ``f(*args, **kwargs)`` raises ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)} did not raise {exception_type}")


def compare_ndarray_tuple(t1, t2, rtol=None, atol=None):
    """Compare two (nested tuples of) arrays with :func:`assert_almost_equal`; ``None`` passes."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, tuple):
        for s1, s2 in zip(t1, t2, strict=False):
            compare_ndarray_tuple(s1, s2, rtol, atol)
    else:
        assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def collapse_sum_like(a, shape):
    """Sum the NumPy array ``a`` over the axes along which ``shape`` broadcasts to it."""
    assert len(a.shape) >= len(shape)
    if np.prod(shape) == 0 or a.size == 0:
        return np.zeros(shape, dtype=a.dtype)
    ndim_diff = len(a.shape) - len(shape)
    axes = list(range(ndim_diff))
    for i, s in enumerate(shape):
        if s != a.shape[i + ndim_diff]:
            assert s == 1
            axes.append(i + ndim_diff)
    return np.sum(a, axis=tuple(axes)).reshape(shape)
