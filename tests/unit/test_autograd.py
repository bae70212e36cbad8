"""``mx.autograd`` and NDArray gradients against real MXNet 1.9.1.

The golden gradients come from ``tools/golden/autograd.py`` (``tests/data/autograd_golden.json``):
each case is a snippet of MXNet code that this file runs unchanged on mxrs. The second-order
cases MXNet 1.9.1 cannot run (its ``_backward_mul`` has no gradient) hold analytic values.
"""

import json
from pathlib import Path

import mxrs as mx
import numpy as np
import pytest
from mxrs import autograd as ag
from mxrs import nd
from mxrs.base import AutogradError, MXNetError

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "autograd_golden.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    case = CASES[name]
    xs = [nd.array(np.array(i["values"], np.float32).reshape(i["shape"])) for i in case["inputs"]]
    for x in xs:
        x.attach_grad(grad_req=case["grad_req"])
    scope = {"mx": mx, "nd": nd, "ag": ag}
    scope.update({f"x{i}": x for i, x in enumerate(xs)})
    exec(case["code"], scope)  # noqa: S102 (the snippets of the golden file)
    for i, (x, want) in enumerate(zip(xs, case["grads"])):
        got = x.grad.asnumpy().ravel()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{name}: gradient of x{i}")
    if case["out"] is not None:
        out = scope["out"]
        assert list(out.shape) == case["out"]["shape"]
        np.testing.assert_allclose(out.asnumpy().ravel(), case["out"]["values"], rtol=1e-4, atol=1e-5)


def test_all_golden_cases_are_present():
    assert GOLDEN["mxnet"] == "1.9.1"
    assert len(CASES) >= 30


def test_modes_and_scopes():
    assert not ag.is_recording() and not ag.is_training()
    with ag.record():
        assert ag.is_recording() and ag.is_training()
        with ag.pause():
            assert not ag.is_recording() and not ag.is_training()
        with ag.pause(train_mode=True):
            assert not ag.is_recording() and ag.is_training()
        with ag.predict_mode():
            assert ag.is_recording() and not ag.is_training()
    with ag.record(train_mode=False):
        assert ag.is_recording() and not ag.is_training()
    with ag.train_mode():
        assert not ag.is_recording() and ag.is_training()
    assert not ag.is_recording() and not ag.is_training()
    assert ag.set_recording(True) is False
    assert ag.set_recording(False) is True
    assert ag.set_training(True) is False
    assert ag.set_training(False) is True


def test_dropout_follows_training_mode():
    x = nd.ones((200, 50))
    x.attach_grad()
    with ag.record():
        y = nd.Dropout(x, p=0.5)
    y.backward()
    v = y.asnumpy()
    assert set(np.unique(v)) <= {0.0, 2.0}
    assert 0.3 < (v == 0).mean() < 0.7
    # The gradient is the mask, scaled as the output.
    np.testing.assert_array_equal(x.grad.asnumpy(), v)
    with ag.record(train_mode=False):
        y = nd.Dropout(x, p=0.5)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())
    with ag.train_mode():
        assert (nd.Dropout(x, p=0.5).asnumpy() == 0).any()
    np.testing.assert_array_equal(nd.Dropout(x, p=0.5).asnumpy(), x.asnumpy())


def test_grad_req_null_and_write():
    x = nd.array([1.0, 2.0])
    x.attach_grad(grad_req="null")
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])
    y = nd.array([3.0, 4.0])
    y.attach_grad()
    with ag.record():
        z = x * y
    z.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])
    np.testing.assert_array_equal(y.grad.asnumpy(), [1, 2])
    # write overwrites across backward calls; the buffer object is updated in place
    g = y.grad
    with ag.record():
        z = x * y * 2
    z.backward()
    np.testing.assert_array_equal(g.asnumpy(), [2, 4])
    assert nd.array([1.0]).grad is None


def test_mark_variables_with_own_buffers():
    x, y = nd.array([1.0, 2.0]), nd.array([3.0, 5.0])
    gx, gy = nd.zeros((2,)), nd.ones((2,))
    ag.mark_variables([x, y], [gx, gy], grad_reqs=["write", "add"])
    with ag.record():
        z = x * x * y
    z.backward()
    np.testing.assert_allclose(gx.asnumpy(), [6, 20])
    np.testing.assert_allclose(gy.asnumpy(), [2, 5])
    with pytest.raises(MXNetError):
        ag.mark_variables([x], [gx, gy])
    with pytest.raises(ValueError):
        x.attach_grad(grad_req="sometimes")


def test_errors_as_mxnet():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    y = x * 2  # not recorded
    with pytest.raises(AutogradError, match="not in a computational graph"):
        y.backward()
    with ag.record():
        y = x * x
    y.backward()
    with pytest.raises(AutogradError, match="retain_graph=True"):
        y.backward()
    for stmt in ("x += 1", "x[:] = 5", "x[:] = nd.ones((2,))", "y = x * 2; y *= 3", "nd.relu(x, out=x)"):
        with pytest.raises(AutogradError, match="Assigning to NDArrays"), ag.record():
            exec(stmt, {"x": x, "nd": nd})
    np.testing.assert_array_equal(x.asnumpy(), [1, 2])
    # Outside record, writing into a variable is fine (and keeps it a variable).
    x += 1
    with ag.record():
        y = x * x
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [4, 6])
    # A head gradient of the wrong shape.
    with ag.record():
        y = x * x
    with pytest.raises(ValueError):
        y.backward(nd.ones((3,)))
    with pytest.raises(AutogradError):
        ag.grad(y, [nd.ones((2,))])
    assert issubclass(AutogradError, MXNetError)


