"""The seed tutorial's KVStore examples, run on mxrs.

``run()`` runs them in the tutorial's order and prints what the tutorial prints. The tutorial
uses four GPUs; where this machine has fewer, the CPU contexts ``cpu(0..3)`` stand in for them
(as MXNet's own tests do). It ends with the tutorial's training loop (pull the weight, compute
a gradient on each device, push) with an SGD optimizer inside the store.
"""

import mxrs as mx
import numpy as np


def _devices(n=4):
    if mx.num_gpus() >= n:
        return [mx.gpu(i) for i in range(n)]
    return [mx.cpu(i) for i in range(n)]


def _section(title):
    print(f"\n=== {title} ===")


def run():
    """Run and print the KVStore examples."""
    gpus = _devices()
    _section("KVStore 1: create, init, pull")
    kv = mx.kv.create("local")
    shape = (2, 3)
    kv.init(3, mx.nd.ones(shape) * 2)
    a = mx.nd.zeros(shape)
    kv.pull(3, out=a)
    print(a.asnumpy())

    _section("KVStore 2: push a new value")
    kv.push(3, mx.nd.ones(shape) * 8)
    kv.pull(3, out=a)
    print(a.asnumpy())

    _section(f"KVStore 3: push one value from each of {', '.join(str(g) for g in gpus)} (summed)")
    b = [mx.nd.ones(shape, gpu) for gpu in gpus]
    kv.push(3, b)
    kv.pull(3, out=a)
    print(a.asnumpy())

    _section("KVStore 4: a custom updater")

    def update(key, input, stored):
        print("update on key: %d" % key)
        stored += input * 2

    kv._set_updater(update)
    kv.pull(3, out=a)
    print(a.asnumpy())
    kv.push(3, mx.nd.ones(shape))
    kv.pull(3, out=a)
    print(a.asnumpy())

    _section("KVStore 5: pull to several devices")
    b = [mx.nd.ones(shape, gpu) for gpu in gpus]
    kv.pull(3, out=b)
    print(b[1].asnumpy())

    _section("KVStore 6: lists of keys, one device")
    keys = [5, 7, 9]
    kv.init(keys, [mx.nd.ones(shape)] * len(keys))
    kv.push(keys, [mx.nd.ones(shape)] * len(keys))
    b = [mx.nd.zeros(shape)] * len(keys)
    kv.pull(keys, out=b)
    print(b[1].asnumpy())

    _section("KVStore 6: lists of keys, several devices")
    b = [[mx.nd.ones(shape, gpu) for gpu in gpus]] * len(keys)
    kv.push(keys, b)
    kv.pull(keys, out=b)
    print(b[1][1].asnumpy())

    _section("KVStore training loop: pull, forward, backward, push (SGD inside the store)")
    rng = np.random.RandomState(0)
    true_w = np.array([[2.0], [-3.4]], dtype=np.float32)
    x = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y = x @ true_w + 4.2
    parts = np.array_split(np.arange(256), len(gpus))
    data = [(mx.nd.array(x[p], ctx=g), mx.nd.array(y[p], ctx=g)) for p, g in zip(parts, gpus, strict=True)]
    store = mx.kv.create("device")
    store.set_optimizer(mx.optimizer.SGD(learning_rate=0.5, momentum=0.5, rescale_grad=1.0 / 256))
    store.init(["w", "b"], [mx.nd.zeros((2, 1)), mx.nd.zeros((1,))])
    ws = [mx.nd.zeros((2, 1), ctx=g) for g in gpus]
    bs = [mx.nd.zeros((1,), ctx=g) for g in gpus]
    for step in range(60):
        store.pull(["w", "b"], out=[ws, bs])
        gw, gb = [], []
        for (xd, yd), w, b_ in zip(data, ws, bs, strict=True):
            err = mx.nd.dot(xd, w) + b_ - yd  # forward
            gw.append(mx.nd.dot(xd, err, transpose_a=True) * 2)  # backward
            gb.append(mx.nd.sum(err, axis=0) * 2)
        store.push(["w", "b"], [gw, gb])
        if step % 20 == 19:
            store.pull(["w", "b"], out=[ws, bs])
            loss = float(mx.nd.mean(mx.nd.square(mx.nd.dot(data[0][0], ws[0]) + bs[0] - data[0][1])).asscalar())
            print(f"step {step + 1:2d}: w = {ws[0].asnumpy().ravel()}, b = {bs[0].asnumpy()}, mse = {loss:.2e}")


if __name__ == "__main__":
    run()
