"""Binary cross entropy with negatives subsampled to the positive count (ETAD's IoU and
proposal-boundary classification).

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), eq. (1)
names these terms only "cross entropy"; this is the public code's form (``sming256/ETAD``,
``lib/loss/model_loss.py``, ``bce_sample_loss``).
"""
import torch
import torch.nn.functional as F

from mmtad_ext.registry import MODELS
from .masked_loss import MaskedLoss


def sample_negatives(target: torch.Tensor, pos_threshold: float) -> torch.Tensor:
    """(N,) float mask of the positives and a random subset of the negatives.

    Positives are ``target > pos_threshold``. Each negative is kept with probability
    ``min(1, num_pos / num_neg)``, so about as many negatives as positives are kept. Without a
    positive every element is kept (as negative). The draw uses torch's global RNG, which
    mmengine seeds with the run's ``randomness.seed``.
    """
    pos = target > pos_threshold
    num_pos, num_neg = int(pos.sum()), int((~pos).sum())
    if num_pos == 0:
        return torch.ones_like(target)
    keep_prob = min(1.0, num_pos / max(num_neg, 1))
    neg = (~pos) & (torch.rand(target.shape, device=target.device) < keep_prob)
    return (pos | neg).to(target.dtype)


@MODELS.register_module()
class SampledBinaryCrossEntropyLoss(MaskedLoss):
    """BCE on logits over the positives and an equal-sized random subset of the negatives.

    ``loss = -(sum_pos log p + sum_sampled_neg log(1 - p)) / (num_pos + num_sampled_neg)``
    with ``p = sigmoid(logit)``; targets are binarised at ``pos_threshold``. Takes logits (the
    with-logits BCE is safe under autocast).

    Args:
        pos_threshold (float): A target above it is positive. Defaults to 0.5.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. ``'mean'`` divides by the number
            of selected elements. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, pos_threshold: float = 0.5, reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(reduction, loss_weight)
        self.pos_threshold = float(pos_threshold)

    def mask(self, target: torch.Tensor) -> torch.Tensor:
        return sample_negatives(target, self.pos_threshold)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        hard = (target > self.pos_threshold).float()
        return F.binary_cross_entropy_with_logits(pred, hard, reduction='none')
