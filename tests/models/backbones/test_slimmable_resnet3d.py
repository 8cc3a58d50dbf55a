"""SlimmableResNet3D equals mmaction2's ResNet3dSlowOnly at full width and, with sliced weights,
a plain backbone built with the narrower widths."""
import pytest
import torch
from mmaction.models.backbones.resnet3d_slowonly import ResNet3dSlowOnly

from mmtad_ext.models.backbones.slimmable_resnet3d import SlimmableResNet3D
from mmtad_ext.models.layers.slimmable_bn import SlimmableBN3d
from mmtad_ext.models.layers.slimmable_conv import SlimmableConv3d

TINY = dict(depth=50, stage_blocks=(1, 1, 1, 1), pretrained=None, pretrained2d=False)


def _randomize(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (0.2 if t.dim() > 1 else 0.5))


def _slice_into(narrow, full_state):
    state = {}
    for k, v in narrow.state_dict().items():
        src = full_state[k]
        state[k] = src[tuple(slice(0, s) for s in v.shape)].clone() if v.dim() else src.clone()
    narrow.load_state_dict(state)


@pytest.mark.parametrize('train', [False, True])
def test_full_width_equals_mmaction2(train):
    torch.manual_seed(0)
    plain = ResNet3dSlowOnly(base_channels=16, **TINY)
    slim = SlimmableResNet3D(base_channels=16, width_divisor=4, min_channels=4, **TINY)
    assert set(plain.state_dict()) == set(slim.state_dict())
    _randomize(plain)
    slim.load_state_dict(plain.state_dict())
    plain.train(train)
    slim.train(train)
    x = torch.randn(2, 3, 4, 32, 32)
    torch.testing.assert_close(slim(x), plain(x), rtol=0, atol=0)
    if train:  # running statistics were updated identically
        torch.testing.assert_close(slim.state_dict(), plain.state_dict(), rtol=0, atol=0)


@pytest.mark.parametrize('gamma_w,narrow_base', [(0.5, 8), (0.75, 12)])
@pytest.mark.parametrize('train', [False, True])
def test_narrow_width_equals_sliced_plain(gamma_w, narrow_base, train):
    torch.manual_seed(0)
    slim = SlimmableResNet3D(base_channels=16, width_divisor=4, min_channels=4, **TINY)
    _randomize(slim, seed=1)
    narrow = ResNet3dSlowOnly(base_channels=narrow_base, **TINY)
    _slice_into(narrow, slim.state_dict())
    slim.set_width(gamma_w)
    assert all(m.gamma_w == gamma_w for m in slim.modules() if isinstance(m, SlimmableConv3d))
    slim.train(train)
    narrow.train(train)
    x = torch.randn(2, 3, 4, 32, 32)
    out = slim(x)
    assert out.shape[1] == narrow.feat_dim == int(slim.feat_dim * gamma_w)
    torch.testing.assert_close(out, narrow(x), rtol=1e-5, atol=1e-5)
    # gradients reach only the active slice of the shared weights
    if train:
        out.sum().backward()
        g = slim.conv1.conv.weight.grad
        assert g[narrow_base:].abs().sum() == 0 and g[:narrow_base].abs().sum() > 0


def test_width_validation_and_layer_types():
    slim = SlimmableResNet3D(base_channels=16, **TINY)
    assert isinstance(slim.conv1.conv, SlimmableConv3d)
    assert isinstance(slim.conv1.bn, SlimmableBN3d)
    with pytest.raises(ValueError, match='gamma_w'):
        slim.set_width(1.5)
    with pytest.raises(ValueError, match='conv_cfg'):
        SlimmableResNet3D(conv_cfg=dict(type='Conv3d'), **TINY)
