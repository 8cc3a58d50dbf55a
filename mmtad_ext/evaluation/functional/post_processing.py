"""Per-video post-processing: merge sliding windows, NMS, fuse video-level class scores."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from .nms import nms_1d, segment_voting, soft_nms_1d

_NMS_KEYS = dict(soft=('sigma', 'iou_threshold', 'min_score', 'method'),
                 nms=('iou_threshold', ))


def _as_tensor(x, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype)


def apply_nms_cfg(segments: torch.Tensor, scores: torch.Tensor, nms_cfg: Optional[dict],
                  max_num: int):
    """Run the NMS described by ``nms_cfg`` and keep at most ``max_num`` segments.

    Args:
        segments (torch.Tensor): (N, 2).
        scores (torch.Tensor): (N,).
        nms_cfg (dict, optional): ``dict(type='soft', sigma=0.5, iou_threshold=0.,
            min_score=1e-3, method='gaussian')``, ``dict(type='nms', iou_threshold=0.5)`` or
            None (no suppression, top ``max_num`` by score).
        max_num (int): Maximum kept segments (<= 0: all).

    Returns:
        tuple[torch.Tensor, torch.Tensor]: kept indices (K,) and their (decayed) scores (K,).
    """
    cfg = dict(nms_cfg or dict(type='none'))
    kind = cfg.pop('type', 'soft')
    if kind == 'none':
        keep = torch.argsort(scores, descending=True, stable=True)
        keep = keep[:max_num] if max_num > 0 else keep
        return keep, scores[keep]
    if kind not in _NMS_KEYS or set(cfg) - set(_NMS_KEYS[kind]):
        raise ValueError(f"nms_cfg must be dict(type='soft'|'nms'|'none', ...) with keys "
                         f'{_NMS_KEYS.get(kind, _NMS_KEYS)}, got {nms_cfg!r}')
    if kind == 'soft':
        return soft_nms_1d(segments, scores, max_num=max_num, **cfg)
    keep = nms_1d(segments, scores, cfg.get('iou_threshold', 0.5), max_num=max_num)
    return keep, scores[keep]


def merge_video_detections(samples: Sequence[dict],
                           num_classes: int,
                           nms_cfg: Optional[dict],
                           max_per_video: int = 100,
                           topk_classes: int = 2,
                           class_scores=None,
                           duration: Optional[float] = None) -> Dict[str, np.ndarray]:
    """Merge the window predictions of one video into labelled detections.

    Class-agnostic samples (no ``labels``): concatenate the windows, clip to ``[0, duration]``,
    drop empty segments, NMS (``nms_cfg``) keeping ``max_per_video`` proposals, then give each
    proposal the ``topk_classes`` best video-level classes with ``score = proposal_score *
    class_score``. The video-level class scores are ``class_scores`` if given (an external
    classifier, as ETAD on ActivityNet/THUMOS), else the mean of the samples' ``class_scores``.
    Class-aware samples (every sample has ``labels``): NMS per class, keep the best
    ``max_per_video`` over all classes, no fusion.

    Args:
        samples (Sequence[dict]): Windows of one video, each ``{segments: (N, 2) seconds,
            scores: (N,), class_scores: (K,) or None, labels: (N,) (optional)}``; tensors or
            arrays.
        num_classes (int): K.
        nms_cfg (dict, optional): See :func:`apply_nms_cfg`; an extra key ``voting_thresh``
            (> 0) refines every kept segment by :func:`segment_voting` over the candidates
            before NMS (per class for class-aware samples). Defaults to no voting.
        max_per_video (int): Proposals (class-agnostic) or detections (class-aware) kept.
            Defaults to 100.
        topk_classes (int): Classes per proposal. Defaults to 2.
        class_scores (array-like, optional): (K,) external video-level scores. Defaults to None.
        duration (float, optional): Video length for clipping; None: no clipping.
            Defaults to None.

    Returns:
        dict: ``segments`` (D, 2) float64, ``scores`` (D,) float64, ``labels`` (D,) int64 sorted
        by descending score, and ``num_empty`` (int, segments dropped as empty after clipping).
    """
    if not samples:
        raise ValueError('merge_video_detections: no samples given')
    has_labels = ['labels' in s and s['labels'] is not None for s in samples]
    if any(has_labels) and not all(has_labels):
        raise ValueError('merge_video_detections: either every sample or none has "labels"')
    seg = torch.cat([_as_tensor(s['segments']).reshape(-1, 2) for s in samples])  # (N, 2)
    score = torch.cat([_as_tensor(s['scores']).reshape(-1) for s in samples])  # (N,)
    if seg.shape[0] != score.shape[0]:
        raise ValueError(f'segments ({seg.shape[0]}) and scores ({score.shape[0]}) differ in '
                         'length')
    labels = (torch.cat([_as_tensor(s['labels'], torch.long).reshape(-1) for s in samples])
              if has_labels[0] else None)
    nms_cfg = None if nms_cfg is None else dict(nms_cfg)
    voting = float(nms_cfg.pop('voting_thresh', 0.0)) if nms_cfg is not None else 0.0

    def suppress(seg_c, score_c):  # NMS (+ voting) of one group -> segments, scores
        k, s = apply_nms_cfg(seg_c, score_c, nms_cfg, max_per_video)
        kept = seg_c[k]
        return (segment_voting(kept, seg_c, score_c, voting) if voting > 0 else kept), s

    if duration is not None:
        seg = seg.clamp(0, float(duration))
    ok = seg[:, 1] > seg[:, 0]
    num_empty = int((~ok).sum())
    seg, score = seg[ok], score[ok]
    if labels is not None:
        labels = labels[ok]
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f'labels must be in [0, {num_classes}), got '
                             f'[{int(labels.min())}, {int(labels.max())}]')
        segs_c, scores_c, labels_c = [], [], []
        for c in torch.unique(labels):
            idx = torch.nonzero(labels == c)[:, 0]
            sg, sc = suppress(seg[idx], score[idx])
            segs_c.append(sg)
            scores_c.append(sc)
            labels_c.append(labels.new_full((len(sc), ), int(c)))
        out_seg = torch.cat(segs_c) if segs_c else seg.new_zeros(0, 2)
        out_scores = torch.cat(scores_c) if scores_c else score.new_zeros(0)
        out_labels = torch.cat(labels_c) if labels_c else labels.new_zeros(0)
    else:
        cls = _video_class_scores(samples, num_classes, class_scores)
        k = min(topk_classes, num_classes)
        top = torch.argsort(cls, descending=True, stable=True)[:k]  # (k,)
        kept_seg, prop_scores = suppress(seg, score)
        out_seg = kept_seg.repeat_interleave(k, dim=0)  # (P*k, 2), proposal-major
        out_scores = (prop_scores[:, None] * cls[top][None]).reshape(-1)
        out_labels = top.repeat(len(prop_scores))
    order = torch.argsort(out_scores, descending=True, stable=True)
    if labels is not None and max_per_video > 0:
        order = order[:max_per_video]
    return dict(segments=out_seg[order].numpy(), scores=out_scores[order].numpy(),
                labels=out_labels[order].numpy().astype(np.int64), num_empty=num_empty)


def _video_class_scores(samples: Sequence[dict], num_classes: int,
                        class_scores) -> torch.Tensor:
    """(K,) video-level class scores: the external vector or the mean over the windows."""
    if class_scores is not None:
        cls = _as_tensor(class_scores).reshape(-1)
    else:
        per_window = [_as_tensor(s['class_scores']).reshape(-1) for s in samples
                      if s.get('class_scores') is not None]
        if not per_window:
            raise ValueError('class-agnostic predictions need video-level class scores: give '
                             'class_scores (e.g. TADMetric class_score_file) or predict '
                             'class_scores/pred_class_scores with a classification head')
        if len({w.numel() for w in per_window}) != 1:
            raise ValueError('class_scores of the windows of one video differ in length')
        cls = torch.stack(per_window).mean(0)
    if cls.numel() != num_classes:
        raise ValueError(f'class scores have {cls.numel()} entries, expected num_classes='
                         f'{num_classes}')
    return cls
