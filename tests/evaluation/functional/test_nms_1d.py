"""1D NMS / Soft-NMS on hand cases."""
import math

import pytest
import torch

from mmtad_ext.evaluation.functional import batched_nms_1d, nms_1d, soft_nms_1d


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_zero_length_segments_are_finite_points():
    # a point overlaps nothing longer (tIoU ~0) and duplicates an identical point (tIoU 1)
    keep, scores = soft_nms_1d(_t([[3, 3], [3, 3], [0, 10]]), _t([.9, .8, .7]), min_score=0.0)
    assert keep.tolist() == [0, 2, 1] and torch.isfinite(scores).all()
    torch.testing.assert_close(scores, _t([.9, .7, .8 * math.exp(-2)]), rtol=1e-6, atol=1e-6)


def test_nms_1d_suppresses_above_threshold_only():
    segs = _t([[0, 10], [1, 10], [20, 30], [0, 9]])
    keep = nms_1d(segs, _t([.9, .8, .7, .95]), 0.5)
    assert keep.tolist() == [3, 2]  # [0,10] (tIoU .9) and [1,10] (tIoU .8) suppressed by [0,9]
    # tIoU exactly at the threshold is kept (mmcv convention: suppress if > threshold)
    assert nms_1d(_t([[0, 10], [5, 10]]), _t([.9, .8]), 0.5).tolist() == [0, 1]
    assert nms_1d(segs, _t([.9, .8, .7, .95]), 0.5, max_num=1).tolist() == [3]
    assert nms_1d(_t([[0, 1]])[:0], _t([])[:0], 0.5).numel() == 0


def test_batched_nms_1d_is_class_aware():
    segs = _t([[0, 10], [0, 10], [0, 10], [1, 10]])
    keep = batched_nms_1d(segs, _t([.9, .8, .7, .85]), torch.tensor([0, 1, 1, 0]), 0.5)
    assert keep.tolist() == [0, 1]  # one per class, by score
    keep = batched_nms_1d(segs, _t([.9, .8, .7, .85]), torch.tensor([0, 1, 2, 3]), 0.5,
                          max_num=3)
    assert keep.tolist() == [0, 3, 1]


def test_soft_nms_gaussian():
    segs = _t([[0, 10], [0, 5], [20, 30]])
    keep, scores = soft_nms_1d(segs, _t([.9, .8, .7]), sigma=0.5, min_score=0.0)
    # [0,5] has tIoU .5 with [0,10]: .8 * exp(-.25 / .5); [20,30] does not overlap
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(scores, _t([.9, .7, .8 * math.exp(-0.5)]), rtol=1e-6, atol=1e-7)
    keep, _ = soft_nms_1d(segs, _t([.9, .8, .7]), sigma=0.5, min_score=0.5)
    assert keep.tolist() == [0, 2]  # .485 < min_score
    assert soft_nms_1d(segs, _t([.9, .8, .7]), max_num=1)[0].tolist() == [0]


def test_soft_nms_decay_can_reorder():
    segs = _t([[0, 10], [0, 9], [50, 60]])
    keep, scores = soft_nms_1d(segs, _t([.9, .85, .5]), sigma=0.5, min_score=0.0)
    # [0,9]: .85 * exp(-.81 / .5) = .168 falls below the non-overlapping .5
    assert keep.tolist() == [0, 2, 1]
    assert scores[2].item() == pytest.approx(.85 * math.exp(-0.81 / 0.5), rel=1e-5)


def test_soft_nms_linear_with_threshold():
    segs = _t([[0, 10], [0, 5], [0, 2]])  # tIoU with [0,10]: .5 and .2
    keep, scores = soft_nms_1d(segs, _t([.9, .8, .7]), iou_threshold=0.3, min_score=0.0,
                               method='linear')
    assert keep.tolist() == [0, 2, 1]
    # [0,5] decays to .8 * .5 by [0,10] ([0,2]: tIoU .2, untouched); after [0,2] is kept,
    # [0,5] (tIoU .4 > .3 with it) decays again: .4 * .6
    torch.testing.assert_close(scores, _t([.9, .7, .24]), rtol=1e-6, atol=1e-7)
    assert keep.device == segs.device and scores.dtype == torch.float64


