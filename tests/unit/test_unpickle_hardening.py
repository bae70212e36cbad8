"""Unpickling NDArrays from damaged or forged state: an error, never a crash or a huge allocation.

The bytes themselves are fuzzed in Rust (crates/fuzz, target ndarray_raw); these tests cover the
Python layer in front of them, NDArray.__setstate__.
"""

import pickle
import random

import numpy as np
import pytest
from _target import IS_MXNET, mx

pytestmark = pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")


class _Forged:
    """Pickles as an NDArray with the given state, as a hand-edited pickle would."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (mx.nd.NDArray, (None,), self.state)


@pytest.mark.parametrize("state", [0, [], "handle", {"hande": b""}, {"handle": 1 << 40}, {"handle": "abc"}])
def test_state_of_the_wrong_kind_is_a_type_error(state):
    # An int handle must not reach bytes(), which would allocate that many zero bytes.
    with pytest.raises(TypeError) as e:
        pickle.loads(pickle.dumps(_Forged(state)))
    assert isinstance(e.value, mx.MXNetError)
    assert "unpickle an NDArray" in str(e.value)


def test_buffer_handles_and_none_are_accepted():
    raw = mx.nd.array([[1, 2], [3, 4]]).__getstate__()["handle"]
    for handle in (raw, bytes(raw), memoryview(bytes(raw))):
        a = mx.nd.NDArray(None)
        a.__setstate__({"handle": handle})
        assert a.asnumpy().tolist() == [[1, 2], [3, 4]]
    assert pickle.loads(pickle.dumps(_Forged({"handle": None})))._handle is None


def test_damaged_records_raise_mxnet_errors():
    raw = bytes(mx.nd.array([[1.5, -2], [0.25, 3]]).__getstate__()["handle"])
    rng = random.Random(16)
    damaged = [raw[:n] for n in range(len(raw))]
    for _ in range(300):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        damaged.append(bytes(b))
    errors = 0
    for b in damaged:
        try:
            a = pickle.loads(pickle.dumps(_Forged({"handle": b})))
        except mx.MXNetError as e:
            errors += 1
            assert "<pickle>" in str(e)
        else:
            assert a.size * np.dtype(a.dtype).itemsize <= len(b)
    assert errors >= len(raw)
