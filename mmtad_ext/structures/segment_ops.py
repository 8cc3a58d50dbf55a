"""Tensor operations on temporal segments ``[start, end]`` (last dimension of size 2).

The one home of segment geometry: the temporal IoU used by the heads, the metric
(``evaluation.functional.eval_detection``) and the proposal recall, the 1-D DIoU / GIoU of
ActionFormer's regression loss and block drop's regression distillation, and the offset encoding
of ETAD's cascade. (NMS runs through mmcv's ops on unit-height boxes, whose IoU is this tIoU; see
``evaluation/functional/nms.py``.)"""
import torch


def segment_iou(segments: torch.Tensor, targets: torch.Tensor,
                aligned: bool = False) -> torch.Tensor:
    """Temporal IoU, pairwise or (``aligned=True``) row by row, like mmdet's ``is_aligned``.

    Args:
        segments (Tensor): (N, 2) segments (``(..., N, 2)`` when aligned).
        targets (Tensor): (M, 2) segments (same shape as ``segments`` when aligned).
        aligned (bool): IoU of ``segments[i]`` with ``targets[i]`` only. Defaults to False.

    Returns:
        Tensor: (N, M) tIoU, or ``segments.shape[:-1]`` when aligned; 0 where the union is empty.
    """
    if aligned:
        if segments.shape != targets.shape:
            raise ValueError(f'aligned segment_iou needs equal shapes, got '
                             f'{tuple(segments.shape)} and {tuple(targets.shape)}')
        a, b = segments, targets
    else:
        a, b = segments[:, None], targets[None, :]  # (N, 1, 2), (1, M, 2)
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny),
                       torch.zeros_like(inter))


def _enclosing(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Length of the smallest segment enclosing both, row by row."""
    return torch.maximum(a[..., 1], b[..., 1]) - torch.minimum(a[..., 0], b[..., 0])


def segment_diou(segments: torch.Tensor, targets: torch.Tensor,
                 eps: float = 1e-8) -> torch.Tensor:
    """Aligned 1-D distance-IoU: ``IoU - (centre distance / enclosing length) ** 2``.

    The 1-D form of DIoU (*Distance-IoU Loss*, arXiv 1911.08287) as ActionFormer's
    ``ctr_diou_loss_1d`` computes it (``1 - segment_diou`` is its loss). mmdet's DIoU is 2-D: a
    segment as a unit-height box adds the box diagonal's height term and is off by up to ~6e-3.

    Args:
        segments (Tensor): (..., 2) segments.
        targets (Tensor): (..., 2) segments, the same shape.
        eps (float): Lower bound of the enclosing length. Defaults to 1e-8.

    Returns:
        Tensor: ``segments.shape[:-1]`` DIoU in [-1, 1].
    """
    iou = segment_iou(segments, targets, aligned=True)
    centre = 0.5 * ((segments[..., 0] + segments[..., 1]) - (targets[..., 0] + targets[..., 1]))
    return iou - (centre / _enclosing(segments, targets).clamp(min=eps))**2


def segment_giou(segments: torch.Tensor, targets: torch.Tensor,
                 eps: float = 1e-8) -> torch.Tensor:
    """Aligned 1-D generalised IoU: ``IoU - (enclosing - union) / enclosing``.

    (*Generalized Intersection over Union*, arXiv 1902.09630, in one dimension.)

    Args:
        segments (Tensor): (..., 2) segments.
        targets (Tensor): (..., 2) segments, the same shape.
        eps (float): Lower bound of the enclosing length. Defaults to 1e-8.

    Returns:
        Tensor: ``segments.shape[:-1]`` GIoU in [-1, 1].
    """
    iou = segment_iou(segments, targets, aligned=True)
    inter = (torch.minimum(segments[..., 1], targets[..., 1]) -
             torch.maximum(segments[..., 0], targets[..., 0])).clamp(min=0)
    union = (segments[..., 1] - segments[..., 0]) + (targets[..., 1] - targets[..., 0]) - inter
    enclosing = _enclosing(segments, targets).clamp(min=eps)
    return iou - (enclosing - union) / enclosing


def encode_offsets(proposals: torch.Tensor, gts: torch.Tensor) -> torch.Tensor:
    """Regression targets of ETAD's proposal evaluation (start, end, center, log-width).

    Args:
        proposals (Tensor): (N, 2) proposals.
        gts (Tensor): (N, 2) matched ground truth.

    Returns:
        Tensor: (N, 4) ``[(gs-ps)/d, (ge-pe)/d, (gc-pc)/d, log(gd/d)]`` with ``d`` the proposal
        length.
    """
    d = (proposals[:, 1] - proposals[:, 0]).clamp(min=1e-6)
    gd = (gts[:, 1] - gts[:, 0]).clamp(min=1e-6)
    pc = proposals.mean(dim=1)
    gc = gts.mean(dim=1)
    return torch.stack([(gts[:, 0] - proposals[:, 0]) / d, (gts[:, 1] - proposals[:, 1]) / d,
                        (gc - pc) / d, torch.log(gd / d)], dim=1)


def decode_offsets(proposals: torch.Tensor, offsets: torch.Tensor,
                   min_length: float = 1e-4) -> torch.Tensor:
    """Refine proposals with predicted offsets (inverse of :func:`encode_offsets`).

    The start/end estimate and the center/width estimate are averaged, as both branches are
    trained; the result is clipped to ``[0, 1]`` and kept at least ``min_length`` long.

    Args:
        proposals (Tensor): (N, 2) proposals in normalised [0, 1] time.
        offsets (Tensor): (N, 4) predicted offsets.
        min_length (float): Shortest refined segment. Defaults to 1e-4.

    Returns:
        Tensor: (N, 2) refined segments.
    """
    d = (proposals[:, 1] - proposals[:, 0]).clamp(min=1e-6)
    se = proposals + offsets[:, :2] * d[:, None]
    c = proposals.mean(dim=1) + offsets[:, 2] * d
    w = d * torch.exp(offsets[:, 3].clamp(max=4.0))
    cw = torch.stack([c - w / 2, c + w / 2], dim=1)
    seg = ((se + cw) / 2).clamp(0, 1)
    start = seg[:, 0].clamp(max=1 - min_length)
    end = torch.maximum(seg[:, 1], start + min_length)
    return torch.stack([start, end], dim=1)
