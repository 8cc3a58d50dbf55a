"""1-D distance-IoU loss on temporal segments (ActionFormer's regression loss).

``1 - segment_diou``: *Distance-IoU Loss* (arXiv 1911.08287) in one dimension, as
ActionFormer (*ActionFormer: Localizing Moments of Actions with Transformers*, arXiv 2202.07925)
and OpenTAD's ``DIOULoss`` compute it on segments decoded around the same point. mmdet's
``DIoULoss`` is 2-D; a segment as a unit-height box is off by up to ~6e-3.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmdet.models.losses.utils import weight_reduce_loss

from mmtad_ext.registry import MODELS
from mmtad_ext.structures import segment_diou, segment_giou


@MODELS.register_module()
class DIoU1dLoss(nn.Module):
    """``1 - DIoU`` (or ``1 - GIoU``) between aligned segments, with mmdet's loss contract.

    Args:
        mode (str): ``'diou'`` or ``'giou'``. Defaults to ``'diou'``.
        eps (float): Lower bound of the enclosing length. Defaults to 1e-8.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, mode: str = 'diou', eps: float = 1e-8, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in ('diou', 'giou'):
            raise ValueError(f"DIoU1dLoss mode must be 'diou' or 'giou', got {mode!r}")
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'DIoU1dLoss reduction must be none/mean/sum, got {reduction!r}')
        self.mode, self.eps = mode, eps
        self.reduction, self.loss_weight = reduction, loss_weight

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Loss of (N, 2) predicted segments against (N, 2) targets (any common unit).

        Args:
            pred (Tensor): (N, 2) segments.
            target (Tensor): (N, 2) segments.
            weight (Tensor, optional): (N,) element weights. Defaults to None.
            avg_factor (float, optional): Divisor of the sum for ``'mean'``. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``. Defaults to None.
        """
        reduction = reduction_override or self.reduction
        if pred.shape != target.shape or pred.shape[-1] != 2:
            raise ValueError(f'DIoU1dLoss needs (N, 2) pred and target of one shape, got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        fn = segment_diou if self.mode == 'diou' else segment_giou
        loss = 1 - fn(pred.float(), target.float(), eps=self.eps)  # (N,)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
