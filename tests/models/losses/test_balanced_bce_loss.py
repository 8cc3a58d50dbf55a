import math

import pytest
import torch

from mmtad_ext.models.losses import BalancedBinaryCrossEntropyLoss, balanced_binary_cross_entropy


def test_hand_computed_value():
    pred = torch.tensor([0.8, 0.4, 0.1, 0.3])
    target = torch.tensor([1., 0., 0., 0.])
    # 1 positive (weight 0.5*4/1 = 2), 3 negatives (weight 0.5*4/3)
    expected = (2 * -math.log(0.8) + (4 / 6) * (-math.log(0.6) - math.log(0.9) - math.log(0.7))) / 4
    loss = BalancedBinaryCrossEntropyLoss()(pred, target)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # positives and negatives carry equal total weight
    w = balanced_binary_cross_entropy(torch.full((4, ), 0.5), target) / math.log(2)
    assert w[target > 0.5].sum().item() == pytest.approx(w[target <= 0.5].sum().item())


def test_contract_weight_reduction_avg_factor():
    pred, target = torch.tensor([0.9, 0.2]), torch.tensor([1., 0.])
    loss = BalancedBinaryCrossEntropyLoss(loss_weight=2.0)
    none = loss(pred, target, reduction_override='none')
    assert none.shape == (2, )
    assert loss(pred, target, reduction_override='sum').item() == pytest.approx(none.sum().item())
    assert loss(pred, target, weight=torch.tensor([1., 0.]), avg_factor=1.0).item() == \
        pytest.approx(none[0].item())


def test_errors():
    with pytest.raises(ValueError):
        BalancedBinaryCrossEntropyLoss(reduction='max')
    with pytest.raises(ValueError, match='differ'):
        balanced_binary_cross_entropy(torch.zeros(3), torch.zeros(4))
