"""Cross-depth distillation of a block-dropped student from its uncompressed teacher.

*Temporal Action Detection Model Compression by Progressive Block Drop* (arXiv 2503.16916),
sec. 3.3, with the public code's choices (``nanxiaolu/Progressive_Block_Drop-TAD``: temperature
3.5, KL with ``batchmean`` over points, 1 - DIoU on positive points, every weight 1.0):

- feature alignment ``(1/|K|) sum_{i in K} MSE(student block i, teacher block i)`` over the
  student's kept blocks ``K``, matched by *original* block index;
- class KD ``T^2 KL(softmax(t / T) || softmax(s / T))`` per valid point (or per clip for a
  recognizer), averaged over the points;
- regression KD ``1 - DIoU(student segment, teacher segment)`` (or ``1 - GIoU``, the paper's
  form) per positive point, averaged over the positive points.
"""
from typing import Dict, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmtad_ext.registry import MODELS
from mmtad_ext.structures.segment_ops import segment_diou, segment_giou

REDUCTIONS = ('none', 'mean', 'sum')


def _reduce(values: Tensor, reduction: str, avg_factor: Optional[float] = None) -> Tensor:
    """mmdet's ``weight_reduce_loss`` for a 1-D vector; an empty vector gives 0 (mean and sum)."""
    if reduction == 'none':
        return values
    if reduction == 'sum':
        return values.sum()
    if avg_factor is not None:
        return values.sum() / max(float(avg_factor), torch.finfo(torch.float32).eps)
    return values.sum() / max(values.numel(), 1)


