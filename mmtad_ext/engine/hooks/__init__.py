from .block_drop_hook import BlockDropHook
from .bn_calibration_hook import BNCalibrationHook

__all__ = ['BlockDropHook', 'BNCalibrationHook']
