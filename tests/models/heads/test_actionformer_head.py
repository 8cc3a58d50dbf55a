"""ActionFormerHead: target assignment on a hand-made case, losses against their formulas."""
import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.heads import ActionFormerHead
from mmtad_ext.registry import MODELS


def _head(**kwargs):
    cfg = dict(num_classes=3, in_channels=8, strides=(1, 2), regress_ranges=((0, 4), (4, 1e4)))
    cfg.update(kwargs)
    return ActionFormerHead(**cfg)


def test_targets_centre_sampling_ranges_and_shortest_segment():
    head = _head()
    points = head.points([8, 4])
    assert points[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 2, 4, 6]
    # A [1, 4] class 0 (length 3), B [0, 7] class 1 (length 7), C [1, 4] class 2 (= A's length)
    segs = torch.tensor([[1.0, 4.0], [0.0, 7.0], [1.0, 4.0]])
    cls_t, reg_t = head.get_targets(points, segs, torch.tensor([0, 1, 2]))
    expected = torch.zeros(12, 3)
    # level 0 (stride 1, centre radius 1.5, range [0, 4]): points 2, 3 are within A's/C's
    # centre region (1, 4); point 3 also in B's (2, 5), but A/C are shorter; point 4 only in B's
    expected[2, [0, 2]] = 1
    expected[3, [0, 2]] = 1
    expected[4, 1] = 1
    # level 1 (stride 2, radius 3, range [4, inf)): A/C's largest distance < 4 -> only B, at
    # points 2, 4, 6 (point 0 lies on B's centre-region boundary 0.5 -> outside)
    expected[[9, 10, 11], 1] = 1
    assert torch.equal(cls_t, expected)
    assert torch.allclose(reg_t[2], torch.tensor([1.0, 2.0]))  # A: (2 - 1, 4 - 2) / stride 1
    assert torch.allclose(reg_t[3], torch.tensor([2.0, 1.0]))
    assert torch.allclose(reg_t[4], torch.tensor([4.0, 3.0]))  # B
    assert torch.allclose(reg_t[9:], torch.tensor([[1.0, 2.5], [2.0, 1.5], [3.0, 0.5]]))
    # without the tie rule only the first shortest segment's class counts
    cls_t, _ = _head(filter_similar_gt=False).get_targets(points, segs, torch.tensor([0, 1, 2]))
    assert cls_t[3].tolist() == [1.0, 1.0, 1.0]  # every segment covering it (public code)


def test_focal_loss_equals_actionformer_formula():
    """mmdet's FocalLoss (what the head uses) on one-hot targets = ActionFormer's
    sigmoid_focal_loss (alpha 0.25, gamma 2, summed)."""
    torch.manual_seed(0)
    logits, target = torch.randn(20, 3), (torch.rand(20, 3) > 0.7).float()
    loss = MODELS.build(dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                             reduction='sum'))(logits, target)
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    p_t = p * target + (1 - p) * (1 - target)
    ref = ((0.25 * target + 0.75 * (1 - target)) * ce * (1 - p_t)**2).sum()
    assert torch.allclose(loss, ref, atol=1e-6)


def test_diou_loss_and_normaliser():
    loss = MODELS.build(dict(type='DIoU1dLoss', reduction='sum'))
    a, b = torch.tensor([[0.0, 4.0]]), torch.tensor([[2.0, 6.0]])
    assert torch.allclose(loss(a, b), torch.tensor(1 - (1 / 3 - (2 / 6)**2)))
    head = _head().train()
    feats = [torch.randn(2, 8, 8), torch.randn(2, 8, 4)]
    masks = [torch.ones(2, 8, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)]
    cls_out, reg_out = head(feats, masks)
    segs = [torch.tensor([[1.0, 4.0]]), torch.zeros(0, 2)]
    labels = [torch.tensor([0]), torch.zeros(0, dtype=torch.long)]
    losses = head.loss(cls_out, reg_out, masks, segs, labels)
    # 2 positive points (level 0: 2, 3): n = 0.9 * 100 + 0.1 * 2
    assert torch.isclose(head.loss_normalizer, torch.tensor(90.2))
    sum(losses.values()).backward()
    assert head.cls_head.weight.grad is not None and head.reg_head.weight.grad is not None


def test_one_class_head_trains_class_agnostic_on_multi_class_labels():
    """num_classes=1 (the ActivityNet configs) on a dataset's real labels (up to 199): every
    segment is class 0, the targets are those of all-zero labels and the losses are finite."""
    head = _head(num_classes=1).train()
    points = head.points([8, 4])
    segs = torch.tensor([[1.0, 4.0], [0.0, 7.0]])
    cls_t, reg_t = head.get_targets(points, segs, torch.tensor([17, 199]))
    ref_cls, ref_reg = head.get_targets(points, segs, torch.zeros(2, dtype=torch.long))
    assert torch.equal(cls_t, ref_cls) and torch.equal(reg_t, ref_reg)
    assert cls_t[:, 0].nonzero().flatten().tolist() == [2, 3, 4, 9, 10, 11]
    assert head.target_labels(torch.tensor([17, 199, 0])).tolist() == [0, 0, 0]
    feats = [torch.randn(2, 8, 8), torch.randn(2, 8, 4)]
    masks = [torch.ones(2, 8, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)]
    cls_out, reg_out = head(feats, masks)
    losses = head.loss(cls_out, reg_out, masks, [segs, segs[:1]],
                       [torch.tensor([17, 199]), torch.tensor([3])])
    assert all(torch.isfinite(v) for v in losses.values()) and losses['loss_reg'] > 0
    sum(losses.values()).backward()
    # more classes than the head has: a clear error naming the config key
    with pytest.raises(ValueError, match='model.head.num_classes'):
        _head(num_classes=3).get_targets(points, segs, torch.tensor([0, 3]))


def test_predict_single_threshold_topk_and_mask():
    head = _head(num_classes=2).eval()
    cls_out = [torch.full((1, 2, 8), -10.0), torch.full((1, 2, 4), -10.0)]
    cls_out[0][0, 1, 3] = 3.0  # one confident (point 3, class 1) on level 0
    cls_out[0][0, 0, 6] = 2.0  # point 6 is padding: ignored
    cls_out[1][0, 0, 1] = 0.0  # level 1 point 2, class 0, score 0.5
    reg_out = [torch.ones(1, 2, 8), torch.ones(1, 2, 4)]
    masks = [torch.ones(1, 8, dtype=torch.bool), torch.ones(1, 4, dtype=torch.bool)]
    masks[0][0, 6:] = False
    segs, scores, labels = head.predict_single(cls_out, reg_out, masks, 0, score_thr=0.1)
    assert labels.tolist() == [1, 0]
    assert torch.allclose(segs, torch.tensor([[2.0, 4.0], [0.0, 4.0]]))  # 3 +- 1, 2 +- 1 * 2
    assert torch.allclose(scores, torch.tensor([3.0, 0.0]).sigmoid())
