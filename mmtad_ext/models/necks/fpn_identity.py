"""ActionFormer's neck: the pyramid levels as they are, each with its own LayerNorm.

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925); OpenTAD's
``FPNIdentity`` (``necks/fpn.py``).
"""
from typing import List, Tuple

from torch import Tensor, nn

from mmtad_ext.registry import MODELS

from ..layers.masked_conv1d import ChannelLayerNorm


@MODELS.register_module()
class FPNIdentity(nn.Module):
    """Per-level LayerNorm over channels of (B, C, T_l) features; masks pass through.

    Args:
        in_channels (int): Channels of every level.
        num_levels (int): Pyramid levels. Defaults to 6.
    """

    def __init__(self, in_channels: int, num_levels: int = 6) -> None:
        super().__init__()
        self.norms = nn.ModuleList([ChannelLayerNorm(in_channels) for _ in range(num_levels)])

    def forward(self, feats: List[Tensor],
                masks: List[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        if len(feats) != len(self.norms):
            raise ValueError(f'FPNIdentity has {len(self.norms)} levels, got {len(feats)}')
        return [norm(f) for norm, f in zip(self.norms, feats)], list(masks)
