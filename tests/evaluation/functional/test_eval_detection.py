"""eval_detection: hand-computed AP values and equality with mmaction2's reference."""
import json

import numpy as np
import pytest
from mmaction.evaluation.functional import ActivityNetLocalization

from mmtad_ext.evaluation.functional import eval_detection


def _gt(videos):
    return {'database': {v: dict(subset='validation', duration=100.0,
                                 annotations=[dict(label=lab, segment=seg) for lab, seg in anns])
                         for v, anns in videos.items()}}


def _pred(videos):
    return {'results': {v: [dict(label=lab, score=s, segment=seg) for lab, s, seg in ps]
                        for v, ps in videos.items()}}


def _reference(tmp_path, gt, pred, thr):
    """mmaction2's evaluator (it strips 2 characters of the GT video ids: prefix 'v_')."""
    g, p = tmp_path / 'gt.json', tmp_path / 'pred.json'
    g.write_text(json.dumps({'v_' + k: v for k, v in gt['database'].items()}))
    p.write_text(json.dumps(pred))
    ev = ActivityNetLocalization(str(g), str(p), tiou_thresholds=np.asarray(thr))
    m_ap, avg = ev.evaluate()
    return m_ap, avg, {c: ev.ap[:, i] for c, i in ev.activity_index.items()}


def test_duplicate_detection_is_false_positive():
    gt = _gt({'v1': [('A', [0, 10]), ('A', [20, 30])]})
    pred = _pred({'v1': [('A', .9, [0, 10]), ('A', .8, [1, 10]), ('A', .7, [20, 29])]})
    out = eval_detection(gt, pred, [0.5])
    # tp=[1,0,1]: precision [1, .5, 2/3], recall [.5, .5, 1] -> .5 * 1 + .5 * 2/3
    np.testing.assert_allclose(out['mAP'], [0.5 + 0.5 * 2 / 3])
    assert out['average_mAP'] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert list(out['per_class']) == ['A']


@pytest.mark.parametrize('tp_first,expected', [(True, 1.0), (False, 0.5)])
def test_score_ties_keep_submission_order(tmp_path, tp_first, expected):
    gt = _gt({'v1': [('A', [0, 10])]})
    preds = [('A', .5, [0, 10]), ('A', .5, [50, 60])]
    pred = _pred({'v1': preds if tp_first else preds[::-1]})
    out = eval_detection(gt, pred, [0.5])
    assert out['mAP'][0] == pytest.approx(expected)
    ref, _, _ = _reference(tmp_path, gt, pred, [0.5])
    assert out['mAP'][0] == ref[0]


def test_no_predictions_gives_zero():
    gt = _gt({'v1': [('A', [0, 10])], 'v2': [('B', [3, 4])]})
    out = eval_detection(gt, {'results': {}}, [0.5, 0.7])
    np.testing.assert_array_equal(out['mAP'], [0, 0])
    assert set(out['per_class']) == {'A', 'B'}


def test_class_without_gt_and_unknown_label_are_ignored():
    gt = _gt({'v1': [('A', [0, 10])]})
    base = [('A', .6, [0, 10])]
    extra = [('B', .9, [0, 10]), ('C', .95, [0, 10])]  # B: class without GT, C: unknown
    for preds in (base, extra + base):
        out = eval_detection(gt, _pred({'v1': preds}), [0.5], classes=['A', 'B'])
        assert list(out['per_class']) == ['A']  # B has no GT: not in the mean
        assert out['mAP'][0] == pytest.approx(1.0)


def test_multiple_thresholds():
    gt = _gt({'v1': [('A', [0, 10])]})
    pred = _pred({'v1': [('A', .9, [0, 8]), ('A', .8, [0, 10])]})  # tIoU .8 then 1.0
    out = eval_detection(gt, pred, [0.5, 0.75, 0.85])
    # <= .8: first is TP, second duplicate FP -> AP 1; .85: FP then TP -> AP .5
    np.testing.assert_allclose(out['mAP'], [1.0, 1.0, 0.5])
    assert out['average_mAP'] == pytest.approx(2.5 / 3)
    np.testing.assert_allclose(out['tiou_thresholds'], [0.5, 0.75, 0.85])


