import math

import pytest
import torch

from mmtad_ext.models.losses import BalancedBinaryCrossEntropyLoss, balanced_binary_cross_entropy


def test_hand_computed_value():
    prob = torch.tensor([0.8, 0.4, 0.1, 0.3])
    target = torch.tensor([1., 0., 0., 0.])
    # 1 positive (weight 0.5*4/1 = 2), 3 negatives (weight 0.5*4/3)
    expected = (2 * -math.log(0.8) + (4 / 6) * (-math.log(0.6) - math.log(0.9) - math.log(0.7))) / 4
    loss = BalancedBinaryCrossEntropyLoss()(torch.logit(prob), target)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # positives and negatives carry equal total weight
    w = balanced_binary_cross_entropy(torch.zeros(4), target) / math.log(2)
    assert w[target > 0.5].sum().item() == pytest.approx(w[target <= 0.5].sum().item())


def test_logits_form_equals_the_probability_form_in_fp32():
    torch.manual_seed(0)
    # |logit| <= 6: beyond, log(sigmoid) of the probability form loses digits in fp32
    logits, target = (torch.randn(2, 64) * 3).clamp(-6, 6), (torch.rand(2, 64) > 0.8).float()
    prob = logits.sigmoid()
    pos = target
    num, num_pos = target.numel(), target.sum()
    weight = pos * (0.5 * num / num_pos) + (1 - pos) * (0.5 * num / (num - num_pos))
    reference = (weight * torch.nn.functional.binary_cross_entropy(prob, pos, reduction='none'))
    torch.testing.assert_close(balanced_binary_cross_entropy(logits, target), reference,
                               rtol=1e-4, atol=1e-6)


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
