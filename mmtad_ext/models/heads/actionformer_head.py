"""ActionFormer's anchor-free head: points, targets, losses and decoding.

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925), sec. 3.3;
the form of OpenTAD's ``AnchorFreeHead`` / ``ActionFormerHead`` (``dense_heads/``) and of the
original ``inference_single_video`` (per-level score threshold and top-k) is followed.

Units: every pyramid point sits at ``t * stride`` on the grid of the input snippets (level 0),
i.e. at the centre of snippet ``t * stride``; ground truth and predictions are segments on that
grid; the detector converts them to and from seconds.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import Scale
from torch import Tensor, nn

from mmtad_ext.registry import MODELS

from ..layers.masked_conv1d import MaskedConv1dModule


@MODELS.register_module()
class ActionFormerHead(nn.Module):
    """Shared classification and regression heads over the pyramid, with ActionFormer's training.

    - Towers of ``num_convs`` masked conv3 + LayerNorm + ReLU; a conv3 classifier (bias
      ``-log((1 - p) / p)``, ``p = cls_prior_prob``) and a conv3 regressor of the distances to
      the start and end in units of the level's stride (``ReLU(Scale_l(x))``, one learned scale
      per level).
    - Targets: a point is positive for a ground-truth segment if it lies within
      ``center_sample_radius x stride`` of the segment's centre (and inside the segment) and its
      largest distance to the boundaries is inside the level's regression range; among several
      segments the shortest wins, and (``filter_similar_gt``) every segment within 1e-3 of that
      length adds its class (THUMOS has overlapping instances of equal length).
    - Loss: sigmoid focal loss over all valid points and ``1 - DIoU`` on positive points, both
      summed and divided by a running normaliser ``n <- m * n + (1 - m) * max(#pos, 1)``
      (initial ``loss_normalizer``, momentum ``loss_normalizer_momentum``; kept in the state
      dict), with optional label smoothing; ``reg_loss_weight <= 0`` uses the public code's
      adaptive weight ``loss_cls / max(loss_reg, 0.01)``.

    Args:
        num_classes (int): Classes K; 1 trains class-agnostic (every ground-truth label counts
            as class 0, see :meth:`target_labels`), as with an external video classifier.
        in_channels (int): Channels of the pyramid levels.
        feat_channels (int): Tower width. Defaults to ``in_channels``.
        num_convs (int): Tower depth. Defaults to 2.
        strides (Sequence[int]): Stride of each level. Defaults to (1, 2, 4, 8, 16, 32).
        regress_ranges (Sequence[tuple]): (min, max) largest boundary distance per level, in
            grid units. Defaults to (0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000).
        center_sample_radius (float): In strides. Defaults to 1.5.
        cls_prior_prob (float): Initial foreground probability. Defaults to 0.01.
        label_smoothing (float): Defaults to 0.
        filter_similar_gt (bool): See above. Defaults to True.
        loss_normalizer (float): Initial normaliser. Defaults to 100.
        loss_normalizer_momentum (float): Defaults to 0.9.
        loss_cls (dict): mmdet's sigmoid ``FocalLoss`` (alpha 0.25, gamma 2), summed.
        loss_reg (dict): :class:`DIoU1dLoss`, summed.
        reg_loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: Optional[int] = None,
                 num_convs: int = 2,
                 strides: Sequence[int] = (1, 2, 4, 8, 16, 32),
                 regress_ranges: Sequence[Tuple[float, float]] = ((0, 4), (4, 8), (8, 16),
                                                                  (16, 32), (32, 64),
                                                                  (64, 10000)),
                 center_sample_radius: float = 1.5,
                 cls_prior_prob: float = 0.01,
                 label_smoothing: float = 0.0,
                 filter_similar_gt: bool = True,
                 loss_normalizer: float = 100.0,
                 loss_normalizer_momentum: float = 0.9,
                 loss_cls: dict = dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, reduction='sum'),
                 loss_reg: dict = dict(type='DIoU1dLoss', reduction='sum'),
                 reg_loss_weight: float = 1.0) -> None:
        super().__init__()
        if len(strides) != len(regress_ranges):
            raise ValueError(f'ActionFormerHead: {len(strides)} strides but '
                             f'{len(regress_ranges)} regress_ranges')
        if not 0 < cls_prior_prob < 1:
            raise ValueError(f'ActionFormerHead cls_prior_prob must be in (0, 1), got '
                             f'{cls_prior_prob}')
        feat_channels = feat_channels or in_channels
        self.num_classes = num_classes
        self.strides = tuple(int(s) for s in strides)
        self.regress_ranges = tuple(tuple(float(v) for v in r) for r in regress_ranges)
        self.center_sample_radius = center_sample_radius
        self.label_smoothing = label_smoothing
        self.filter_similar_gt = filter_similar_gt
        self.loss_normalizer_momentum = loss_normalizer_momentum
        self.reg_loss_weight = reg_loss_weight
        self.register_buffer('loss_normalizer', torch.tensor(float(loss_normalizer)))
        self.cls_convs = nn.ModuleList([
            MaskedConv1dModule(in_channels if i == 0 else feat_channels, feat_channels, 3)
            for i in range(num_convs)])
        self.reg_convs = nn.ModuleList([
            MaskedConv1dModule(in_channels if i == 0 else feat_channels, feat_channels, 3)
            for i in range(num_convs)])
        self.cls_head = nn.Conv1d(feat_channels, num_classes, 3, padding=1)
        self.reg_head = nn.Conv1d(feat_channels, 2, 3, padding=1)
        nn.init.constant_(self.cls_head.bias, -math.log((1 - cls_prior_prob) / cls_prior_prob))
        nn.init.zeros_(self.reg_head.bias)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.strides])
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_reg = MODELS.build(loss_reg)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, feats: List[Tensor], masks: List[Tensor]) -> Tuple[List[Tensor],
                                                                        List[Tensor]]:
        """Per level: class logits (B, K, T_l) and distances (B, 2, T_l) in strides."""
        if len(feats) != len(self.strides):
            raise ValueError(f'ActionFormerHead has {len(self.strides)} levels (strides '
                             f'{self.strides}), got {len(feats)} feature maps')
        cls_out, reg_out = [], []
        for level, (feat, mask) in enumerate(zip(feats, masks)):
            cls_feat, reg_feat = feat, feat
            for conv in self.cls_convs:
                cls_feat, _ = conv(cls_feat, mask)
            for conv in self.reg_convs:
                reg_feat, _ = conv(reg_feat, mask)
            cls_out.append(self.cls_head(cls_feat))
            reg_out.append(F.relu(self.scales[level](self.reg_head(reg_feat))))
        return cls_out, reg_out

    def points(self, lengths: Sequence[int], device=None) -> Tensor:
        """(P, 4) points of all levels: position on the input grid, range min, max, stride."""
        out = []
        for length, stride, (lo, hi) in zip(lengths, self.strides, self.regress_ranges):
            pos = torch.arange(length, device=device, dtype=torch.float32) * stride
            out.append(torch.stack([pos, torch.full_like(pos, lo), torch.full_like(pos, hi),
                                    torch.full_like(pos, stride)], dim=1))
        return torch.cat(out)

    @staticmethod
    def decode(points: Tensor, distances: Tensor) -> Tensor:
        """(P, 4) points and (..., P, 2) distances in strides -> (..., P, 2) segments."""
        pos, stride = points[:, 0], points[:, 3]
        return torch.stack([pos - distances[..., 0] * stride, pos + distances[..., 1] * stride],
                           dim=-1)

    # -- targets ------------------------------------------------------------------------------
    @torch.no_grad()
    def get_targets(self, points: Tensor, gt_segments: Tensor,
                    gt_labels: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets of one sample.

        Args:
            points (Tensor): (P, 4) from :meth:`points`.
            gt_segments (Tensor): (G, 2) segments on the input grid.
            gt_labels (Tensor): (G,) class indices.

        Returns:
            tuple: class targets (P, K) in {0, 1} and distance targets (P, 2) in strides (of
            the chosen segment; meaningful where the class target is non-zero).
        """
        num_pts, num_gts = points.shape[0], gt_segments.shape[0]
        if num_gts == 0:
            return points.new_zeros(num_pts, self.num_classes), points.new_zeros(num_pts, 2)
        pos, lo, hi, stride = (points[:, i, None] for i in range(4))  # (P, 1) each
        starts, ends = gt_segments[None, :, 0], gt_segments[None, :, 1]  # (1, G)
        dist = torch.stack([pos - starts, ends - pos], dim=-1)  # (P, G, 2)
        centre = 0.5 * (starts + ends)
        radius = stride * self.center_sample_radius
        inside_centre = torch.minimum(pos - torch.maximum(centre - radius, starts),
                                      torch.minimum(centre + radius, ends) - pos) > 0
        largest = dist.max(-1)[0]
        in_range = (largest >= lo) & (largest <= hi)
        lens = (ends - starts).expand(num_pts, num_gts).clone()  # (P, G)
        lens[~(inside_centre & in_range)] = float('inf')
        min_len, min_idx = lens.min(dim=1)  # (P,)
        if self.filter_similar_gt:
            chosen = (lens <= min_len[:, None] + 1e-3) & torch.isfinite(lens)
        else:
            chosen = torch.isfinite(lens)
        one_hot = F.one_hot(self.target_labels(gt_labels), self.num_classes)  # (G, K)
        one_hot = one_hot.to(points.dtype)
        cls_t = (chosen.to(points.dtype) @ one_hot).clamp(0, 1)  # (P, K)
        reg_t = dist[torch.arange(num_pts, device=points.device), min_idx] / stride  # (P, 2)
        return cls_t, reg_t

    def target_labels(self, gt_labels: Tensor) -> Tensor:
        """The class index each ground-truth label trains.

        With one class the head is class-agnostic (the public ActivityNet setting, where the
        classes come from an external video classifier; OpenTAD's ``class_agnostic=True``
        datasets replace every label by 0), so every segment is class 0 and the dataset keeps
        its real labels for evaluation. Otherwise labels must lie in ``[0, num_classes)``.
        """
        labels = gt_labels.long()
        if self.num_classes == 1:
            return torch.zeros_like(labels)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            bad = int(labels.max() if labels.max() >= self.num_classes else labels.min())
            raise ValueError(
                f'ActionFormerHead: ground-truth label {bad} is outside [0, {self.num_classes}); '
                'set model.head.num_classes to the number of classes of the dataset\'s class '
                'map (or 1 for class-agnostic training)')
        return labels

    # -- loss ---------------------------------------------------------------------------------
    def loss(self, cls_out: List[Tensor], reg_out: List[Tensor], masks: List[Tensor],
             gt_segments: List[Tensor], gt_labels: List[Tensor]) -> Dict[str, Tensor]:
        """Focal + DIoU losses (see the class docstring); updates the running normaliser."""
        points = self.points([c.shape[-1] for c in cls_out], cls_out[0].device)
        targets = [self.get_targets(points, s, lab) for s, lab in zip(gt_segments, gt_labels)]
        cls_t = torch.stack([t[0] for t in targets])  # (B, P, K)
        reg_t = torch.stack([t[1] for t in targets])  # (B, P, 2)
        valid = torch.cat(masks, dim=1)  # (B, P)
        positive = (cls_t.sum(-1) > 0) & valid
        num_pos = int(positive.sum())
        if self.training:
            self.loss_normalizer.mul_(self.loss_normalizer_momentum).add_(
                (1 - self.loss_normalizer_momentum) * max(num_pos, 1))
            normaliser = float(self.loss_normalizer)
        else:
            normaliser = float(max(num_pos, 1))
        cls_logits = torch.cat(cls_out, dim=-1).transpose(1, 2)  # (B, P, K)
        target = cls_t[valid] * (1 - self.label_smoothing) + \
            self.label_smoothing / (self.num_classes + 1)
        loss_cls = self.loss_cls(cls_logits[valid], target) / normaliser
        dist = torch.cat(reg_out, dim=-1).transpose(1, 2)  # (B, P, 2)
        if num_pos == 0:
            loss_reg = dist.sum() * 0
        else:
            loss_reg = self.loss_reg(self.decode(points, dist)[positive],
                                     self.decode(points, reg_t)[positive]) / normaliser
        weight = self.reg_loss_weight
        if weight <= 0:
            weight = loss_cls.detach() / max(float(loss_reg.detach()), 0.01)
        return dict(loss_cls=loss_cls, loss_reg=loss_reg * weight)

    # -- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_single(self, cls_out: List[Tensor], reg_out: List[Tensor],
                       masks: List[Tensor], index: int, score_thr: float = 1e-3,
                       pre_nms_topk: int = 2000,
                       min_duration: float = 0.05) -> Tuple[Tensor, Tensor, Tensor]:
        """Candidate detections of sample ``index``: per level, the (point, class) pairs of
        valid points above ``score_thr``, the ``pre_nms_topk`` best, decoded; segments shorter
        than ``min_duration`` (grid units) dropped.

        Returns:
            tuple: segments (N, 2) on the input grid, scores (N,), labels (N,).
        """
        segs, scores, labels = [], [], []
        points = self.points([c.shape[-1] for c in cls_out], cls_out[0].device)
        level_pts = points.split([c.shape[-1] for c in cls_out])
        for cls, reg, mask, pts in zip(cls_out, reg_out, masks, level_pts):
            prob = cls[index].sigmoid().transpose(0, 1)  # (T_l, K)
            prob = prob * mask[index, :, None].to(prob.dtype)
            flat = prob.flatten()
            keep = torch.nonzero(flat > score_thr).squeeze(1)
            order = flat[keep].argsort(descending=True)[:pre_nms_topk]
            keep = keep[order]
            pt_idx, cls_idx = keep // self.num_classes, keep % self.num_classes
            seg = self.decode(pts[pt_idx], reg[index].transpose(0, 1)[pt_idx])  # (n, 2)
            long_enough = (seg[:, 1] - seg[:, 0]) > min_duration
            segs.append(seg[long_enough])
            scores.append(flat[keep][long_enough])
            labels.append(cls_idx[long_enough])
        return torch.cat(segs), torch.cat(scores), torch.cat(labels)
