from .lora_ready_attention import LoRAReadyAttention, QKVLinear
from .roi_align_1d import RoIAlign1d
from . import slimmable_bn, slimmable_conv  # noqa: F401  (A3D: SlimmableBN3d, SlimmableConv3d)

__all__ = ['LoRAReadyAttention', 'QKVLinear', 'RoIAlign1d']
