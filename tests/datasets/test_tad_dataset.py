import json
import os.path as osp

import numpy as np
import pytest
import torch

from mmtad_ext.datasets import TADDataset
from mmtad_ext.datasets.feature_io import load_feature_file
from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad

PIPELINE = [dict(type='LoadTADFeatures', in_channels=4), dict(type='ResizeTADFeatures',
                                                              temporal_dim=16),
            dict(type='PackTADInputs')]


def _infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def _write(tmp_path, database, feats):
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=database)))
    fdir = tmp_path / 'feat'
    fdir.mkdir(exist_ok=True)
    for vid, arr in feats.items():
        np.save(fdir / f'{vid}.npy', arr)
    return str(ann), str(fdir)


def _db():
    return {
        'v1': dict(subset='training', duration=20.0, annotations=[
            dict(label='jump', segment=[2.0, 6.0]), dict(label='Ambiguous', segment=[8., 9.]),
            dict(label='run', segment=[10.0, 19.0])]),
        'v2': dict(subset='validation', duration=10.0, annotations=[
            dict(label='run', segment=[1.0, 3.0])]),
        'v3': dict(subset='training', duration=10.0, annotations=[
            dict(label='jump', segment=[0.0, 4.0])]),
    }


def _feats(n=40):
    rng = np.random.default_rng(0)
    return {v: rng.standard_normal((n, 4)).astype(np.float32) for v in ('v1', 'v2', 'v3')}


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_resize_regime_targets_classes_and_ground_truth(tmp_path):
    ann, fdir = _write(tmp_path, _db(), _feats())
    ds = TADDataset(ann, subset='train', data_prefix=dict(feature=fdir), pipeline=PIPELINE,
                    blocked_videos=['v3'], temporal_dim=16)
    assert ds.metainfo['classes'] == ('jump', 'run')  # Ambiguous is never a class
    assert len(ds) == 1  # v3 blocked, v2 other subset
    assert set(ds.metainfo['ground_truth']) == {'v1'}
    assert len(ds.metainfo['ground_truth']['v1']['annotations']) == 3  # Ambiguous kept for eval
    item = ds[0]
    assert item['inputs'].shape == (4, 16)
    gt = item['data_samples'].gt_instances
    assert torch.allclose(gt.segments, torch.tensor([[0.1, 0.3], [0.5, 0.95]]))
    assert gt.labels.tolist() == [0, 1]
    assert item['data_samples'].metainfo['window_duration'] == 20.0


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_sliding_regime_windows(tmp_path):
    ann, fdir = _write(tmp_path, _db(), _feats(40))  # 40 snippets of 0.5 s for v1
    ds = TADDataset(ann, subset='training', data_prefix=dict(feature=fdir), regime='sliding',
                    temporal_dim=16, window_stride=8, pipeline=[], test_mode=True)
    v1 = [d for d in _infos(ds) if d['video_name'] == 'v1']
    assert [d['window_start_snippet'] for d in v1] == [0, 8, 16, 24]  # tail covered
    w = v1[1]  # snippets 8..24 = 4 s .. 12 s
    assert w['window_start'] == pytest.approx(4.0) and w['window_duration'] == pytest.approx(8.)
    # jump [2, 6] has half inside -> kept; run [10, 19] only 2/9 inside -> dropped
    np.testing.assert_allclose(w['gt_segments'], [[0.0, 0.25]])
    train = TADDataset(ann, subset='training', data_prefix=dict(feature=fdir),
                       regime='sliding', temporal_dim=16, window_stride=8, pipeline=[])
    assert all(len(d['gt_labels']) for d in _infos(train))  # empty windows dropped
    item = TADDataset(ann, subset='training', data_prefix=dict(feature=fdir), regime='sliding',
                      temporal_dim=16, window_stride=8, test_mode=True, pipeline=[
                          dict(type='LoadTADFeatures'),
                          dict(type='SlidingWindowTADFeatures', window_size=16),
                          dict(type='PackTADInputs')])[3]
    assert item['inputs'].shape == (4, 16)


