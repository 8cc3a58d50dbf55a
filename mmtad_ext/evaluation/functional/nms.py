"""1D (temporal) NMS and Soft-NMS on segments, through mmcv's compiled 2D ops.

A segment ``[s, e]`` is the unit-height box ``[s, 0, e, 1]`` (mmcv ``offset=0``): its area is its
length, and the IoU of two such boxes is exactly their temporal IoU, so mmcv's ``nms``,
``batched_nms`` and ``soft_nms`` are the 1D operations without a Python loop of ours. What
follows from using mmcv, documented here once:

- mmcv computes in float32 (segments in seconds of a 3-hour video keep about 1 ms);
- hard NMS suppresses when tIoU ``> iou_threshold`` (mmcv);
- Soft-NMS (Bodla et al., *Soft-NMS - Improving Object Detection With One Line of Code*, arXiv
  1704.04503; BMN/ETAD post-processing): ``'gaussian'`` decays every overlapping segment by
  ``exp(-iou^2 / sigma)`` (mmcv ignores ``iou_threshold`` there; at the default 0 that is the
  same), ``'linear'`` multiplies by ``1 - iou`` when tIoU ``>= iou_threshold``; segments that
  decay below ``min_score`` are dropped, and (ours) segments that start below ``min_score``
  are not kept either;
- with ``max_num``, Soft-NMS runs on the best-scored candidates first and on more only when
  the result could differ (exact, see ``_soft_nms_prefix``): mmcv's op is quadratic in the
  number of segments, and a long video merges tens of thousands of window proposals;
- zero-length segments (an empty union, where mmcv would divide 0 by 0) are given the smallest
  positive float32 length at their position, so their tIoU with anything is ~0.
"""
from typing import Optional, Tuple

import torch
from mmcv.ops import batched_nms as mmcv_batched_nms
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import soft_nms as mmcv_soft_nms

from mmtad_ext.structures import segment_iou


def _check(segments: torch.Tensor, scores: torch.Tensor) -> None:
    if segments.dim() != 2 or segments.shape[-1] != 2:
        raise ValueError(f'segments must have shape (N, 2), got {tuple(segments.shape)}')
    if scores.dim() != 1 or scores.shape[0] != segments.shape[0]:
        raise ValueError(f'scores must have shape ({segments.shape[0]},), got '
                         f'{tuple(scores.shape)}')


def segments_to_boxes(segments: torch.Tensor) -> torch.Tensor:
    """(N, 2) segments -> (N, 4) float32 unit-height boxes ``[s, 0, e, 1]`` (see module doc)."""
    seg = segments.float()
    start = seg[:, 0]
    end = torch.maximum(seg[:, 1], torch.nextafter(start, start.new_tensor(float('inf'))))
    zeros = torch.zeros_like(start)
    return torch.stack([start, zeros, end, zeros + 1], dim=1)  # (N, 4)


def nms_1d(segments: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
           max_num: int = -1) -> torch.Tensor:
    """Greedy hard NMS on segments (mmcv's ``nms``).

    Args:
        segments (torch.Tensor): (N, 2) ``[start, end]``.
        scores (torch.Tensor): (N,) scores.
        iou_threshold (float): Suppress segments with tIoU > this with a kept segment.
        max_num (int): Keep at most this many; <= 0 keeps all. Defaults to -1.

    Returns:
        torch.Tensor: (K,) int64 indices of kept segments, by descending score.
    """
    _check(segments, scores)
    if segments.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=segments.device)
    _, keep = mmcv_nms(segments_to_boxes(segments), scores.float(), float(iou_threshold),
                       offset=0)
    return keep[:max_num] if max_num > 0 else keep


