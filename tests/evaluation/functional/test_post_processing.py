"""merge_video_detections: window merging, clipping, NMS, top-k class fusion."""
import numpy as np
import pytest
import torch

from mmtad_ext.evaluation.functional import merge_video_detections

HARD = dict(type='nms', iou_threshold=0.5)


def _windows():
    return [dict(segments=torch.tensor([[0., 10.], [50., 70.]]), scores=torch.tensor([.9, .6]),
                 class_scores=torch.tensor([.2, .7, .1])),
            dict(segments=np.array([[1., 10.], [95., 120.], [110., 120.]]),
                 scores=np.array([.8, .5, .99]), class_scores=np.array([.4, .5, .1]))]


def test_windows_merge_clip_nms_and_topk_fusion():
    out = merge_video_detections(_windows(), 3, HARD, topk_classes=2, duration=100.0)
    # [1,10] suppressed by [0,10]; [95,120] clipped to [95,100]; [110,120] empty after clip
    # mean class scores [.3, .6, .1] -> top-2 classes 1 then 0
    np.testing.assert_allclose(out['scores'], [.54, .36, .30, .27, .18, .15])
    assert out['labels'].tolist() == [1, 1, 1, 0, 0, 0]
    np.testing.assert_allclose(out['segments'],
                               [[0, 10], [50, 70], [95, 100], [0, 10], [50, 70], [95, 100]])
    assert out['num_empty'] == 1


def test_external_class_scores_and_max_per_video():
    out = merge_video_detections(_windows(), 3, HARD, max_per_video=2, topk_classes=1,
                                 class_scores=[0.0, 0.0, 1.0], duration=100.0)
    assert out['labels'].tolist() == [2, 2]
    np.testing.assert_allclose(out['scores'], [.9, .6])


def test_soft_nms_cfg_and_no_nms():
    w = [dict(segments=[[0., 10.], [0., 5.]], scores=[.9, .8], class_scores=[1.0])]
    soft = merge_video_detections(w, 1, dict(type='soft', sigma=0.5, min_score=0.0))
    np.testing.assert_allclose(soft['scores'], [.9, .8 * np.exp(-.5)])
    plain = merge_video_detections(w, 1, None)
    np.testing.assert_allclose(plain['scores'], [.9, .8])


def test_class_aware_predictions_use_per_class_nms_without_fusion():
    w = [dict(segments=[[0., 10.], [0., 10.], [0., 10.], [30., 40.]],
              scores=[.9, .8, .7, .6], labels=[0, 0, 1, 0], class_scores=None)]
    out = merge_video_detections(w, 2, HARD, max_per_video=2)
    assert out['labels'].tolist() == [0, 1]
    np.testing.assert_allclose(out['scores'], [.9, .7])


@pytest.mark.parametrize('samples,kwargs,match', [
    ([dict(segments=[[0., 1.]], scores=[1.])], {}, 'class scores'),
    ([dict(segments=[[0., 1.]], scores=[1.], class_scores=[1., 0.])], {}, 'num_classes'),
    ([dict(segments=[[0., 1.]], scores=[1.], labels=[5])], {}, 'labels'),
    ([dict(segments=[[0., 1.]], scores=[1., 2.], class_scores=[1.])], {}, 'length'),
    ([], {}, 'no samples'),
    ([dict(segments=[[0., 1.]], scores=[1.], class_scores=[1.])],
     dict(nms_cfg=dict(type='soft', bogus=1)), 'nms_cfg'),
])
def test_errors(samples, kwargs, match):
    kwargs = dict(dict(nms_cfg=HARD), **kwargs)
    with pytest.raises(ValueError, match=match):
        merge_video_detections(samples, 1, **kwargs)


def test_segment_voting_and_merge_with_voting():
    from mmtad_ext.evaluation.functional import merge_video_detections, segment_voting
    segs = torch.tensor([[0.0, 10.0], [1.0, 11.0], [50.0, 60.0]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.3, 0.5], dtype=torch.float64)
    # tIoU([0,10],[1,11]) = 9/11 >= 0.7: the first kept segment is their score-weighted mean
    out = segment_voting(segs[[0, 2]], segs, scores, 0.7)
    assert torch.allclose(out, torch.tensor([[0.25, 10.25], [50.0, 60.0]], dtype=torch.float64))
    sample = dict(segments=segs.numpy(), scores=scores.numpy(), labels=np.array([1, 1, 0]))
    det = merge_video_detections([sample], 2, dict(type='nms', iou_threshold=0.5,
                                                   voting_thresh=0.7), max_per_video=10)
    assert det['labels'].tolist() == [1, 0]
    assert np.allclose(det['segments'], [[0.25, 10.25], [50.0, 60.0]])
    plain = merge_video_detections([sample], 2, dict(type='nms', iou_threshold=0.5), 10)
    assert np.allclose(plain['segments'], [[0.0, 10.0], [50.0, 60.0]])
