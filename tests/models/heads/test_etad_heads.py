import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.heads import ETADBoundaryHead, ETADCascadeHead, boundary_targets
from mmtad_ext.registry import MODELS
from mmtad_ext.structures import encode_offsets


def test_boundary_targets_hand_case():
    # T = 10; one action [0.2, 0.6]: BMN's 3-snippet region (public ETAD code) of width 0.3
    tg = boundary_targets(torch.tensor([[0.2, 0.6]]), 10)
    # start region [0.05, 0.35] covers snippets 1, 2 and half of snippets 0 and 3
    assert torch.allclose(tg[0], torch.tensor([.5, 1, 1, .5, 0, 0, 0, 0, 0, 0.]))
    assert torch.allclose(tg[1], torch.tensor([0, 0, 0, 0, .5, 1, 1, .5, 0, 0.]))
    # the default ignores the duration; region_ratio widens it: duration 0.8 * 0.5 = 0.4
    assert torch.allclose(boundary_targets(torch.tensor([[0.1, 0.9]]), 10)[0],
                          torch.tensor([1, 1, .5, 0, 0, 0, 0, 0, 0, 0.]))
    wide = boundary_targets(torch.tensor([[0.1, 0.9]]), 10, region_ratio=0.5)
    assert torch.allclose(wide[0], torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 0, 0.]))
    assert torch.equal(boundary_targets(torch.zeros(0, 2), 4), torch.zeros(2, 4))


def test_boundary_head_loss_balanced():
    torch.manual_seed(0)
    head = ETADBoundaryHead(in_channels=4, feat_channels=8)
    logits = head(torch.randn(2, 4, 10))
    assert logits.shape == (2, 2, 10) and float(logits.detach().min()) < 0  # logits, not probs
    losses = head.loss(torch.zeros(1, 2, 10), [torch.tensor([[0.2, 0.6]])])
    # with p = sigmoid(0) = 0.5 everywhere a balanced BCE equals log 2 whatever the balance
    assert losses['loss_start'].item() == pytest.approx(0.6931, abs=1e-4)


def _head(**kw):
    kw = dict(dict(in_channels=8, feat_channels=4, mid_channels=16, fc_channels=8, roi_size=4),
              **kw)
    return ETADCascadeHead(**kw)


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
    assert outs[0]['boundary_logits'].shape == (2, 2, 2)


def test_public_code_structure_and_xavier_init():
    head = _head(roi_size=8)
    stage = head.stages[0]
    assert stage.residual[0].groups == 4  # per-stage residual grouped conv
    assert stage.start_branch[0].in_features == 4 * 2  # first quarter of the 8-point RoI
    assert stage.ext_fc[0].in_features == 4 * 8
    assert sum(isinstance(m, torch.nn.Linear) for m in stage.iou_branch) == 4
    head.init_weights()
    assert all(float(m.bias.abs().max()) == 0 for m in head.modules()
               if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d)))
    # start offsets see only the RoI's first quarter: changing the end of the RoI leaves them
    torch.manual_seed(0)
    feats = torch.randn(1, 8, 32)
    props = torch.tensor([[[0.25, 0.5]]])  # snippets 8..16, RoI 4..20 with extension 0.5
    out = stage(feats, props)
    feats2 = feats.clone()
    feats2[..., 18:] += 5.0  # beyond the first quarter (4..8) and its interpolation support
    out2 = stage(feats2, props)
    assert out['offsets'][..., 0].item() != pytest.approx(out2['offsets'][..., 1].item())
    torch.testing.assert_close(out['offsets'][..., 0], out2['offsets'][..., 0])
    assert not torch.allclose(out['offsets'][..., 1], out2['offsets'][..., 1])


