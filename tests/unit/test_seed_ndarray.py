"""Every example of the NDArray part of the seed tutorial.

Source: /work/shared/seed/000_ee31c38b805f95c4.txt (a Chinese MXNet introduction).

The tutorial uses ``mx.gpu()`` and ``mx.gpu(2)``. As in MXNet's own test-suite, other CPU
contexts (``mx.cpu(1)``, ``mx.cpu(2)``) stand in for them when there is no GPU; the
``real-gpu`` variant runs the same examples on real GPUs when ``mx.context.num_gpus() > 0``.
"""

import pickle as pkl

import numpy as np
import pytest
from _target import mx
from numpy.testing import assert_array_equal

NUM_GPUS = mx.context.num_gpus()


@pytest.fixture(params=["cpu-standin", "real-gpu"])
def devices(request):
    """(gpu0, gpu2): the two devices the tutorial calls mx.gpu() and mx.gpu(2)."""
    if request.param == "cpu-standin":
        return mx.cpu(1), mx.cpu(2)
    if NUM_GPUS == 0:
        pytest.skip("no GPU on this machine")
    return mx.gpu(0), mx.gpu(min(2, NUM_GPUS - 1))


def full(shape, value):
    return np.full(shape, value, dtype=np.float32)


def test_empty_on_devices(devices):
    gpu, gpu2 = devices
    a = mx.nd.empty((2, 3))  # on cpu(0)
    b = mx.nd.empty((2, 3), gpu)
    c = mx.nd.empty((2, 3), gpu2)
    assert a.shape == (2, 3) and a.context == mx.cpu(0)
    assert b.shape == (2, 3) and b.context == gpu
    assert c.shape == (2, 3)
    assert c.context == gpu2
    assert a.dtype == b.dtype == c.dtype == np.float32


def test_other_initialisers_and_assignment(devices):
    gpu, _ = devices
    a = mx.nd.zeros((2, 3))
    assert_array_equal(a.asnumpy(), full((2, 3), 0))
    b = mx.nd.ones((2, 3))
    assert_array_equal(b.asnumpy(), full((2, 3), 1))
    b[:] = 2
    assert_array_equal(b.asnumpy(), full((2, 3), 2))

    b = mx.nd.zeros((2, 3), gpu)
    a = mx.nd.ones((2, 3))
    a.copyto(b)  # copy from cpu to the "gpu"
    assert b.context == gpu
    assert_array_equal(b.asnumpy(), full((2, 3), 1))


def test_to_numpy():
    a = mx.nd.ones((2, 3))
    b = a.asnumpy()
    assert type(b) is np.ndarray
    assert str(b) == "[[1. 1. 1.]\n [1. 1. 1.]]"
    assert_array_equal(b, full((2, 3), 1))


def test_from_numpy():
    a = mx.nd.empty((2, 3))
    src = np.random.RandomState(0).uniform(-0.1, 0.1, a.shape)
    a[:] = src
    assert a.dtype == np.float32
    assert_array_equal(a.asnumpy(), src.astype(np.float32))
    assert (np.abs(a.asnumpy()) <= 0.1).all()


def test_basic_arithmetic():
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 4
    assert_array_equal(b.asnumpy(), full((2, 3), 4))
    c = a + b
    assert_array_equal(c.asnumpy(), full((2, 3), 6))
    d = a * b
    assert_array_equal(d.asnumpy(), full((2, 3), 8))
    assert repr(c) == "\n[[6. 6. 6.]\n [6. 6. 6.]]\n<NDArray 2x3 @cpu(0)>"


def test_move_to_same_device_before_computing(devices):
    gpu, _ = devices
    a = mx.nd.ones((2, 3)) * 2  # on the CPU
    b = mx.nd.ones((2, 3), gpu) * 3
    assert b.context == gpu
    c = a.copyto(gpu) * b
    assert c.context == gpu
    assert_array_equal(c.asnumpy(), full((2, 3), 6))


def test_pickle_save_and_load():
    a = mx.nd.ones((2, 3)) * 2
    data = pkl.dumps(a)
    b = pkl.loads(data)
    assert_array_equal(b.asnumpy(), full((2, 3), 2))
    assert b.dtype == np.float32 and b.shape == (2, 3)


def test_binary_save_list_and_dict(tmp_path):
    path = str(tmp_path / "mydata.bin")
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 3
    mx.nd.save(path, [a, b])
    c = mx.nd.load(path)
    assert isinstance(c, list) and len(c) == 2
    assert_array_equal(c[0].asnumpy(), full((2, 3), 2))
    assert_array_equal(c[1].asnumpy(), full((2, 3), 3))

    mx.nd.save(path, {"a": a, "b": b})
    c = mx.nd.load(path)
    assert isinstance(c, dict) and list(c) == ["a", "b"]
    assert_array_equal(c["a"].asnumpy(), full((2, 3), 2))
    assert_array_equal(c["b"].asnumpy(), full((2, 3), 3))


@pytest.mark.parametrize("target", ["s3://mybucket/mydata.bin", "hdfs///users/myname/mydata.bin"])
def test_save_to_distributed_fs_is_unavailable(tmp_path, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    a = mx.nd.ones((2, 3)) * 2
    with pytest.raises(mx.base.MXNetError):
        mx.nd.save(target, [a, a])


def test_automatic_parallelism(devices):
    gpu, _ = devices
    a = mx.nd.ones((2, 3))  # on the CPU
    b = a  # same array
    c = a.copyto(gpu)  # on the "gpu"
    a += 1
    b *= 3
    c *= 3
    # a += 1 and b *= 3 run one after the other on the same array
    assert b is a
    assert_array_equal(a.asnumpy(), full((2, 3), 6))
    assert_array_equal(b.asnumpy(), full((2, 3), 6))
    assert c.context == gpu
    assert_array_equal(c.asnumpy(), full((2, 3), 3))
    mx.nd.waitall()
