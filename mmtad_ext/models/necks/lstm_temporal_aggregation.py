"""LSTM-boosted temporal aggregation of ETAD.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.2. ``branch_convs=True, groups=4`` is the form of the public code (``sming256/ETAD``,
``lib/models/detector/feature.py``), whose checkpoints ``tools/convert/opentad_to_mmtad.py``
converts.
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

    With ``branch_convs=True`` (the public code's form) each of the three streams first gets
    its own kernel-3 conv (forward and backward LSTM outputs to ``channels // 2``, the projected
    input to ``channels``), and the ``2 * channels`` concatenation (forward, input, backward)
    is fused; use it with ``groups=4, num_convs=0``.

    Args:
        in_channels (int): Channels of the snippet features.
        channels (int): Hidden and output channels. Defaults to 256.
        num_convs (int): Temporal (kernel 3) convolutions after the fusion. Defaults to 2.
        norm_cfg (dict, optional): Norm of the conv layers. Defaults to GN with 16 groups.
        groups (int): Groups of every conv layer (the public code: 4). Defaults to 1.
        branch_convs (bool): One conv per stream before the fusion (see above). Defaults to
            False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int = 256,
                 num_convs: int = 2,
                 norm_cfg: Optional[dict] = dict(type='GN', num_groups=16),
                 groups: int = 1,
                 branch_convs: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if in_channels % groups or channels % (2 * groups if branch_convs else groups):
            raise ValueError(f'LSTMTemporalAggregation: groups={groups} must divide '
                             f'in_channels={in_channels} and channels={channels} (and '
                             'channels // 2 with branch_convs=True)')

        def conv(c_in, c_out, k):
            return ConvModule(c_in, c_out, k, padding=k // 2, groups=groups,
                              conv_cfg=dict(type='Conv1d'), norm_cfg=norm_cfg)

        self.branch_convs = branch_convs
        self.in_proj = conv(in_channels, channels, 3)
        self.lstm_fwd = nn.LSTM(channels, channels, batch_first=True)
        self.lstm_bwd = nn.LSTM(channels, channels, batch_first=True)
        if branch_convs:
            self.fwd_conv = conv(channels, channels // 2, 3)
            self.mid_conv = conv(channels, channels, 3)
            self.bwd_conv = conv(channels, channels // 2, 3)
        self.fuse = conv((2 if branch_convs else 3) * channels, channels, 1)
        self.convs = nn.Sequential(*[conv(channels, channels, 3) for _ in range(num_convs)])
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhance (B, C_in, T) snippet features into (B, channels, T)."""
        x = self.in_proj(x)  # (B, C, T)
        seq = x.transpose(1, 2)  # (B, T, C)
        fwd, _ = self.lstm_fwd(seq)
        bwd, _ = self.lstm_bwd(seq.flip(1))
        fwd = fwd.transpose(1, 2)  # (B, C, T)
        bwd = bwd.flip(1).transpose(1, 2)  # back to forward time order, (B, C, T)
        if self.branch_convs:  # (B, C/2 + C + C/2, T)
            x = torch.cat([self.fwd_conv(fwd), self.mid_conv(x), self.bwd_conv(bwd)], dim=1)
        else:  # (B, 3C, T)
            x = torch.cat([fwd, bwd, x], dim=1)
        return self.convs(self.fuse(x))  # (B, C, T)