@pytest.mark.parametrize('kwargs', [dict(in_channels=6), dict(roi_size=6),
                                    dict(pos_iou_thrs=(0.7, 1.2)), dict(extend_ratio=-1)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        _head(**kwargs)


def _fake_outs(props, iou_logits, bnd_logits, offsets, t=10):
    """Stage outputs of a one-stage cascade, (1, P, .) tensors."""
    return [dict(proposals=props, iou_logits=iou_logits, boundary_logits=bnd_logits,
                 offsets=offsets, temporal_dim=t)]


def test_stage_loss_forms_on_a_hand_case():
    """Every proposal is kept by the samplers here (as many positives as negatives), so the
    public code's forms give exact values."""
    head = _head(pos_iou_thrs=(0.5, ))
    gt = torch.tensor([[0.2, 0.6]])
    props = torch.tensor([[[0.2, 0.6], [0.2, 0.5], [0.7, 0.9], [0.0, 0.1]]])  # (1, 4, 2)
    iou = torch.tensor([1.0, 0.75, 0.0, 0.0])
    iou_logits = torch.tensor([[[2.0, 1.0], [0.5, -1.0], [-1.0, 0.0], [0.3, 0.2]]])
    bnd_logits = torch.tensor([[[1.0, -1.0], [0.5, 0.5], [-2.0, 0.0], [0.0, 1.0]]])
    offsets = torch.tensor([[[0.1, -0.2, 0.0, 0.3], [0.0, 0.5, 0.2, -0.1], [1, 1, 1, 1.],
                             [2, 2, 2, 2.]]])
    losses = head.loss(_fake_outs(props, iou_logits, bnd_logits, offsets), [gt])
    # IoU classification: positives at IoU > 0.9 (1 of 4); 3 negatives kept with p = 1/3
    # -> random; checked separately. IoU regression: high {1.0, 0.75}: 2, low {0, 0}: 2 -> all
    p_reg = iou_logits[0, :, 1].sigmoid()
    assert losses['s0.loss_iou_reg'].item() == pytest.approx(
        5 * F.mse_loss(p_reg, iou).item(), rel=1e-6)
    # proposal boundaries: snippet startness at floor(start * 10), endness at floor(end * 10)
    snip = boundary_targets(gt, 10)
    s_tg = snip[0, [2, 2, 7, 0]]  # [1, 1, 0, .5]: 2 positives, 2 negatives -> all kept
    e_tg = snip[1, [6, 5, 9, 1]]  # [1, 1, 0, 0]: 2 positives, 2 negatives -> all kept
    assert s_tg.tolist() == pytest.approx([1, 1, 0, .5]) and e_tg.tolist() == pytest.approx([1, 1, 0, 0])
    # offsets: positives at IoU > 0.5 (first two), SmoothL1 beta 1, sum over 4 / num_pos, x10
    target = encode_offsets(props[0, :2], gt.expand(2, 2))
    expected = 10 * F.smooth_l1_loss(offsets[0, :2], target, beta=1.0, reduction='sum') / 2
    assert losses['s0.loss_offset'].item() == pytest.approx(expected.item(), rel=1e-6)
    # every element kept: 0.5 x (mean BCE of the starts + mean BCE of the ends)
    bce = F.binary_cross_entropy_with_logits
    expected = 0.5 * (bce(bnd_logits[0, :, 0], (s_tg > .5).float()) +
                      bce(bnd_logits[0, :, 1], (e_tg > .5).float()))
    assert losses['s0.loss_boundary'].item() == pytest.approx(expected.item(), rel=1e-6)


def test_ground_truth_is_matched_once_on_the_initial_proposals():
    head = _head(pos_iou_thrs=(0.5, 0.5))
    gts = torch.tensor([[0.1, 0.3], [0.35, 0.9]])
    init = torch.tensor([[[0.12, 0.3]]])  # matches gt 0 (IoU 0.9)
    moved = torch.tensor([[[0.3, 0.9]]])  # stage 2 input: would match gt 1 if re-matched
    outs = [dict(proposals=p, iou_logits=torch.zeros(1, 1, 2), boundary_logits=torch.zeros(1, 1, 2),
                 offsets=torch.zeros(1, 1, 4), temporal_dim=10) for p in (init, moved)]
    assert torch.equal(head.match(init[0], gts), gts[:1])
    assert torch.equal(head.match(moved[0], gts), gts[1:])
    losses = head.loss(outs, [gts])
    # stage 2: IoU of [0.3, 0.9] with the matched gt [0.1, 0.3] is 0 -> no positive, zero offset
    assert losses['s1.loss_offset'].item() == 0 and losses['s0.loss_offset'].item() > 0


def test_no_ground_truth_keeps_the_graph():
    head = _head()
    feats = torch.randn(1, 8, 10, requires_grad=True)
    losses = head.loss(head(feats, torch.tensor([[[0.1, 0.4], [0.2, 0.3]]])), [torch.zeros(0, 2)])
    assert set(losses) == {f's{k}.{n}' for k in range(3) for n in (
        'loss_iou_cls', 'loss_iou_reg', 'loss_boundary', 'loss_offset')}
    assert losses['s0.loss_offset'].item() == 0 and losses['s0.loss_offset'].requires_grad
    sum(losses.values()).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_public_code_loss_defaults():
    head = MODELS.build(dict(type='ETADCascadeHead', in_channels=8))
    assert head.loss_offset.loss_weight == 10.0 and head.loss_offset.beta == 1.0
    assert head.loss_iou_reg.loss_weight == 5.0
    assert head.loss_iou_cls.loss_weight == 1.0 and head.loss_iou_cls.pos_threshold == 0.9
    assert head.loss_boundary.loss_weight == 0.5 and head.loss_boundary.pos_threshold == 0.5
    assert head.stages[0].roi_size == 24 and head.stages[0].extend_ratio == 0.5


def test_stage_fused_roi_fc_equals_the_public_form():
    """The stage's fused RoIAlign + first FC layers give the outputs of the public code's form
    (materialise the RoI features, then the FC layers), float64 to rounding; inference may skip
    the boundary branch without changing the rest."""
    torch.manual_seed(0)
    stage = _head().stages[0].double()
    feats = torch.randn(2, 8, 16, dtype=torch.float64)
    props = torch.rand(2, 30, 2, dtype=torch.float64).sort(dim=-1).values
    out = stage(feats, props)
    x = stage.reduce(feats + stage.residual(feats))
    seg = props.reshape(-1, 2) * 16
    ext = (seg[:, 1] - seg[:, 0]) * stage.extend_ratio
    rois = torch.stack([torch.arange(2).repeat_interleave(30).double(), seg[:, 0] - ext,
                        seg[:, 1] + ext], dim=1)
    roi = stage.roi_align(x, rois)
    q = stage.roi_size // 4
    h = stage.ext_fc(roi.flatten(1))
    ref = torch.cat([stage.start_branch(roi[:, :, :q].flatten(1)),
                     stage.end_branch(roi[:, :, -q:].flatten(1)),
                     stage.center_width_branch(h) / 2], dim=1).view(2, 30, 4)
    torch.testing.assert_close(out['offsets'], ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(out['iou_logits'], stage.iou_branch(h).view(2, 30, 2), rtol=0,
                               atol=1e-12)
    torch.testing.assert_close(out['boundary_logits'], stage.boundary_branch(h).view(2, 30, 2),
                               rtol=0, atol=1e-12)
    lean = stage(feats, props, with_boundary=False)
    assert 'boundary_logits' not in lean and torch.equal(lean['offsets'], out['offsets'])


def test_public_roi_convention_and_grouped_boundary_conv():
    """roi_aligned=False (public ETAD's torchvision call): a snippet's feature at its index, so
    a one-snippet RoI [i, i + 1] with one bin reads the mean of snippets i and i + 1 (mmcv
    samples at i + 0.5); aligned=True reads snippet i alone (its centre is i + 0.5)."""
    feats = torch.arange(8.).view(1, 1, 8).repeat(1, 4, 1)  # value = snippet index
    rois = torch.tensor([[0., 3., 4.]])
    for aligned, expected in ((False, 3.5), (True, 3.0)):
        head = ETADCascadeHead(in_channels=4, feat_channels=4, mid_channels=8, fc_channels=4,
                               roi_size=4, roi_sampling_ratio=0, roi_aligned=aligned)
        layer = head.stages[0].roi_align
        assert layer.aligned is aligned
        out = torch.nn.functional.avg_pool1d(layer(feats, rois), 4)  # mean over the 4 bins
        torch.testing.assert_close(out, torch.full((1, 4, 1), expected))
    head = ETADBoundaryHead(in_channels=8, feat_channels=8, groups=4)
    assert head.conv.conv.weight.shape == (8, 2, 3)
