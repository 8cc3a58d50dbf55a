from .balanced_bce_loss import BalancedBinaryCrossEntropyLoss, balanced_binary_cross_entropy

__all__ = ['BalancedBinaryCrossEntropyLoss', 'balanced_binary_cross_entropy']
