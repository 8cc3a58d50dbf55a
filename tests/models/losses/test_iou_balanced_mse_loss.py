import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.losses import IoUBalancedMSELoss, iou_bin_mask


def test_one_per_bin_keeps_everything_weight_five():
    loss = IoUBalancedMSELoss()
    logits = torch.tensor([1.0, 0.0, -1.0])
    iou = torch.tensor([0.9, 0.5, 0.1])
    expected = 5 * F.mse_loss(logits.sigmoid(), iou)
    assert loss(logits, iou).item() == pytest.approx(expected.item(), rel=1e-6)


def test_without_a_high_iou_every_element_counts():
    loss = IoUBalancedMSELoss(loss_weight=1.0)
    logits = torch.tensor([0.3, -0.2, 0.0, 2.0])
    iou = torch.tensor([0.7, 0.5, 0.0, 0.2])  # 0.7 is not > 0.7
    assert loss(logits, iou).item() == pytest.approx(F.mse_loss(logits.sigmoid(), iou).item())


def test_middle_and_low_bins_subsampled_to_the_high_count():
    torch.manual_seed(0)
    iou = torch.cat([torch.full((10, ), 0.8), torch.full((500, ), 0.5), torch.full((1000, ), 0.1)])
    logits = torch.randn(iou.numel())
    torch.manual_seed(3)
    value = IoUBalancedMSELoss(loss_weight=1.0)(logits, iou)
    torch.manual_seed(3)
    low = (torch.rand(iou.numel()) < 10 / 1000) & (iou <= 0.3)
    mid = (torch.rand(iou.numel()) < 10 / 500) & (iou > 0.3) & (iou <= 0.7)
    keep = (iou > 0.7) | low | mid
    assert 0 < int(mid.sum()) < 30 and 0 < int(low.sum()) < 30
    expected = F.mse_loss(logits[keep].sigmoid(), iou[keep])
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    torch.manual_seed(3)
    assert torch.equal(iou_bin_mask(iou).bool(), keep)


def test_bad_thresholds():
    with pytest.raises(ValueError, match='low_threshold'):
        IoUBalancedMSELoss(high_threshold=0.3, low_threshold=0.7)
