"""CrossDepthDistillLoss against hand-written formulas."""
import math

import pytest
import torch

from mmtad_ext.registry import MODELS


def _build(**kwargs):
    return MODELS.build(dict(type='CrossDepthDistillLoss', **kwargs))


def test_feature_alignment_by_original_index():
    torch.manual_seed(0)
    teacher = {i: torch.randn(2, 5, 4) for i in range(4)}
    student = {0: torch.randn(2, 5, 4, requires_grad=True), 3: torch.randn(2, 5, 4)}
    loss = _build(feat_weight=2.0)(student, teacher)['loss_feat_kd']
    # (1/|K|) sum over K = {0, 3} of the element-mean squared difference, times the weight
    hand = sum(((student[i] - teacher[i])**2).sum() / 40 for i in (0, 3)) / 2
    assert torch.allclose(loss, 2.0 * hand)
    loss.backward()
    assert student[0].grad is not None
    with pytest.raises(KeyError, match=r'no output for the student.s blocks \[5\]'):
        _build()({5: torch.zeros(1)}, teacher)


def test_class_kd_over_valid_points():
    torch.manual_seed(1)
    s, t = torch.randn(2, 3, 4), torch.randn(2, 3, 4)  # (B, P, K)
    valid = torch.tensor([[True, False, True], [False, False, True]])
    loss = _build(temperature=3.5)(student_logits=s, teacher_logits=t, valid=valid)['loss_cls_kd']
    terms = []
    for b, p in valid.nonzero().tolist():
        ps = torch.softmax(s[b, p] / 3.5, -1)
        pt = torch.softmax(t[b, p] / 3.5, -1)
        terms.append((pt * (pt.log() - ps.log())).sum() * 3.5**2)
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-6)
    # recognition: every clip of the batch, (B, K)
    loss = _build()(student_logits=s[0], teacher_logits=s[0])['loss_cls_kd']
    assert loss.abs() < 1e-6
    summed = _build(reduction='sum')(student_logits=s, teacher_logits=t, valid=valid)
    assert torch.allclose(summed['loss_cls_kd'], torch.stack(terms).sum(), atol=1e-5)


def test_regression_kd_diou_and_giou_on_positive_points():
    s = torch.tensor([[[0., 2.], [1., 3.], [5., 6.]]])
    t = torch.tensor([[[1., 3.], [1., 3.], [0., 1.]]])
    positive = torch.tensor([[True, True, False]])
    out = _build()(student_segments=s, teacher_segments=t, positive=positive)
    # point 0: IoU 1/3, centres 1 and 2, enclosing [0, 3]: DIoU = 1/3 - (1/3)^2; point 1: 1
    diou0 = 1 / 3 - (1 / 3)**2
    assert math.isclose(out['loss_reg_kd'].item(), ((1 - diou0) + 0) / 2, rel_tol=1e-6)
    out = _build(reg_iou='giou')(student_segments=s, teacher_segments=t, positive=positive)
    giou0 = 1 / 3 - (3 - 3) / 3  # union 3 = enclosing 3
    assert math.isclose(out['loss_reg_kd'].item(), (1 - giou0) / 2, rel_tol=1e-6)
    # disjoint pair: GIoU penalises the gap
    out = _build(reg_iou='giou', reduction='none')(student_segments=s[0, 2:],
                                                    teacher_segments=t[0, 2:])
    assert torch.allclose(out['loss_reg_kd'], torch.tensor([1 - (0 - (6 - 2) / 6)]))
    none = _build()(student_segments=s, teacher_segments=t,
                    positive=torch.zeros(1, 3, dtype=torch.bool))
    assert none['loss_reg_kd'].item() == 0.0


def test_weights_reduction_and_terms_left_out():
    torch.manual_seed(2)
    s, t = torch.randn(4, 5), torch.randn(4, 5)
    loss = _build(cls_weight=0.5, loss_weight=3.0)
    out = loss(student_logits=s, teacher_logits=t)
    assert set(out) == {'loss_cls_kd'}
    ref = _build()(student_logits=s, teacher_logits=t)['loss_cls_kd']
    assert torch.allclose(out['loss_cls_kd'], 1.5 * ref)
    per_clip = loss(student_logits=s, teacher_logits=t, reduction_override='none')['loss_cls_kd']
    assert per_clip.shape == (4, )
    avg = loss(student_logits=s, teacher_logits=t, avg_factor=dict(cls=2.0))['loss_cls_kd']
    assert torch.allclose(avg, 1.5 * per_clip.sum() / 1.5 / 2)
    with pytest.raises(ValueError, match='reduction'):
        _build(reduction='avg')
    with pytest.raises(ValueError, match='reg_iou'):
        _build(reg_iou='ciou')
    with pytest.raises(ValueError, match='temperature'):
        _build(temperature=0)
