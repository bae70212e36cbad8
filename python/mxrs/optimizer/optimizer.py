"""Optimizers (MXNet's ``mx.optimizer``).

Each optimizer turns ``(index, weight, grad, state)`` into an in-place update of ``weight``
(and of its state), mostly through the fused update ops of ``mx.nd`` (``sgd_mom_update``,
``adam_update``, ...), which run asynchronously on the engine. :func:`get_updater` wraps an
optimizer into the ``updater(key, grad, weight)`` function a KVStore calls.
"""

import math
import os
import pickle
import warnings

import numpy

from mxrs import ndarray as nd
from mxrs.ndarray import NDArray

__all__ = [
    "Optimizer",
    "SGD",
    "NAG",
    "Adam",
    "AdaGrad",
    "RMSProp",
    "AdaDelta",
    "Signum",
    "Ftrl",
    "Updater",
    "create",
    "get_updater",
    "register",
]


class Optimizer:
    """Base class: learning rate (or ``lr_scheduler``), weight decay, gradient rescaling and
    clipping, per-parameter multipliers (``lr_mult``/``wd_mult`` by index or by name through
    ``param_idx2name``) and update counting.
    """

    opt_registry: dict[str, type] = {}

    def __init__(
        self,
        rescale_grad=1.0,
        param_idx2name=None,
        wd=0.0,
        clip_gradient=None,
        learning_rate=None,
        lr_scheduler=None,
        sym=None,
        begin_num_update=0,
        multi_precision=False,
        param_dict=None,
    ):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None and lr_scheduler.base_lr != learning_rate:
            msg = "learning rate from ``lr_scheduler`` has been overwritten by ``learning_rate`` in optimizer."
            print(UserWarning(msg))
            lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts: dict[int, dict] = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise TypeError("param_idx2name should be a dict of param indexes to names.")
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    @staticmethod
    def register(klass):
        """Register an optimizer class under its lower-cased name (a decorator)."""
        if not isinstance(klass, type):
            raise TypeError("register expects a class")
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            warnings.warn(
                f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is overriding existing "
                f"optimizer {Optimizer.opt_registry[name].__module__}.{Optimizer.opt_registry[name].__name__}",
                stacklevel=2,
            )
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """Instantiate the optimizer registered as ``name`` (case-insensitive)."""
        key = name.lower()
        if key not in Optimizer.opt_registry:
            raise ValueError(f"Cannot find optimizer {name}")
        return Optimizer.opt_registry[key](**kwargs)

    @property
    def learning_rate(self):
        """The current learning rate (from the scheduler when there is one)."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def create_state(self, index, weight):
        """The state (momentum...) kept for ``weight``; None when stateless."""
        return None

    def create_state_multi_precision(self, index, weight):
        """:meth:`create_state`, plus a float32 master copy of a float16 weight when
        ``multi_precision``: returns ``(weight32, state)``."""
        if self.multi_precision and weight.dtype == numpy.float16:
            master = weight.astype(numpy.float32)
            return (master, self.create_state(index, master))
        if weight.dtype == numpy.float16 and not self.multi_precision:
            warnings.warn(
                "Accumulating with float16 in optimizer can lead to poor accuracy or slow convergence. "
                "Consider using multi_precision=True option of the optimizer",
                stacklevel=2,
            )
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update ``weight`` in place from ``grad``."""
        raise NotImplementedError()

    def update_multi_precision(self, index, weight, grad, state):
        """:meth:`update`, through the float32 master copy for float16 weights."""
        if self.multi_precision and weight.dtype == numpy.float16:
            master, inner = state
            grad32 = grad.astype(numpy.float32)
            self.update(index, master, grad32, inner)
            master.copyto(weight)
        else:
            self.update(index, weight, grad, state)

    def set_learning_rate(self, lr):
        """Set a fixed learning rate (not allowed with a scheduler)."""
        if self.lr_scheduler is not None:
            raise UserWarning(
                "LRScheduler of the optimizer has already been defined. Note that set_learning_rate can mutate "
                "the value of the learning rate of the optimizer only when the LRScheduler of the optimizer is "
                "undefined."
            )
        self.lr = lr

    def set_lr_mult(self, args_lr_mult):
        """Per-parameter learning-rate multipliers, by index or name."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__lr_mult__" in attr[name]:
                    self.lr_mult[name] = float(attr[name]["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Per-parameter weight-decay multipliers. With ``param_idx2name``, parameters whose
        names end neither in ``_weight`` nor ``_gamma`` get no weight decay by default."""
        self.wd_mult = {}
        for n in self.idx2name.values():
            if not (n.endswith("_weight") or n.endswith("_gamma")):
                self.wd_mult[n] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _set_current_context(self, device_id):
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        indices = index if isinstance(index, (list, tuple)) else [index]
        for idx in indices:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _mult(self, index, table, attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(i, self.lr_mult, "lr_mult") for i in indices]

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return [self.wd * self._mult(i, self.wd_mult, "wd_mult") for i in indices]

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    def _common_kwargs(self):
        kwargs = {"rescale_grad": self.rescale_grad}
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        return kwargs

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("param_dict", None)
        return state

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}


