"""Cascade proposal evaluation module of ETAD (paper 001, sec. 3.2 and eq. (1))."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmtad_ext.models.layers.roi_align_1d import RoIAlign1d
from mmtad_ext.registry import MODELS
from mmtad_ext.structures.segment_ops import decode_offsets, encode_offsets, segment_iou


class ProposalEvaluationStage(nn.Module):
    """One proposal evaluation stage: RoIAlign over extended proposals, then FC branches.

    Branches: 4 offsets (start, end, center, log-width), IoU (classification, regression) and
    proposal boundary classification (start, end).

    Args:
        in_channels (int): Channels of the enhanced snippet features.
        feat_channels (int): Channels after the 1x1 reduction before RoIAlign.
        fc_channels (int): Width of the FC layers.
        roi_size (int): Points per RoI.
        extend_ratio (float): The RoI covers the proposal plus ``extend_ratio / 2`` of its length
            on each side.
    """

    def __init__(self, in_channels: int, feat_channels: int, fc_channels: int, roi_size: int,
                 extend_ratio: float):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv1d(in_channels, feat_channels, 1), nn.ReLU())
        self.roi_align = RoIAlign1d(roi_size)
        self.fcs = nn.Sequential(
            nn.Linear(feat_channels * roi_size, fc_channels), nn.ReLU(),
            nn.Linear(fc_channels, fc_channels), nn.ReLU())
        self.reg = nn.Linear(fc_channels, 4)
        self.iou = nn.Linear(fc_channels, 2)
        self.boundary = nn.Linear(fc_channels, 2)
        self.extend_ratio = extend_ratio

    def forward(self, feats: torch.Tensor, proposals: torch.Tensor) -> dict:
        """Evaluate proposals.

        Args:
            feats (Tensor): (B, C, T) features.
            proposals (Tensor): (B, P, 2) proposals in normalised [0, 1] time.

        Returns:
            dict: ``offsets`` (B, P, 4), ``iou_logits`` (B, P, 2), ``boundary_logits`` (B, P, 2).
        """
        b, p, _ = proposals.shape
        t = feats.shape[-1]
        seg = proposals.reshape(-1, 2) * t  # (B*P, 2) snippet units
        ext = (seg[:, 1] - seg[:, 0]) * self.extend_ratio / 2
        batch_idx = torch.arange(b, device=feats.device).repeat_interleave(p).to(seg)
        rois = torch.stack([batch_idx, seg[:, 0] - ext, seg[:, 1] + ext], dim=1)
        x = self.roi_align(self.reduce(feats), rois.detach())  # (B*P, C', L)
        x = self.fcs(x.flatten(1))  # (B*P, F)
        return dict(
            offsets=self.reg(x).view(b, p, 4),
            iou_logits=self.iou(x).view(b, p, 2),
            boundary_logits=self.boundary(x).view(b, p, 2))


@MODELS.register_module()
class ETADCascadeHead(BaseModule):
    """Cascade of proposal evaluation stages with increasing positive IoU thresholds.

    Stage ``k`` evaluates the (detached) proposals refined by stage ``k - 1``. Per stage the loss
    is (eq. (1)): proposal boundary CE (``loss_boundary``, weight 1), IoU classification and
    regression (``loss_iou_cls`` / ``loss_iou_reg``, weight 1) and smooth-L1 of the four
    offsets on positives (``loss_offset``, weight 10).

    Args:
        in_channels (int): Channels of the enhanced features. Defaults to 256.
        feat_channels (int): Channels fed to RoIAlign. Defaults to 128.
        fc_channels (int): FC width. Defaults to 512.
        roi_size (int): Points per RoI. Defaults to 16.
        extend_ratio (float): Proposal extension for RoIAlign. Defaults to 0.5.
        pos_iou_thrs (Sequence[float]): Positive tIoU threshold of each stage; its length is the
            number of stages. Defaults to (0.7, 0.8, 0.9).
        boundary_ratio (float): A proposal start (end) is positive when it lies within
            ``max(1/T, boundary_ratio * duration)`` of its matched ground truth's start (end).
            Defaults to 0.1.
        loss_boundary (dict): Proposal boundary loss. Defaults to balanced BCE, weight 1.
        loss_iou_cls (dict): IoU classification loss. Defaults to balanced BCE, weight 1.
        loss_iou_reg (dict): IoU regression loss. Defaults to mmdet SmoothL1Loss, weight 1.
        loss_offset (dict): Offset regression loss. Defaults to mmdet SmoothL1Loss, weight 10.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: int = 128,
                 fc_channels: int = 512,
                 roi_size: int = 16,
                 extend_ratio: float = 0.5,
                 pos_iou_thrs: Sequence[float] = (0.7, 0.8, 0.9),
                 boundary_ratio: float = 0.1,
                 loss_boundary: dict = dict(type='BalancedBinaryCrossEntropyLoss',
                                            loss_weight=1.0),
                 loss_iou_cls: dict = dict(type='BalancedBinaryCrossEntropyLoss',
                                           loss_weight=1.0),
                 loss_iou_reg: dict = dict(type='mmdet.SmoothL1Loss', beta=0.1, loss_weight=1.0),
                 loss_offset: dict = dict(type='mmdet.SmoothL1Loss', beta=0.1, loss_weight=10.0),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not pos_iou_thrs or any(not 0 < t < 1 for t in pos_iou_thrs):
            raise ValueError(f'pos_iou_thrs must be non-empty values in (0, 1), got {pos_iou_thrs}')
        self.pos_iou_thrs = tuple(float(t) for t in pos_iou_thrs)
        self.stages = nn.ModuleList([
            ProposalEvaluationStage(in_channels, feat_channels, fc_channels, roi_size,
                                    extend_ratio) for _ in self.pos_iou_thrs
        ])
        self.boundary_ratio = boundary_ratio
        self.loss_boundary = MODELS.build(loss_boundary)
        self.loss_iou_cls = MODELS.build(loss_iou_cls)
        self.loss_iou_reg = MODELS.build(loss_iou_reg)
        self.loss_offset = MODELS.build(loss_offset)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def forward(self, feats: torch.Tensor, proposals: torch.Tensor) -> List[dict]:
        """Run the cascade.

        Args:
            feats (Tensor): (B, C, T) enhanced features.
            proposals (Tensor): (B, P, 2) initial proposals in normalised time.

        Returns:
            list[dict]: Per stage, the stage outputs plus ``proposals`` (its input) and
            ``refined`` (B, P, 2), the detached input of the next stage.
        """
        outs = []
        for stage in self.stages:
            out = stage(feats, proposals)
            refined = decode_offsets(proposals.reshape(-1, 2),
                                     out['offsets'].detach().reshape(-1, 4)).view_as(proposals)
            out.update(proposals=proposals, refined=refined, temporal_dim=feats.shape[-1])
            outs.append(out)
            proposals = refined
        return outs

    def _targets(self, proposals: torch.Tensor, gt: torch.Tensor, thr: float,
                 temporal_dim: int) -> dict:
        """Targets of one sample's (P, 2) proposals against its (G, 2) ground truth."""
        p = proposals.shape[0]
        if gt.numel() == 0:
            zeros = proposals.new_zeros(p)
            return dict(iou=zeros, pos=zeros.bool(), boundary=proposals.new_zeros(p, 2),
                        offsets=proposals.new_zeros(p, 4))
        ious = segment_iou(proposals, gt)  # (P, G)
        max_iou, idx = ious.max(dim=1)
        matched = gt[idx]  # (P, 2)
        tol = torch.clamp(self.boundary_ratio * (matched[:, 1] - matched[:, 0]),
                          min=1.0 / temporal_dim)
        boundary = ((proposals - matched).abs() <= tol[:, None]) & (max_iou[:, None] > 0)
        return dict(iou=max_iou, pos=max_iou > thr, boundary=boundary.to(proposals),
                    offsets=encode_offsets(proposals, matched))

    def loss(self, stage_outs: List[dict], gt_segments: List[torch.Tensor]) -> dict:
        """Loss of every stage (eq. (1) without the snippet boundary term).

        Args:
            stage_outs (list[dict]): Output of :meth:`forward`.
            gt_segments (list[Tensor]): Per sample (G, 2) normalised ground truth.
        """
        losses = {}
        for k, (out, thr) in enumerate(zip(stage_outs, self.pos_iou_thrs)):
            tg = [self._targets(prop, gt.to(prop), thr, out['temporal_dim'])
                  for prop, gt in zip(out['proposals'], gt_segments)]
            iou = torch.cat([t['iou'] for t in tg])  # (B*P,)
            pos = torch.cat([t['pos'] for t in tg])
            boundary = torch.cat([t['boundary'] for t in tg])  # (B*P, 2)
            offsets = torch.cat([t['offsets'] for t in tg])  # (B*P, 4)
            iou_prob = out['iou_logits'].reshape(-1, 2).sigmoid()
            losses[f's{k}.loss_iou_cls'] = self.loss_iou_cls(iou_prob[:, 0], pos.to(iou))
            losses[f's{k}.loss_iou_reg'] = self.loss_iou_reg(
                iou_prob[:, 1], iou, weight=iou_balance_weights(iou))
            losses[f's{k}.loss_boundary'] = self.loss_boundary(
                out['boundary_logits'].reshape(-1, 2).sigmoid(), boundary)
            num_pos = int(pos.sum())
            pred_off = out['offsets'].reshape(-1, 4)
            if num_pos > 0:
                losses[f's{k}.loss_offset'] = self.loss_offset(
                    pred_off[pos], offsets[pos], avg_factor=num_pos * 4)
            else:  # keep the graph (and DDP's used-parameter set) identical
                losses[f's{k}.loss_offset'] = pred_off.sum() * 0
        return losses


def iou_balance_weights(iou: torch.Tensor) -> torch.Tensor:
    """BMN's balance of the IoU regression: high (>0.7), middle (0.3-0.7) and low IoU proposals
    each carry a third of the weight (an empty bin gives its share to the others)."""
    bins = [iou > 0.7, (iou > 0.3) & (iou <= 0.7), iou <= 0.3]
    counts = [int(b.sum()) for b in bins]
    present = sum(c > 0 for c in counts)
    weight = torch.zeros_like(iou)
    for b, c in zip(bins, counts):
        if c:
            weight[b] = iou.numel() / (present * c)
    return weight
