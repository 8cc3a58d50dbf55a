"""Utilities: checkpoint loading with clear errors, deprecated names, and mmengine's
``register_all_modules``."""
from .checkpoint import (CheckpointError, check_checkpoint_matches, check_resume_checkpoint,
                         find_resume_checkpoint, load_detector_checkpoint, read_checkpoint,
                         state_dict_mismatch)
from .deprecation import renamed_arg, warn_deprecated
from .setup_env import register_all_modules

__all__ = [
    'CheckpointError', 'check_checkpoint_matches', 'check_resume_checkpoint',
    'find_resume_checkpoint', 'load_detector_checkpoint', 'read_checkpoint', 'register_all_modules', 'renamed_arg', 'state_dict_mismatch', 'warn_deprecated'
]
