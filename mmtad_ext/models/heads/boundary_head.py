"""Boundary evaluation module of ETAD (BMN's temporal evaluation).

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), sec. 3.2.
"""
from typing import List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmtad_ext.registry import MODELS


def boundary_targets(gt_segments: torch.Tensor, temporal_dim: int,
                     region_ratio: float = 0.0) -> torch.Tensor:
    """Snippet startness/endness targets (BMN): overlap of each snippet with a boundary region.

    Each ground-truth boundary ``b`` owns the region ``b +- w/2`` with
    ``w = max(3 / T, region_ratio * duration)`` (normalised time). A snippet's target is its
    largest fraction covered by such a region (intersection over the snippet length). With
    ``region_ratio=0`` (the default) the region is BMN's 3 snippets, as in the public ETAD code
    (``sming256/ETAD``, ``gt_start``/``gt_end`` of its datasets); BMN's paper form widens it to
    ``0.1 x duration`` for long actions (``region_ratio=0.1``).

    Args:
        gt_segments (Tensor): (G, 2) normalised ground truth of one sample.
        temporal_dim (int): ``T``.
        region_ratio (float): Region width relative to the action duration. Defaults to 0.0.

    Returns:
        Tensor: (2, T) start and end targets in [0, 1].
    """
    t = torch.arange(temporal_dim, dtype=torch.float32, device=gt_segments.device)
    snip = torch.stack([t / temporal_dim, (t + 1) / temporal_dim], dim=1)  # (T, 2)
    if gt_segments.numel() == 0:
        return snip.new_zeros(2, temporal_dim)
    seg = gt_segments.float()
    w = torch.clamp(region_ratio * (seg[:, 1] - seg[:, 0]), min=3.0 / temporal_dim)  # (G,)
    out = []
    for b in (seg[:, 0], seg[:, 1]):
        lo, hi = b - w / 2, b + w / 2  # (G,)
        inter = (torch.minimum(snip[:, None, 1], hi[None]) -
                 torch.maximum(snip[:, None, 0], lo[None])).clamp(min=0)  # (T, G)
        out.append((inter * temporal_dim).max(dim=1).values)
    return torch.stack(out)  # (2, T)


@MODELS.register_module()
class ETADBoundaryHead(BaseModule):
    """Two conv layers predicting the startness and endness of every snippet.

    Args:
        in_channels (int): Input channels.
        feat_channels (int): Hidden channels. Defaults to 256.
        region_ratio (float): See :func:`boundary_targets`. Defaults to 0.0 (3 snippets).
        loss (dict): Loss on logits (batch-balanced BCE, eq. (1) ``lambda_a = 1``).
        groups (int): Groups of the first conv (the public ETAD code: 4). Defaults to 1.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int = 256,
                 region_ratio: float = 0.0,
                 loss: dict = dict(type='BalancedBinaryCrossEntropyLoss', loss_weight=1.0),
                 groups: int = 1,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = ConvModule(in_channels, feat_channels, 3, padding=1, groups=groups,
                               conv_cfg=dict(type='Conv1d'), norm_cfg=None)
        self.out = nn.Conv1d(feat_channels, 2, 1)
        self.region_ratio = region_ratio
        self.loss_fn = MODELS.build(loss)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) features -> (B, 2, T) start/end logits (``sigmoid`` gives the
        startness/endness probabilities; the loss takes the logits, which keeps it AMP-safe)."""
        return self.out(self.conv(x))

    def targets(self, gt_segments: List[torch.Tensor], temporal_dim: int) -> torch.Tensor:
        """(B, 2, T) snippet startness/endness targets of a batch (see :func:`boundary_targets`).
        """
        return torch.stack(
            [boundary_targets(g, temporal_dim, self.region_ratio) for g in gt_segments])

    def loss(self, logits: torch.Tensor, gt_segments: List[torch.Tensor],
             targets: Optional[torch.Tensor] = None) -> dict:
        """Batch-balanced BCE of startness and endness (each balanced over the batch).

        Args:
            logits (Tensor): (B, 2, T) start/end logits.
            gt_segments (list[Tensor]): Per sample (G, 2) normalised ground truth.
            targets (Tensor, optional): (B, 2, T) targets from :meth:`targets`. Defaults to None
                (computed here).
        """
        if targets is None:
            targets = self.targets(gt_segments, logits.shape[-1])
        targets = targets.to(logits)  # (B, 2, T)
        return dict(
            loss_start=self.loss_fn(logits[:, 0], targets[:, 0]),
            loss_end=self.loss_fn(logits[:, 1], targets[:, 1]))
