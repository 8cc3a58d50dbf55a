from . import hooks  # noqa: F401
from .hooks import BNCalibrationHook
from .model_wrappers import DelegatingDistributedDataParallel

__all__ = ['BNCalibrationHook', 'DelegatingDistributedDataParallel']
