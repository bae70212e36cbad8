"""Preload PyPI's NVIDIA CUDA libraries so that the CUDA backend finds them.

The CUDA backend opens its libraries at run time by soname (``dlopen("libcublas.so.13")``).
PyPI's ``nvidia-*`` wheels (``nvidia-cublas``, ``nvidia-cuda-nvrtc``...) put them in
``site-packages/nvidia/<name>/lib`` (CUDA 12 layout) or ``site-packages/nvidia/cu13/lib``
(CUDA 13 layout), which the dynamic loader does not search. :func:`preload` opens them once with
``RTLD_GLOBAL``; a later ``dlopen`` by soname then returns the library already loaded.

Nothing here is needed on a machine without those wheels (CPU machines, CI): :func:`preload`
finds nothing and does nothing. It never raises.
"""

import ctypes
import glob
import importlib.util
import os
import sys
import threading

__all__ = ["preload", "loaded", "library_dirs", "find_library"]

# In load order: a library's dependencies before it. ``libnvrtc`` opens its builtins library
# (``libnvrtc-builtins.so.13.0``) by soname when it compiles, so that one comes first.
_LIBRARIES = (
    "libnvrtc-builtins.so.13*",
    "libnvrtc.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
)

_lock = threading.Lock()
_done = False
_loaded: dict[str, str] = {}
_errors: dict[str, str] = {}
# The CDLL objects: kept so the libraries stay loaded for the life of the process.
_handles: list[ctypes.CDLL] = []


def _nvidia_roots():
    """Directories named ``nvidia`` holding the pip-installed NVIDIA packages, in path order."""
    roots: list[str] = []
    try:
        spec = importlib.util.find_spec("nvidia")
        if spec is not None and spec.submodule_search_locations:
            roots.extend(str(p) for p in spec.submodule_search_locations)
    except (ImportError, ValueError, AttributeError):
        pass
    for entry in sys.path:
        candidate = os.path.join(entry or os.getcwd(), "nvidia")
        if os.path.isdir(candidate):
            roots.append(candidate)
    seen = set()
    unique = []
    for root in roots:
        real = os.path.realpath(root)
        if real not in seen and os.path.isdir(real):
            seen.add(real)
            unique.append(real)
    return unique


def library_dirs():
    """The ``lib`` folders of the pip-installed NVIDIA packages (``nvidia/*/lib``), may be empty."""
    dirs = []
    for root in _nvidia_roots():
        dirs.extend(sorted(d for d in glob.glob(os.path.join(root, "*", "lib")) if os.path.isdir(d)))
    return dirs


def find_library(pattern):
    """The path of the first file matching ``pattern`` (a glob such as ``libcublas.so.13``) in
    :func:`library_dirs`, or ``None``."""
    for d in library_dirs():
        matches = sorted(glob.glob(os.path.join(d, pattern)))
        if matches:
            return matches[0]
    return None


def _preload_locked():
    dirs = library_dirs()
    if not dirs:
        return
    mode = getattr(os, "RTLD_GLOBAL", ctypes.RTLD_GLOBAL) | getattr(os, "RTLD_NOW", 0)
    for pattern in _LIBRARIES:
        path = None
        for d in dirs:
            matches = sorted(glob.glob(os.path.join(d, pattern)))
            if matches:
                path = matches[0]
                break
        if path is None:
            continue
        try:
            _handles.append(ctypes.CDLL(path, mode=mode))
            _loaded[pattern] = path
        except OSError as exc:
            _errors[pattern] = f"{path}: {exc}"


def preload():
    """Open the pip-installed NVRTC and cuBLAS libraries with ``RTLD_GLOBAL``, once.

    Idempotent and cheap after the first call; never raises. Returns the libraries loaded, as
    :func:`loaded` does.
    """
    global _done
    if _done:
        return dict(_loaded)
    with _lock:
        if not _done:
            try:
                _preload_locked()
            except Exception as exc:  # preloading is best effort: never raise from here
                _errors["preload"] = repr(exc)
            _done = True
    return dict(_loaded)


def loaded():
    """``{pattern: path}`` of the libraries :func:`preload` opened, and ``{pattern: error}`` of
    those found that failed to open."""
    return dict(_loaded), dict(_errors)
