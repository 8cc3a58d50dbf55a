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
