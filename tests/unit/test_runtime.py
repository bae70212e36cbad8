"""mx.runtime (MXNet's feature list, with what this build has) and MXNet's thread knobs."""

import json
import os
import subprocess
import sys

import mxrs as mx
import pytest
from mxrs.runtime import kernel_threads_from_env

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "ecosystem_golden.json")))


def test_feature_names_are_mxnets_in_its_order():
    names = [f.name for f in mx.runtime.feature_list()]
    assert names[: len(GOLDEN["feature_names"])] == GOLDEN["feature_names"]
    assert names[len(GOLDEN["feature_names"]) :] == ["S3", "HDFS"]


def test_features_report_this_build():
    f = mx.runtime.Features()
    assert f is mx.runtime.Features()
    built = "cuda" in mx._native.build_features()
    assert f.is_enabled("cuda") == built
    assert f.is_enabled("CUDA_RTC") == built
    for off in ("CUDNN", "NCCL", "TENSORRT", "MKLDNN", "OPENMP", "CAFFE", "TVM_OP", "JEMALLOC"):
        assert not f.is_enabled(off), off
    for on in ("PROFILER", "S3", "HDFS", "INT64_TENSOR_SIZE"):
        assert f.is_enabled(on), on
    blas = mx._native.blas_library()
    assert f.is_enabled("BLAS_OPEN") == (blas is not None and "openblas" in str(blas).lower())
    assert repr(f).startswith("[✖ CUDA" if not f.is_enabled("CUDA") else "[✔ CUDA")
    assert repr(f["PROFILER"]) == "✔ PROFILER"
    with pytest.raises(RuntimeError, match="Feature 'FOO' is unknown, known features are"):
        f.is_enabled("foo")


@pytest.mark.parametrize(
    "env, want",
    [
        ({}, None),
        ({"OMP_NUM_THREADS": "3"}, 3),
        ({"OMP_NUM_THREADS": "8", "MXNET_OMP_MAX_THREADS": "2"}, 2),
        ({"MXNET_OMP_MAX_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "4,2"}, 4),  # OpenMP's nested list: the outer level
        ({"OMP_NUM_THREADS": "x"}, None),
        ({"OMP_NUM_THREADS": "0"}, None),
        ({"OMP_NUM_THREADS": "3", "RAYON_NUM_THREADS": "5"}, None),  # rayon's own variable wins
    ],
)
def test_kernel_thread_count_from_mxnet_variables(env, want):
    assert kernel_threads_from_env(env) == want


def _in_child(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_omp_num_threads_bounds_the_kernel_pool():
    code = "import mxrs as mx; print(mx._native.kernel_threads())"
    assert _in_child(code, OMP_NUM_THREADS="1") == "1"
    assert _in_child(code, OMP_NUM_THREADS="3", MXNET_OMP_MAX_THREADS="2") == "2"


def test_engine_variables_work():
    code = "import mxrs as mx; print(mx._native.engine_name())"
    assert _in_child(code, MXNET_ENGINE_TYPE="NaiveEngine") == "NaiveEngine"
    assert _in_child(code, MXNET_ENGINE_TYPE="ThreadedEngine") == "ThreadedEngine"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_cpu_worker_nthreads_sets_the_engine_workers():
    code = (
        "import os, mxrs as mx\n"
        "ys = [mx.nd.dot(mx.nd.ones((300, 300)), mx.nd.ones((300, 300))) for _ in range(8)]\n"
        "mx.nd.waitall()\n"
        "names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "print(sum(n.startswith('mxrs-cpu-worker') for n in names))\n"
    )
    one = int(_in_child(code, MXNET_CPU_WORKER_NTHREADS="1"))
    four = int(_in_child(code, MXNET_CPU_WORKER_NTHREADS="4"))
    assert four - one == 3
