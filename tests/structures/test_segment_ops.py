import torch

from mmtad_ext.structures import decode_offsets, encode_offsets, segment_iou


def test_segment_iou_hand_cases():
    a = torch.tensor([[0., 2.], [1., 3.], [5., 6.]])
    b = torch.tensor([[1., 2.], [0., 2.], [2., 2.]])
    iou = segment_iou(a, b)
    assert torch.allclose(iou, torch.tensor([[0.5, 1.0, 0.0], [0.5, 1 / 3, 0.0],
                                             [0.0, 0.0, 0.0]]))


def test_offsets_roundtrip():
    props = torch.tensor([[0.1, 0.3], [0.5, 0.6]])
    gts = torch.tensor([[0.12, 0.35], [0.45, 0.7]])
    enc = encode_offsets(props, gts)
    assert torch.allclose(decode_offsets(props, enc), gts, atol=1e-6)
    assert torch.allclose(enc[0, :2], torch.tensor([0.1, 0.25]), atol=1e-6)


def test_segment_diou_against_formula_and_actionformer_form():
    from mmtad_ext.structures import segment_diou
    a = torch.tensor([[0.0, 4.0], [1.0, 2.0], [0.0, 1.0]])
    b = torch.tensor([[2.0, 6.0], [1.0, 2.0], [3.0, 5.0]])
    # IoU 2/6, centres 2 vs 4, enclosing 6 -> 1/3 - (2/6)^2; identical -> 1;
    # disjoint: IoU 0, centres 0.5 vs 4, enclosing 5 -> -(3.5/5)^2
    expected = torch.tensor([1 / 3 - (2 / 6)**2, 1.0, -(3.5 / 5)**2])
    assert torch.allclose(segment_diou(a, b), expected, atol=1e-7)
    # ActionFormer's ctr_diou_loss_1d on (left, right) distances from a shared point
    torch.manual_seed(0)
    pt = torch.rand(50) * 10
    lp, rp, lg, rg = torch.rand(4, 50) * 5
    inter = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    iou = inter / ((lp + rp) + (lg + rg) - inter)
    rho = 0.5 * (rp - lp - rg + lg)
    ref = iou - (rho / (torch.maximum(lp, lg) + torch.maximum(rp, rg)))**2
    got = segment_diou(torch.stack([pt - lp, pt + rp], -1), torch.stack([pt - lg, pt + rg], -1))
    assert torch.allclose(got, ref, atol=1e-6)


def test_segment_giou():
    from mmtad_ext.structures import segment_giou
    a = torch.tensor([[0.0, 1.0], [0.0, 4.0]])
    b = torch.tensor([[3.0, 5.0], [2.0, 6.0]])
    # disjoint: 0 - (5 - 3) / 5; overlapping: 2/6 - (6 - 6) / 6
    assert torch.allclose(segment_giou(a, b), torch.tensor([-0.4, 1 / 3]), atol=1e-7)
