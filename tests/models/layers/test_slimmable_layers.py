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


@pytest.mark.parametrize('gamma_w', [1.0, 0.75, 0.5])
def test_slimmed_weight_gradient_equals_plain_slicing(gamma_w):
    """The fused block slice gives exactly the gradient of ``weight[:out, :in]``, and the
    gradient of a slimmed pass accumulates into the full weight outside the block as zeros."""
    torch.manual_seed(0)
    conv = SlimmableConv3d(32, 48, (1, 3, 3), padding=(0, 1, 1))
    conv.set_width(gamma_w)
    c_in = active_channels(32, gamma_w)
    x = torch.randn(2, c_in, 2, 5, 5)
    conv(x).square().sum().backward()
    ref_w = conv.weight.detach().clone().requires_grad_()
    out = active_channels(48, gamma_w)
    torch.nn.functional.conv3d(x, ref_w[:out, :c_in], conv.bias[:out].detach(),
                               padding=(0, 1, 1)).square().sum().backward()
    torch.testing.assert_close(conv.weight.grad, ref_w.grad, rtol=0, atol=0)
    assert conv.weight.grad[out:].abs().sum() == 0 and conv.weight.grad[:, c_in:].abs().sum() == 0


@pytest.mark.parametrize('gamma_w', [1.0, 0.5])
@pytest.mark.parametrize('grad', [False, True])
def test_slow_conv3d_cases_go_to_onednn_with_same_result(gamma_w, grad):
    """A batch-one clip small enough for PyTorch's slow_conv3d runs in oneDNN instead; values
    and gradients match nn.Conv3d's native path up to float rounding."""
    from torch.profiler import profile
    torch.manual_seed(0)
    conv = SlimmableConv3d(32, 32, (1, 3, 3), padding=(0, 1, 1))
    conv.set_width(gamma_w)
    c = active_channels(32, gamma_w)
    x = torch.randn(1, c, 4, 20, 20)  # C * T * H <= 20480: PyTorch's pick is slow_conv3d
    w = conv.weight[:c, :c].detach().clone()
    assert torch._C._select_conv_backend(x, w, None, conv.stride, conv.padding, conv.dilation,
                                         False, (0, 0, 0), 1, None) == \
        torch._C._ConvBackend.Slow3d
    with torch.set_grad_enabled(grad), profile() as prof:
        out = conv(x)
    ops = {e.key for e in prof.key_averages()}
    assert 'aten::mkldnn_convolution' in ops and 'aten::slow_conv3d_forward' not in ops
    ref = F.conv3d(x, w, conv.bias[:c].detach(), padding=(0, 1, 1))  # native slow_conv3d
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    if grad:
        out.square().sum().backward()
        w_ref = w.clone().requires_grad_()
        F.conv3d(x, w_ref, conv.bias[:c].detach(), padding=(0, 1, 1)).square().sum().backward()
        torch.testing.assert_close(conv.weight.grad[:c, :c], w_ref.grad, rtol=1e-4, atol=1e-4)
