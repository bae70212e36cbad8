"""The framework under test, chosen by the ``MXRS_TEST_TARGET`` environment variable.

``MXRS_TEST_TARGET=mxnet`` runs the suite against real MXNet 1.9.1 (to validate the
tests themselves); anything else, or unset, imports ``mxrs``. Tests do::

    from _target import mx, IS_MXNET
"""

import importlib
import os

TARGET = os.environ.get("MXRS_TEST_TARGET", "mxrs").strip() or "mxrs"
IS_MXNET = TARGET == "mxnet"

mx = importlib.import_module(TARGET)

__all__ = ["IS_MXNET", "TARGET", "mx"]
