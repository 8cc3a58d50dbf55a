"""Batch-balanced binary cross entropy (BMN / ETAD eq. (1), ``L_ce``), on logits.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), eq. (1);
the balancing is BMN's (*BMN: Boundary-Matching Network for Temporal Action Proposal
Generation*, arXiv 1907.09702). The loss takes logits and uses the with-logits BCE, as mmdet's
``CrossEntropyLoss(use_sigmoid=True)``: PyTorch refuses ``binary_cross_entropy`` on
probabilities under CUDA autocast, and the with-logits form is the numerically stable one.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss

from mmtad_ext.registry import MODELS


def balanced_binary_cross_entropy(pred: torch.Tensor,
                                  target: torch.Tensor,
                                  pos_threshold: float = 0.5) -> torch.Tensor:
    """Element-wise batch-balanced BCE on logits.

    Positives (``target > pos_threshold``) and negatives each receive half of the total weight:
    a positive is weighted ``0.5 * N / num_pos`` and a negative ``0.5 * N / num_neg`` (BMN's
    ``ratio``), where ``N`` counts every element of the batch. The mean of the returned tensor is
    the balanced loss.

    Args:
        pred (Tensor): Logits, any shape.
        target (Tensor): Targets of the same shape, binarised with ``pos_threshold``.
        pos_threshold (float): Threshold above which a target is positive. Defaults to 0.5.

    Returns:
        Tensor: Element-wise weighted loss, same shape as ``pred``.
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} differ')
    pos = (target > pos_threshold).to(pred.dtype)
    num = pred.numel()
    num_pos = pos.sum().clamp(min=1)
    num_neg = (num - pos.sum()).clamp(min=1)
    weight = pos * (0.5 * num / num_pos) + (1 - pos) * (0.5 * num / num_neg)
    bce = F.binary_cross_entropy_with_logits(pred, pos, reduction='none')
    return weight * bce


@MODELS.register_module()
class BalancedBinaryCrossEntropyLoss(nn.Module):
    """Batch-balanced BCE loss on logits, with mmdet's loss contract.

    Args:
        pos_threshold (float): A target above it counts as positive. Defaults to 0.5.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 pos_threshold: float = 0.5,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'reduction must be none/mean/sum, got {reduction!r}')
        self.pos_threshold = pos_threshold
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Logits.
            target (Tensor): Targets, binarised with ``pos_threshold``.
            weight (Tensor, optional): Element-wise extra weight. Defaults to None.
            avg_factor (float, optional): Average factor of the reduction. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``. Defaults to None.
        """
        reduction = reduction_override or self.reduction
        loss = balanced_binary_cross_entropy(pred, target, self.pos_threshold)
        loss = weight_reduce_loss(loss, weight, reduction, avg_factor)
        return self.loss_weight * loss
