"""LSTM-boosted temporal aggregation of ETAD.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.2.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmtad_ext.registry import MODELS


@MODELS.register_module()
class LSTMTemporalAggregation(BaseModule):
    """Feature enhancement module: forward and backward LSTMs before a 1D conv net.

    The input snippet features are projected to ``channels``; one LSTM reads the sequence
    forwards and one backwards; their outputs are concatenated with a residual of the projected
    input and fused by a kernel-size-1 convolution, followed by ``num_convs`` temporal
    convolutions.

    Args:
        in_channels (int): Channels of the snippet features.
        channels (int): Hidden and output channels. Defaults to 256.
        num_convs (int): Temporal (kernel 3) convolutions after the fusion. Defaults to 2.
        norm_cfg (dict, optional): Norm of the conv layers. Defaults to GN with 16 groups.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int = 256,
                 num_convs: int = 2,
                 norm_cfg: Optional[dict] = dict(type='GN', num_groups=16),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        conv = dict(type='Conv1d')
        self.in_proj = ConvModule(in_channels, channels, 3, padding=1, conv_cfg=conv,
                                  norm_cfg=norm_cfg)
        self.lstm_fwd = nn.LSTM(channels, channels, batch_first=True)
        self.lstm_bwd = nn.LSTM(channels, channels, batch_first=True)
        self.fuse = ConvModule(3 * channels, channels, 1, conv_cfg=conv, norm_cfg=norm_cfg)
        self.convs = nn.Sequential(*[
            ConvModule(channels, channels, 3, padding=1, conv_cfg=conv, norm_cfg=norm_cfg)
            for _ in range(num_convs)
        ])
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhance (B, C_in, T) snippet features into (B, channels, T)."""
        x = self.in_proj(x)  # (B, C, T)
        seq = x.transpose(1, 2)  # (B, T, C)
        fwd, _ = self.lstm_fwd(seq)
        bwd, _ = self.lstm_bwd(seq.flip(1))
        bwd = bwd.flip(1)  # back to forward time order
        x = self.fuse(torch.cat([fwd.transpose(1, 2), bwd.transpose(1, 2), x], dim=1))
        return self.convs(x)  # (B, C, T)
