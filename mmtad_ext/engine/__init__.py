from . import hooks  # noqa: F401
from .hooks import BNCalibrationHook
from .model_wrappers import DelegatingDistributedDataParallel
from .optimizers import SummaryOptimWrapperConstructor

__all__ = [
    'BNCalibrationHook', 'DelegatingDistributedDataParallel', 'SummaryOptimWrapperConstructor'
]
