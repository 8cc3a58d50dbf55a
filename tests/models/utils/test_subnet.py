"""A3D sub-networks: keys, grids, kept frames and in-model clip resampling."""
import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.utils import (resample_clip, resampled_size, subnet_grid, subnet_key,
                                    temporal_indices)


def test_subnet_key_and_grid():
    assert subnet_key((0.5, 0.57, 0.25)) == 'w0.5_s0.57_t0.25'
    assert subnet_key((1, 1, 1)) == 'w1_s1_t1'
    grid = subnet_grid((0.5, 1), (0.57, 1.0), (0.25, ))
    assert grid == [(0.5, 0.57, 0.25), (0.5, 1.0, 0.25), (1.0, 0.57, 0.25), (1.0, 1.0, 0.25)]
    assert all(type(v) is float for subnet in grid for v in subnet)
    assert len(subnet_grid(range(6), range(4), range(4))) == 96  # the 0.016-1 preset's size


def test_temporal_indices_uniform():
    assert temporal_indices(8, 0.25).tolist() == [2, 6]
    assert temporal_indices(8, 0.5).tolist() == [1, 3, 5, 7]
    assert temporal_indices(8, 1.0).tolist() == list(range(8))
    assert resampled_size(32, 0.57) == 18 and resampled_size(3, 0.01) == 1


def test_resample_clip_keeps_frames_then_resizes():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 3, 8, 32, 32, generator=g)  # (N, V, C, T, H, W)
    assert resample_clip(x, 1.0, 1.0) is x
    out = resample_clip(x, 0.5, 0.25)
    assert out.shape == (2, 1, 3, 2, 16, 16)
    frames = x[:, 0, :, [2, 6]].transpose(1, 2).reshape(4, 3, 32, 32)  # (N T', C, H, W)
    ref = F.interpolate(frames, size=(16, 16), mode='bilinear', align_corners=False)
    torch.testing.assert_close(out[:, 0].transpose(1, 2).reshape(4, 3, 16, 16), ref)
    torch.testing.assert_close(resample_clip(x, 1.0, 0.5), x[..., [1, 3, 5, 7], :, :])
    with pytest.raises(ValueError, match='gamma_t'):
        resample_clip(x, 1.0, 0.0)
    with pytest.raises(ValueError, match='gamma_s'):
        resample_clip(x, 1.5, 1.0)