def test_writing_into_a_fresh_array_while_recording_records_it():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    z = nd.zeros((3,))
    with ag.record():
        nd.elemwise_mul(x, x, out=z)
        y = z * 2
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [4, 8, 12])


def test_non_differentiable_op_on_the_path_is_an_error():
    x = nd.array([[1.0, 3.0], [4.0, 2.0]])
    x.attach_grad()
    with ag.record():
        y = nd.argmax(x, axis=1) * x[:, 0]
    with pytest.raises(AutogradError, match="argmax is non-differentiable"):
        y.backward()


def test_head_without_variables_is_fine():
    a = nd.array([1.0, 2.0])
    with ag.record():
        b = a * 2
    b.backward()
    assert a.grad is None


def test_second_order_of_power_scalar_and_third_order():
    # mxrs's gradients are compositions of differentiable ops: x ** 3 works (not in MXNet).
    x = nd.array([0.5, -1.0, 2.0])
    x.attach_grad()
    with ag.record():
        y = x**3
        g = ag.grad(y, x, create_graph=True)
        g2 = ag.grad(g, x, create_graph=True)
    g2.backward()
    v = x.asnumpy()
    np.testing.assert_allclose(g.asnumpy(), 3 * v**2, rtol=1e-6)
    np.testing.assert_allclose(g2.asnumpy(), 6 * v, rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), [6, 6, 6], rtol=1e-6)


def test_grad_leaves_buffers_alone_and_retain_graph_default():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with ag.record():
        y = nd.exp(x)
    (g,) = ag.grad(y, [x])
    np.testing.assert_allclose(g.asnumpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])
    with pytest.raises(AutogradError):
        ag.grad(y, [x])  # retain_graph defaults to create_graph (False)


def test_detach_and_views():
    x = nd.array([[1.0, 2.0], [3.0, 4.0]])
    x.attach_grad()
    with ag.record():
        d = x.detach()
        y = (d * x).sum() + x[1].sum() * 10 + x.reshape((4,))[0] * 100
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[101, 2], [13, 14]])
    assert d.grad is None


def test_record_custom_node_for_a_block():
    # The internal API a hybridized block uses: ONE node from (data, params) to outputs.
    data, w = nd.array([1.0, 2.0]), nd.array([3.0, 4.0])
    w.attach_grad()
    data.attach_grad()
    seen = []

    def backward(dy):
        seen.append(ag.is_recording())
        return dy * w, dy * data

    with ag.record():
        with ag.pause():
            out = data * w
        (out,) = ag.record_custom([data, w], [out], backward, name="block")
        y = (out * out).sum()
    y.backward()
    np.testing.assert_allclose(w.grad.asnumpy(), 2 * (data * w * data).asnumpy())
    np.testing.assert_allclose(data.grad.asnumpy(), 2 * (data * w * w).asnumpy())
    assert seen == [False]
    # Not recording: the outputs come back as they are.
    assert ag.record_custom([data], [out], backward)[0] is out


def test_function_backward_errors_propagate():
    class Bad(ag.Function):
        def forward(self, x):
            return x * 2

        def backward(self, dy):
            raise KeyError("boom")

    x = nd.ones((2,))
    x.attach_grad()
    f = Bad()
    with ag.record():
        y = f(x)
    with pytest.raises(KeyError, match="boom"):
        y.backward()
    with pytest.raises(MXNetError, match="only be called once"):
        f(x)

    class Wrong(ag.Function):
        def forward(self, x):
            return x * 2

        def backward(self, dy):
            return dy, dy

    with ag.record():
        y = Wrong()(x)
    with pytest.raises(MXNetError, match="must return 1 gradients"):
        y.backward()


def test_function_outside_record_is_plain():
    class Twice(ag.Function):
        def forward(self, x):
            assert not ag.is_recording()
            return x * 2

        def backward(self, dy):
            return dy * 2

    np.testing.assert_array_equal(Twice()(nd.ones((2,))).asnumpy(), [2, 2])


def test_long_chain_backward_and_release():
    x = nd.array([1.0])
    x.attach_grad()
    with ag.record():
        y = x
        for _ in range(5000):
            y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), [1.0001**5000], rtol=1e-3)
    del y


def test_thread_local_state():
    import threading

    seen = []
    with ag.record():
        t = threading.Thread(target=lambda: seen.append((ag.is_recording(), ag.is_training())))
        t.start()
        t.join()
    assert seen == [(False, False)]


def test_inplace_and_setitem_while_recording_are_refused_as_in_mxnet():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    z = nd.zeros((2, 3))
    with ag.record():
        for stmt in ("z[0] = x * 2", "z[1, 1:] = x[:2]", "nd.elemwise_add(z, z, out=z)", "z += 1"):
            with pytest.raises(AutogradError):
                exec(stmt, {"x": x, "z": z, "nd": nd})
        with pytest.raises(AutogradError, match="Inplace operations"):
            nd.elemwise_add(z, z, out=z)
    np.testing.assert_array_equal(z.asnumpy(), np.zeros((2, 3)))


def test_get_symbol_of_the_recorded_history():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with ag.record():
        y = nd.exp(x) * 2 + nd.sin(x) * x + x.reshape((2, 1)).reshape((2,))
    s = ag.get_symbol(y)
    assert s.list_arguments() == ["var0"]
    ex = s.bind(mx.cpu(), {"var0": x})
    np.testing.assert_allclose(ex.forward()[0].asnumpy(), y.asnumpy(), rtol=1e-6)
    with ag.record():
        z = x * nd.array([3.0, 4.0])
    assert len(ag.get_symbol(z).list_arguments()) == 2
    with pytest.raises(MXNetError):
        ag.get_symbol(nd.ones((1,)))
