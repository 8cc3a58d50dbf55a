from .lora import ATTENTION_TARGETS, has_lora, inject_lora, merge_lora
from .lora_ready_attention import LoRAReadyAttention, QKVLinear
from .roi_align_1d import RoIAlign1d
from . import slimmable_bn, slimmable_conv  # noqa: F401  (A3D: SlimmableBN3d, SlimmableConv3d)

__all__ = [
    'ATTENTION_TARGETS', 'has_lora', 'inject_lora', 'merge_lora', 'LoRAReadyAttention', 'QKVLinear',
    'RoIAlign1d'
]
