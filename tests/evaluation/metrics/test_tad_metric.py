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


def _anet_metric_ar(proposals, tmp_path):
    """AR@AN of mmaction2's own ``ANetMetric`` on ``{vid: [(start, end, score)]}`` and META."""
    from mmaction.evaluation import ANetMetric
    metric = ANetMetric(metric_type='AR@AN',
                        dump_config=dict(out=str(tmp_path / 'anet.json'), output_format='json'))
    data_samples = []
    for vid, info in META['ground_truth'].items():
        ds = ActionDataSample()
        ds.set_metainfo(dict(video_name='v_' + vid, annotations=[
            a for a in info['annotations'] if a['label'] != 'Ambiguous']))
        data_samples.append(ds)
    preds = [dict(video_name='v_' + vid, proposal_list=[
        dict(segment=[a, b], score=s) for a, b, s in proposals.get(vid, [])]) for vid in META[
            'ground_truth']]
    metric.process(dict(data_samples=data_samples), preds)
    return metric.compute_metrics(metric.results)


def test_ar_at_an_equals_mmaction2(tmp_path):
    dump = tmp_path / 'proposals.json'
    metric = TADMetric(metric_type='AR@AN', nms_cfg=None, dump=str(dump))
    metric.dataset_meta = META
    # v3 gets a proposal too: mmaction2's ANetMetric cannot take a GT video without one
    metric.process({}, _samples() + [_sample('v3', 40.0, [[30.0, 35.0]], [0.3])])
    res = metric.evaluate(size=4)
    assert list(res) == ['tad/auc', 'tad/AR@1', 'tad/AR@5', 'tad/AR@10', 'tad/AR@100']
    # merged class-agnostic proposals: v1 [0,10] 1.0, [30,40] .95, [55,60] .01 (clipped);
    # v2 [5,15] .5; v3 [30,35] .3 (a miss). 5 proposals for 3 GT videos: AN = k uses
    # int(P_v * 0.6k) proposals per video, so AN 1 retrieves the top one of v1 (a hit) only;
    # AN >= 5 retrieves all of them (v1 and v2 hit, v3 misses) at every threshold.
    assert res['tad/AR@1'] == pytest.approx(1 / 3)
    for k in (5, 10, 100):
        assert res[f'tad/AR@{k}'] == pytest.approx(2 / 3)
    props = {v: [(p['segment'][0], p['segment'][1], p['score']) for p in lst]
             for v, lst in json.loads(dump.read_text())['results'].items()}
    assert sorted(props) == ['v1', 'v2', 'v3']
    np.testing.assert_allclose(props['v1'], [(0, 10, 1.0), (30, 40, 0.95), (55, 60, 0.01)],
                               rtol=1e-6)
    np.testing.assert_allclose(props['v2'], [(5, 15, 0.5)])
    np.testing.assert_allclose(props['v3'], [(30, 35, 0.3)], rtol=1e-6)
    ref = _anet_metric_ar(props, tmp_path)
    assert set(ref) == {'auc', 'AR@1', 'AR@5', 'AR@10', 'AR@100'}
    for key, value in ref.items():
        assert res[f'tad/{key}'] == pytest.approx(float(value), abs=1e-12)


def test_ar_at_an_soft_nms_matches_mmaction2_on_the_kept_proposals(tmp_path):
    # default Soft-NMS decays the overlapping v3 proposal; the AR is mmaction2's on what is
    # kept; v2 has no prediction (an empty proposal array for the functional)
    samples = _samples()[:2] + [_sample('v3', 40.0, [[0.0, 18.0], [1.0, 19.0], [25.0, 30.0]],
                                        [0.9, 0.8, 0.7])]
    metric = TADMetric(metric_type='AR@AN', tiou_thresholds='thumos')
    metric.dataset_meta = META
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    props = metric.build_proposals(metric.results)
    assert sorted(props) == ['v1', 'v3'] and props['v3'][1, 2] < 0.8  # [1, 19] decayed
    props['v2'] = np.zeros((0, 3))
    from mmaction.evaluation.functional import average_recall_at_avg_proposals
    gt = {v: np.array([a['segment'] + [0] for a in info['annotations']
                       if a['label'] != 'Ambiguous']) for v, info in META['ground_truth'].items()}
    recall, _, _, auc = average_recall_at_avg_proposals(
        gt, props, sum(map(len, props.values())),
        max_avg_proposals=100, temporal_iou_thresholds=np.array([0.3, 0.4, 0.5, 0.6, 0.7]))
    assert res['auc'] == pytest.approx(auc)
    for k in (1, 5, 10, 100):
        assert res[f'AR@{k}'] == pytest.approx(recall[:, k - 1].mean())
    # v1 and v3 hit from the first proposal on; v2 (no proposal) is missed
    assert res['AR@1'] == pytest.approx(2 / 3) and res['AR@100'] == pytest.approx(2 / 3)


def test_ar_at_an_without_proposals_and_bad_type():
    metric = TADMetric(metric_type='AR@AN')
    metric.dataset_meta = META
    metric.process({}, [_sample('other', 10.0, [[0.0, 1.0]], [0.5])])  # not a GT video
    assert metric.compute_metrics(metric.results) == {
        'auc': 0.0, 'AR@1': 0.0, 'AR@5': 0.0, 'AR@10': 0.0, 'AR@100': 0.0}
    with pytest.raises(ValueError, match="metric_type must be one of .*'AR@an'"):
        TADMetric(metric_type='AR@an')
