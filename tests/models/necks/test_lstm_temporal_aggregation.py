"""LSTMTemporalAggregation: the default form and the public ETAD code's form."""
import pytest
import torch
import torch.nn as nn

from mmtad_ext.models.necks import LSTMTemporalAggregation


class PublicFeatureModule(nn.Module):
    """The feature module of the public ETAD code (sming256/ETAD,
    ``lib/models/detector/feature.py``) rebuilt in plain torch: grouped convs + GN + ReLU,
    sequence-first LSTMs, one conv per stream, 1x1 fusion of (forward, input, backward)."""

    def __init__(self, c_in, c=32):
        super().__init__()

        def block(i, o, k):
            return nn.Sequential(nn.Conv1d(i, o, k, padding=k // 2, groups=4, bias=False),
                                 nn.GroupNorm(16, o), nn.ReLU())

        self.layer1 = block(c_in, c, 3)
        self.mem_f, self.mem_b = nn.LSTM(c, c), nn.LSTM(c, c)
        self.layer2_f, self.layer2_b = block(c, c // 2, 3), block(c, c // 2, 3)
        self.layer2_d, self.layer3 = block(c, c, 3), block(2 * c, c, 1)

    def forward(self, x):
        x = self.layer1(x)
        f, _ = self.mem_f(x.permute(2, 0, 1))  # (T, B, C)
        b, _ = self.mem_b(x.permute(2, 0, 1).flip(0))
        f = self.layer2_f(f.permute(1, 2, 0))
        b = self.layer2_b(b.flip(0).permute(1, 2, 0))
        return self.layer3(torch.cat([f, self.layer2_d(x), b], dim=1))


def test_public_form_equals_the_public_feature_module():
    torch.manual_seed(0)
    public = PublicFeatureModule(16).eval()
    for p in public.parameters():
        nn.init.normal_(p, std=0.2)
    ours = LSTMTemporalAggregation(16, 32, num_convs=0, groups=4, branch_convs=True).eval()
    names = dict(layer1='in_proj', layer2_f='fwd_conv', layer2_b='bwd_conv',
                 layer2_d='mid_conv', layer3='fuse', mem_f='lstm_fwd', mem_b='lstm_bwd')
    state = {}
    for k, v in public.state_dict().items():
        mod, rest = k.split('.', 1)
        rest = {'0.weight': 'conv.weight', '1.weight': 'gn.weight', '1.bias': 'gn.bias'}.get(
            rest, rest)
        state[f'{names[mod]}.{rest}'] = v
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 16, 20)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), public(x), rtol=0, atol=1e-6)


def test_default_form_and_bad_groups():
    neck = LSTMTemporalAggregation(12, 16)
    assert neck.fuse.conv.weight.shape == (16, 48, 1) and len(neck.convs) == 2
    assert not hasattr(neck, 'fwd_conv')
    assert neck(torch.randn(1, 12, 10)).shape == (1, 16, 10)
    with pytest.raises(ValueError, match='groups=4 must divide in_channels=10'):
        LSTMTemporalAggregation(10, 16, groups=4)
