"""Write tests/data/mxnet_api_names.json: MXNet 1.9.1's public names per namespace.

Run once with real MXNet (it is never a dependency of mxrs)::

    /work/mxref/bin/python tools/mxnet_api_names.py

A name is public API unless it is one of MXNet's implementation details:

* it starts with ``_``;
* it comes from outside MXNet (``np``, ``ctypes``, ``OrderedDict``, ``math.sqrt``...) or is a
  plain value (``numeric_types``, ``string_types``, ``cv2 = None``, ``pi``...);
* it is C-API plumbing: objects of ``mxnet.base`` (``check_call``, ``c_str``, ``py_str``,
  ``NDArrayHandle``...) other than ``MXNetError``, of ``mxnet._ctypes`` and ``mxnet.util``
  (``is_np_array``, ``use_np``, ``getenv``...);
* it belongs to the NumPy interface (``mx.np``, ``mx.npx``, ``nd.numpy``...), out of scope;
* it is an internal module or helper: the generated ``gen_*`` modules, ``nd.op``,
  ``nd.register``, ``nd.utils``, ``io.utils``, MXNet's ``api``, ``libinfo``, ``log``,
  ``registry``, ``base``, ``*_doc`` modules, and the NDArray indexing helpers that
  ``nd.__all__`` lists;
* it is imported into a namespace for the implementation. Where the namespace has ``__all__``
  that list decides; otherwise a module keeps what it defines (and the functions its registry
  makes: ``create``, ``register``, ``alias``), a package keeps what is defined under it or in a
  package above it (``gluon.nn.Block``), and ``mx.random`` keeps ``mx.nd.random``'s samplers.
"""

import json
import os
import sys
import types

import mxnet as mx

NAMESPACES = (
    "mx nd sym nd.linalg nd.random nd.contrib nd.image nd.sparse sym.linalg sym.random sym.contrib "
    "sym.image sym.sparse image rnn module test_utils operator engine monitor contrib gluon gluon.nn "
    "gluon.rnn gluon.loss gluon.data gluon.data.vision gluon.data.vision.transforms gluon.utils "
    "gluon.contrib gluon.model_zoo.vision io kv init optimizer metric lr_scheduler callback autograd "
    "random model recordio context profiler visualization"
).split()
NAMESPACES = tuple(ns if ns == "mx" else "mx." + ns for ns in NAMESPACES)

_NUMPY_NAMES = {"np", "npx", "numpy", "numpy_extension", "np_symbol", "use_np", "get_cuda_compute_capability"}
_INTERNAL_MODULES = {"op", "register", "api", "libinfo", "log", "registry", "base", "ndarray_doc", "symbol_doc"}
_PLUMBING = ("mxnet.base", "mxnet._ctypes", "mxnet.util", "mxnet._ffi", "mxnet._api_internal")
_KEEP_IMPORTED = {"random": ("mxnet.ndarray.random",)}
# Helpers MXNet lists in ``__all__`` or keeps in a package but that only its own code uses.
_INTERNAL_NAMES = {
    "mx.nd.utils",
    "mx.io.utils",
    "mx.nd.get_indexing_dispatch_code",
    "mx.nd.get_oshape_of_gather_nd_op",
    "mx.nd.indexing_key_expand_implicit_axes",
}


def _resolve(ns):
    obj = mx
    for part in ns.split(".")[1:] if ns != "mx" else []:
        obj = getattr(obj, part)
    return obj


def _origin(obj):
    """The MXNet module that defines ``obj``, or None when it is not MXNet's."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    elif isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) or callable(obj):
        name = getattr(obj, "__module__", None) or ""
    else:
        return None
    if name in ("ndarray", "symbol"):  # operators generated at import
        return "mxnet." + name
    return name if name == "mxnet" or name.startswith("mxnet.") else None


def _is_numpy_interface(name, origin):
    if name in _NUMPY_NAMES or name.startswith("numpy_") or name.startswith("np_"):
        return True
    return any(part in ("numpy", "numpy_extension") for part in origin.split("."))


def _under(origin, pkg):
    return origin == pkg or origin.startswith(pkg + ".")


def _kept_import(ns, module, obj, origin):
    """Whether ``obj``, defined in ``origin``, is API of the namespace module ``module``."""
    if _under(origin, module.__name__):
        return True
    if origin in _KEEP_IMPORTED.get(ns[len("mx.") :], ()):
        return True
    if origin == "mxnet.registry" and not isinstance(obj, types.ModuleType):
        return True  # register / alias / create made by the registry for this module
    is_package = os.path.basename(module.__file__) == "__init__.py"
    if not is_package or isinstance(obj, types.ModuleType):
        return False
    # A package re-exports from packages above it (gluon.nn: ``from ..block import *``).
    parts = module.__name__.split(".")
    return any(origin.rsplit(".", 1)[0] == ".".join(parts[:i]) for i in range(2, len(parts)))


def public_names(ns):
    """The sorted public API names of namespace ``ns`` ("mx", "mx.nd", ...)."""
    module = _resolve(ns)
    listed = getattr(module, "__all__", None)
    names = []
    for name in sorted(set(dir(module)) | set(listed or ())):
        if name.startswith("_") or not hasattr(module, name) or f"{ns}.{name}" in _INTERNAL_NAMES:
            continue
        obj = getattr(module, name)
        origin = _origin(obj)
        if origin is None or origin.startswith(_PLUMBING) and name != "MXNetError":
            continue
        if _is_numpy_interface(name, origin):
            continue
        if isinstance(obj, types.ModuleType) and (name.startswith("gen_") or name in _INTERNAL_MODULES):
            continue
        if listed is not None:
            if name not in listed and not (isinstance(obj, types.ModuleType) and _under(origin, module.__name__)):
                continue
        elif ns != "mx" and not _kept_import(ns, module, obj, origin):
            continue
        names.append(name)
    return names


def main():
    out = {
        "_about": "MXNet 1.9.1's public names per namespace, written by tools/mxnet_api_names.py "
        f"with MXNet {mx.__version__}; see that script for what counts as API.",
        "namespaces": {ns: public_names(ns) for ns in NAMESPACES},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "mxnet_api_names.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    total = sum(len(v) for v in out["namespaces"].values())
    print(f"wrote {os.path.normpath(path)}: {total} names in {len(out['namespaces'])} namespaces", file=sys.stderr)


if __name__ == "__main__":
    main()
