from .balanced_bce_loss import BalancedBinaryCrossEntropyLoss, balanced_binary_cross_entropy
from .cross_depth_distill_loss import CrossDepthDistillLoss
from .diou_1d_loss import DIoU1dLoss
from .iou_balanced_mse_loss import IoUBalancedMSELoss, iou_bin_mask
from .sampled_bce_loss import SampledBinaryCrossEntropyLoss, sample_negatives

__all__ = [
    'DIoU1dLoss', 'BalancedBinaryCrossEntropyLoss', 'balanced_binary_cross_entropy',
    'CrossDepthDistillLoss', 'IoUBalancedMSELoss', 'iou_bin_mask',
    'SampledBinaryCrossEntropyLoss', 'sample_negatives'
]
