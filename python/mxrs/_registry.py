"""Name registries shared by ``mx.init`` and ``mx.metric`` (MXNet's ``mx.registry`` helpers).

Each base class gets one table from lower-cased names to subclasses. ``create`` accepts an
instance (returned as is), a registered name plus constructor arguments, a dict config, or a
JSON string such as ``'["xavier", {"magnitude": 2}]'``.
"""

import json
import warnings

_TABLES: dict = {}


def _table(base):
    return _TABLES.setdefault(base, {})


def get_register_func(base, nickname):
    """A ``register(klass, name=None)`` function for subclasses of ``base``."""
    table = _table(base)

    def register(klass, name=None):
        if not issubclass(klass, base):
            raise AssertionError(f"Can only register subclass of {base.__name__}")
        key = (name or klass.__name__).lower()
        old = table.get(key)
        if old is not None and old is not klass:
            warnings.warn(
                f"New {nickname} {klass.__module__}.{klass.__name__} registered with name {key} is "
                f"overriding existing {nickname} {old.__module__}.{old.__name__}",
                UserWarning,
                stacklevel=2,
            )
        table[key] = klass
        return klass

    register.__doc__ = f"Register a {nickname} class under its lower-cased name."
    return register


def get_alias_func(base, nickname):
    """An ``alias(*names)`` class decorator registering extra names."""
    register = get_register_func(base, nickname)

    def alias(*names):
        def deco(klass):
            for n in names:
                register(klass, n)
            return klass

        return deco

    return alias


def get_create_func(base, nickname):
    """A ``create(name_or_instance, *args, **kwargs)`` factory."""
    table = _table(base)

    def create(*args, **kwargs):
        if args:
            name, args = args[0], args[1:]
        else:
            name = kwargs.pop(nickname)
        if isinstance(name, base):
            if args or kwargs:
                raise AssertionError(f"{nickname} is already an instance. Additional arguments are invalid")
            return name
        if isinstance(name, dict):
            return create(**name)
        if not isinstance(name, str):
            raise AssertionError(f"{nickname} must be of string type")
        if name.startswith("["):
            if args or kwargs:
                raise AssertionError("a JSON config takes no extra arguments")
            name, kw = json.loads(name)
            return create(name, **kw)
        if name.startswith("{"):
            if args or kwargs:
                raise AssertionError("a JSON config takes no extra arguments")
            return create(**json.loads(name))
        key = name.lower()
        if key not in table:
            raise AssertionError(f"{key} is not registered. Please register with {nickname}.register first")
        return table[key](*args, **kwargs)

    create.__doc__ = f"Create a {nickname} from a name, a config or an instance."
    return create


def get_list(base):
    """A copy of the name table of ``base``."""
    return dict(_table(base))
