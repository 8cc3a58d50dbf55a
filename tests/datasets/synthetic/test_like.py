"""Rehearsal data shaped like THUMOS14 / ActivityNet / Kinetics-400 (``like.py``)."""
import json
import os.path as osp
from fractions import Fraction

import numpy as np
import pytest

from mmtad_ext.datasets import TADDataset
from mmtad_ext.datasets.synthetic.class_names import (ACTIVITYNET_CLASSES, KINETICS400_CLASSES,
                                                      THUMOS14_CLASSES)
from mmtad_ext.datasets.synthetic.like import (ACTIVITYNET, THUMOS14, _activitynet_segments,
                                               _duration, _thumos_segments, generate_like_clips,
                                               generate_like_tad)
from mmtad_ext.datasets.transforms.video_transforms import probe_video


def test_class_lists():
    assert len(set(THUMOS14_CLASSES)) == 20 and len(set(ACTIVITYNET_CLASSES)) == 200
    assert len(set(KINETICS400_CLASSES)) == 400
    assert list(ACTIVITYNET_CLASSES) == sorted(ACTIVITYNET_CLASSES)


def test_statistics_look_like_the_real_datasets():
    rng = np.random.default_rng(0)
    thumos = [_duration(THUMOS14, rng, None) for _ in range(2000)]
    anet = [_duration(ACTIVITYNET, rng, None) for _ in range(2000)]
    assert 180 < np.mean(thumos) < 240 and max(thumos) <= 900  # 3-4 min, up to 15 min
    assert 100 < np.mean(anet) < 135  # about 2 min
    segs = [_thumos_segments(rng, 212.0, THUMOS14_CLASSES) for _ in range(300)]
    assert 11 < np.mean([len(s) for s in segs]) < 17  # ~15 instances per video
    lengths = [b - a for s in segs for a, b in (x['segment'] for x in s)]
    assert 3.5 < np.mean(lengths) < 5.5
    assert 0.03 < np.mean([x['label'] == 'Ambiguous' for s in segs for x in s]) < 0.15
    segs = [_activitynet_segments(rng, 120.0, ACTIVITYNET_CLASSES) for _ in range(500)]
    assert 1.3 < np.mean([len(s) for s in segs]) < 1.8
    assert all(len({x['label'] for x in s}) == 1 for s in segs)
    cover = [sum(b - a for a, b in (x['segment'] for x in s)) / 120 for s in segs]
    assert 0.4 < np.mean(cover) < 0.6


@pytest.mark.slow
def test_thumos_features_layout_and_dataset(tmp_path):
    root = str(tmp_path / 'thumos14')
    out = generate_like_tad(root, 'thumos14', 'feature', dict(training=2, validation=1),
                            max_duration=30, seed=3)
    with open(out['ann_file']) as f:
        db = json.load(f)['database']
    assert osp.basename(out['ann_file']) == 'thumos14.json'
    assert {v for v in db if db[v]['subset'] == 'training'} == {
        'video_validation_0000001', 'video_validation_0000002'}
    vid = 'video_test_0000001'
    feat = np.load(osp.join(root, 'features', 'i3d', vid + '.npy'))
    frames = int(db[vid]['duration'] * 30)
    assert feat.shape == ((frames - 16) // 4 + 1, 2048) and feat.dtype == np.float32
    ds = TADDataset(out['ann_file'], subset='validation', data_prefix=dict(
        feature=osp.join(root, 'features', 'i3d')), regime='sliding', temporal_dim=128,
                    snippet_duration=4 / 30, test_mode=True)
    assert ds.metainfo['classes'] == THUMOS14_CLASSES  # coverage entries complete the list
    with open(osp.join(root, 'annotations', 'video_class_scores.json')) as f:
        scores = json.load(f)
    assert set(scores) == {v for v in db if db[v]['subset'] != 'testing'}
    assert all(len(s) == 20 for s in scores.values())


@pytest.mark.slow
def test_activitynet_video_layout(tmp_path):
    root = str(tmp_path / 'activitynet')
    out = generate_like_tad(root, 'activitynet', 'video', dict(training=1, validation=1),
                            max_duration=4, size=32, seed=1)
    with open(out['ann_file']) as f:
        db = json.load(f)['database']
    with open(osp.join(root, 'annotations', 'blocked.json')) as f:
        blocked = json.load(f)
    assert len(blocked) == 1 and db[blocked[0]]['subset'] == 'validation'
    assert not osp.exists(osp.join(root, 'videos', blocked[0] + '.mp4'))
    for vid, info in db.items():
        if info['subset'] == 'testing' or vid in blocked:
            continue
        assert len(vid) == 11
        meta = probe_video(osp.join(root, 'videos', vid + '.mp4'))
        assert (meta['height'], meta['width']) == (32, 32)
        assert abs(meta['fps'] - info['fps']) < 0.01
        assert abs(meta['num_frames'] / meta['fps'] - info['duration']) < 0.05
    assert len({s['label'] for v in db.values() for s in v['annotations']}) == 200


def test_kinetics_lists(tmp_path):
    out = generate_like_clips(str(tmp_path), num_videos=dict(train=2, val=1), max_duration=2,
                              size=32)
    lines = open(out['lists']['train']).read().split('\n')[:-1]
    assert len(lines) == 2
    name, label = lines[0].split()
    assert 0 <= int(label) < 400 and name.endswith('.mp4')
    assert probe_video(str(tmp_path / 'videos_train' / name))['num_frames'] in (50, 60)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='like must be one of'):
        generate_like_tad(str(tmp_path), 'hacs')
    with pytest.raises(ValueError, match='per subset'):
        generate_like_tad(str(tmp_path), 'thumos14', num_videos=dict(train=1))
    with pytest.raises(ValueError, match="'kinetics400'"):
        generate_like_clips(str(tmp_path), like='ucf101')
    assert isinstance(ACTIVITYNET.fps[2], Fraction)
