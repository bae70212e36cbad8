"""``mx.mod``: the Module API (a symbol bound to executors, trained with ``fit``)."""

from mxrs.module import base_module, bucketing_module, executor_group, module, python_module, sequential_module
from mxrs.module.base_module import BaseModule
from mxrs.module.bucketing_module import BucketingModule
from mxrs.module.executor_group import DataParallelExecutorGroup, ExecutorGroup
from mxrs.module.module import Module
from mxrs.module.python_module import PythonLossModule, PythonModule
from mxrs.module.sequential_module import SequentialModule

__all__ = [
    "BaseModule",
    "Module",
    "BucketingModule",
    "SequentialModule",
    "PythonModule",
    "PythonLossModule",
    "ExecutorGroup",
    "DataParallelExecutorGroup",
    "base_module",
    "bucketing_module",
    "executor_group",
    "module",
    "python_module",
    "sequential_module",
]
