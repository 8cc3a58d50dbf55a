"""TADMetric end to end on fake data samples."""
import json

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from mmtad_ext.evaluation import TADMetric
from mmtad_ext.registry import METRICS

META = dict(classes=('A', 'B'), ground_truth={
    'v1': dict(subset='validation', duration=60.0,
               annotations=[dict(label='A', segment=[0.0, 10.0]),
                            dict(label='Ambiguous', segment=[30.0, 40.0])]),
    'v2': dict(subset='validation', duration=50.0,
               annotations=[dict(label='B', segment=[5.0, 15.0])]),
    'v3': dict(subset='validation', duration=40.0,  # no prediction: its GT is a miss
               annotations=[dict(label='A', segment=[0.0, 20.0])]),
})


def _sample(vid, duration, segs, scores, cls=None, window_start=0.0, as_dict=False):
    ds = ActionDataSample()
    ds.set_metainfo(dict(video_name=vid, duration=duration, window_start=window_start))
    ds.pred_instances = InstanceData(segments=torch.tensor(segs), scores=torch.tensor(scores))
    if cls is not None:
        ds.pred_class_scores = torch.tensor(cls)
    return ds.to_dict() if as_dict else ds


def _samples():
    return [
        # two windows of v1; [30,40] overlaps Ambiguous: neither TP nor FP
        _sample('v1', 60.0, [[0.0, 10.0]], [1.0], [0.9, 0.1]),
        _sample('v1', 60.0, [[30.0, 40.0], [55.0, 70.0]], [0.95, 0.01], [0.9, 0.1],
                window_start=30.0, as_dict=True),
        _sample('v2', 50.0, [[5.0, 15.0]], [0.5], [0.2, 0.8]),
    ]


def test_end_to_end_with_dump(tmp_path):
    dump = tmp_path / 'out' / 'submission.json'
    metric = METRICS.build(dict(type='TADMetric', tiou_thresholds=[0.5, 0.7], topk_classes=1,
                                nms_cfg=dict(type='nms', iou_threshold=0.5), dump=str(dump)))
    assert isinstance(metric, TADMetric)
    metric.dataset_meta = META
    metric.process({}, _samples())
    res = metric.evaluate(size=3)
    # A: GT in v1 and v3, one TP (v1) -> AP .5 (the Ambiguous overlap is dropped); B: AP 1
    assert res == pytest.approx({'tad/mAP@0.5': 75.0, 'tad/mAP@0.7': 75.0,
                                 'tad/average_mAP': 75.0})
    sub = json.loads(dump.read_text())
    assert set(sub['results']) == {'v1', 'v2'}
    v1 = sub['results']['v1']
    assert [d['label'] for d in v1] == ['A', 'A', 'A']
    np.testing.assert_allclose([d['score'] for d in v1], [1.0 * 0.9, 0.95 * 0.9, 0.01 * 0.9],
                               rtol=1e-6)
    assert v1[2]['segment'] == [55.0, 60.0]  # clipped to the duration
    assert sub['results']['v2'][0]['label'] == 'B'


def test_topk_fusion_and_external_class_scores(tmp_path):
    scores = tmp_path / 'cls.json'
    # the external classifier says v1 is B: the v1 prediction becomes a FP of B
    scores.write_text(json.dumps({'v1': [0.0, 1.0], 'v2': [0.0, 1.0]}))
    metric = TADMetric(tiou_thresholds='thumos', topk_classes=1, class_score_file=str(scores))
    metric.dataset_meta = META
    metric.process({}, _samples())
    res = metric.evaluate(size=3)
    # A: no prediction -> 0; B: v1 [0,10] (score 1.0) FP ranks before the v2 TP -> AP .5
    assert list(res) == [f'tad/mAP@{t}' for t in (0.3, 0.4, 0.5, 0.6, 0.7)] + [
        'tad/average_mAP']
    assert res['tad/average_mAP'] == pytest.approx(25.0)


def test_default_thresholds_and_picklable_results():
    import pickle
    metric = TADMetric()
    np.testing.assert_allclose(metric.tiou_thresholds, np.linspace(0.5, 0.95, 10))
    metric.process({}, _samples())
    restored = pickle.loads(pickle.dumps(metric.results))
    assert isinstance(restored[0]['segments'], np.ndarray)
    assert restored[0]['segments'].dtype == np.float64


@pytest.mark.parametrize('kwargs,exc', [
    (dict(tiou_thresholds='coco'), ValueError),
    (dict(tiou_thresholds=[0.0, 0.5]), ValueError),
    (dict(max_per_video=0), ValueError),
    (dict(class_score_file='/nonexistent/cls.json'), FileNotFoundError),
])
def test_bad_args(kwargs, exc):
    with pytest.raises(exc):
        TADMetric(**kwargs)


def test_missing_fields_raise():
    metric = TADMetric()
    with pytest.raises(ValueError, match='video_name'):
        metric.process({}, [dict(pred_instances=dict(segments=[], scores=[]))])
    metric.process({}, _samples())
    metric.dataset_meta = dict(classes=('A', 'B'))
    with pytest.raises(ValueError, match='ground_truth'):
        metric.compute_metrics(metric.results)