def test_full_regime_random_truncation_of_features(tmp_path):
    """regime='full' + RandomTruncTAD on features (OpenTAD's RandomTrunc): v1's 40 snippets cut
    to 36..40 (crop ratio 0.9-1.0 of a video shorter than the 64-snippet window), zero past the
    cut, the kept actions unchanged in seconds."""
    ann, fdir = _write(tmp_path, _db(), _feats(40))  # 40 snippets of 0.5 s for v1
    ds = TADDataset(ann, subset='training', data_prefix=dict(feature=fdir), regime='full',
                    temporal_dim=64, pipeline=[
                        dict(type='LoadTADFeatures'),
                        dict(type='RandomTruncTAD', trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
                        dict(type='SlidingWindowTADFeatures', window_size=64),
                        dict(type='PackTADInputs')])
    feats = _feats(40)['v1'].T
    for seed in range(5):
        np.random.seed(seed)
        item = ds[[d['video_name'] for d in _infos(ds)].index('v1')]
        meta, gt = item['data_samples'].metainfo, item['data_samples'].gt_instances
        n, st = meta['valid_length'], round(meta['window_start'] / 0.5)
        assert 36 <= n <= 40 and item['inputs'].shape == (4, 64)
        assert torch.equal(item['inputs'][:, :n], torch.from_numpy(feats[:, st:st + n]))
        assert not item['inputs'][:, n:].any()
        secs = gt.segments.numpy() * meta['window_duration'] + meta['window_start']
        full = np.array([[2.0, 6.0], [10.0, 19.0]])[gt.labels.numpy()]
        np.testing.assert_allclose(secs, full.clip(meta['window_start'],
                                                   meta['window_start'] + n * 0.5), atol=1e-5)


def test_feature_formats_are_equivalent(tmp_path):
    info = generate_synthetic_tad(str(tmp_path / 'npy'), num_train=2, num_val=1, feat_dim=8,
                                  min_snippets=20, max_snippets=30, seed=5)
    for ext in ('.pt', '.csv'):
        other = generate_synthetic_tad(str(tmp_path / ext[1:]), num_train=2, num_val=1,
                                       feat_dim=8, min_snippets=20, max_snippets=30, seed=5,
                                       feature_ext=ext)
        for vid in ('video_0000', 'video_0002'):
            a = load_feature_file(osp.join(info['feature_dir'], vid + '.npy'))
            b = load_feature_file(osp.join(other['feature_dir'], vid + ext))
            np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_missing_feature_file_error_and_skip(tmp_path, caplog):
    feats = _feats()
    del feats['v1']
    ann, fdir = _write(tmp_path, _db(), feats)
    with pytest.raises(FileNotFoundError, match=r"video 'v1'.*v1\.npy"):
        TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[])
    ds = TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[], skip_invalid=True)
    assert [d['video_name'] for d in _infos(ds)] == ['v3']


@pytest.mark.slow  # over 1 s
def test_misshaped_and_corrupt_feature_files(tmp_path):
    feats = _feats()
    feats['v1'] = np.zeros(10, dtype=np.float32)  # 1D
    ann, fdir = _write(tmp_path, _db(), feats)
    ds = TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=PIPELINE)
    with pytest.raises(ValueError, match=r"video 'v1'.*v1\.npy.*\(T, C\)"):
        ds[0]
    with pytest.raises(ValueError, match=r"v1\.npy.*\(T, C\)"):
        TADDataset(ann, data_prefix=dict(feature=fdir), regime='sliding', pipeline=[])
    (tmp_path / 'feat' / 'v3.npy').write_bytes(b'not a numpy file')
    with pytest.raises(ValueError, match=r"video 'v3'.*cannot read"):
        TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=PIPELINE)[1]
    feats = _feats()
    ann, fdir = _write(tmp_path, _db(), feats)
    wrong = [dict(type='LoadTADFeatures', in_channels=7)] + PIPELINE[1:]
    with pytest.raises(ValueError, match=r"video 'v1'.*4 channels.*in_channels=7"):
        TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=wrong)[0]


@pytest.mark.parametrize('ann,match', [
    (dict(label='run', segment=[2.0, 30.0]), 'outside the video'),
    (dict(label='run', segment=[5.0, 2.0]), 'empty or reversed'),
    (dict(label='run', segment=[1.0]), 'must be two numbers'),
    (dict(label='swim', segment=[1.0, 2.0]), 'not in the class map'),
])
def test_malformed_annotations(tmp_path, ann, match):
    db = _db()
    db['v1']['annotations'].append(ann)
    path, fdir = _write(tmp_path, db, _feats())
    with pytest.raises(ValueError, match=rf"video 'v1'.*{match}"):
        TADDataset(path, data_prefix=dict(feature=fdir), class_map=['jump', 'run'], pipeline=[])


def test_bad_files_and_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match='annotation file not found'):
        TADDataset(str(tmp_path / 'none.json'), pipeline=[])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"database": ')
    with pytest.raises(ValueError, match='not valid JSON'):
        TADDataset(str(bad), pipeline=[])
    bad.write_text('{"results": {}}')
    with pytest.raises(ValueError, match='no "database"'):
        TADDataset(str(bad), pipeline=[])
    ann, fdir = _write(tmp_path, _db(), _feats())
    with pytest.raises(ValueError, match='regime'):
        TADDataset(ann, regime='crop', pipeline=[])
    with pytest.raises(ValueError, match='feature_ext'):
        TADDataset(ann, feature_ext='.h5', pipeline=[])
    db = _db()
    db['v1']['duration'] = -1
    ann, fdir = _write(tmp_path, db, _feats())
    with pytest.raises(ValueError, match=r"video 'v1'.*duration"):
        TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[])


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('ext', ['.npy', '.pt', '.csv'])
def test_non_finite_features_raise_naming_the_file(tmp_path, bad, ext):
    feat = np.ones((5, 3), np.float32)
    feat[3, 1] = bad
    path = tmp_path / f'v{ext}'
    if ext == '.npy':
        np.save(path, feat)
    elif ext == '.pt':
        torch.save(torch.from_numpy(feat), path)
    else:
        np.savetxt(path, feat, delimiter=',')
    with pytest.raises(ValueError, match=rf'{path.name}.*1 non-finite value.*snippet 3'):
        load_feature_file(str(path))


