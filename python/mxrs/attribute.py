"""``mx.attribute``: AttrScope, attributes given to every symbol made inside a ``with`` block."""

import threading

__all__ = ["AttrScope", "current"]

_state = threading.local()

# Keys MXNet always stores hidden (``lr_mult`` becomes ``__lr_mult__``).
_HIDDEN = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")


def hide(attrs):
    """Rename the keys MXNet stores hidden."""
    return {(f"__{k}__" if k in _HIDDEN else k): v for k, v in attrs.items()}


class AttrScope:
    """``with mx.AttrScope(ctx_group='dev1'):`` puts the attributes on every symbol made inside."""

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError(f"AttrScope: attribute {k} must be a string, got {type(v).__name__}")
        self._attr = kwargs
        self._old = None

    def get(self, attr):
        """The scope's attributes updated with ``attr``."""
        if not self._attr:
            return dict(attr) if attr else {}
        out = dict(self._attr)
        if attr:
            out.update(attr)
        return out

    def __enter__(self):
        self._old = current()
        merged = dict(self._old._attr)
        merged.update(self._attr)
        self._attr = merged
        _state.current = self
        return self

    def __exit__(self, *exc):
        _state.current = self._old


def current():
    """This thread's current scope."""
    s = getattr(_state, "current", None)
    if s is None:
        s = _state.current = AttrScope()
    return s
