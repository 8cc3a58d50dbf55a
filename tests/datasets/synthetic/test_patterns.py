"""Tests of the shared synthetic video renderer."""
import numpy as np
import pytest

from mmtad_ext.datasets.synthetic import (NUM_PATTERNS, render_background, render_clip,
                                          write_video)


def test_render_clip_deterministic_and_shaped():
    a = render_clip(3, 8, 32, np.random.default_rng(5))
    b = render_clip(3, 8, 32, np.random.default_rng(5))
    c = render_clip(3, 8, 32, np.random.default_rng(6))
    assert a.shape == (8, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def _centroid_x(frames, channel):
    # object pixels are strongly saturated in one channel
    mask = frames[..., channel].astype(int) - frames.mean(-1) > 60  # (T, S, S)
    xs = np.arange(frames.shape[2])
    return np.array([(m.sum(0) * xs).sum() / max(m.sum(), 1) for m in mask])


def test_opposite_motion_classes_share_appearance():
    right = render_clip(0, 8, 64, np.random.default_rng(0))
    left = render_clip(1, 8, 64, np.random.default_rng(0))
    xr, xl = _centroid_x(right, 0), _centroid_x(left, 0)
    assert np.all(np.diff(xr) > 0) and np.all(np.diff(xl) < 0)
    # same object colour statistics: a single frame cannot tell the two classes apart
    red_r = right[..., 0][right[..., 0].astype(int) - right.mean(-1) > 60].mean()
    red_l = left[..., 0][left[..., 0].astype(int) - left.mean(-1) > 60].mean()
    assert abs(red_r - red_l) < 25


def test_background_has_no_pattern_and_paint_on_background():
    bg = render_background(4, 32, np.random.default_rng(1))
    assert bg.shape == (4, 32, 32, 3)
    clip = render_clip(4, 4, 32, np.random.default_rng(2), background=bg)
    assert (clip != bg).any()
    with pytest.raises(ValueError, match='background'):
        render_clip(4, 4, 32, np.random.default_rng(2), background=bg[:2])


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='class_id'):
        render_clip(5, 4, 32, rng, num_classes=4)
    with pytest.raises(ValueError, match='num_classes'):
        render_clip(0, 4, 32, rng, num_classes=NUM_PATTERNS + 1)
    with pytest.raises(ValueError, match='size'):
        render_clip(0, 4, 8, rng)


@pytest.mark.parametrize('codec', ['libx264', 'mpeg4'])
def test_write_video_roundtrip_decord(tmp_path, codec):
    decord = pytest.importorskip('decord')
    frames = render_clip(6, 10, 32, np.random.default_rng(3))
    path = str(tmp_path / f'clip_{codec}.mp4')
    write_video(path, frames, fps=10, codec=codec)
    vr = decord.VideoReader(path)
    assert len(vr) == 10
    decoded = vr.get_batch(list(range(10))).asnumpy()
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(float) - frames).mean() < 15
    with pytest.raises(ValueError, match='even'):
        write_video(str(tmp_path / 'odd.mp4'), frames[:, :31], fps=10)
