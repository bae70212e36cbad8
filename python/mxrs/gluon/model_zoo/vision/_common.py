"""Blocks the model definitions share, and the ``pretrained=True`` weight lookup."""

from __future__ import annotations

import glob
import os
from typing import Any

from mxrs.base import MXNetIOError
from mxrs.context import cpu
from mxrs.gluon import nn
from mxrs.gluon.block import HybridBlock

__all__ = ["Concurrent", "Identity", "ReLU6", "default_root", "load_pretrained"]


class Concurrent(nn.HybridSequential):
    """Runs every child on the same input and concatenates their outputs along ``axis``
    (MXNet's ``gluon.contrib.nn.HybridConcurrent``)."""

    def __init__(self, axis: int = -1, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return F.concat(*[block(x) for block in self._children.values()], dim=self.axis)


class Identity(HybridBlock):
    """Returns its input (MXNet's ``gluon.contrib.nn.Identity``)."""

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return x


class ReLU6(HybridBlock):
    """``min(max(x, 0), 6)``."""

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return F.clip(x, 0, 6, name="relu6")


def default_root() -> str:
    """Where ``pretrained=True`` looks for weights: ``$MXNET_HOME/models`` (``~/.mxnet/models``)."""
    home = os.environ.get("MXNET_HOME", os.path.join(os.path.expanduser("~"), ".mxnet"))
    return os.path.join(home, "models")


def load_pretrained(net: HybridBlock, name: str, ctx: Any = None, root: str | None = None) -> HybridBlock:
    """Load MXNet's published weights for model ``name`` from a local ``.params`` file.

    mxrs bundles no weights and downloads none. Put MXNet's file (``<name>-<hash>.params`` as
    MXNet's model store names it, or ``<name>.params``) in ``root`` and this loads it with
    ``net.load_parameters``; otherwise it raises ``MXNetIOError`` saying so.
    """
    root = os.path.expanduser(root or default_root())
    found = sorted(glob.glob(os.path.join(glob.escape(root), glob.escape(name) + "-*.params")))
    exact = os.path.join(root, name + ".params")
    if os.path.isfile(exact):
        found.insert(0, exact)
    if not found:
        raise MXNetIOError(
            "pretrained=True: mxrs does not bundle or download pretrained weights for %r. Put "
            "MXNet's weight file (%s-<hash>.params, or %s.params) in %s (or pass root=...), "
            "or build the model with pretrained=False and call net.load_parameters(path)." % (name, name, name, root)
        )
    net.load_parameters(found[0], ctx=ctx if ctx is not None else cpu())
    return net
