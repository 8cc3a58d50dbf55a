from .bn_calibration_hook import BNCalibrationHook

__all__ = ['BNCalibrationHook']