def test_feature_subset_aliases_in_the_annotation_file_and_empty_dataset(tmp_path):
    db = _db()
    db['v2']['subset'] = 'val'
    ann, fdir = _write(tmp_path, db, _feats())
    ds = TADDataset(ann, subset='validation', data_prefix=dict(feature=fdir), temporal_dim=16)
    assert len(ds) == 1 and ds.metainfo['ground_truth']['v2']['subset'] == 'validation'
    with pytest.raises(ValueError, match=r"no sample.*'testing'.*0 video\(s\) in the subset"):
        TADDataset(ann, subset='testing', data_prefix=dict(feature=fdir))


def test_feature_snippets_centred_by_frame_with_each_video_fps(tmp_path):
    """snippet_stride=4, offset_frames=8 (OpenTAD's THUMOS14 I3D): snippet t of a video is
    centred at exactly (4t + 8) / fps with that video's fps (annotation "fps", else "frame" /
    "duration"); the ground truth is normalised on the same grid."""
    db = {
        'v1': dict(subset='training', duration=20.0, fps=25.0, annotations=[
            dict(label='jump', segment=[(4 * 3 + 8) / 25, (4 * 9 + 8) / 25])]),
        'v3': dict(subset='training', duration=10.0, frame=300, annotations=[
            dict(label='jump', segment=[0.0, 4.0])]),  # 30 fps from frame / duration
    }
    ann, fdir = _write(tmp_path, db, _feats(40))
    kw = dict(subset='training', data_prefix=dict(feature=fdir), regime='sliding',
              temporal_dim=16, window_stride=8, pipeline=[], test_mode=True)
    ds = TADDataset(ann, snippet_stride=4, offset_frames=8, **kw)
    infos = _infos(ds)
    assert {d['video_name'] for d in infos} == {'v1', 'v3'}
    for d in infos:
        fps = 25.0 if d['video_name'] == 'v1' else 30.0
        assert d['fps'] == fps
        # the detectors' convention: point p of a window is at window_start + (p + 0.5) * span / T
        p = np.arange(16)
        centres = d['window_start'] + (p + 0.5) * d['window_duration'] / 16
        np.testing.assert_allclose(centres, (4 * (d['window_start_snippet'] + p) + 8) / fps,
                                   rtol=0, atol=1e-9)
    w0 = [d for d in infos if d['video_name'] == 'v1' and d['window_start_snippet'] == 0][0]
    # the action spans the centres of snippets 3 .. 9: grid positions 3.5 / 16 .. 9.5 / 16
    np.testing.assert_allclose(w0['gt_segments'], [[3.5 / 16, 9.5 / 16]], atol=1e-6)
    # the default offset (stride / 2) is the plain grid: snippet t covers [4t, 4t + 4) frames
    plain = _infos(TADDataset(ann, snippet_stride=4, **kw))
    assert [d['window_start'] for d in plain if d['video_name'] == 'v1'] == \
        pytest.approx([0.0, 32 / 25, 64 / 25, 96 / 25])
    with pytest.raises(ValueError, match='not both'):
        TADDataset(ann, snippet_stride=4, snippet_duration=4 / 30, **kw)
    with pytest.raises(ValueError, match='offset_frames'):
        TADDataset(ann, offset_frames=8, **kw)
    del db['v3']['frame']
    ann, _ = _write(tmp_path, db, {})
    with pytest.raises(ValueError, match='"fps"'):
        TADDataset(ann, snippet_stride=4, offset_frames=8, **kw)


def test_video_samples_of_frame_placed_features_need_the_fps(tmp_path):
    """Inference on one feature file: the same per-video grid, from the given fps."""
    db = {vid: dict(info, fps=30.0) for vid, info in _db().items()}
    ann, fdir = _write(tmp_path, db, _feats(40))
    ds = TADDataset(ann, subset='training', data_prefix=dict(feature=fdir), regime='sliding',
                    temporal_dim=16, window_stride=8, pipeline=[], test_mode=True,
                    snippet_stride=4, offset_frames=8)
    path = osp.join(fdir, 'v1.npy')
    samples = ds.video_samples(path, fps=25.0)
    assert samples[0]['window_start'] == pytest.approx(6 / 25)  # (0 * 4 + 8) / 25 - 2 / 25
    assert samples[0]['duration'] == pytest.approx(40 * 4 / 25)
    with pytest.raises(ValueError, match='fps='):
        ds.video_samples(path)
