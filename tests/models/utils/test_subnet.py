"""A3D sub-networks: keys, grids, kept frames and in-model clip resampling."""
import pytest
import torch
import torch.nn.functional as F

from mmtad_ext.models.utils import (check_factor, check_subnet, resample_clip, resampled_size,
                                    subnet_grid, subnet_key, temporal_indices)


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


def test_check_factor_and_check_subnet():
    import numpy as np
    assert check_factor('gamma_w', 1) == 1.0 and check_factor('gamma_w', np.float32(0.5)) == 0.5
    assert check_factor('gamma_s', torch.tensor(0.25)) == 0.25
    for bad in ('0.5', None, True, [0.5], torch.tensor([0.5, 0.5])):
        with pytest.raises(TypeError, match='gamma_s must be a real number'):
            check_factor('gamma_s', bad)
    for bad in (float('nan'), float('inf'), 0, -0.1, 1.0001):
        with pytest.raises(ValueError, match=r'gamma_s must be in \(0, 1\]'):
            check_factor('gamma_s', bad)
    assert check_subnet([1, 0.5, np.float64(0.25)]) == (1.0, 0.5, 0.25)
    assert check_subnet(torch.tensor([1.0, 0.5, 0.25])) == (1.0, 0.5, 0.25)
    for bad in ('abc', b'abc', 0.5, {0.5, 1.0, 0.25}, {'w': 1}):
        with pytest.raises(TypeError, match='sequence'):
            check_subnet(bad)
    with pytest.raises(ValueError, match='got 2 values'):
        check_subnet((0.5, 0.5))
    with pytest.raises(TypeError, match='gamma_t must be a real number'):
        check_subnet((0.5, 0.5, 'x'))
    with pytest.raises(TypeError, match='gamma_s must be a real number'):
        resample_clip(torch.zeros(3, 2, 4, 4), 'x', 1.0)
