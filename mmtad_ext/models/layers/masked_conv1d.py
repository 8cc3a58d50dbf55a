"""Masked 1-D convolution module (ActionFormer's ``MaskedConv1D`` + norm + activation).

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925); the form of
OpenTAD's ``bricks/conv.py`` ``ConvModule`` is followed: conv, zero the padded positions, norm,
activation, zero again. A strided conv takes the mask at every ``stride``-th position (nearest
down-sampling).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def downsample_mask(mask: Tensor, length: int) -> Tensor:
    """(B, T) bool mask -> (B, length) by nearest-neighbour sampling (position ``i * T // L``)."""
    if mask.shape[-1] == length:
        return mask
    return F.interpolate(mask[:, None].float(), size=length, mode='nearest')[:, 0].bool()


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, T) tensor."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class MaskedConv1dModule(nn.Module):
    """Conv1d -> mask -> [LayerNorm] -> [ReLU] -> mask on (B, C, T) features.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Defaults to 3.
        stride (int): Defaults to 1.
        groups (int): Defaults to 1 (``in_channels`` for a depthwise conv).
        with_norm (bool): LayerNorm over channels (eps 1e-6, as OpenTAD); the conv then has no
            bias. Defaults to True.
        with_act (bool): ReLU. Defaults to True.
        bias (bool, optional): Conv bias; defaults to ``not with_norm``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, with_norm: bool = True, with_act: bool = True,
                 bias: Optional[bool] = None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=kernel_size // 2, groups=groups,
                              bias=(not with_norm) if bias is None else bias)
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        self.norm = ChannelLayerNorm(out_channels, eps=1e-6) if with_norm else None
        self.act = nn.ReLU(inplace=True) if with_act else None

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, C, T), (B, T) bool -> (B, C', T'), (B, T') bool."""
        x = self.conv(x)
        mask = downsample_mask(mask, x.shape[-1])
        x = x * mask[:, None].to(x.dtype)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x * mask[:, None].to(x.dtype), mask
