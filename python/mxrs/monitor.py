"""Monitor the outputs, weights and gradients of executors, as MXNet 1.9.1's ``mx.monitor``
(also ``mx.mon``): ``mod.install_monitor(mon)``, then ``mon.tic()`` before a batch and
``mon.toc_print()`` (or ``mon.toc()``) after it."""

import logging
import math
import re

from mxrs.ndarray.ndarray import NDArray

__all__ = ["Monitor"]


class Monitor:
    """Collect ``stat_func(array)`` for every operator output (via the executor's monitor
    callback) and every argument / auxiliary state whose name matches ``pattern``, every
    ``interval`` batches. ``stat_func`` defaults to ``norm(x) / sqrt(x.size)``; ``sort`` sorts
    the results by name."""

    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        if stat_func is None:

            def asum_stat(x):
                return x.norm() / math.sqrt(x.size)

            stat_func = asum_stat
        self.stat_func = stat_func
        self.monitor_all = monitor_all
        self.interval = interval
        self.activated = False
        self.queue: list = []
        self.step = 0
        self.exes = []
        self.re_prog = re.compile(pattern)
        self.sort = sort

        def stat_helper(name, array):
            if not self.activated or not self.re_prog.match(name):
                return
            self.queue.append((self.step, name, self.stat_func(array)))

        # Lets the executor skip collecting internal outputs in the steps between tic and toc
        # where every call would return at once (the `interval` - 1 steps of each interval).
        stat_helper.active = lambda: self.activated  # type: ignore[attr-defined]
        self.stat_helper = stat_helper

    def install(self, exe):
        """Install the callback on executor ``exe``."""
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        self.exes.append(exe)

    def _wait(self):
        for exe in self.exes:
            for array in exe.arg_arrays:
                array.wait_to_read()
            for array in exe.aux_arrays:
                array.wait_to_read()

    def tic(self):
        """Start collecting for this batch (every ``interval`` batches)."""
        if self.step % self.interval == 0:
            self._wait()
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """End collecting; return a list of ``(step, name, stat_string)``."""
        if not self.activated:
            return []
        self._wait()
        for exe in self.exes:
            for name, array in zip(exe._symbol.list_arguments(), exe.arg_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
            for name, array in zip(exe._symbol.list_auxiliary_states(), exe.aux_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
        self.activated = False
        res = []
        if self.sort:
            self.queue.sort(key=lambda x: x[1])
        for n, k, v_list in self.queue:
            if isinstance(v_list, NDArray):
                v_list = [v_list]
            s = ""
            for v in v_list:
                if v.shape in ((1,), ()):
                    s += str(v.asscalar()) + "\t"
                else:
                    s += str(v.asnumpy()) + "\t"
            res.append((n, k, s))
        self.queue = []
        return res

    def toc_print(self):
        """End collecting and log the results."""
        for n, k, v in self.toc():
            logging.info("Batch: %7d %30s %s", n, k, v)
