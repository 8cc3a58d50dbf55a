"""Base of the element-wise losses that average over a (randomly) selected subset."""
from typing import Optional

import torch
import torch.nn as nn
from mmdet.models.losses.utils import weight_reduce_loss


class MaskedLoss(nn.Module):
    """mmdet's loss contract around ``elementwise(pred, target) * mask(target)``.

    ``'mean'`` divides by the number of selected elements (``mask.sum()``) unless an
    ``avg_factor`` is given. Subclasses define :meth:`mask` and :meth:`elementwise`.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'reduction must be none/mean/sum, got {reduction!r}')
        self.reduction = reduction
        self.loss_weight = loss_weight

    def mask(self, target: torch.Tensor) -> torch.Tensor:
        """Float mask of the elements that enter the loss."""
        raise NotImplementedError

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced loss of every element (float32)."""
        raise NotImplementedError

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Logits, any shape.
            target (Tensor): Targets of the same shape.
            weight (Tensor, optional): Element-wise extra weight. Defaults to None.
            avg_factor (float, optional): Overrides the number of selected elements as the
                mean's denominator. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``. Defaults to None.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} differ')
        reduction = reduction_override or self.reduction
        target = target.detach().float()
        mask = self.mask(target)
        loss = self.elementwise(pred.float(), target) * mask
        if reduction == 'mean' and avg_factor is None:
            avg_factor = mask.sum().clamp(min=1)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
