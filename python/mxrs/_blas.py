"""Choose the BLAS for large float32 ``dot``: the OpenBLAS of the ``scipy-openblas32`` dependency.

The native core hands large float32 products to a CBLAS library and computes the others with
the pure-Rust ``gemm`` crate (``crates/ndarray-core/src/backend/cpu/blas.rs``). At import, mxrs
asks ``scipy_openblas32`` (a declared dependency) where its library is and names it to the core,
which opens it at the first large product: opening OpenBLAS starts its thread pool, whose
spinning threads would slow every small op of a program that never multiplies large matrices.
``MXRS_BLAS_LIBRARY=/path/to/libopenblas.so`` takes another CBLAS library instead, and
``MXRS_BLAS=0`` keeps every product on the pure-Rust path.
"""

import importlib.util
import os
import sys

from mxrs import _native


def _package_library():
    """Path of the ``scipy_openblas32`` shared library, or None when the package is missing.

    The package is located, not imported: importing it opens the library (its ``__init__``
    preloads it for NumPy and SciPy), which starts OpenBLAS's threads. The library sits where
    the package's ``get_lib_dir()`` says: the ``lib`` folder beside its ``__init__``, named
    ``libscipy_openblas*`` (a ``.dll`` on Windows).
    """
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    try:
        names = sorted(os.listdir(lib_dir))
    except OSError:
        return None
    if sys.platform == "win32":
        found = [n for n in names if n.endswith(".dll")]
    else:
        found = [n for n in names if n.startswith("libscipy_openblas")]
    return os.path.join(lib_dir, found[0]) if found else None


def enable():
    """Name the package's OpenBLAS to the core (opened at the first large product); returns the
    path named, or None. ``MXRS_BLAS_LIBRARY`` and ``MXRS_BLAS=0`` take precedence in the core,
    and a library that fails to open leaves the system's OpenBLAS, else ``gemm``."""
    path = _package_library()
    if path is not None:
        _native.prefer_blas(path)
    return path


def library():
    """The file of the BLAS library that large float32 products use (opening it now if no large
    product did yet), or None on the pure-Rust path."""
    return _native.blas_library()