def test_tiou_is_rounded_to_float32_like_the_reference(tmp_path):
    # tIoU = 0.7 exactly in float64, float32(0.7) < 0.7: a miss at 0.7 in the reference
    gt = _gt({'v1': [('A', [0, 10])]})
    pred = _pred({'v1': [('A', .9, [0, 7])]})
    out = eval_detection(gt, pred, [0.6, 0.7])
    ref, _, _ = _reference(tmp_path, gt, pred, [0.6, 0.7])
    np.testing.assert_array_equal(out['mAP'], [1.0, 0.0])
    np.testing.assert_array_equal(out['mAP'], ref)


def test_prediction_in_video_without_gt_is_false_positive():
    gt = _gt({'v1': [('A', [0, 10])]})
    pred = _pred({'vX': [('A', .9, [0, 10])], 'v1': [('A', .8, [0, 10])]})
    assert eval_detection(gt, pred, [0.5])['mAP'][0] == pytest.approx(0.5)


def test_tied_tiou_between_gts_follows_reference(tmp_path):
    # pred1 has tIoU 9/11 with both GTs; the reference takes the later GT, so pred2 (tIoU 1
    # with GT1, 8/12 with GT2) is a TP at 0.7
    gt = _gt({'v1': [('A', [0, 10]), ('A', [2, 12])]})
    pred = _pred({'v1': [('A', .9, [1, 11]), ('A', .8, [0, 10])]})
    out = eval_detection(gt, pred, [0.5, 0.7])
    ref, _, _ = _reference(tmp_path, gt, pred, [0.5, 0.7])
    np.testing.assert_array_equal(out['mAP'], [1.0, 1.0])
    np.testing.assert_array_equal(out['mAP'], ref)


def test_ambiguous_segments_are_neither_tp_nor_fp():
    gt = _gt({'v1': [('A', [0, 10]), ('Ambiguous', [20, 30])]})
    # tIoU .6 with the Ambiguous segment: dropped at .5, a FP at .7
    pred = _pred({'v1': [('A', .9, [20, 26]), ('A', .8, [0, 10])]})
    out = eval_detection(gt, pred, [0.5, 0.7])
    np.testing.assert_allclose(out['mAP'], [1.0, 0.5])
    assert 'Ambiguous' not in out['per_class']
    # a prediction of another class overlapping Ambiguous is dropped as well
    gt2 = _gt({'v1': [('A', [0, 10]), ('B', [50, 60]), ('Ambiguous', [20, 30])]})
    pred2 = _pred({'v1': [('B', .9, [20, 30]), ('B', .8, [50, 60]), ('A', .5, [0, 10])]})
    np.testing.assert_allclose(eval_detection(gt2, pred2, [0.5])['mAP'], [1.0])
    # without ignore labels, Ambiguous is a class and the prediction is a FP
    out = eval_detection(gt, pred, [0.5], ignore_labels=())
    assert set(out['per_class']) == {'A', 'Ambiguous'}
    assert out['per_class']['A'][0] == pytest.approx(0.5)


def test_matched_prediction_overlapping_ambiguous_stays_tp():
    gt = _gt({'v1': [('A', [0, 10]), ('Ambiguous', [0, 10])]})
    pred = _pred({'v1': [('A', .9, [0, 10]), ('A', .8, [0, 10])]})
    # first: TP; second: duplicate overlapping Ambiguous -> dropped instead of FP
    np.testing.assert_allclose(eval_detection(gt, pred, [0.5])['mAP'], [1.0])


def _random_set(seed, n_pred, n_vid=40, n_cls=8):
    rng = np.random.default_rng(seed)
    classes = [f'c{i}' for i in range(n_cls)]
    gt, pred = {}, {}
    for v in range(n_vid):
        dur = float(rng.uniform(30, 200))
        anns = []
        for _ in range(rng.integers(1, 8)):
            s = rng.uniform(0, dur - 5)
            anns.append((classes[rng.integers(n_cls)], [s, min(dur, s + rng.uniform(2, 40))]))
        gt[f'vid{v}'] = anns
    for v, k in zip(gt, np.bincount(rng.integers(0, n_vid, n_pred), minlength=n_vid)):
        out = []
        for _ in range(k):
            lab, (s, e) = gt[v][rng.integers(len(gt[v]))]
            if rng.random() < 0.6:  # jittered GT, sometimes with a wrong label
                s, e = sorted([s + rng.normal(0, .15) * (e - s), e + rng.normal(0, .15) * (e - s)])
                lab = lab if rng.random() < 0.7 else classes[rng.integers(n_cls)]
            else:
                s = rng.uniform(0, 150)
                e, lab = s + rng.uniform(1, 40), classes[rng.integers(n_cls)]
            out.append((lab, round(float(rng.random()), 2), [float(s), float(e)]))  # score ties
        pred[v] = out
    return _gt(gt), _pred(pred)


