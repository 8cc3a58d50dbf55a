import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.losses import SampledBinaryCrossEntropyLoss, sample_negatives
from mmtad_ext.registry import MODELS


def test_every_element_kept_when_negatives_are_few():
    loss = SampledBinaryCrossEntropyLoss(pos_threshold=0.9)
    logits = torch.tensor([2.0, -1.0, 0.5])
    target = torch.tensor([0.95, 0.92, 0.3])  # 2 positives, 1 negative: keep probability 1
    expected = F.binary_cross_entropy_with_logits(logits, torch.tensor([1., 1., 0.]))
    assert loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_without_positive_every_element_is_a_negative():
    loss = SampledBinaryCrossEntropyLoss(pos_threshold=0.9, loss_weight=2.0)
    logits = torch.tensor([0.0, 1.0, -3.0, 0.2])
    target = torch.tensor([0.1, 0.9, 0.0, 0.5])  # 0.9 is not > 0.9
    expected = 2 * F.binary_cross_entropy_with_logits(logits, torch.zeros(4))
    assert loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_negatives_subsampled_to_the_positive_count():
    """The public code's bce_sample_loss: each negative kept with probability num_pos/num_neg,
    the sum divided by the number of kept elements."""
    torch.manual_seed(0)
    logits = torch.randn(1000)
    target = torch.zeros(1000)
    target[:20] = 1.0
    torch.manual_seed(1)
    value = SampledBinaryCrossEntropyLoss()(logits, target)
    torch.manual_seed(1)
    keep = torch.rand(1000) < 20 / 980
    keep[:20] = True
    assert 20 + 5 < int(keep.sum()) < 20 + 40  # about as many negatives as positives
    expected = F.binary_cross_entropy_with_logits(logits[keep], target[keep])
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    torch.manual_seed(1)
    assert torch.equal(sample_negatives(target, 0.5).bool(), keep)


def test_safe_under_autocast_and_registered():
    loss = MODELS.build(dict(type='SampledBinaryCrossEntropyLoss'))
    logits = torch.randn(8, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(logits, (torch.arange(8) % 2).float())
    value.backward()
    assert torch.isfinite(value) and logits.grad is not None
    with pytest.raises(ValueError, match='differ'):
        loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match='reduction'):
        SampledBinaryCrossEntropyLoss(reduction='avg')
