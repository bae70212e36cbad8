"""Print MXNet 1.9.1's gradients at ties and kinks, the values the Rust tests
`gradients_at_ties_and_kinks_follow_mxnet` (op/elemwise.rs) and
`max_ties_and_prod_at_zero_follow_mxnet` (op/reduce.rs) expect.

Run with the reference environment: /work/mxref/bin/python tools/golden/grad_conventions.py
"""

import mxnet as mx
from mxnet import autograd


def grads(f, *inputs):
    """Gradients of sum(f(*inputs)) with respect to each input."""
    xs = [mx.nd.array(x, dtype="float64") for x in inputs]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        y = f(*xs)
    y.backward()
    return [x.grad.asnumpy().tolist() for x in xs]


CASES = {
    "_maximum": lambda: grads(mx.nd.maximum, [1.0, 2.0], [1.0, 3.0]),
    "_minimum": lambda: grads(mx.nd.minimum, [1.0, 2.0], [1.0, 3.0]),
    "_maximum_scalar(1)": lambda: grads(lambda a: mx.nd.maximum(a, 1.0), [1.0, 2.0, 0.0]),
    "_minimum_scalar(1)": lambda: grads(lambda a: mx.nd.minimum(a, 1.0), [1.0, 2.0, 0.0]),
    "clip(0, 1)": lambda: grads(lambda a: mx.nd.clip(a, 0, 1), [0.0, 1.0, 0.5, 2.0]),
    "relu": lambda: grads(mx.nd.relu, [0.0, 1.0]),
    "abs": lambda: grads(mx.nd.abs, [0.0, 1.0]),
    "_rmod_scalar(5)": lambda: grads(lambda a: 5.0 % a, [2.0, 3.0]),
    "_mod": lambda: grads(lambda a, b: a % b, [5.0, 7.0], [2.0, 3.0]),
    "max": lambda: grads(mx.nd.max, [[1.0, 3.0, 3.0]]),
    "prod": lambda: grads(mx.nd.prod, [0.0, 2.0]),
}

if __name__ == "__main__":
    for name, case in CASES.items():
        print(f"{name}: {case()}")
