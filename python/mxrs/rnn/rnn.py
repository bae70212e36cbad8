"""Checkpoint helpers of ``mx.rnn``: save and load models whose RNN cells keep fused weights,
storing them unpacked (one array per gate) so they load into fused or unfused cells alike."""

import warnings

from mxrs._training import load_checkpoint, save_checkpoint
from mxrs.base import MXNetTypeError
from mxrs.rnn.rnn_cell import BaseRNNCell

__all__ = ["rnn_unroll", "save_rnn_checkpoint", "load_rnn_checkpoint", "do_rnn_checkpoint"]


def _as_cells(cells):
    if isinstance(cells, BaseRNNCell):
        return [cells]
    cells = list(cells)
    for cell in cells:
        if not isinstance(cell, BaseRNNCell):
            raise MXNetTypeError(f"expected an RNN cell or a list of RNN cells, got {type(cell).__name__}")
    return cells


def rnn_unroll(cell, length, inputs=None, begin_state=None, input_prefix="", layout="NTC"):
    """Deprecated: call ``cell.unroll`` (``input_prefix`` is ignored)."""
    warnings.warn("rnn_unroll is deprecated. Please call cell.unroll directly.", stacklevel=2)
    return cell.unroll(length=length, inputs=inputs, begin_state=begin_state, layout=layout)


def save_rnn_checkpoint(cells, prefix, epoch, symbol, arg_params, aux_params):
    """Save ``prefix-symbol.json`` and ``prefix-%04d.params`` with the cells' weights unpacked.

    Parameters
    ----------
    cells : BaseRNNCell or list of BaseRNNCell
    prefix : str
    epoch : int
    symbol : Symbol
    arg_params, aux_params : dict of str to NDArray
    """
    for cell in _as_cells(cells):
        arg_params = cell.unpack_weights(arg_params)
    save_checkpoint(prefix, epoch, symbol, arg_params, aux_params)


def load_rnn_checkpoint(cells, prefix, epoch):
    """``(symbol, arg_params, aux_params)`` saved by :func:`save_rnn_checkpoint`, with the cells'
    weights packed again."""
    sym, arg, aux = load_checkpoint(prefix, epoch)
    for cell in _as_cells(cells):
        arg = cell.pack_weights(arg)
    return sym, arg, aux


def do_rnn_checkpoint(cells, prefix, period=1):
    """An ``epoch_end_callback`` that saves with :func:`save_rnn_checkpoint` every ``period``
    epochs (as epoch ``iter_no + 1``)."""
    period = int(max(1, period))
    cells = _as_cells(cells)

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            save_rnn_checkpoint(cells, prefix, iter_no + 1, sym, arg, aux)

    return _callback
