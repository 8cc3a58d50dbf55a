"""Mean squared error of the IoU regression with IoU bins subsampled to the high bin's count
(BMN's IoU regression loss, used by ETAD).

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), eq. (1);
the public code's form (``sming256/ETAD``, ``lib/loss/model_loss.py``, ``l2_sample_loss``, with
weight 5 in its configs), itself BMN's ``pem_reg_loss_func``.
"""
import torch
import torch.nn.functional as F

from mmtad_ext.registry import MODELS
from .masked_loss import MaskedLoss


def iou_bin_mask(target: torch.Tensor, high_threshold: float = 0.7,
                 low_threshold: float = 0.3) -> torch.Tensor:
    """(N,) float mask: every high-IoU element plus middle and low ones subsampled.

    High: ``target > high_threshold``; middle: ``(low, high]``; low: ``<= low_threshold``. A
    middle (low) element is kept with probability ``min(1, num_high / num_middle)``
    (``num_high / num_low``), so each bin contributes about ``num_high`` elements. Without a
    high element every element is kept. The draw uses torch's global RNG (seeded by the run).
    """
    high = target > high_threshold
    num_high = int(high.sum())
    if num_high == 0:
        return torch.ones_like(target)
    mask = high.clone()
    for b in (target <= low_threshold, (target > low_threshold) & ~high):
        num = int(b.sum())
        if num:
            mask |= b & (torch.rand(target.shape, device=target.device) < min(1.0, num_high / num))
    return mask.to(target.dtype)


@MODELS.register_module()
class IoUBalancedMSELoss(MaskedLoss):
    """MSE between ``sigmoid(logit)`` and the IoU target over an IoU-bin-balanced subset.

    Args:
        high_threshold (float): Lower bound (exclusive) of the high bin. Defaults to 0.7.
        low_threshold (float): Upper bound (inclusive) of the low bin. Defaults to 0.3.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``; ``'mean'`` divides by the number of
            selected elements. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 5.0 (the public configs).
    """

    def __init__(self, high_threshold: float = 0.7, low_threshold: float = 0.3,
                 reduction: str = 'mean', loss_weight: float = 5.0):
        super().__init__(reduction, loss_weight)
        if not 0 <= low_threshold < high_threshold <= 1:
            raise ValueError('IoUBalancedMSELoss: need 0 <= low_threshold < high_threshold <= 1, '
                             f'got {low_threshold}, {high_threshold}')
        self.high_threshold = float(high_threshold)
        self.low_threshold = float(low_threshold)

    def mask(self, target: torch.Tensor) -> torch.Tensor:
        return iou_bin_mask(target, self.high_threshold, self.low_threshold)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred.sigmoid(), target, reduction='none')
