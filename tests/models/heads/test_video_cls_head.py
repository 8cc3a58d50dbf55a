import pytest
import torch

from mmtad_ext.models.heads import TADVideoClsHead


def test_topk_pooling_and_multi_label_loss():
    head = TADVideoClsHead(in_channels=2, num_classes=2, feat_channels=0, dropout=0.0,
                           topk_ratio=0.25)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[[1.], [0.]], [[0.], [1.]]]))
        head.fc.bias.zero_()
    x = torch.tensor([[[1., 5., 3., 0., 0., 0., 0., 7.], [0., 0., 0., 0., 0., 0., 0., -1.]]])
    logits = head(x)  # top-2 of 8 snippets per class
    assert torch.allclose(logits, torch.tensor([[6.0, 0.0]]))
    loss = head.loss(logits, [torch.tensor([0])])['loss_cls']
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([[1., 0.]]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match='model.cls_head.num_classes'):
        head.loss(logits, [torch.tensor([0, 2])])  # a third class on a two-class head


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_classes'):
        TADVideoClsHead(in_channels=2, num_classes=0)
    with pytest.raises(ValueError, match='topk_ratio'):
        TADVideoClsHead(in_channels=2, num_classes=3, topk_ratio=0)
    with pytest.raises(ValueError, match='kernel_size'):
        TADVideoClsHead(in_channels=2, num_classes=3, kernel_size=2)


def test_hidden_temporal_conv_shapes():
    head = TADVideoClsHead(in_channels=4, num_classes=3, feat_channels=8, kernel_size=3)
    assert head.fc.in_channels == 8
    assert head(torch.randn(2, 4, 16)).shape == (2, 3)
