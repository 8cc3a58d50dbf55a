"""Utilities: checkpoint loading with clear errors, and mmengine's ``register_all_modules``."""
from .checkpoint import (CheckpointError, check_checkpoint_matches, load_detector_checkpoint,
                         read_checkpoint, state_dict_mismatch)
from .setup_env import register_all_modules

__all__ = [
    'CheckpointError', 'check_checkpoint_matches', 'load_detector_checkpoint', 'read_checkpoint',
    'register_all_modules', 'state_dict_mismatch'
]