@pytest.mark.parametrize('seed', [0, 1])
def test_equal_to_mmaction2_reference(tmp_path, seed):
    gt, pred = _random_set(seed, 3000)
    thr = np.linspace(0.5, 0.95, 10)
    out = eval_detection(gt, pred, thr)
    ref, ref_avg, ref_pc = _reference(tmp_path, gt, pred, thr)
    assert 0.05 < out['average_mAP'] < 0.95  # a non-trivial set
    np.testing.assert_allclose(out['mAP'], ref, rtol=0, atol=1e-12)
    assert out['average_mAP'] == pytest.approx(ref_avg, abs=1e-12)
    for c, ap in ref_pc.items():
        np.testing.assert_allclose(out['per_class'][c], ap, rtol=0, atol=1e-12)


def test_accepts_inner_dicts():
    gt, pred = _random_set(3, 300)
    a = eval_detection(gt, pred, [0.5])
    b = eval_detection(gt['database'], pred['results'], [0.5])
    np.testing.assert_array_equal(a['mAP'], b['mAP'])


@pytest.mark.parametrize('gt,pred,match', [
    ({'v1': {'duration': 5}}, {}, "video 'v1'.*annotations"),
    ({'v1': {'annotations': [{'label': 'A'}]}}, {}, "video 'v1'.*segment"),
    ({'v1': {'annotations': [{'label': 'A', 'segment': [5, 1]}]}}, {}, 'reversed'),
    ({'v1': {'annotations': [{'label': 'Z', 'segment': [0, 1]}]}}, {}, "'Z'.*classes"),
    ({'v1': {'annotations': [{'label': 'A', 'segment': [0, 1]}]}},
     {'v2': [{'label': 'A', 'segment': [0, 1]}]}, "video 'v2'.*score"),
    ({'v1': {'annotations': [{'label': 'A', 'segment': [0, 1]}]}},
     {'v2': [{'label': 'A', 'score': 1, 'segment': [0, 1, 2]}]}, "video 'v2'.*segment"),
    ({'v1': {'annotations': [{'label': 'A', 'segment': [0, 1]}]}}, {'v2': {}}, "video 'v2'"),
])
def test_malformed_inputs_raise(gt, pred, match):
    with pytest.raises(ValueError, match=match):
        eval_detection(gt, pred, [0.5], classes=['A'])


def test_bad_thresholds_raise():
    with pytest.raises(ValueError, match='tiou_thresholds'):
        eval_detection({'v1': {'annotations': []}}, {}, [])


def test_many_exact_tiou_ties_equal_reference(tmp_path):
    # width-10 segments on an integer grid: many exact tIoU ties between different GTs, in
    # groups of 30 GTs (numpy's argsort tie order is then not simple), so the result depends on
    # reproducing the reference's tie order (a simple "higher index first" rule differs here)
    rng = np.random.default_rng(0)
    anns, preds = {}, {}
    for v in range(3):
        anns[f'v{v}'] = [('A', [int(s), int(s) + 10]) for s in rng.integers(0, 40, 30)]
        preds[f'v{v}'] = [('A', round(float(rng.random()), 2), [int(s), int(s) + 10])
                          for s in rng.integers(0, 40, 40)]
    gt, pred = _gt(anns), _pred(preds)
    thr = [0.5, 0.6, 0.7, 0.8]
    out = eval_detection(gt, pred, thr)
    ref, _, _ = _reference(tmp_path, gt, pred, thr)
    np.testing.assert_array_equal(out['mAP'], ref)
