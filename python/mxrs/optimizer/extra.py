"""The optimizers of MXNet 1.9.1's ``mx.optimizer`` beyond SGD and the Adam family: FTML, LARS,
LBSGD, LAMB, DCASGD, SGLD, Adamax, Nadam, Test and ccSGD, with MXNet's parameters and update
rules (through the fused ops ``ftml_update``, ``lamb_update_phase1/2``, ``multi_sum_sq``,
``multi_lars`` and ``preloaded_multi_*sgd*`` where MXNet uses them).
"""

import logging
import math
import os
import warnings

import numpy

from mxrs import ndarray as nd
from mxrs.optimizer.optimizer import SGD, Optimizer, _flatten, _zeros_like, register

__all__ = ["FTML", "LARS", "LBSGD", "LAMB", "DCASGD", "SGLD", "Adamax", "Nadam", "Test", "ccSGD"]


@register
class FTML(Optimizer):
    """FTML (Follow the Moving Leader, Zheng & Kwok 2017) through ``ftml_update``; states
    ``(d, v, z)``."""

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        kwargs = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}
        kwargs.update(rescale_grad=self.rescale_grad, t=t)
        if self.clip_gradient:
            kwargs["clip_grad"] = self.clip_gradient
        d, v, z = state
        nd.ftml_update(weight, grad, d, v, z, out=weight, lr=lr, wd=wd, **kwargs)


def _no_lars(name):
    return name.endswith("gamma") or name.endswith("beta") or name.endswith("bias")