@MODELS.register_module()
class CrossDepthDistillLoss(nn.Module):
    """Feature-alignment, class and regression distillation terms (weights configurable).

    Each term is reduced over its own elements (blocks, valid points, positive points):
    ``'mean'`` gives the paper's averages, ``'sum'`` the sums, ``'none'`` the vectors. A term
    whose inputs are not given (e.g. no segments for a recognizer) is left out of the result.

    Args:
        feat_weight (float): Weight of ``loss_feat_kd``. Defaults to 1.0.
        cls_weight (float): Weight of ``loss_cls_kd``. Defaults to 1.0.
        reg_weight (float): Weight of ``loss_reg_kd``. Defaults to 1.0.
        temperature (float): Softmax temperature ``T`` of the class KD. Defaults to 3.5.
        reg_iou (str): ``'diou'`` (the public code's 1-D DIoU) or ``'giou'`` (the paper's).
            Defaults to ``'diou'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplies every term. Defaults to 1.0.
    """

    def __init__(self,
                 feat_weight: float = 1.0,
                 cls_weight: float = 1.0,
                 reg_weight: float = 1.0,
                 temperature: float = 3.5,
                 reg_iou: str = 'diou',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'CrossDepthDistillLoss reduction must be one of {REDUCTIONS}, got '
                             f'{reduction!r}')
        if reg_iou not in ('diou', 'giou'):
            raise ValueError(f"CrossDepthDistillLoss reg_iou must be 'diou' or 'giou', got "
                             f'{reg_iou!r}')
        if not temperature > 0:
            raise ValueError(f'CrossDepthDistillLoss temperature must be > 0, got {temperature}')
        for name, w in (('feat_weight', feat_weight), ('cls_weight', cls_weight),
                        ('reg_weight', reg_weight)):
            if w < 0:
                raise ValueError(f'CrossDepthDistillLoss {name} must be >= 0, got {w}')
        self.feat_weight = float(feat_weight)
        self.cls_weight = float(cls_weight)
        self.reg_weight = float(reg_weight)
        self.temperature = float(temperature)
        self.reg_iou = reg_iou
        self.reduction = reduction
        self.loss_weight = float(loss_weight)

    # -- the three terms, unweighted and unreduced -----------------------------------------------
    @staticmethod
    def feature_terms(student_feats: Mapping[int, Tensor],
                      teacher_feats: Mapping[int, Tensor]) -> Tensor:
        """(|K|,) ``MSE(student block i, teacher block i)`` for every student block ``i``."""
        missing = sorted(set(student_feats) - set(teacher_feats))
        if missing:
            raise KeyError(f'CrossDepthDistillLoss: the teacher has no output for the student\'s '
                           f'blocks {missing} (original indices; teacher has '
                           f'{sorted(teacher_feats)})')
        if not student_feats:
            raise ValueError('CrossDepthDistillLoss: no student block outputs to align')
        return torch.stack([
            F.mse_loss(student_feats[i], teacher_feats[i].detach()) for i in sorted(student_feats)
        ])

    def class_terms(self, student_logits: Tensor, teacher_logits: Tensor,
                    valid: Optional[Tensor] = None) -> Tensor:
        """(N,) ``T^2 KL(softmax(t/T) || softmax(s/T))`` per (valid) point, classes last."""
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(f'CrossDepthDistillLoss: student logits {tuple(student_logits.shape)}'
                             f' and teacher logits {tuple(teacher_logits.shape)} differ')
        k = student_logits.shape[-1]
        s, t = student_logits.reshape(-1, k), teacher_logits.detach().reshape(-1, k)  # (N, K)
        if valid is not None:
            mask = valid.reshape(-1).bool()
            s, t = s[mask], t[mask]
        temp = self.temperature
        kl = F.kl_div(F.log_softmax(s / temp, -1), F.log_softmax(t / temp, -1),
                      reduction='none', log_target=True).sum(-1)  # (N, )
        return kl * temp**2

    def regression_terms(self, student_segments: Tensor, teacher_segments: Tensor,
                         positive: Optional[Tensor] = None) -> Tensor:
        """(P,) ``1 - DIoU`` (or ``1 - GIoU``) per positive point; segments ``(..., 2)``."""
        s, t = student_segments.reshape(-1, 2), teacher_segments.detach().reshape(-1, 2)
        if positive is not None:
            mask = positive.reshape(-1).bool()
            s, t = s[mask], t[mask]
        iou = segment_diou if self.reg_iou == 'diou' else segment_giou
        return 1 - iou(s, t)

    def forward(self,
                student_feats: Optional[Mapping[int, Tensor]] = None,
                teacher_feats: Optional[Mapping[int, Tensor]] = None,
                student_logits: Optional[Tensor] = None,
                teacher_logits: Optional[Tensor] = None,
                valid: Optional[Tensor] = None,
                student_segments: Optional[Tensor] = None,
                teacher_segments: Optional[Tensor] = None,
                positive: Optional[Tensor] = None,
                avg_factor: Optional[Dict[str, float]] = None,
                reduction_override: Optional[str] = None) -> Dict[str, Tensor]:
        """Compute the terms whose inputs are given (teacher tensors are detached).

        Args:
            student_feats (Mapping[int, Tensor], optional): ``{original block index: (B, N, C)}``
                of the student's kept blocks.
            teacher_feats (Mapping[int, Tensor], optional): The teacher's, a superset of keys.
            student_logits (Tensor, optional): (..., K) class logits (points or clips).
            teacher_logits (Tensor, optional): The teacher's, the same shape.
            valid (Tensor, optional): ``student_logits.shape[:-1]`` bool mask of the points the
                class KD averages over. Defaults to every point.
            student_segments (Tensor, optional): (..., 2) decoded segments.
            teacher_segments (Tensor, optional): The teacher's, the same shape.
            positive (Tensor, optional): ``segments.shape[:-1]`` bool mask of the points with a
                ground-truth target. Defaults to every point.
            avg_factor (dict, optional): ``{'feat'|'cls'|'reg': divisor}`` replacing the number
                of elements of a term under ``'mean'``.
            reduction_override (str, optional): Replaces ``reduction`` for this call.

        Returns:
            dict: ``loss_feat_kd``, ``loss_cls_kd``, ``loss_reg_kd`` (those computed).
        """
        reduction = reduction_override or self.reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f'CrossDepthDistillLoss reduction_override must be one of '
                             f'{REDUCTIONS}, got {reduction!r}')
        avg_factor = avg_factor or {}
        losses = {}
        if student_feats is not None and teacher_feats is not None and self.feat_weight:
            terms = self.feature_terms(student_feats, teacher_feats)
            losses['loss_feat_kd'] = self.loss_weight * self.feat_weight * _reduce(
                terms, reduction, avg_factor.get('feat'))
        if student_logits is not None and teacher_logits is not None and self.cls_weight:
            terms = self.class_terms(student_logits, teacher_logits, valid)
            losses['loss_cls_kd'] = self.loss_weight * self.cls_weight * _reduce(
                terms, reduction, avg_factor.get('cls'))
        if student_segments is not None and teacher_segments is not None and self.reg_weight:
            terms = self.regression_terms(student_segments, teacher_segments, positive)
            losses['loss_reg_kd'] = self.loss_weight * self.reg_weight * _reduce(
                terms, reduction, avg_factor.get('reg'))
        return losses
