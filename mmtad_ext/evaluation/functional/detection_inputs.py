"""Checked parsing of ActivityNet annotation / submission dicts into numpy arrays."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import print_log


def _unwrap(data, key: str, what: str) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f'{what} must be a dict, got {type(data).__name__}')
    if key in data and isinstance(data[key], dict):
        return data[key]
    return data


def _segments(segs, where: str) -> np.ndarray:
    try:
        arr = np.asarray(segs, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{where}: "segment" must be [start, end] numbers ({e})') from None
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f'{where}: every "segment" must be [start, end], got shape '
                         f'{arr.shape[1:]}')
    bad = ~np.isfinite(arr).all(1) | (arr[:, 1] < arr[:, 0])
    if bad.any():
        k = int(np.nonzero(bad)[0][0])
        raise ValueError(f'{where}: entry {k} has a non-finite or reversed segment '
                         f'{arr[k].tolist()} (need finite start <= end)')
    return arr


def parse_ground_truth(ground_truth: dict, ignore_labels: Sequence[str],
                       classes: Optional[Sequence[str]]) -> Dict[str, object]:
    """Annotations -> arrays ``vid``, ``cls``, ``seg`` (+ ``ign_vid``, ``ign_seg``).

    Args:
        ground_truth (dict): ``{"database": {...}}`` or the database dict.
        ignore_labels (Sequence[str]): Labels that are not classes.
        classes (Sequence[str], optional): Class order; None: first appearance in the GT.

    Returns:
        dict: ``videos`` (dict vid -> index), ``classes`` (list), ``vid``/``cls`` (M,) int64,
        ``seg`` (M, 2) float64, in file order, and the same for ignore-label segments.
    """
    database = _unwrap(ground_truth, 'database', 'ground_truth')
    ignore = set(ignore_labels or ())
    names = list(classes) if classes is not None else []
    index = {c: i for i, c in enumerate(names)}
    videos, vid, cls, seg, ign_vid, ign_seg = {}, [], [], [], [], []
    for v, info in database.items():
        where = f'ground truth of video {v!r}'
        if not isinstance(info, dict) or not isinstance(info.get('annotations'), list):
            raise ValueError(f'{where}: needs an "annotations" list')
        videos[v] = len(videos)
        labels, segs = [], []
        for k, ann in enumerate(info['annotations']):
            if not isinstance(ann, dict) or 'label' not in ann or 'segment' not in ann:
                raise ValueError(f'{where}: annotation {k} needs "label" and "segment"')
            labels.append(ann['label'])
            segs.append(ann['segment'])
        segs = _segments(segs, where)
        for label, s in zip(labels, segs):
            if label in ignore:
                ign_vid.append(videos[v])
                ign_seg.append(s)
                continue
            if label not in index:
                if classes is not None:
                    raise ValueError(f'{where}: label {label!r} is neither in classes nor in '
                                     f'ignore_labels {sorted(ignore)}')
                index[label] = len(names)
                names.append(label)
            vid.append(videos[v])
            cls.append(index[label])
            seg.append(s)
    return dict(videos=videos, classes=names, index=index,
                vid=np.asarray(vid, dtype=np.int64), cls=np.asarray(cls, dtype=np.int64),
                seg=np.asarray(seg, dtype=np.float64).reshape(-1, 2),
                ign_vid=np.asarray(ign_vid, dtype=np.int64),
                ign_seg=np.asarray(ign_seg, dtype=np.float64).reshape(-1, 2))


def parse_predictions(predictions: dict, gt: dict,
                      ignore_labels: Sequence[str]) -> Dict[str, object]:
    """Submission -> arrays ``vid``, ``cls``, ``score``, ``seg`` in submission order.

    Labels without GT are dropped (counted in the log). Videos unknown to the GT get new
    indices (their predictions are false positives).

    Args:
        predictions (dict): ``{"results": {...}}`` or the results dict.
        gt (dict): Output of :func:`parse_ground_truth`.
        ignore_labels (Sequence[str]): Labels that are not classes.

    Returns:
        dict: ``vid``/``cls`` (P,) int64, ``score`` (P,) float64, ``seg`` (P, 2) float64,
        ``new_videos`` (dict of videos not in the GT).
    """
    results = _unwrap(predictions, 'results', 'predictions')
    has_gt = set(gt['classes'][c] for c in np.unique(gt['cls']))
    index = {c: i for c, i in gt['index'].items() if c in has_gt}
    videos, new_videos = gt['videos'], {}
    vid, cls, score, seg = [], [], [], []
    dropped = 0
    for v, plist in results.items():
        where = f'predictions of video {v!r}'
        if not isinstance(plist, list):
            raise ValueError(f'{where}: must be a list of {{"label", "score", "segment"}}')
        try:
            labels = [p['label'] for p in plist]
            scores = np.asarray([p['score'] for p in plist], dtype=np.float64)
            segs = _segments([p['segment'] for p in plist], where)
        except (KeyError, TypeError) as e:
            raise ValueError(f'{where}: every prediction needs "label", "score" and '
                             f'"segment" (missing {e})') from None
        if not np.isfinite(scores).all():
            raise ValueError(f'{where}: scores must be finite numbers')
        ids = np.asarray([index.get(label, -1) for label in labels], dtype=np.int64)
        keep = ids >= 0
        dropped += int((~keep).sum())
        if not keep.any():
            continue
        if v not in videos and v not in new_videos:
            new_videos[v] = len(videos) + len(new_videos)
        vid.append(np.full(int(keep.sum()), videos.get(v, new_videos.get(v)), dtype=np.int64))
        cls.append(ids[keep])
        score.append(scores[keep])
        seg.append(segs[keep])
    if dropped:
        print_log(f'eval_detection: ignored {dropped} prediction(s) whose label has no ground '
                  'truth', logger='current')
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return dict(vid=cat(vid, np.int64), cls=cat(cls, np.int64), score=cat(score, np.float64),
                seg=np.concatenate(seg) if seg else np.zeros((0, 2)), new_videos=new_videos)
