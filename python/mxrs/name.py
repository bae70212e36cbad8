"""``mx.name``: automatic names for symbols (NameManager, Prefix), as in MXNet."""

import threading

__all__ = ["NameManager", "Prefix", "current"]

_state = threading.local()


class NameManager:
    """Gives each unnamed op a name ``<hint><counter>``, one counter per hint.

    ``with NameManager():`` installs a fresh manager for the block.
    """

    def __init__(self):
        self._counter = {}
        self._old = None

    def get(self, name, hint):
        """``name`` when given, else ``hint`` followed by its counter (then incremented)."""
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return f"{hint}{n}"

    def __enter__(self):
        self._old = current()
        _state.current = self
        return self

    def __exit__(self, *exc):
        _state.current = self._old


class Prefix(NameManager):
    """A manager that prepends ``prefix`` to every op name, given or automatic."""

    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


def current():
    """This thread's current manager."""
    m = getattr(_state, "current", None)
    if m is None:
        m = _state.current = NameManager()
    return m
