"""Utilities: user errors and the tools' one-line error wrapper, checkpoint loading with clear
errors, public-checkpoint conversion, deprecated names, and mmengine's ``register_all_modules``."""
from .checkpoint import (CheckpointError, check_checkpoint_matches, check_resume_checkpoint,
                         find_resume_checkpoint, load_detector_checkpoint, read_checkpoint,
                         restore_checkpoint_structure, state_dict_mismatch)
from .convert import (ConversionError, KeyRule, apply_key_map, build_model_from_config,
                      check_converted, complete_extra_state, load_public_state_dict,
                      save_converted, unwrap_state_dict)
from .deprecation import renamed_arg, warn_deprecated
from .errors import ConfigError, UserError, is_user_error, run_cli
from .setup_env import register_all_modules

__all__ = [
    'CheckpointError', 'ConfigError', 'ConversionError', 'KeyRule', 'UserError',
    'apply_key_map', 'build_model_from_config', 'check_converted', 'complete_extra_state',
    'load_public_state_dict', 'save_converted',
    'unwrap_state_dict', 'check_checkpoint_matches',
    'check_resume_checkpoint', 'find_resume_checkpoint', 'is_user_error',
    'load_detector_checkpoint', 'read_checkpoint', 'register_all_modules', 'renamed_arg',
    'restore_checkpoint_structure', 'run_cli', 'state_dict_mismatch', 'warn_deprecated'
]
