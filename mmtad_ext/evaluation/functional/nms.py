"""1D (temporal) NMS and Soft-NMS on segments, vectorised with torch.

``mmcv.ops.nms``/``soft_nms`` work on 2D boxes in float32; these functions compute the exact 1D
tIoU in the input dtype (use float64 for seconds of long videos) and run on any device.
Suppression follows mmcv: a segment is suppressed (hard NMS) when its tIoU with a kept one is
``> iou_threshold``.
"""
from typing import Optional, Tuple

import torch


def segment_iou_1d(segments: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Pairwise tIoU.

    Args:
        segments (torch.Tensor): (N, 2) ``[start, end]``.
        others (torch.Tensor): (M, 2) ``[start, end]``.

    Returns:
        torch.Tensor: (N, M) tIoU; 0 where the union is empty.
    """
    inter = (torch.minimum(segments[:, None, 1], others[None, :, 1]) -
             torch.maximum(segments[:, None, 0], others[None, :, 0])).clamp(min=0)  # (N, M)
    union = ((segments[:, 1] - segments[:, 0])[:, None] + (others[:, 1] - others[:, 0])[None] -
             inter)
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny),
                       torch.zeros_like(inter))


def _check(segments: torch.Tensor, scores: torch.Tensor) -> None:
    if segments.dim() != 2 or segments.shape[-1] != 2:
        raise ValueError(f'segments must have shape (N, 2), got {tuple(segments.shape)}')
    if scores.dim() != 1 or scores.shape[0] != segments.shape[0]:
        raise ValueError(f'scores must have shape ({segments.shape[0]},), got '
                         f'{tuple(scores.shape)}')


def nms_1d(segments: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
           max_num: int = -1) -> torch.Tensor:
    """Greedy hard NMS on segments.

    Args:
        segments (torch.Tensor): (N, 2) ``[start, end]``.
        scores (torch.Tensor): (N,) scores.
        iou_threshold (float): Suppress segments with tIoU > this with a kept segment.
        max_num (int): Keep at most this many; <= 0 keeps all. Defaults to -1.

    Returns:
        torch.Tensor: (K,) int64 indices of kept segments, by descending score (ties keep the
        input order).
    """
    _check(segments, scores)
    remaining = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while remaining.numel() > 0 and (max_num <= 0 or len(keep) < max_num):
        top = remaining[:1]
        keep.append(top)
        rest = remaining[1:]
        iou = segment_iou_1d(segments[top], segments[rest])[0]  # (R,)
        remaining = rest[iou <= iou_threshold]
    return torch.cat(keep) if keep else remaining.new_zeros(0)


def batched_nms_1d(segments: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                   iou_threshold: float, max_num: int = -1) -> torch.Tensor:
    """Class-aware hard NMS: segments of different labels never suppress each other.

    Args:
        segments (torch.Tensor): (N, 2) ``[start, end]``.
        scores (torch.Tensor): (N,) scores.
        labels (torch.Tensor): (N,) integer labels.
        iou_threshold (float): See :func:`nms_1d`.
        max_num (int): Keep at most this many over all labels; <= 0 keeps all.
            Defaults to -1.

    Returns:
        torch.Tensor: (K,) int64 kept indices by descending score.
    """
    _check(segments, scores)
    keep = [idx[nms_1d(segments[idx], scores[idx], iou_threshold)]
            for idx in (torch.nonzero(labels == c)[:, 0] for c in torch.unique(labels))]
    if not keep:
        return torch.zeros(0, dtype=torch.long, device=segments.device)
    keep = torch.cat(keep)
    keep = keep[torch.argsort(scores[keep], descending=True, stable=True)]
    return keep[:max_num] if max_num > 0 else keep


def soft_nms_1d(segments: torch.Tensor,
                scores: torch.Tensor,
                sigma: float = 0.5,
                iou_threshold: float = 0.0,
                min_score: float = 1e-3,
                max_num: Optional[int] = 100,
                method: str = 'gaussian') -> Tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS (Bodla et al., ICCV 2017) on segments, as used by BMN/ETAD post-processing.

    Repeatedly keeps the highest (decayed) score and decays the remaining segments whose tIoU
    with it is ``> iou_threshold``: ``gaussian``: ``s *= exp(-iou^2 / sigma)``; ``linear``:
    ``s *= 1 - iou``.

    Args:
        segments (torch.Tensor): (N, 2) ``[start, end]``.
        scores (torch.Tensor): (N,) scores.
        sigma (float): Gaussian width. Defaults to 0.5.
        iou_threshold (float): Only segments above this tIoU are decayed. Defaults to 0.0.
        min_score (float): Stop when the best remaining score is below it. Defaults to 1e-3.
        max_num (int, optional): Keep at most this many; None or <= 0 keeps all.
            Defaults to 100.
        method (str): ``'gaussian'`` or ``'linear'``. Defaults to ``'gaussian'``.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: kept indices (K,) in keep order (descending decayed
        score) and their decayed scores (K,).
    """
    _check(segments, scores)
    if method not in ('gaussian', 'linear'):
        raise ValueError(f"method must be 'gaussian' or 'linear', got {method!r}")
    if method == 'gaussian' and sigma <= 0:
        raise ValueError(f'sigma must be > 0, got {sigma}')
    limit = segments.shape[0] if not max_num or max_num <= 0 else min(max_num,
                                                                     segments.shape[0])
    cur = scores.clone()
    alive = torch.ones_like(cur, dtype=torch.bool)
    keep, kept_scores = [], []
    neg_inf = torch.tensor(float('-inf'), dtype=cur.dtype, device=cur.device)
    for _ in range(limit):
        j = torch.argmax(torch.where(alive, cur, neg_inf))  # first index among ties
        if cur[j] < min_score:
            break
        keep.append(j)
        kept_scores.append(cur[j].clone())
        alive[j] = False
        iou = segment_iou_1d(segments[j][None], segments)[0]  # (N,)
        hit = alive & (iou > iou_threshold)
        decay = torch.exp(-iou * iou / sigma) if method == 'gaussian' else 1 - iou
        cur = torch.where(hit, cur * decay, cur)
    if not keep:
        return (torch.zeros(0, dtype=torch.long, device=segments.device),
                scores.new_zeros(0))
    return torch.stack(keep), torch.stack(kept_scores)
