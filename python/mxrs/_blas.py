"""Use the OpenBLAS that NumPy ships for large float32 ``dot``.

NumPy (the only runtime dependency of mxrs) loads an ILP64 OpenBLAS. Its ``cblas_sgemm`` is
faster than the pure-Rust ``gemm`` crate on large products, so when it can be found its address
is handed to the native core, which falls back to ``gemm`` otherwise. Set ``MXRS_BLAS=0`` to
keep the pure-Rust path.
"""

import ctypes
import os
import sys

import numpy  # noqa: F401  (loads NumPy's OpenBLAS into the process)

from mxrs import _native

# ILP64 builds export the CBLAS functions with a "64_" suffix (and NumPy >= 2's wheels a
# "scipy_" prefix too); only these are taken, since their integer width is known.
_SYMBOLS = ("scipy_cblas_sgemm64_", "cblas_sgemm64_")


def _loaded_openblas():
    """Paths of loaded shared objects whose name mentions OpenBLAS (Linux only)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if os.path.exists(p))


def enable():
    """Hand NumPy's ``cblas_sgemm`` to the core if there is one; returns whether it is in use."""
    if os.environ.get("MXRS_BLAS", "1") == "0":
        return False
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SYMBOLS:
            fn = getattr(lib, name, None)
            if fn is not None:
                _native.set_external_sgemm(ctypes.cast(fn, ctypes.c_void_p).value)
                return _native.has_external_sgemm()
    return _native.has_external_sgemm()
