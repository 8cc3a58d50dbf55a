"""The synthetic raw-video TAD benchmark: deterministic, annotated where the patterns are."""
import json
import os.path as osp

from unittest import mock

import numpy as np
import pytest

from mmtad_ext.datasets.synthetic import video_tad
from mmtad_ext.datasets.synthetic.patterns import write_video
from mmtad_ext.datasets.synthetic.video_tad import generate_synthetic_video_tad

SMALL = dict(num_train=3, num_val=2, num_classes=4, size=32, fps=8, min_frames=40,
             max_frames=48, max_instances=2, min_action_frames=8, max_action_frames=16)


def decode(path):
    import decord
    return decord.VideoReader(path).get_batch(list(range(len(decord.VideoReader(path))))) \
        .asnumpy()


def saturated(frames):
    """Per frame, the number of pixels of a strongly saturated colour (the square patterns)."""
    f = frames.astype(np.int32)
    return ((f.max(-1) - f.min(-1)) > 110).sum(axis=(1, 2))


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp('svt')
    return generate_synthetic_video_tad(str(out), seed=3, **SMALL), out


def test_layout_and_annotations(bench):
    summary, out = bench
    db = json.load(open(summary['ann_file']))['database']
    assert [v['subset'] for v in db.values()].count('training') == 3
    assert [v['subset'] for v in db.values()].count('validation') == 2
    assert open(summary['class_map']).read().split() == summary['classes'] == [
        'square_right', 'square_left', 'square_down', 'square_up']
    for vid, info in db.items():
        frames = decode(osp.join(summary['video_dir'], vid + '.mp4'))
        assert frames.shape[1:] == (32, 32, 3)
        assert info['duration'] == pytest.approx(len(frames) / 8)
        inside = np.zeros(len(frames), dtype=bool)
        for ann in info['annotations']:
            s, e = (round(x * 8) for x in ann['segment'])
            assert 8 <= e - s <= 16
            inside[s:e] = True
        sat = saturated(frames)
        assert sat[inside].min() > 4  # the pattern is visible during every annotated frame
        assert sat[~inside].max() <= 2  # and nowhere else


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_deterministic_per_seed(bench, tmp_path):
    """Same seed: same annotations and bit-identical rendered frames. The mp4 files decode to
    the same frames up to codec noise (multi-threaded x264 is not bit-exact run to run)."""
    summary, _ = bench
    rendered = {}

    def record(tag):
        def write(path, frames, fps=25, codec='libx264'):
            rendered.setdefault(tag, []).append(frames.copy())
            write_video(path, frames, fps=fps, codec=codec)
        return write

    with mock.patch.object(video_tad, 'write_video', record('a')):
        again = generate_synthetic_video_tad(str(tmp_path / 'a'), seed=3, **SMALL)
    with mock.patch.object(video_tad, 'write_video', record('b')):
        generate_synthetic_video_tad(str(tmp_path / 'b'), seed=3, **SMALL)
    with mock.patch.object(video_tad, 'write_video', record('c')):
        other = generate_synthetic_video_tad(str(tmp_path / 'c'), seed=4, **SMALL)
    for x, y in zip(rendered['a'], rendered['b']):
        np.testing.assert_array_equal(x, y)
    assert any(x.shape != y.shape or not np.array_equal(x, y)
               for x, y in zip(rendered['a'], rendered['c']))
    ann = [json.load(open(s['ann_file'])) for s in (summary, again, other)]
    assert ann[0] == ann[1] and ann[0] != ann[2]
    for vid in ann[0]['database']:
        a = decode(osp.join(summary['video_dir'], vid + '.mp4')).astype(np.float32)
        b = decode(osp.join(again['video_dir'], vid + '.mp4')).astype(np.float32)
        assert a.shape == b.shape and np.abs(a - b).mean() < 5.0  # crf-18 codec noise
    first = sorted(ann[0]['database'])[0]
    a = decode(osp.join(summary['video_dir'], first + '.mp4')).astype(np.float32)
    c = decode(osp.join(other['video_dir'], first + '.mp4')).astype(np.float32)
    n = min(len(a), len(c))
    assert np.abs(a[:n] - c[:n]).mean() > 10.0  # another seed: another video


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_classes'):
        generate_synthetic_video_tad(str(tmp_path), num_classes=11)
    with pytest.raises(ValueError, match='min_action_frames'):
        generate_synthetic_video_tad(str(tmp_path), min_action_frames=64, max_action_frames=32)