@pytest.mark.parametrize('kwargs', [dict(method='hard'), dict(sigma=0.0)])
def test_soft_nms_bad_args(kwargs):
    with pytest.raises(ValueError):
        soft_nms_1d(_t([[0, 1]]), _t([1.0]), **kwargs)


def test_shape_check():
    with pytest.raises(ValueError, match=r'\(N, 2\)'):
        nms_1d(_t([0, 1]), _t([1.0]), 0.5)
    with pytest.raises(ValueError, match='scores'):
        nms_1d(_t([[0, 1]]), _t([1.0, 2.0]), 0.5)


def test_soft_nms_skips_segments_that_start_below_min_score():
    keep, _ = soft_nms_1d(_t([[0, 1], [5, 6]]), _t([.9, 1e-4]), min_score=1e-3)
    assert keep.tolist() == [0]


def test_nms_1d_agrees_with_mmcv_on_unit_height_boxes():
    from mmcv.ops import nms as mmcv_nms
    g = torch.Generator().manual_seed(0)
    start = torch.rand(300, generator=g) * 100
    segs = torch.stack([start, start + 1 + torch.rand(300, generator=g) * 20], 1)  # (N, 2)
    scores = torch.rand(300, generator=g)
    boxes = torch.stack([segs[:, 0], torch.zeros(300), segs[:, 1], torch.ones(300)], 1)
    _, ref = mmcv_nms(boxes, scores, 0.4, offset=0)  # [s, 0, e, 1]: area = length
    keep = nms_1d(segs.double(), scores.double(), 0.4)
    assert 20 < len(keep) < 300
    assert keep.tolist() == ref.tolist()


@pytest.mark.parametrize('method,scale', [('gaussian', 1.0), ('gaussian', 0.01),
                                          ('linear', 1.0)])
@pytest.mark.parametrize('max_num', [1, 100])
def test_soft_nms_max_num_equals_the_full_run_truncated(monkeypatch, method, scale, max_num):
    """With max_num, soft_nms_1d first runs on the best-scored candidates (mmcv's op is
    quadratic); the picks must be those of the run on every candidate. ``scale=0.01``
    clusters the scores (a long video's windows with random weights) so that the first subset
    cannot decide and the subset must grow."""
    import mmtad_ext.evaluation.functional.nms as nms_mod
    monkeypatch.setattr(nms_mod, '_PREFIX_MIN', 16)  # exercise the growth on a small input
    calls = []
    real = nms_mod.mmcv_soft_nms
    monkeypatch.setattr(nms_mod, 'mmcv_soft_nms',
                        lambda boxes, *a, **k: calls.append(len(boxes)) or real(boxes, *a, **k))
    g = torch.Generator().manual_seed(1)
    n = 3000
    start = torch.rand(n, generator=g, dtype=torch.float64) * 600
    segs = torch.stack([start, start + 0.5 + torch.rand(n, generator=g) * 30], 1)
    scores = 0.5 + scale * torch.rand(n, generator=g, dtype=torch.float64)
    kw = dict(sigma=0.35, iou_threshold=0.1, min_score=1e-3, method=method)
    keep, kept_scores = soft_nms_1d(segs, scores, max_num=max_num, **kw)
    subset_sizes = list(calls)
    full_keep, full_scores = soft_nms_1d(segs, scores, max_num=None, **kw)
    assert calls[-1] == n  # the reference ran on every candidate
    assert keep.tolist() == full_keep[:max_num].tolist()
    assert torch.equal(kept_scores, full_scores[:max_num])
    assert subset_sizes[0] < n  # the subset path was taken
    if scale < 1 and max_num == 100:
        assert len(subset_sizes) > 1  # clustered scores: the first subset could not decide
