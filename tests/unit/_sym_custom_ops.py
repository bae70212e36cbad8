"""Python operators shared by tests/unit/test_sym_custom.py (run by mxrs) and
tools/golden/sym_custom.py (run by real MXNet 1.9.1 to write tests/data/sym_custom_golden.json):
the same code under both, given the ``mx`` module."""

import numpy as np


def register_all(mx):
    """Register the test operators with ``mx.operator`` (idempotent per process)."""

    class Softmax(mx.operator.CustomOp):
        # MXNet's example/numpy-ops/custom_softmax.py.
        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            y = np.exp(x - x.max(axis=1).reshape((x.shape[0], 1)))
            y /= y.sum(axis=1).reshape((x.shape[0], 1))
            self.assign(out_data[0], req[0], mx.nd.array(y))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            lab = in_data[1].asnumpy().ravel().astype(np.int64)
            y = out_data[0].asnumpy()
            y[np.arange(lab.shape[0]), lab] -= 1.0
            self.assign(in_grad[0], req[0], mx.nd.array(y))

    @mx.operator.register("t_softmax")
    class SoftmaxProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=False)

        def list_arguments(self):
            return ["data", "label"]

        def list_outputs(self):
            return ["output"]

        def infer_shape(self, in_shape):
            data_shape = in_shape[0]
            label_shape = (in_shape[0][0],)
            output_shape = in_shape[0]
            return [data_shape, label_shape], [output_shape], []

        def infer_type(self, in_type):
            return in_type, [in_type[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Softmax()

    class ScaleSum(mx.operator.CustomOp):
        # Two inputs, two outputs, a keyword argument, state kept from forward to backward.
        def __init__(self, scale):
            super().__init__()
            self.scale = scale
            self.saved = None

        def forward(self, is_train, req, in_data, out_data, aux):
            a, b = in_data
            self.saved = a.asnumpy()
            self.assign(out_data[0], req[0], a * self.scale)
            self.assign(out_data[1], req[1], a * b)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            ga, gb = out_grad
            a = mx.nd.array(self.saved)
            b = in_data[1]
            self.assign(in_grad[0], req[0], ga * self.scale + gb * b)
            self.assign(in_grad[1], req[1], gb * a)

    @mx.operator.register("t_scalesum")
    class ScaleSumProp(mx.operator.CustomOpProp):
        def __init__(self, scale="1.0"):
            super().__init__(need_top_grad=True)
            self.scale = float(scale)

        def list_arguments(self):
            return ["a", "b"]

        def list_outputs(self):
            return ["scaled", "prod"]

        def infer_shape(self, in_shape):
            return [in_shape[0], in_shape[0]], [in_shape[0], in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return ScaleSum(self.scale)

    class Counter(mx.operator.CustomOp):
        # An auxiliary state the forward pass updates.
        def forward(self, is_train, req, in_data, out_data, aux):
            aux[0][:] = aux[0] + 1
            self.assign(out_data[0], req[0], in_data[0] * aux[0])

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], out_grad[0] * aux[0])

    @mx.operator.register("t_counter")
    class CounterProp(mx.operator.CustomOpProp):
        def list_arguments(self):
            return ["data"]

        def list_auxiliary_states(self):
            return ["count"]

        def infer_shape(self, in_shape):
            return [in_shape[0]], [in_shape[0]], [(1,)]

        def create_operator(self, ctx, shapes, dtypes):
            return Counter()

    class Boom(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            raise ValueError("boom in forward")

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            raise ValueError("boom in backward")

    @mx.operator.register("t_boom")
    class BoomProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Boom()


def softmax_net(mx):
    """MXNet's custom_softmax example network: FC-relu-FC-Custom softmax."""
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=16)
    act1 = mx.sym.Activation(data=fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(data=act1, name="fc2", num_hidden=3)
    return mx.sym.Custom(data=fc2, name="softmax", op_type="t_softmax")