register = Optimizer.register


def create(name, **kwargs):
    """Create an optimizer by registered name (``mx.optimizer.create('sgd', learning_rate=.1)``)."""
    return Optimizer.create_optimizer(name, **kwargs)


def _zeros_like(weight, dtype=None):
    return nd.zeros(weight.shape, ctx=weight.context, dtype=dtype or weight.dtype)


@register
class SGD(Optimizer):
    """SGD with optional momentum: ``mom = momentum*mom - lr*(clip(rescale*grad) + wd*weight)``,
    ``weight += mom`` (``weight -= lr*(clip(rescale*grad) + wd*weight)`` without momentum).
    ``multi_precision`` keeps a float32 master copy of float16 weights."""

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = int(os.getenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", "4"))

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and weight.dtype == numpy.float16:
            master = weight.astype(numpy.float32)
            return (self.create_state(index, master), master)
        if weight.dtype == numpy.float16 and not self.multi_precision:
            warnings.warn(
                "Accumulating with float16 in optimizer can lead to poor accuracy or slow convergence. "
                "Consider using multi_precision=True option of the SGD optimizer",
                stacklevel=2,
            )
        return self.create_state(index, weight)

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return _zeros_like(weight)
        return None

    def _update_impl(self, index, weight, grad, state, multi_precision):
        """As MXNet 1.9.1: dense weights go through the aggregated ``multi_sgd_*`` ops (one call
        for a list of up to ``aggregate_num`` weights, or for a single one)."""
        if not isinstance(index, (tuple, list)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        aggregate = all(getattr(a, "stype", "default") == "default" for a in list(weight) + list(grad))
        self._update_count(index)
        lrs, wds = self._get_lrs(index), self._get_wds(index)
        kwargs = self._common_kwargs()
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        if aggregate:
            _multi_sgd(weight, grad, state, lrs, wds, self.momentum > 0, multi_precision, kwargs)
            return
        for w, g, st, lr, wd in zip(weight, grad, state, lrs, wds, strict=True):
            if not multi_precision:
                if st is not None:
                    nd.sgd_mom_update(w, g, st, out=w, lazy_update=self.lazy_update, lr=lr, wd=wd, **kwargs)
                else:
                    nd.sgd_update(w, g, out=w, lazy_update=self.lazy_update, lr=lr, wd=wd, **kwargs)
            elif st[0] is not None:
                nd.mp_sgd_mom_update(w, g, st[0], st[1], out=w, lr=lr, wd=wd, **kwargs)
            else:
                nd.mp_sgd_update(w, g, st[1], out=w, lr=lr, wd=wd, **kwargs)

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state, False)

    def update_multi_precision(self, index, weight, grad, state):
        first = weight[0] if isinstance(index, (tuple, list)) else weight
        mp = self.multi_precision and first.dtype == numpy.float16
        self._update_impl(index, weight, grad, state, mp)


def _flatten(groups):
    return [x for group in groups for x in group]


def _multi_sgd(weights, grads, states, lrs, wds, momentum, multi_precision, kwargs):
    """One ``multi_[mp_]sgd[_mom]_update`` call over lists of weights (states as SGD keeps them:
    ``mom``, or ``(mom, weight32)`` with ``multi_precision``)."""
    common = {"out": list(weights), "num_weights": len(weights), "lrs": lrs, "wds": wds, **kwargs}
    if not multi_precision:
        if momentum:
            nd.multi_sgd_mom_update(*_flatten(zip(weights, grads, states, strict=True)), **common)
        else:
            nd.multi_sgd_update(*_flatten(zip(weights, grads, strict=True)), **common)
    elif momentum:
        moms, masters = [s[0] for s in states], [s[1] for s in states]
        nd.multi_mp_sgd_mom_update(*_flatten(zip(weights, grads, moms, masters, strict=True)), **common)
    else:
        masters = [s[1] for s in states]
        nd.multi_mp_sgd_update(*_flatten(zip(weights, grads, masters, strict=True)), **common)


@register
class NAG(SGD):
    """Nesterov accelerated gradient: with ``g = clip(rescale*grad) + wd*weight``,
    ``weight += momentum*(momentum*mom - lr*g) - lr*g``, then ``mom = momentum*mom - lr*g``
    (whose weight-decay term reads the new weight, as MXNet's kernel does)."""

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.aggregate_num = 0  # NAG updates one weight at a time, as MXNet's

    def _update_impl(self, index, weight, grad, state, multi_precision):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        kwargs = self._common_kwargs()
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        if not multi_precision:
            if state is not None:
                nd.nag_mom_update(weight, grad, state, out=weight, lr=lr, wd=wd, **kwargs)
            else:
                nd.sgd_update(weight, grad, out=weight, lr=lr, wd=wd, **kwargs)
        elif state[0] is not None:
            nd.mp_nag_mom_update(weight, grad, state[0], state[1], out=weight, lr=lr, wd=wd, **kwargs)
        else:
            nd.mp_sgd_update(weight, grad, state[1], out=weight, lr=lr, wd=wd, **kwargs)

    def update_multi_precision(self, index, weight, grad, state):
        mp = self.multi_precision and weight.dtype == numpy.float16 and isinstance(state, (tuple, list))
        self._update_impl(index, weight, grad, state, mp)


@register
class Signum(Optimizer):
    """Signum: ``mom = momentum*mom - (1-momentum)*(clip(rescale*grad) + wd*weight)``,
    ``weight = (1 - lr*wd_lh)*weight + lr*sign(mom)`` (signSGD without momentum)."""

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        kwargs = self._common_kwargs()
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        if self.wd_lh:
            kwargs["wd_lh"] = self.wd_lh
        if state is not None:
            nd.signum_update(weight, grad, state, out=weight, lr=lr, wd=wd, **kwargs)
        else:
            kwargs.pop("wd_lh", None)
            nd.signsgd_update(weight, grad, out=weight, lr=lr, wd=wd, **kwargs)


@register
class Adam(Optimizer):
    """Adam; the bias correction ``sqrt(1-beta2**t)/(1-beta1**t)`` is folded into the rate."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        kwargs = self._common_kwargs()
        kwargs.update(beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
        mean, var = state
        nd.adam_update(weight, grad, mean, var, out=weight, lazy_update=self.lazy_update, lr=lr, wd=wd, **kwargs)


@register
class AdaGrad(Optimizer):
    """AdaGrad: ``history += g**2``, ``weight -= lr*(g/sqrt(history + eps) + wd*weight)`` with
    ``g = clip(rescale*grad)``."""

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        history = state
        if grad.stype == "row_sparse":
            # As MXNet: the lazy sparse kernel (only the gradient's rows; wd must be 0).
            clip = self.clip_gradient if self.clip_gradient is not None else -1.0
            nd.sparse.adagrad_update(
                weight,
                grad,
                history,
                out=weight,
                lr=lr,
                wd=wd,
                epsilon=self.float_stable_eps,
                rescale_grad=self.rescale_grad,
                clip_gradient=clip,
            )
            return
        grad = grad * self.rescale_grad
        if self.clip_gradient is not None:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        history[:] += nd.square(grad)
        div = grad / nd.sqrt(history + self.float_stable_eps)
        weight[:] += (div + weight * wd) * -lr


@register
class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton), or the centered variant (Graves) with ``centered=True``."""

    def __init__(
        self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8, centered=False, clip_weights=None, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))
        return (_zeros_like(weight),)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        kwargs = self._common_kwargs()
        kwargs.update(gamma1=self.gamma1, epsilon=self.epsilon)
        if self.centered:
            kwargs["gamma2"] = self.gamma2
        if self.clip_weights:
            kwargs["clip_weights"] = self.clip_weights
        if not self.centered:
            (n,) = state
            nd.rmsprop_update(weight, grad, n, out=weight, lr=lr, wd=wd, **kwargs)
        else:
            n, g, delta = state
            nd.rmspropalex_update(weight, grad, n, g, delta, out=weight, lr=lr, wd=wd, **kwargs)


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler): running averages of squared gradients and squared steps."""

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        wd = self._get_wd(index)
        self._update_count(index)
        # MXNet scales the pushed gradient in place here.
        grad *= self.rescale_grad
        if self.clip_gradient is not None:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        acc_g, acc_delta = state
        acc_g[:] *= self.rho
        acc_g[:] += (1.0 - self.rho) * grad * grad
        current_delta = nd.sqrt(acc_delta + self.epsilon) / nd.sqrt(acc_g + self.epsilon) * grad
        acc_delta[:] *= self.rho
        acc_delta[:] += (1.0 - self.rho) * current_delta * current_delta
        weight[:] -= current_delta + wd * weight


@register
class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al.) with L1 strength ``lamda1``."""

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(**kwargs)
        self.lamda1 = lamda1
        self.beta = beta
        self.lr = learning_rate

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        wd, lr = self._get_wd(index), self._get_lr(index)
        kwargs = self._common_kwargs()
        kwargs.update(lamda1=self.lamda1, beta=self.beta)
        z, n = state
        nd.ftrl_update(weight, grad, z, n, out=weight, lr=lr, wd=wd, **kwargs)


