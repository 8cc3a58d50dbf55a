from . import hooks  # noqa: F401
from .hooks import BlockDropHook, BNCalibrationHook
from .model_wrappers import DelegatingDistributedDataParallel
from .optimizers import SummaryOptimWrapperConstructor

__all__ = [
    'BlockDropHook', 'BNCalibrationHook', 'DelegatingDistributedDataParallel',
    'SummaryOptimWrapperConstructor'
]