@register
class LARS(SGD):
    """LARS (You et al. 2017): SGD whose per-layer rate is scaled by
    ``eta * |w| / (|g| + wd*|w| + eps)`` (not for names ending in gamma, beta or bias), computed
    by ``multi_sum_sq`` and ``multi_lars`` and applied by the ``preloaded_multi_*sgd*`` ops.
    With ``momentum_correction`` the momentum follows changes of the learning rate."""

    def __init__(self, momentum=0.0, lazy_update=True, eta=0.001, eps=0, momentum_correction=True, **kwargs):
        super().__init__(momentum=momentum, lazy_update=lazy_update, **kwargs)
        self.momentum_correction = momentum_correction
        self.eta = eta
        self.eps = eps
        self.skip = 0
        self.last_lr: float | None = None
        self.cur_lr: float | None = None

    def _get_lrs(self, indices):
        if self.cur_lr is not None:
            self.last_lr = self.cur_lr
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        if self.cur_lr is None:
            self.last_lr = lr
        self.cur_lr = lr
        return [lr * self._mult(i, self.lr_mult, "lr_mult") for i in indices]

    def set_wd_mult(self, args_wd_mult):
        """As the base class, but only names ending in ``_weight`` keep their weight decay."""
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith("_weight")}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _l2norm(self, v, rescale=False):
        v = v.astype("float32")
        if rescale:
            v *= self.rescale_grad
        return nd.norm(v).asnumpy()[0]

    def _get_lars(self, i, weight, g, lr, wd):
        if _no_lars(self.idx2name.get(i, str(i))):
            return lr
        w_norm, g_norm = self._l2norm(weight), self._l2norm(g, rescale=True)
        lars = self.eta * w_norm / (g_norm + wd * w_norm + self.eps) if w_norm > 0.0 and g_norm > 0.0 else 1.0
        return lars * lr

    def _update_impl(self, index, weight, grad, state, multi_precision):
        if not isinstance(index, (tuple, list)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        aggregate = all(getattr(a, "stype", "default") == "default" for a in list(weight) + list(grad))
        self._update_count(index)
        lrs, wds = self._get_lrs(index), self._get_wds(index)
        kwargs = self._common_kwargs()
        if self.momentum > 0:
            last, cur = self.last_lr, self.cur_lr
            if self.momentum_correction and last is not None and last != 0 and cur is not None:
                kwargs["momentum"] = self.momentum * (cur / last)
            else:
                kwargs["momentum"] = self.momentum
        if not aggregate:
            lrs = [
                self._get_lars(i, w, g, lr, wd) for i, w, g, lr, wd in zip(index, weight, grad, lrs, wds, strict=True)
            ]
            for w, g, st, lr, wd in zip(weight, grad, state, lrs, wds, strict=True):
                _sgd_one(w, g, st, lr, wd, multi_precision, self.lazy_update, kwargs)
            return
        names = [self.idx2name.get(i, str(i)) for i in index]
        order = [k for k, n in enumerate(names) if not _no_lars(n)]
        nb_lars = len(order)
        order += [k for k, n in enumerate(names) if _no_lars(n)]
        ctx = weight[0].context
        new_lrs = nd.array([lrs[k] for k in order], ctx=ctx, dtype="float32")
        new_wds = nd.array([wds[k] for k in order], ctx=ctx, dtype="float32")
        ws, gs, sts = ([seq[k] for k in order] for seq in (weight, grad, state))
        if nb_lars > 0:
            w_sum_sq = nd.multi_sum_sq(*ws[:nb_lars], num_arrays=nb_lars)
            g_sum_sq = nd.multi_sum_sq(*gs[:nb_lars], num_arrays=nb_lars)
            lars = nd.multi_lars(
                new_lrs[:nb_lars],
                w_sum_sq,
                g_sum_sq,
                new_wds[:nb_lars],
                eta=self.eta,
                eps=self.eps,
                rescale_grad=self.rescale_grad,
            )
            new_lrs[:nb_lars] = lars
        step = max(self.aggregate_num, 1)
        for s in range(0, len(index), step):
            e = s + len(ws[s : s + step])
            _preloaded_sgd(
                ws[s:e], gs[s:e], sts[s:e], new_lrs[s:e], new_wds[s:e], self.momentum > 0, multi_precision, kwargs
            )


def _sgd_one(w, g, st, lr, wd, multi_precision, lazy_update, kwargs):
    """One weight's SGD step through the single-weight ops."""
    if not multi_precision:
        if st is not None:
            nd.sgd_mom_update(w, g, st, out=w, lazy_update=lazy_update, lr=lr, wd=wd, **kwargs)
        else:
            nd.sgd_update(w, g, out=w, lazy_update=lazy_update, lr=lr, wd=wd, **kwargs)
    elif st[0] is not None:
        nd.mp_sgd_mom_update(w, g, st[0], st[1], out=w, lr=lr, wd=wd, **kwargs)
    else:
        nd.mp_sgd_update(w, g, st[1], out=w, lr=lr, wd=wd, **kwargs)


def _preloaded_sgd(ws, gs, sts, lrs, wds, momentum, multi_precision, kwargs):
    """One ``preloaded_multi_[mp_]sgd[_mom]_update`` call (rates and decays as arrays)."""
    common = {"out": list(ws), "num_weights": len(ws), **kwargs}
    if not multi_precision:
        groups: list = list(zip(ws, gs, sts, strict=True)) if momentum else list(zip(ws, gs, strict=True))
        op = nd.preloaded_multi_sgd_mom_update if momentum else nd.preloaded_multi_sgd_update
    elif momentum:
        groups = list(zip(ws, gs, [s[0] for s in sts], [s[1] for s in sts], strict=True))
        op = nd.preloaded_multi_mp_sgd_mom_update
    else:
        groups = list(zip(ws, gs, [s[1] for s in sts], strict=True))
        op = nd.preloaded_multi_mp_sgd_update
    op(*_flatten(groups), lrs, wds, **common)


@register
class LBSGD(Optimizer):
    """Large-batch SGD (Goyal et al.): gradients are accumulated over ``batch_scale`` updates,
    and the rate warms up (``linear``, ``power2``, ``sqrt``) over ``warmup_epochs`` or is scaled
    by the LARS ratio (``lars``)."""

    def __init__(
        self,
        momentum=0.0,
        multi_precision=False,
        warmup_strategy="linear",
        warmup_epochs=5,
        batch_scale=1,
        updates_per_epoch=32,
        begin_epoch=0,
        num_epochs=60,
        **kwargs,
    ):
        super().__init__(**kwargs)
        logging.info("Running Large-Batch SGD Algorithm")
        self.momentum = momentum
        self.multi_precision = multi_precision
        self.warmup_strategy = warmup_strategy
        self.warmup_epochs = warmup_epochs
        self.batch_scale = batch_scale
        self.updates_per_epoch = updates_per_epoch
        self.init_updates = begin_epoch * updates_per_epoch
        self.num_epochs = num_epochs
        self.lbmult = 1
        self.cumgrads = {}
        self.adaptive = False
        self.admult = 1

    def create_state(self, index, weight):
        if self.multi_precision and weight.dtype == numpy.float16:
            master = weight.astype(numpy.float32)
            mom = _zeros_like(weight, numpy.float32) if self.momentum != 0.0 else None
            return (mom, master)
        if weight.dtype == numpy.float16 and not self.multi_precision:
            warnings.warn(
                "Accumulating with float16 in optimizer can lead to poor accuracy or slow convergence. "
                "Consider using multi_precision=True option of the SGD optimizer",
                stacklevel=2,
            )
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def _get_lbmult(self, nup):
        nwup = self.warmup_epochs * self.updates_per_epoch
        maxmult = float(self.batch_scale)
        if nup >= nwup:
            return maxmult
        if nwup <= 1:
            return 1.0
        if self.warmup_strategy == "linear":
            return 1.0 + (maxmult - 1) * nup / nwup
        if self.warmup_strategy == "power2":
            return 1.0 + (maxmult - 1) * (nup * nup) / (nwup * nwup)
        if self.warmup_strategy == "sqrt":
            return 1.0 + (maxmult - 1) * math.sqrt(float(nup) / nwup)
        return 1.0

    def _get_lars(self, weight, g, wd):
        weight2, grad2 = self._l2norm(weight), self._l2norm(g)
        lars = math.sqrt(weight2 / (grad2 + wd * weight2 + 1e-18))
        return min(max(lars, 0.01), 100)

    def _l2norm(self, v):
        return nd.multiply(v, v).asnumpy().sum()

    def _reset_cum_gradient(self, index):
        self.cumgrads[index]["cum_grad"] = 0

    def _get_cum_gradient(self, index):
        return self.cumgrads.get(index, {})

    def _put_cum_gradient(self, index, cgrad):
        self.cumgrads[index] = cgrad

    def _cumulate_gradient(self, grad, index):
        cgrad = self._get_cum_gradient(index)
        if cgrad and cgrad["num_cums"] > 0:
            cum_grad, num_cums = cgrad["cum_grad"] + grad, cgrad["num_cums"] + 1
        else:
            cum_grad, num_cums = grad, self.init_updates + 1
        cgrad = {"cum_grad": cum_grad, "num_cums": num_cums}
        self._put_cum_gradient(index, cgrad)
        return cgrad

    def update(self, index, weight, grad, state):
        lr, wd = self._get_lr(index), self._get_wd(index)
        self._update_count(index)
        cgrad = self._cumulate_gradient(grad, index)
        if cgrad["num_cums"] % self.batch_scale != 0:
            nd.sgd_update(weight, grad, out=weight, lr=0.0, wd=wd)
            return
        grad = cgrad["cum_grad"] / self.batch_scale
        if self.warmup_strategy == "lars":
            lbmult = self._get_lars(weight, grad, wd)
        else:
            lbmult = self._get_lbmult(cgrad["num_cums"])
        kwargs = self._common_kwargs()
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        _sgd_one(weight, grad, state, lr * lbmult, wd, isinstance(state, (list, tuple)), True, kwargs)
        self._reset_cum_gradient(index)


@register
class LAMB(Optimizer):
    """LAMB (You et al. 2019): an Adam direction with weight decay (``lamb_update_phase1``),
    then a step scaled by ``|w| / |g|`` clipped to ``[lower_bound, upper_bound]``
    (``lamb_update_phase2``); ``mp_lamb_update_*`` with ``multi_precision`` on float16."""

    def __init__(
        self,
        learning_rate=0.001,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-6,
        lower_bound=None,
        upper_bound=None,
        bias_correction=True,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self.bias_correction = bias_correction
        self.aggregate_num = max(1, min(45, int(os.getenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", "45"))))

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def _update_one(self, index, weight, grad, state, multi_precision):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        kwargs = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}
        kwargs.update(bias_correction=self.bias_correction, rescale_grad=self.rescale_grad)
        kwargs["t"] = self._index_update_count[index]
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        bounds = {}
        if self.lower_bound:
            bounds["lower_bound"] = self.lower_bound
        if self.upper_bound:
            bounds["upper_bound"] = self.upper_bound
        if multi_precision:
            weight32, (mean, var) = state
            g = nd.mp_lamb_update_phase1(weight, grad, mean, var, weight32, wd=wd, **kwargs)
            r_1, r_2 = nd.norm(weight32), nd.norm(g)
            nd.mp_lamb_update_phase2(weight, g, r_1, r_2, weight32, lr=lr, out=weight, **bounds)
        else:
            mean, var = state
            g = nd.lamb_update_phase1(weight, grad, mean, var, wd=wd, **kwargs)
            r_1, r_2 = nd.norm(weight), nd.norm(g)
            nd.lamb_update_phase2(weight, g, r_1, r_2, lr=lr, out=weight, **bounds)

    def _update_impl(self, index, weight, grad, state, multi_precision):
        # MXNet's aggregated path (multi_lamb_update) computes the same steps weight by weight.
        if not isinstance(index, (tuple, list)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        for i, w, g, s in zip(index, weight, grad, state, strict=True):
            self._update_one(i, w, g, s, multi_precision)

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state, False)

    def update_multi_precision(self, index, weight, grad, state):
        first = weight[0] if isinstance(index, (tuple, list)) else weight
        self._update_impl(index, weight, grad, state, self.multi_precision and first.dtype == numpy.float16)


@register
class DCASGD(Optimizer):
    """Delay-compensated asynchronous SGD (Zheng et al. 2016): the gradient is corrected by
    ``lamda * g * g * (weight - previous_weight)``."""

    def __init__(self, momentum=0.0, lamda=0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.weight_previous = {}
        self.lamda = lamda

    def create_state(self, index, weight):
        mom = _zeros_like(weight) if self.momentum != 0.0 else None
        return (mom, weight.copy())

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        grad = grad * self.rescale_grad
        if self.clip_gradient is not None:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        mom, previous_weight = state
        step = -lr * (grad + wd * weight + self.lamda * grad * grad * (weight - previous_weight))
        # MXNet 1.9.1 tests `if mom:` on an array, which fails whenever there is momentum.
        if mom is not None:
            mom[:] *= self.momentum
            mom[:] += step
        else:
            mom = step
        previous_weight[:] = weight
        weight[:] += mom


@register
class SGLD(Optimizer):
    """Stochastic gradient Langevin dynamics: a half SGD step plus Gaussian noise of variance
    ``lr`` (drawn from ``mx.random``)."""

    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        grad = grad * self.rescale_grad
        if self.clip_gradient is not None:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        weight[:] += -lr / 2 * (grad + wd * weight)
        weight[:] += nd.random.normal(0, math.sqrt(lr), shape=weight.shape, dtype=weight.dtype, ctx=weight.context)


@register
class ccSGD(SGD):  # noqa: N801 (MXNet's name)
    """The deprecated name of :class:`SGD`."""


@register
class Adamax(Optimizer):
    """AdaMax (Kingma & Ba): Adam with the infinity norm, ``u = max(beta2*u, |g|)``."""

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr /= 1.0 - self.beta1**t
        grad = grad * self.rescale_grad + wd * weight
        if self.clip_gradient is not None:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        m_t, u_t = state
        m_t[:] *= self.beta1
        m_t[:] += (1.0 - self.beta1) * grad
        u_t[:] = nd.maximum(self.beta2 * u_t, nd.abs(grad))
        weight[:] -= lr * m_t / u_t


@register
class Nadam(Optimizer):
    """Nesterov Adam (Dozat 2016) with the momentum schedule ``schedule_decay``."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.0

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        grad = grad * self.rescale_grad + wd * weight
        if self.clip_gradient is not None:
            grad = nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        momentum_t = self.beta1 * (1.0 - 0.5 * (pow(0.96, t * self.schedule_decay)))
        momentum_t_1 = self.beta1 * (1.0 - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * momentum_t
        m_schedule_next = self.m_schedule * momentum_t_1
        m_t, v_t = state
        m_t[:] *= self.beta1
        m_t[:] += (1.0 - self.beta1) * grad
        v_t[:] *= self.beta2
        v_t[:] += (1.0 - self.beta2) * grad * grad
        grad_prime = grad / (1.0 - self.m_schedule)
        m_t_prime = m_t / (1.0 - m_schedule_next)
        v_t_prime = v_t / (1.0 - pow(self.beta2, t))
        m_t_bar = (1.0 - momentum_t) * grad_prime + momentum_t_1 * m_t_prime
        weight[:] -= lr * m_t_bar / (nd.sqrt(v_t_prime) + self.epsilon)


@register
class Test(Optimizer):
    """The test optimizer of MXNet: ``weight += rescale_grad * grad``; the state keeps a copy
    of the weight."""

    def create_state(self, index, weight):
        return nd.zeros(weight.shape, ctx=weight.context)

    def update(self, index, weight, grad, state):
        weight[:] += grad * self.rescale_grad
        state[:] = weight
