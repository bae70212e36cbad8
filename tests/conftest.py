"""Shared pytest setup: makes ``from _target import mx, IS_MXNET`` work everywhere."""

import importlib
import sys
from pathlib import Path

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

_target = importlib.import_module("_target")
IS_MXNET = _target.IS_MXNET
TARGET = _target.TARGET
_mx = _target.mx


def pytest_report_header(config):
    return f"framework under test: {TARGET} ({'real MXNet' if IS_MXNET else 'mxrs'})"


@pytest.fixture
def mx():
    """The framework under test (``mxrs``, or ``mxnet`` with MXRS_TEST_TARGET=mxnet)."""
    return _mx
