"""A3D sub-networks (gamma_w, gamma_s, gamma_t): keys, grids and input resampling.

A sub-network of an A3D model runs at width factor ``gamma_w`` on the clip resampled by
``gamma_s`` (space) and ``gamma_t`` (time); its FLOPs scale as ``gamma_w^2 * gamma_s^2 * gamma_t``
(*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384),
eq. 2). The paper's range presets [0.016, 1] and [0.06, 1] are configs:
``configs/_base_/models/a3d_range-*.py``.
"""
import itertools
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F

#: A sub-network: ``(gamma_w, gamma_s, gamma_t)``, width, spatial and temporal factors in (0, 1].
SubNet = Tuple[float, float, float]


def subnet_key(subnet: SubNet) -> str:
    """Stable string key of a sub-network, e.g. ``'w0.5_s0.57_t0.25'``."""
    gamma_w, gamma_s, gamma_t = subnet
    return f'w{float(gamma_w):g}_s{float(gamma_s):g}_t{float(gamma_t):g}'


def subnet_grid(widths: Sequence[float], spatial: Sequence[float],
                temporal: Sequence[float]) -> List[SubNet]:
    """All (gamma_w, gamma_s, gamma_t) combinations, width-major (96 for the 0.016-1 preset)."""
    return [(float(w), float(s), float(t))
            for w, s, t in itertools.product(widths, spatial, temporal)]


def resampled_size(size: int, factor: float) -> int:
    """``round(factor * size)``, at least 1."""
    return max(1, int(round(float(factor) * size)))


def temporal_indices(num_frames: int, gamma_t: float) -> torch.Tensor:
    """Indices of the ``round(gamma_t * T)`` frames kept: the centres of equal segments."""
    new_t = resampled_size(num_frames, gamma_t)
    return ((torch.arange(new_t, dtype=torch.float64) + 0.5) * num_frames / new_t).long()


def resample_clip(x: torch.Tensor, gamma_s: float, gamma_t: float) -> torch.Tensor:
    """Resample a decoded clip in the model (no second decode), as A3D's sub-networks see it.

    Frames are subsampled uniformly (``round(gamma_t T)`` of them) and bilinearly resized to
    ``round(gamma_s H) x round(gamma_s W)``.

    Args:
        x (torch.Tensor): ``(..., C, T, H, W)`` clip(s).
        gamma_s (float): Spatial factor in (0, 1].
        gamma_t (float): Temporal factor in (0, 1].

    Returns:
        torch.Tensor: ``(..., C, T', H', W')``.
    """
    for name, v in (('gamma_s', gamma_s), ('gamma_t', gamma_t)):
        if not 0 < v <= 1:
            raise ValueError(f'{name} must be in (0, 1], got {v}')
    if gamma_s == 1 and gamma_t == 1:
        return x
    *lead, c, t, h, w = (int(v) for v in x.shape)  # ints also while tracing
    x = x.reshape(-1, c, t, h, w)  # (B, C, T, H, W)
    if gamma_t != 1:
        x = x.index_select(2, temporal_indices(t, gamma_t).to(x.device))
    if gamma_s != 1:
        b, _, t2 = x.shape[:3]
        size = (resampled_size(h, gamma_s), resampled_size(w, gamma_s))
        frames = x.transpose(1, 2).reshape(b * t2, c, h, w)  # (B T', C, H, W)
        frames = F.interpolate(frames, size=size, mode='bilinear', align_corners=False)
        x = frames.reshape(b, t2, c, *size).transpose(1, 2)  # (B, C, T', H', W')
    return x.reshape(*lead, *x.shape[1:])
