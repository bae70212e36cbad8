"""``mx.mod``: the Module API (a symbol bound to executors, trained with ``fit``)."""

from mxrs.module.base_module import BaseModule
from mxrs.module.executor_group import DataParallelExecutorGroup, ExecutorGroup
from mxrs.module.module import Module

__all__ = ["BaseModule", "Module", "ExecutorGroup", "DataParallelExecutorGroup"]
