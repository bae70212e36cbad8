"""Where the files written by real MXNet 1.9.1 live.

``tests/data/mxnet_fixtures`` is a copy of the project's reference fixtures
(``../shared/reference/fixtures``, described in its README.md), kept in the repository so that
the tests that read them run on every machine, CI included.
"""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "data" / "mxnet_fixtures"

__all__ = ["FIXTURES"]
