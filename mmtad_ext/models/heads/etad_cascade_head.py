"""Cascade proposal evaluation module of ETAD.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.2 and eq. (1). Where the paper is silent the public code is followed
(``sming256/ETAD``: ``lib/models/detector/{detector,pem}.py``, ``lib/loss/model_loss.py``,
``lib/dataset/anet_1_3/dataset.py``): per-stage residual conv, RoI extended by half its
length on each side, separate FC branches, start/end offsets from the RoI's first/last
quarter, xavier init, ground truth matched once on the initial proposals, and the loss forms
listed in :meth:`ETADCascadeHead.loss`.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmtad_ext.models.heads.boundary_head import boundary_targets
from mmtad_ext.models.layers.roi_align_1d import RoIAlign1d
from mmtad_ext.registry import MODELS
from mmtad_ext.structures.segment_ops import decode_offsets, encode_offsets, segment_iou


def _mlp(in_channels: int, channels: int, out_channels: int, num_hidden: int = 3) -> list:
    """``num_hidden`` Linear+ReLU layers of width ``channels``, then a Linear output layer."""
    layers = []
    for i in range(num_hidden):
        layers += [nn.Linear(in_channels if i == 0 else channels, channels), nn.ReLU()]
    return layers + [nn.Linear(channels, out_channels)]


class ProposalEvaluationStage(nn.Module):
    """One proposal evaluation stage (the public code's ``pem_module`` plus its stage conv).

    ``x = feats + ReLU(conv3_g4(feats))`` (per-stage residual), ``x = ReLU(conv3(x))`` reduced
    to ``feat_channels``, RoIAlign of ``roi_size`` points over the proposal extended by
    ``extend_ratio`` times its length on each side, then:

    - the whole RoI -> ``Linear(mid) + ReLU`` -> three branches of 3 hidden FC layers: IoU
      (classification, regression), proposal boundary (start, end) and center/log-width offsets
      (halved, "for smoother regression" as in the public code);
    - the RoI's first (last) quarter -> its own ``Linear(mid)`` + 3 hidden FC layers -> start
      (end) offset.

    Args:
        in_channels (int): Channels of the enhanced snippet features (divisible by 4).
        feat_channels (int): Channels after the reduction conv, before RoIAlign.
        mid_channels (int): Width of the first FC layer.
        fc_channels (int): Width of the branch FC layers.
        roi_size (int): Points per RoI (divisible by 4).
        extend_ratio (float): RoI extension on each side, relative to the proposal length.
        sampling_ratio (int): RoIAlign's sampling points per bin (mmcv's name, passed to
            ``RoIAlign1d``; not the EGS ``ratio`` of ``EGSBackboneWrapper``). Defaults to 2.
        aligned (bool): ``RoIAlign1d``'s ``aligned``. Defaults to True.
    """

    def __init__(self, in_channels: int, feat_channels: int, mid_channels: int,
                 fc_channels: int, roi_size: int, extend_ratio: float, sampling_ratio: int = 2,
                 aligned: bool = True):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv1d(in_channels, in_channels, 3, padding=1, groups=4), nn.ReLU())
        self.reduce = nn.Sequential(nn.Conv1d(in_channels, feat_channels, 3, padding=1),
                                    nn.ReLU())
        self.roi_align = RoIAlign1d(roi_size, sampling_ratio, aligned)
        self.roi_size = roi_size
        self.extend_ratio = extend_ratio
        quarter = feat_channels * (roi_size // 4)
        self.ext_fc = nn.Sequential(nn.Linear(feat_channels * roi_size, mid_channels), nn.ReLU())
        self.iou_branch = nn.Sequential(*_mlp(mid_channels, fc_channels, 2))
        self.boundary_branch = nn.Sequential(*_mlp(mid_channels, fc_channels, 2))
        self.center_width_branch = nn.Sequential(*_mlp(mid_channels, fc_channels, 2))
        self.start_branch = nn.Sequential(nn.Linear(quarter, mid_channels), nn.ReLU(),
                                          *_mlp(mid_channels, fc_channels, 1))
        self.end_branch = nn.Sequential(nn.Linear(quarter, mid_channels), nn.ReLU(),
                                        *_mlp(mid_channels, fc_channels, 1))

    def forward(self, feats: torch.Tensor, proposals: torch.Tensor,
                with_boundary: bool = True) -> dict:
        """Evaluate proposals.

        The RoI features feed only linear layers first (the whole RoI, its first and last
        quarter), so RoIAlign and those layers run fused (:meth:`RoIAlign1d.linear`: project
        the sequence, then interpolate; the same values up to float rounding, about 30x fewer
        multiply-adds over ETAD's 8,256 test proposals); with ``sampling_ratio=0`` (adaptive)
        the RoI features are materialised.

        Args:
            feats (Tensor): (B, C, T) features.
            proposals (Tensor): (B, P, 2) proposals in normalised [0, 1] time.
            with_boundary (bool): Also predict the proposal boundary logits (a training target
                only; inference skips them). Defaults to True.

        Returns:
            dict: ``offsets`` (B, P, 4) as (start, end, center, log-width), ``iou_logits``
            (B, P, 2) as (classification, regression) and, with ``with_boundary``,
            ``boundary_logits`` (B, P, 2).
        """
        b, p, _ = proposals.shape
        t = feats.shape[-1]
        x = self.reduce(feats + self.residual(feats))  # (B, C', T)
        seg = proposals.reshape(-1, 2) * t  # (B*P, 2) snippet units
        ext = (seg[:, 1] - seg[:, 0]) * self.extend_ratio
        batch_idx = torch.arange(b, device=feats.device).repeat_interleave(p).to(seg)
        rois = torch.stack([batch_idx, seg[:, 0] - ext, seg[:, 1] + ext], dim=1)  # (B*P, 3)
        rois = rois.detach()
        q = self.roi_size // 4
        if self.roi_align.roi_align.sampling_ratio > 0:  # fused RoIAlign + first FC layers
            roi_linear = self.roi_align.linear
            start = self.start_branch[1:](roi_linear(x, rois, self.start_branch[0], slice(0, q)))
            end = self.end_branch[1:](roi_linear(x, rois, self.end_branch[0], slice(-q, None)))
            h = self.ext_fc[1:](roi_linear(x, rois, self.ext_fc[0]))  # (B*P, mid)
        else:
            roi = self.roi_align(x, rois)  # (B*P, C', L)
            start = self.start_branch(roi[:, :, :q].flatten(1))  # (B*P, 1)
            end = self.end_branch(roi[:, :, -q:].flatten(1))  # (B*P, 1)
            h = self.ext_fc(roi.flatten(1))  # (B*P, mid)
        offsets = torch.cat([start, end, self.center_width_branch(h) / 2], dim=1)  # (B*P, 4)
        out = dict(offsets=offsets.view(b, p, 4), iou_logits=self.iou_branch(h).view(b, p, 2))
        if with_boundary:
            out['boundary_logits'] = self.boundary_branch(h).view(b, p, 2)
        return out


@MODELS.register_module()
class ETADCascadeHead(BaseModule):
    """Cascade of proposal evaluation stages; stage ``k`` refines stage ``k - 1``'s proposals.

    Args:
        in_channels (int): Channels of the enhanced features (divisible by 4). Defaults to 256.
        feat_channels (int, optional): Channels fed to RoIAlign. Defaults to None
            (``in_channels // 2``, as the public code).
        mid_channels (int): Width of the first FC layer. Defaults to 512.
        fc_channels (int): Width of the branch FC layers. Defaults to 128.
        roi_size (int): Points per RoI, divisible by 4. Defaults to 24.
        extend_ratio (float): RoI extension on each side, relative to the proposal length.
            Defaults to 0.5.
        roi_sampling_ratio (int): RoIAlign's ``sampling_ratio`` (mmcv's name): sampling points
            per bin; 1 takes the bin centre (about 4x cheaper on CPU). Not the EGS ``ratio`` of
            ``EGSBackboneWrapper``. Defaults to 2.
        roi_aligned (bool): ``RoIAlign1d``'s ``aligned``; False with ``roi_sampling_ratio=0``
            is the public code's RoIAlign (torchvision, ``aligned=False``, adaptive sampling),
            for its converted checkpoints. Defaults to True.
        pos_iou_thrs (Sequence[float]): Per stage, the tIoU above which a proposal's offsets are
            regressed; its length is the number of stages. Defaults to (0.7, 0.8, 0.9).
        loss_iou_cls (dict): IoU classification loss (positives at tIoU > 0.9 in every stage,
            negatives subsampled). Defaults to ``SampledBinaryCrossEntropyLoss(pos_threshold=
            0.9)``, weight 1.
        loss_iou_reg (dict): IoU regression loss. Defaults to ``IoUBalancedMSELoss``, weight 5.
        loss_boundary (dict): Proposal start and end classification, each term weighted 0.5.
            Defaults to ``SampledBinaryCrossEntropyLoss(pos_threshold=0.5)``, weight 0.5.
        loss_offset (dict): Offset regression, summed over the four offsets of every positive
            and divided by the number of positives (per-component means, summed). Defaults to
            mmdet ``SmoothL1Loss(beta=1.0)``, weight 10.
        init_cfg (dict, optional): Defaults to xavier-uniform Conv1d/Linear weights, zero bias.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: Optional[int] = None,
                 mid_channels: int = 512,
                 fc_channels: int = 128,
                 roi_size: int = 24,
                 extend_ratio: float = 0.5,
                 roi_sampling_ratio: int = 2,
                 roi_aligned: bool = True,
                 pos_iou_thrs: Sequence[float] = (0.7, 0.8, 0.9),
                 loss_iou_cls: dict = dict(type='SampledBinaryCrossEntropyLoss',
                                           pos_threshold=0.9, loss_weight=1.0),
                 loss_iou_reg: dict = dict(type='IoUBalancedMSELoss', loss_weight=5.0),
                 loss_boundary: dict = dict(type='SampledBinaryCrossEntropyLoss',
                                            pos_threshold=0.5, loss_weight=0.5),
                 loss_offset: dict = dict(type='mmdet.SmoothL1Loss', beta=1.0,
                                          loss_weight=10.0),
                 init_cfg: Optional[dict] = dict(type='Xavier', layer=['Conv1d', 'Linear'],
                                                 distribution='uniform', bias=0.0)):
        super().__init__(init_cfg=init_cfg)
        if not pos_iou_thrs or any(not 0 < t < 1 for t in pos_iou_thrs):
            raise ValueError(f'pos_iou_thrs must be non-empty values in (0, 1), got {pos_iou_thrs}')
        if in_channels % 4:
            raise ValueError(f'ETADCascadeHead: in_channels must be divisible by 4 (grouped '
                             f'residual conv), got {in_channels}')
        if roi_size < 4 or roi_size % 4:
            raise ValueError(f'ETADCascadeHead: roi_size must be a multiple of 4 (start/end use '
                             f'its first/last quarter), got {roi_size}')
        if extend_ratio < 0:
            raise ValueError(f'ETADCascadeHead: extend_ratio must be >= 0, got {extend_ratio}')
        self.pos_iou_thrs = tuple(float(t) for t in pos_iou_thrs)
        feat_channels = feat_channels or in_channels // 2
        self.stages = nn.ModuleList([
            ProposalEvaluationStage(in_channels, feat_channels, mid_channels, fc_channels,
                                    roi_size, extend_ratio, roi_sampling_ratio, roi_aligned)
            for _ in self.pos_iou_thrs
        ])
        self.loss_iou_cls = MODELS.build(loss_iou_cls)
        self.loss_iou_reg = MODELS.build(loss_iou_reg)
        self.loss_boundary = MODELS.build(loss_boundary)
        self.loss_offset = MODELS.build(loss_offset)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def forward(self, feats: torch.Tensor, proposals: torch.Tensor,
                with_boundary: bool = True) -> List[dict]:
        """Run the cascade.

        Args:
            feats (Tensor): (B, C, T) enhanced features.
            proposals (Tensor): (B, P, 2) initial proposals in normalised time.
            with_boundary (bool): Also predict the proposal boundary logits (loss only).
                Defaults to True.

        Returns:
            list[dict]: Per stage, the stage outputs plus ``proposals`` (its input) and
            ``refined`` (B, P, 2), the detached input of the next stage.
        """
        outs = []
        for stage in self.stages:
            out = stage(feats, proposals, with_boundary)
            refined = decode_offsets(proposals.reshape(-1, 2),
                                     out['offsets'].detach().reshape(-1, 4)).view_as(proposals)
            out.update(proposals=proposals, refined=refined, temporal_dim=feats.shape[-1])
            outs.append(out)
            proposals = refined
        return outs

    @staticmethod
    def match(proposals: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """(P, 2) ground truth matched to each of one sample's initial (P, 2) proposals (the
        highest tIoU); the public code matches once and keeps the match in every stage."""
        return gt[segment_iou(proposals, gt).argmax(dim=1)]

    def loss(self,
             stage_outs: List[dict],
             gt_segments: List[torch.Tensor],
             snippet_targets: Optional[torch.Tensor] = None) -> dict:
        """Loss of every stage (eq. (1) without the snippet boundary term), public-code forms.

        Ground truth is matched once, on the initial proposals. In stage ``k`` with proposals
        ``p`` and matched ground truth ``g``, ``iou = tIoU(p, g)`` and:

        - ``loss_iou_cls``: ``iou > 0.9`` vs. the rest, negatives subsampled to the positive
          count (every stage);
        - ``loss_iou_reg``: MSE of the IoU with middle/low bins subsampled, x5;
        - ``loss_boundary``: the snippet startness (endness) at the proposal's start (end)
          snippet ``floor(p * T)``, positive above 0.5, negatives subsampled; 0.5 x (start + end);
        - ``loss_offset``: smooth-L1 (beta 1) of the four offsets of the proposals with
          ``iou > pos_iou_thrs[k]``, per-component mean over them, summed, x10.

        Args:
            stage_outs (list[dict]): Output of :meth:`forward`.
            gt_segments (list[Tensor]): Per sample (G, 2) normalised ground truth.
            snippet_targets (Tensor, optional): (B, 2, T) snippet startness/endness targets
                (the boundary head's); None computes them with :func:`boundary_targets`.
        """
        init = stage_outs[0]['proposals']  # (B, P, 2)
        t = stage_outs[0]['temporal_dim']
        if snippet_targets is None:
            snippet_targets = torch.stack(
                [boundary_targets(g.to(init), t) for g in gt_segments]).to(init)  # (B, 2, T)
        has_gt = torch.tensor([g.numel() > 0 for g in gt_segments], device=init.device)
        matched = torch.stack([
            self.match(p, g.to(p)) if g.numel() else torch.zeros_like(p)
            for p, g in zip(init, gt_segments)
        ])  # (B, P, 2)
        losses = {}
        for k, (out, thr) in enumerate(zip(stage_outs, self.pos_iou_thrs)):
            prop = out['proposals']  # (B, P, 2)
            iou = segment_iou(prop, matched, aligned=True) * has_gt[:, None]  # (B, P)
            idx = (prop * t).floor().long().clamp(0, t - 1)  # (B, P, 2) start/end snippets
            bnd = torch.stack([snippet_targets[:, 0].gather(1, idx[..., 0]),
                               snippet_targets[:, 1].gather(1, idx[..., 1])], dim=-1)
            iou_logits, bnd_logits = out['iou_logits'], out['boundary_logits']
            losses[f's{k}.loss_iou_cls'] = self.loss_iou_cls(iou_logits[..., 0].flatten(),
                                                             iou.flatten())
            losses[f's{k}.loss_iou_reg'] = self.loss_iou_reg(iou_logits[..., 1].flatten(),
                                                             iou.flatten())
            losses[f's{k}.loss_boundary'] = (
                self.loss_boundary(bnd_logits[..., 0].flatten(), bnd[..., 0].flatten()) +
                self.loss_boundary(bnd_logits[..., 1].flatten(), bnd[..., 1].flatten()))
            pos = iou.flatten() > thr
            pred_off = out['offsets'].reshape(-1, 4)
            num_pos = int(pos.sum())
            if num_pos > 0:
                target = encode_offsets(prop.reshape(-1, 2)[pos], matched.reshape(-1, 2)[pos])
                losses[f's{k}.loss_offset'] = self.loss_offset(
                    pred_off[pos], target, avg_factor=num_pos)
            else:  # keep the graph (and DDP's used-parameter set) identical
                losses[f's{k}.loss_offset'] = pred_off.sum() * 0
        return losses