class Updater:
    """The ``updater(index, grad, weight)`` a KVStore calls: keeps one optimizer state per key
    (created on first use) and applies the optimizer."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        if isinstance(index, (list, tuple)):
            indices, grads, weights = list(index), list(grad), list(weight)
        else:
            indices, grads, weights = [index], [grad], [weight]
        if weights:
            self.optimizer._set_current_context(weights[0].context.device_id)
        for i, idx in enumerate(indices):
            if isinstance(idx, bytes):
                idx = indices[i] = idx.decode()
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, weights[i])
                self.states_synced[idx] = True
            elif not self.states_synced[idx]:
                self.states[idx] = self.sync_state_context(self.states[idx], weights[i].context)
                self.states_synced[idx] = True
        if self.optimizer.aggregate_num > 0:
            self._aggregated(indices, weights, grads)
            return
        for idx, w, g in zip(indices, weights, grads, strict=True):
            self.optimizer.update_multi_precision(idx, w, g, self.states[idx])

    def _aggregated(self, indices, weights, grads):
        """MXNet's aggregated updates: weights grouped by dtype, then given to the optimizer in
        lists of up to ``aggregate_num``."""
        by_type: dict = {}
        for i, w, g in zip(indices, weights, grads, strict=True):
            by_type.setdefault(w.dtype, []).append((i, w, g))
        step = self.optimizer.aggregate_num
        for group in by_type.values():
            idx, ws, gs = (list(t) for t in zip(*group, strict=True))
            for k in range(0, len(idx), step):
                states = [self.states[i] for i in idx[k : k + step]]
                self.optimizer.update_multi_precision(idx[k : k + step], ws[k : k + step], gs[k : k + step], states)

    def sync_state_context(self, state, context):
        """Move a (nested) state to ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Load states pickled by :meth:`get_states` (with or without the optimizer)."""
        states = pickle.loads(states)
        if isinstance(states, tuple) and len(states) == 2:
            self.states, self.optimizer = states
        else:
            self.states = states
        self.states_synced = dict.fromkeys(self.states.keys(), False)

    def get_states(self, dump_optimizer=False):
        """Pickle the states (and the optimizer when ``dump_optimizer``)."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer):
    """The KVStore updater applying ``optimizer``."""
    return Updater(optimizer)
