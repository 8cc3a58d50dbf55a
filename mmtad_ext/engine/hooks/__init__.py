from .block_drop_hook import BlockDropHook
from .bn_calibration_hook import BNCalibrationHook
from .epoch_seed_hook import EpochSeedHook
from .lora_finetune_hook import LoRAFinetuneHook
from .skipped_videos_hook import SkippedVideosHook

__all__ = ['BlockDropHook', 'BNCalibrationHook', 'EpochSeedHook', 'LoRAFinetuneHook',
           'SkippedVideosHook']
