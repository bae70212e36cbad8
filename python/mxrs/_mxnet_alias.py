"""``mxrs.install_as_mxnet()``: let code written for MXNet import mxrs as ``mxnet``.

As PyMySQL's ``install_as_MySQLdb()``: after the call, ``import mxnet``,
``from mxnet import autograd, gluon, nd`` and ``import mxnet.gluon.data.vision`` give mxrs's
modules. Every module ``mxrs.X`` is also ``mxnet.X`` (the same module object, so
``isinstance`` checks and module-level state are shared). Modules already imported are
registered at once; the others when first imported, by a finder at the front of
``sys.meta_path``. A real MXNet installed beside mxrs is shadowed while the finder is there.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

__all__ = ["install_as_mxnet"]

_ALIAS = "mxnet"
_TARGET = "mxrs"


def _target_name(fullname):
    return _TARGET + fullname[len(_ALIAS) :]


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already-imported mxrs module and keeps its own ``__spec__``."""

    def __init__(self, module):
        self._module = module
        self._spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        # importlib set ``__spec__`` to the alias's spec; the module stays mxrs's.
        module.__spec__ = self._spec


class _MXNetAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``mxnet`` and ``mxnet.*`` to ``mxrs`` and ``mxrs.*``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        target_name = _target_name(fullname)
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as exc:
            # mxrs has no such module (or no such package above it): not found, as usual.
            if exc.name and (target_name == exc.name or target_name.startswith(exc.name + ".")):
                return None
            raise
        is_pkg = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=is_pkg)


_FINDER = _MXNetAliasFinder()


def install_as_mxnet():
    """Make ``import mxnet`` (and its submodules) resolve to mxrs. Safe to call twice."""
    if not any(isinstance(f, _MXNetAliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _FINDER)
    for name, module in list(sys.modules.items()):
        if module is not None and (name == _TARGET or name.startswith(_TARGET + ".")):
            sys.modules[_ALIAS + name[len(_TARGET) :]] = module
    sys.modules[_ALIAS] = sys.modules[_TARGET]
