"""Choose the BLAS for large float32 ``dot``: the OpenBLAS of the ``scipy-openblas32`` dependency.

The native core hands large float32 products to a CBLAS library and computes the others with
the pure-Rust ``gemm`` crate (``crates/ndarray-core/src/backend/cpu/blas.rs``). At import, mxrs
asks ``scipy_openblas32`` (a declared dependency) where its library is and loads it into the
core. ``MXRS_BLAS_LIBRARY=/path/to/libopenblas.so`` takes another CBLAS library instead, and
``MXRS_BLAS=0`` keeps every product on the pure-Rust path.
"""

import os
import sys

from mxrs import _native
from mxrs.base import MXNetError


def _package_library():
    """Path of the ``scipy_openblas32`` shared library, or None when the package is missing."""
    try:
        import scipy_openblas32  # here, not at the top: importing it loads the library
    except ImportError:
        return None
    lib_dir = scipy_openblas32.get_lib_dir()
    if sys.platform == "win32":  # get_library names the import library; the DLL sits beside it
        dlls = [name for name in os.listdir(lib_dir) if name.endswith(".dll")]
        return os.path.join(lib_dir, dlls[0]) if dlls else None
    return os.path.join(lib_dir, scipy_openblas32.get_library(fullname=True))


def enable():
    """Load the package's OpenBLAS unless the environment says otherwise; returns the path of
    the library in use, or None on the pure-Rust path."""
    if os.environ.get("MXRS_BLAS", "1") != "0" and not os.environ.get("MXRS_BLAS_LIBRARY"):
        path = _package_library()
        if path is not None:
            try:
                _native.load_blas(path)
            except MXNetError:
                pass  # the core falls back to the system's OpenBLAS, else to gemm
    return _native.blas_library()
