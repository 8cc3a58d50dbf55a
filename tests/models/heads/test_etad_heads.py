import pytest
import torch

from mmtad_ext.models.heads import ETADBoundaryHead, ETADCascadeHead, boundary_targets
from mmtad_ext.models.heads.etad_cascade_head import iou_balance_weights
from mmtad_ext.registry import MODELS


def test_boundary_targets_hand_case():
    # T = 10; one action [0.2, 0.6] of duration 0.4 -> region width max(0.3, 0.04) = 0.3
    tg = boundary_targets(torch.tensor([[0.2, 0.6]]), 10)
    # start region [0.05, 0.35] covers snippets 1, 2 and half of snippets 0 and 3
    assert torch.allclose(tg[0], torch.tensor([.5, 1, 1, .5, 0, 0, 0, 0, 0, 0.]))
    assert torch.allclose(tg[1], torch.tensor([0, 0, 0, 0, .5, 1, 1, .5, 0, 0.]))
    # a long action widens the region: duration 0.8 * ratio 0.5 = 0.4
    wide = boundary_targets(torch.tensor([[0.1, 0.9]]), 10, region_ratio=0.5)
    assert torch.allclose(wide[0], torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 0, 0.]))
    assert torch.equal(boundary_targets(torch.zeros(0, 2), 4), torch.zeros(2, 4))


def test_boundary_head_loss_balanced():
    head = ETADBoundaryHead(in_channels=4, feat_channels=8)
    probs = head(torch.randn(2, 4, 10))
    assert probs.shape == (2, 2, 10) and float(probs.min()) >= 0 and float(probs.max()) <= 1
    losses = head.loss(torch.full((1, 2, 10), 0.5), [torch.tensor([[0.2, 0.6]])])
    # with p = 0.5 everywhere a balanced BCE equals log 2 whatever the class balance
    assert losses['loss_start'].item() == pytest.approx(0.6931, abs=1e-4)


def test_iou_balance_weights():
    iou = torch.tensor([0.9, 0.5, 0.1, 0.05])
    w = iou_balance_weights(iou)
    # three bins each carry a third of the total weight (4)
    assert w.tolist() == pytest.approx([4 / 3, 4 / 3, 2 / 3, 2 / 3])
    assert iou_balance_weights(torch.tensor([0.1, 0.2])).tolist() == [1.0, 1.0]


def _head(**kw):
    return ETADCascadeHead(in_channels=8, feat_channels=4, fc_channels=16, roi_size=4, **kw)


def test_cascade_forward_refines_and_detaches():
    torch.manual_seed(0)
    head = _head()
    feats = torch.randn(2, 8, 16, requires_grad=True)
    props = torch.tensor([[[0.1, 0.4], [0.5, 0.9]]] * 2)
    outs = head(feats, props)
    assert len(outs) == 3
    assert torch.equal(outs[0]['proposals'], props)
    for a, b in zip(outs[:-1], outs[1:]):
        assert torch.equal(a['refined'], b['proposals']) and not b['proposals'].requires_grad
    assert outs[0]['offsets'].shape == (2, 2, 4) and outs[0]['iou_logits'].shape == (2, 2, 2)


def test_cascade_targets_and_loss_keys():
    head = _head(pos_iou_thrs=(0.5, 0.7))
    tg = head._targets(torch.tensor([[0.1, 0.4], [0.2, 0.4], [0.7, 0.8]]),
                       torch.tensor([[0.1, 0.4]]), 0.6, 10)
    assert tg['iou'].tolist() == pytest.approx([1.0, 2 / 3, 0.0])
    assert tg['pos'].tolist() == [True, True, False]
    # start tolerance max(1/10, 0.1 * 0.3) = 0.1: 0.1 and 0.2 are within; end 0.4 matches
    assert tg['boundary'].tolist() == [[1, 1], [1, 1], [0, 0]]
    assert torch.allclose(tg['offsets'][0], torch.zeros(4), atol=1e-6)
    feats = torch.randn(1, 8, 10, requires_grad=True)
    outs = head(feats, torch.tensor([[[0.1, 0.4], [0.7, 0.8]]]))
    losses = head.loss(outs, [torch.tensor([[0.1, 0.4]])])
    assert set(losses) == {f's{k}.{n}' for k in range(2) for n in (
        'loss_iou_cls', 'loss_iou_reg', 'loss_boundary', 'loss_offset')}
    sum(losses.values()).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    # no ground truth: only negatives, offset loss is an exact zero that keeps the graph
    empty = head.loss(head(feats, torch.tensor([[[0.1, 0.4]]])), [torch.zeros(0, 2)])
    assert empty['s0.loss_offset'].item() == 0 and empty['s0.loss_offset'].requires_grad


def test_offset_loss_weight_ten_by_default():
    head = MODELS.build(dict(type='ETADCascadeHead', in_channels=8))
    assert head.loss_offset.loss_weight == 10.0
    assert head.loss_iou_cls.loss_weight == head.loss_boundary.loss_weight == 1.0
    with pytest.raises(ValueError, match='pos_iou_thrs'):
        _head(pos_iou_thrs=(0.7, 1.2))
