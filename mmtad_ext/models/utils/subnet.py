"""A3D sub-networks (gamma_w, gamma_s, gamma_t): keys, grids and input resampling.

A sub-network of an A3D model runs at width factor ``gamma_w`` on the clip resampled by
``gamma_s`` (space) and ``gamma_t`` (time); its FLOPs scale as ``gamma_w^2 * gamma_s^2 * gamma_t``
(*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384),
eq. 2). The paper's range presets [0.016, 1] and [0.06, 1] are configs:
``configs/_base_/models/a3d_range-*.py``.
"""
import itertools
import logging
import math
import numbers
import warnings
from collections.abc import Mapping, Set
from typing import Any, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

#: A sub-network: ``(gamma_w, gamma_s, gamma_t)``, width, spatial and temporal factors in (0, 1].
SubNet = Tuple[float, float, float]


class SubNetWarning(UserWarning):
    """A sub-network was selected outside the trained range or without calibrated BN
    statistics (``A3DRecognizer3D.set_subnet``); ``strict=True`` raises instead."""


def report_subnet_problem(message: str, strict: bool, stacklevel: int = 3) -> None:
    """Raise ``ValueError(message)`` if ``strict``, else log it at WARNING level and warn with
    :class:`SubNetWarning` (``stacklevel`` 3: the warning points at the caller of the method
    calling this)."""
    if strict:
        raise ValueError(message)
    print_log(message, logger='current', level=logging.WARNING)
    warnings.warn(message, SubNetWarning, stacklevel=stacklevel)


def check_factor(name: str, value: Any) -> float:
    """``value`` as a float in (0, 1], or a clear error naming ``name``.

    Args:
        name (str): The factor's name for the message (``'gamma_w'``...).
        value: A real number (``int``, ``float``, NumPy scalar or one-element tensor).

    Returns:
        float: The factor.

    Raises:
        TypeError: ``value`` is not a real number (a string, ``None``, a bool, a sequence).
        ValueError: ``value`` is NaN, infinite, <= 0 or > 1.
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a real number in (0, 1], got {value!r} '
                        f'({type(value).__name__})')
    v = float(value)
    if not (math.isfinite(v) and 0 < v <= 1):
        raise ValueError(f'{name} must be in (0, 1], got {value!r}')
    return v


def check_subnet(subnet: Any) -> SubNet:
    """``subnet`` as ``(gamma_w, gamma_s, gamma_t)`` floats, each checked by
    :func:`check_factor`.

    Args:
        subnet: A sequence of three factors (tuple, list, 1-D tensor or array).

    Returns:
        SubNet: The three factors as floats.

    Raises:
        TypeError: ``subnet`` is not a sequence of three numbers, or a factor is not a number.
        ValueError: ``subnet`` has another length, or a factor is not in (0, 1].
    """
    if isinstance(subnet, (str, bytes, Mapping, Set)) or not hasattr(subnet, '__iter__'):
        raise TypeError('subnet must be a sequence (gamma_w, gamma_s, gamma_t), got '
                        f'{subnet!r} ({type(subnet).__name__})')
    values = list(subnet)
    if len(values) != 3:
        raise ValueError('subnet must be (gamma_w, gamma_s, gamma_t), three factors in (0, 1], '
                         f'got {len(values)} values: {subnet!r}')
    return tuple(check_factor(n, v)
                 for n, v in zip(('gamma_w', 'gamma_s', 'gamma_t'), values))  # type: ignore


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
    gamma_s, gamma_t = check_factor('gamma_s', gamma_s), check_factor('gamma_t', gamma_t)
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