def batched_nms_1d(segments: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                   iou_threshold: float, max_num: int = -1) -> torch.Tensor:
    """Class-aware hard NMS (mmcv's ``batched_nms``): labels never suppress each other.

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
    if segments.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=segments.device)
    _, keep = mmcv_batched_nms(segments_to_boxes(segments), scores.float(), labels,
                               dict(type='nms', iou_threshold=float(iou_threshold)))
    return keep[:max_num] if max_num > 0 else keep


_PREFIX_MIN = 1000  # smallest candidate subset tried by soft_nms_1d with max_num


def soft_nms_1d(segments: torch.Tensor,
                scores: torch.Tensor,
                sigma: float = 0.5,
                iou_threshold: float = 0.0,
                min_score: float = 1e-3,
                max_num: Optional[int] = 100,
                method: str = 'gaussian') -> Tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS on segments (mmcv's ``soft_nms``; see the module docstring for its rules).

    Args:
        segments (torch.Tensor): (N, 2) ``[start, end]``.
        scores (torch.Tensor): (N,) scores.
        sigma (float): Gaussian width. Defaults to 0.5.
        iou_threshold (float): ``'linear'`` decays segments at or above this tIoU.
            Defaults to 0.0.
        min_score (float): Segments whose (decayed) score is below it are dropped.
            Defaults to 1e-3.
        max_num (int, optional): Keep at most this many; None or <= 0 keeps all.
            Defaults to 100.
        method (str): ``'gaussian'`` or ``'linear'``. Defaults to ``'gaussian'``.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: kept indices (K,) in keep order (descending decayed
        score at the time each is kept) and their decayed scores (K,), on the input's device.
    """
    _check(segments, scores)
    if method not in ('gaussian', 'linear'):
        raise ValueError(f"method must be 'gaussian' or 'linear', got {method!r}")
    if method == 'gaussian' and sigma <= 0:
        raise ValueError(f'sigma must be > 0, got {sigma}')
    device = segments.device
    candidates = torch.nonzero(scores >= min_score)[:, 0]  # (M,) never kept otherwise
    if candidates.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=device), scores.new_zeros(0)
    limit = max_num if max_num is not None and max_num > 0 else 0
    boxes = segments_to_boxes(segments[candidates]).cpu()
    cand_scores = scores[candidates].float().cpu()

    def run(sub: torch.Tensor):
        return mmcv_soft_nms(boxes[sub], cand_scores[sub], float(iou_threshold),
                             sigma=float(sigma), min_score=float(min_score), method=method,
                             offset=0)

    # mmcv's Soft-NMS costs O(N^2) (12 s for the 62k proposals of a 10-minute video); only
    # the first ``max_num`` picks are kept, and those come from the best-scored candidates
    # (see _soft_nms_prefix)
    order = torch.argsort(cand_scores, descending=True, stable=True)
    size = max(8 * limit, _PREFIX_MIN) if limit else len(order)
    while True:
        sub = torch.sort(order[:size]).values  # the input order among the subset
        dets, inds = run(sub)
        if size >= len(order) or _soft_nms_prefix(dets[:, 4], limit,
                                                  float(cand_scores[order[size]])):
            break
        size *= 4
    if limit:
        dets, inds = dets[:limit], inds[:limit]
    keep = candidates[sub[inds].to(device)]
    return keep, dets[:, 4].to(device=device, dtype=scores.dtype)


def _soft_nms_prefix(picked: torch.Tensor, limit: int, best_left_out: float) -> bool:
    """Whether Soft-NMS on the best-scored candidates gave the first ``limit`` picks of the
    run on all of them.

    Soft-NMS picks the highest current score, then only decays the others, so the picked
    scores never increase and a candidate never scores above its initial score. A candidate
    left out of the subset (initial score at most ``best_left_out``) could only be picked
    where the subset's pick scored ``<= best_left_out``, and only a picked segment decays
    others; so while every pick scores above ``best_left_out`` the two runs make the same
    picks with the same scores. Exact up to ties between equal scores (mmcv breaks them by
    array position).

    Args:
        picked (torch.Tensor): (L,) scores of the subset run's picks, in pick order.
        limit (int): Picks wanted.
        best_left_out (float): Highest initial score not in the subset.
    """
    return len(picked) >= limit and float(picked[limit - 1]) > best_left_out


def segment_voting(kept: torch.Tensor, segments: torch.Tensor, scores: torch.Tensor,
                   iou_threshold: float) -> torch.Tensor:
    """Refine kept segments by score-weighted voting of the candidates that overlap them.

    Box voting in one dimension, as ActionFormer / OpenTAD's ``seg_voting``: every kept segment
    becomes the average of the pre-NMS candidates whose tIoU with it is at least
    ``iou_threshold``, weighted by their scores (a kept segment votes for itself).

    Args:
        kept (torch.Tensor): (K, 2) segments after NMS.
        segments (torch.Tensor): (N, 2) candidates before NMS.
        scores (torch.Tensor): (N,) their scores.
        iou_threshold (float): Minimum tIoU of a voter, in (0, 1].

    Returns:
        torch.Tensor: (K, 2) refined segments.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f'voting iou_threshold must be in (0, 1], got {iou_threshold}')
    if kept.numel() == 0:
        return kept
    weights = (segment_iou(kept, segments) >= iou_threshold).to(scores.dtype) * scores[None]
    weights = weights / weights.sum(1, keepdim=True).clamp(min=torch.finfo(scores.dtype).tiny)
    return weights @ segments.to(scores.dtype)  # (K, 2)
