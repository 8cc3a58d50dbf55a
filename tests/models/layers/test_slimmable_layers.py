"""Slimmable conv / linear / BN building blocks of A3D."""
import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.layers.slimmable_bn import SlimmableBN3d
from mmtad_ext.models.layers.slimmable_conv import (SlimmableConv3d, SlimmableLinear,
                                                    active_channels)


def test_active_channels_rounding():
    assert active_channels(64, 1.0) == 64
    assert active_channels(64, 0.5) == 32
    assert active_channels(64, 0.7) == 48  # 44.8 -> nearest multiple of 8
    assert active_channels(16, 0.1) == 8  # never below min_channels
    assert active_channels(4, 0.5) == 4  # min_channels capped by the layer size
    assert active_channels(30, 0.9, divisor=4, min_channels=4) == 28
    with pytest.raises(ValueError, match='gamma_w'):
        active_channels(64, 0.0)


def test_conv_fixed_tail_maps_to_last_columns():
    torch.manual_seed(0)
    conv = SlimmableConv3d(16 + 4, 16, 1, fixed_in_tail=4, divisor=4, min_channels=4)
    conv.set_width(0.5)
    x = torch.randn(2, 8 + 4, 2, 3, 3)  # 8 slimmed slow channels + 4 fast channels
    w = torch.cat([conv.weight[:8, :8], conv.weight[:8, 16:]], dim=1)
    torch.testing.assert_close(conv(x), F.conv3d(x, w, conv.bias[:8]))
    with pytest.raises(ValueError, match='input channels'):
        conv(torch.randn(1, 24, 1, 1, 1))


def test_conv_slim_out_false_keeps_outputs():
    conv = SlimmableConv3d(8, 12, 1, slim_out=False)
    conv.set_width(0.5)
    assert conv(torch.randn(1, 8, 1, 2, 2)).shape[1] == 12


def test_linear_fixed_head():
    torch.manual_seed(0)
    fc = SlimmableLinear(4 + 16, 3, fixed_in_head=4)
    x = torch.randn(2, 4 + 8)
    torch.testing.assert_close(fc(x), x @ fc.weight[:, :12].t() + fc.bias)
    with pytest.raises(ValueError, match='input features'):
        fc(torch.randn(2, 4))


def test_bn_slice_updates_running_stats_cumulatively():
    torch.manual_seed(0)
    bn = SlimmableBN3d(16, momentum=None)
    ref = torch.nn.BatchNorm3d(8, momentum=None)
    bn.train()
    ref.train()
    for _ in range(3):
        x = torch.randn(4, 8, 2, 3, 3) * 2 + 1
        torch.testing.assert_close(bn(x), ref(x))
    torch.testing.assert_close(bn.running_mean[:8], ref.running_mean)
    torch.testing.assert_close(bn.running_var[:8], ref.running_var)
    assert torch.all(bn.running_mean[8:] == 0) and torch.all(bn.running_var[8:] == 1)
    bn.eval()
    ref.eval()
    x = torch.randn(2, 8, 2, 3, 3)
    torch.testing.assert_close(bn(x), ref(x))
