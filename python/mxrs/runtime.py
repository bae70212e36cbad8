"""``mx.runtime``: what this build of mxrs has (MXNet's ``Features`` / ``feature_list``).

The names are MXNet 1.9.1's, in its order, followed by ``S3`` and ``HDFS`` (MXNet builds of the
1.x line listed them too). A feature is enabled when this build really has it:

* ``CUDA`` and ``CUDA_RTC``: the extension was built with the ``cuda`` feature (the default):
  it loads the CUDA driver at run time and compiles its kernels with NVRTC, so both are on
  whether or not this machine has a GPU (as in an MXNet CUDA build); cuDNN, NCCL and TensorRT
  are never used.
* ``CPU_SSE``/``CPU_SSE2``: the x86-64 baseline the wheel is compiled for; kernels that use wider
  vectors pick them at run time (``gemm``), which MXNet's compile-time flags do not describe.
* ``BLAS_OPEN``: an OpenBLAS library is in use for large float32 products (``scipy-openblas32``).
* ``OPENMP``: never; kernels run on a Rust thread pool bounded by ``OMP_NUM_THREADS`` and
  ``MXNET_OMP_MAX_THREADS`` (:func:`kernel_threads_from_env`).
* ``PROFILER``: the engine's op profiler (``mx.profiler``). ``S3``/``HDFS``: ``s3://``,
  ``hdfs://`` and ``webhdfs://`` paths. ``INT64_TENSOR_SIZE``: sizes and indices are 64-bit.
* ``DIST_KVSTORE``: the MPI library that the ``dist_*`` KVStores open at run time loads here.
"""

import collections
import os
import platform

from mxrs import _native
from mxrs.base import MXNetError

__all__ = ["Feature", "Features", "feature_list"]

_NAMES = (
    "CUDA CUDNN NCCL CUDA_RTC TENSORRT CPU_SSE CPU_SSE2 CPU_SSE3 CPU_SSE4_1 CPU_SSE4_2 CPU_SSE4A "
    "CPU_AVX CPU_AVX2 OPENMP SSE F16C JEMALLOC BLAS_OPEN BLAS_ATLAS BLAS_MKL BLAS_APPLE LAPACK MKLDNN "
    "OPENCV CAFFE PROFILER DIST_KVSTORE CXX14 INT64_TENSOR_SIZE SIGNAL_HANDLER DEBUG TVM_OP S3 HDFS"
).split()


def _enabled():
    """The names of the features this build has."""
    on = {"PROFILER", "INT64_TENSOR_SIZE", "S3", "HDFS"}
    if "cuda" in _native.build_features():
        on.update(("CUDA", "CUDA_RTC"))
    if platform.machine().lower() in ("x86_64", "amd64"):
        on.update(("CPU_SSE", "CPU_SSE2", "SSE"))
    blas = _native.blas_library()
    if blas is not None and "openblas" in os.path.basename(str(blas)).lower():
        on.add("BLAS_OPEN")
    if _mpi_available():
        on.add("DIST_KVSTORE")
    return on


def _mpi_available():
    """True when the MPI library the ``dist_*`` stores open at run time can be loaded."""
    try:
        _native.dist_mpi_library()
    except MXNetError:
        return False
    return True


class Feature:
    """A compile-time feature: its ``name`` and whether it is ``enabled``."""

    __slots__ = ("name", "enabled")

    def __init__(self, name, enabled):
        self.name = name
        self.enabled = enabled

    def __repr__(self):
        return f"{'✔' if self.enabled else '✖'} {self.name}"


def feature_list():
    """Every feature MXNet names, each with whether this build has it."""
    on = _enabled()
    return [Feature(n, n in on) for n in _NAMES]


class Features(collections.OrderedDict):
    """The features by name (one instance per process, as in MXNet)."""

    instance = None

    def __new__(cls):
        if cls.instance is None:
            cls.instance = super().__new__(cls)
            super(Features, cls.instance).__init__([(f.name, f) for f in feature_list()])
        return cls.instance

    def __init__(self):
        pass

    def __repr__(self):
        return str(list(self.values()))

    def is_enabled(self, feature_name):
        """Whether the feature is enabled; ``RuntimeError`` for a name MXNet does not have."""
        feature_name = feature_name.upper()
        if feature_name not in self:
            raise RuntimeError(f"Feature '{feature_name}' is unknown, known features are: {list(self.keys())}")
        return self[feature_name].enabled


def kernel_threads_from_env(environ):
    """The kernel thread count MXNet's variables ask for, or None to keep the default (one per core).

    ``OMP_NUM_THREADS`` sets it and ``MXNET_OMP_MAX_THREADS`` caps it, as they bound OpenMP in
    MXNet; ``RAYON_NUM_THREADS``, when set, wins over both. Values that are not positive integers
    are ignored.
    """

    def num(name):
        try:
            v = int(environ.get(name, "").strip().split(",")[0])
        except ValueError:
            return None
        return v if v > 0 else None

    if num("RAYON_NUM_THREADS") is not None:
        return None
    want, cap = num("OMP_NUM_THREADS"), num("MXNET_OMP_MAX_THREADS")
    if want is None and cap is None:
        return None
    n = want if want is not None else (os.cpu_count() or 1)
    return min(n, cap) if cap is not None else n


# OMP_NUM_THREADS / MXNET_OMP_MAX_THREADS bound the kernels' thread pool as they bound OpenMP in
# MXNet. The pool reads RAYON_NUM_THREADS when it starts, at the first parallel kernel, which
# comes after ``import mxrs`` has imported this module (first of its submodules).
_kernel_threads = kernel_threads_from_env(os.environ)
if _kernel_threads is not None:
    os.environ["RAYON_NUM_THREADS"] = str(_kernel_threads)
