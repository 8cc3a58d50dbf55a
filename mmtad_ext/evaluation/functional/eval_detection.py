"""ActivityNet detection mAP (all-point interpolated AP), vectorised with numpy.

Numbers are identical to mmaction2's ``ActivityNetLocalization`` (and to the official
``ActivityNet/Evaluation/eval_detection.py`` matching rule); see :func:`eval_detection`.
Parsing and input checks live in :mod:`.detection_inputs`.
"""
from typing import Dict, Optional, Sequence

import numpy as np

import torch

from mmtad_ext.structures import segment_iou
from .detection_inputs import parse_ground_truth, parse_predictions


def tiou_float32(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-by-row tIoU of (N, 2) float64 segment pairs, rounded to float32 as mmaction2's
    reference (``pairwise_temporal_iou``) rounds it, through the package's one tIoU function
    (same operations in float64; an empty union gives 0 where the reference gives NaN, which
    matches no threshold either way)."""
    return segment_iou(torch.from_numpy(pred), torch.from_numpy(gt),
                       aligned=True).numpy().astype(np.float32)


def _interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC-2011 all-point interpolated AP (same operations as the ActivityNet reference)."""
    mprec = np.hstack([[0], precision, [0]])
    mrec = np.hstack([[0], recall, [1]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]  # monotone from the right
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _expand_pairs(sorted_keys: np.ndarray, query_keys: np.ndarray):
    """All (query, item) pairs with equal non-negative int keys (items: positions in
    ``sorted_keys``), through a dense count table (keys are ``class * num_videos + video``)."""
    size = int(max(sorted_keys.max(initial=-1), query_keys.max(initial=-1))) + 1
    counts = np.bincount(sorted_keys, minlength=size)
    starts = np.cumsum(counts) - counts
    lo, cnt = starts[query_keys], counts[query_keys]
    q = np.repeat(np.arange(len(query_keys)), cnt)
    start = np.cumsum(cnt) - cnt
    item = np.arange(len(q)) - start[q] + lo[q]
    return q, item


def _reference_tie_order(tiou_row32: np.ndarray, min_thr: float) -> np.ndarray:
    """GT order of the reference (``argsort()[::-1]`` of the float32 row), candidates only."""
    order = tiou_row32.argsort()[::-1]
    return order[tiou_row32[order].astype(np.float64) >= min_thr]


def _match(p_key, p_seg, g_key, g_seg, thr):
    """Greedy matching for all thresholds. Returns ``tp`` (T, P) bool.

    Predictions are in ranking order; each group (class, video) is independent, so the k-th
    candidate prediction of every group is matched in one vectorised step (a wavefront).
    """
    num_thr, num_pred = len(thr), len(p_key)
    tp = np.zeros((num_thr, num_pred), dtype=bool)
    g_order = np.argsort(g_key, kind='stable')  # file order inside a group
    g_sorted = g_key[g_order]
    pi, gpos = _expand_pairs(g_sorted, p_key)  # gpos: index into g_order (group order)
    if len(pi) == 0:
        return tp
    t32 = tiou_float32(p_seg[pi], g_seg[g_order[gpos]])
    t64 = t32.astype(np.float64)
    cand = t64 >= thr.min()
    # preference inside a prediction: higher tIoU first; exact ties resolved below
    ci, cg, ct = pi[cand], gpos[cand], t64[cand]
    o = np.lexsort((-cg, -ct, ci))
    ci, cg, ct = ci[o], cg[o], ct[o]
    if len(ci) == 0:
        return tp
    tie = np.nonzero((ci[1:] == ci[:-1]) & (ct[1:] == ct[:-1]))[0]
    tied = np.unique(ci[tie])  # rare: reproduce the reference's argsort order exactly
    c_lo, c_hi = np.searchsorted(ci, tied, 'left'), np.searchsorted(ci, tied, 'right')
    r_lo, r_hi = np.searchsorted(pi, tied, 'left'), np.searchsorted(pi, tied, 'right')
    for k in range(len(tied)):  # pi and ci are both sorted by prediction
        row = slice(r_lo[k], r_hi[k])
        ref = _reference_tie_order(t32[row], thr.min())
        cg[c_lo[k]:c_hi[k]] = gpos[row][ref]
        ct[c_lo[k]:c_hi[k]] = t64[row][ref]
    # wavefront step of each candidate prediction = its ordinal among its group's candidates
    cand_pred = ci[np.r_[True, ci[1:] != ci[:-1]]]  # ci is grouped by prediction
    grp = p_key[cand_pred]
    go = np.argsort(grp, kind='stable')  # candidates are already in rank order
    step = np.empty(len(cand_pred), dtype=np.int64)
    gs = grp[go]
    new = np.r_[True, gs[1:] != gs[:-1]]
    starts = np.maximum.accumulate(np.where(new, np.arange(len(gs)), 0))
    step[go] = np.arange(len(gs)) - starts
    pred_step = np.full(num_pred, -1)
    pred_step[cand_pred] = step
    o = np.lexsort((np.arange(len(ci)), pred_step[ci]))  # pairs grouped by step, then pred
    ci, cg, ct = ci[o], cg[o], ct[o]
    step_of_pair = pred_step[ci]
    bounds = np.searchsorted(step_of_pair, np.arange(step.max() + 2))
    first = np.ones(len(ci), dtype=bool)  # first pair of each prediction
    first[1:] = ci[1:] != ci[:-1]
    locked = np.zeros((num_thr, len(g_key)), dtype=bool)  # indexed by group-order position
    big = np.iinfo(np.int64).max
    for s in range(len(bounds) - 1):
        a, b = bounds[s], bounds[s + 1]
        preds = ci[a:b]
        seg_start = np.flatnonzero(first[a:b])
        valid = (ct[None, a:b] >= thr[:, None]) & ~locked[:, cg[a:b]]  # (T, n)
        key = np.where(valid, np.arange(b - a)[None], big)
        chosen = np.minimum.reduceat(key, seg_start, axis=1)  # (T, B)
        t_idx, b_idx = np.nonzero(chosen != big)
        locked[t_idx, cg[a:b][chosen[t_idx, b_idx]]] = True
        tp[t_idx, preds[seg_start[b_idx]]] = True
    return tp


def _ignored(p_vid, p_seg, i_vid, i_seg, thr):
    """(T, P) bool: the prediction overlaps an ignore-label segment with tIoU >= threshold."""
    best = np.full(len(p_vid), -1.0)
    if len(i_vid):
        order = np.argsort(i_vid, kind='stable')
        pi, ipos = _expand_pairs(i_vid[order], p_vid)
        if len(pi):
            t64 = tiou_float32(p_seg[pi], i_seg[order[ipos]]).astype(np.float64)
            np.maximum.at(best, pi, t64)
    return best[None] >= thr[:, None]


def eval_detection(ground_truth: dict,
                   predictions: dict,
                   tiou_thresholds: Sequence[float],
                   ignore_labels: Sequence[str] = ('Ambiguous', ),
                   classes: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """ActivityNet detection mAP at several tIoU thresholds.

    Matching (ActivityNet ``eval_detection.py`` / mmaction2 ``ActivityNetLocalization``): per
    class, predictions are ranked by score, descending, with a stable sort (ties keep the
    submission order: videos in dict order, then list order). Each prediction matches the
    unmatched ground truth (GT) of the same class and video with the highest tIoU if that tIoU
    is >= the threshold (true positive), else it is a false positive. tIoU is rounded to float32
    and exact tIoU ties between GTs are broken like the reference (numpy ``argsort`` order), so
    the numbers equal mmaction2's. AP is the all-point interpolated AP (precision made
    monotone from the right, ``AP = sum (r_i - r_{i-1}) p_i``); mAP is the mean over the classes
    that have GT. The whole ``ground_truth`` is evaluated (no ``subset`` filter).

    Ignore labels (THUMOS ``"Ambiguous"``) are never a class. A prediction of any class that is
    not matched to a real GT and whose tIoU with an ignore-label segment of the same video is
    >= the threshold is dropped from the ranking at that threshold (neither TP nor FP).

    Predictions with a label that has no GT (or is not in ``classes``) are ignored (the count is
    logged); predictions for videos absent from the GT are false positives, as in the reference.
    A class with GT but no prediction has AP 0.

    Args:
        ground_truth (dict): ActivityNet annotations ``{"database": {vid: {"annotations":
            [{"label", "segment": [s, e]}], ...}}}`` or the inner database dict.
        predictions (dict): ActivityNet submission ``{"results": {vid: [{"label", "score",
            "segment"}]}}`` or the inner results dict.
        tiou_thresholds (Sequence[float]): tIoU thresholds.
        ignore_labels (Sequence[str]): Labels that are not classes. Defaults to
            ``('Ambiguous',)``.
        classes (Sequence[str], optional): Class names; fixes the class order and rejects GT
            labels outside it. Defaults to None: the GT labels in order of first appearance.

    Returns:
        dict: ``mAP`` (np.ndarray (T,)), ``average_mAP`` (float), ``per_class``
        (``{label: np.ndarray (T,)}``, classes with GT only) and ``tiou_thresholds``
        (np.ndarray (T,)); all as fractions in [0, 1].

    Raises:
        ValueError: Malformed inputs (the message names the video and key), no GT at all.
    """
    thr = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if thr.size == 0 or not np.all(np.isfinite(thr)):
        raise ValueError(f'tiou_thresholds must be a non-empty list of numbers, got '
                         f'{tiou_thresholds!r}')
    gt = parse_ground_truth(ground_truth, ignore_labels, classes)
    pr = parse_predictions(predictions, gt, ignore_labels)
    names = gt['classes']
    num_pos = np.bincount(gt['cls'], minlength=len(names))
    with_gt = np.nonzero(num_pos > 0)[0]
    if len(with_gt) == 0:
        raise ValueError('eval_detection: the ground truth has no annotation of any class')
    num_vid = len(gt['videos']) + len(pr['new_videos'])
    # rank per class: class-major, then score descending, ties in submission order
    order = np.argsort(-pr['score'], kind='stable')
    order = order[np.argsort(pr['cls'][order], kind='stable')]  # == lexsort, but faster
    p_cls, p_vid, p_seg = pr['cls'][order], pr['vid'][order], pr['seg'][order]
    tp = _match(p_cls * num_vid + p_vid, p_seg, gt['cls'] * num_vid + gt['vid'], gt['seg'],
                thr)
    dropped = _ignored(p_vid, p_seg, gt['ign_vid'], gt['ign_seg'], thr) & ~tp
    bounds = np.searchsorted(p_cls, np.arange(len(names) + 1))
    ap = np.zeros((len(thr), len(with_gt)))
    for j, c in enumerate(with_gt):
        a, b = bounds[c], bounds[c + 1]
        if a == b:
            continue
        if not dropped[:, a:b].any():  # all thresholds at once: (T, n)
            tp_cum = np.cumsum(tp[:, a:b], axis=1).astype(np.float64)
            prec = tp_cum / np.arange(1, b - a + 1, dtype=np.float64)  # tp_cum + fp_cum
            rec = tp_cum / float(num_pos[c])
            ap[:, j] = [_interpolated_ap(prec[t], rec[t]) for t in range(len(thr))]
            continue
        for t in range(len(thr)):
            tp_t = tp[t, a:b][~dropped[t, a:b]]
            if tp_t.size == 0:
                continue
            tp_cum = np.cumsum(tp_t).astype(np.float64)
            fp_cum = np.cumsum(~tp_t).astype(np.float64)
            ap[t, j] = _interpolated_ap(tp_cum / (tp_cum + fp_cum), tp_cum / float(num_pos[c]))
    m_ap = ap.mean(axis=1)
    return dict(mAP=m_ap, average_mAP=float(m_ap.mean()),
                per_class={names[c]: ap[:, j] for j, c in enumerate(with_gt)},
                tiou_thresholds=thr)
