"""``mx.contrib.onnx.import_to_gluon``: an ONNX model as a Gluon SymbolBlock."""

from mxrs import gluon as _gluon
from mxrs import symbol as _sym
from mxrs.onnx._import import import_model


def import_to_gluon(model_file, ctx):
    """A ``gluon.SymbolBlock`` running the ONNX model in ``model_file``, its parameters loaded
    on ``ctx``, as MXNet 1.x's ``mx.contrib.onnx.import_to_gluon``. The block's inputs are the
    graph's inputs that are not parameters, in order."""
    sym, arg_params, aux_params = import_model(model_file)
    params = {**arg_params, **aux_params}
    inputs = [_sym.var(n) for n in sym.list_inputs() if n not in params]
    net = _gluon.SymbolBlock(outputs=sym, inputs=inputs)
    for name, param in net.collect_params().items():
        if name in params:
            param._load_init(params[name], ctx)
    return net


__all__ = ["import_to_gluon"]
