"""RandomTruncTAD: OpenTAD's random truncation of a whole-video sample into a training window."""
import numpy as np
import pytest

from mmtad_ext.datasets.transforms import RandomTruncTAD

STEP = 4 / 30  # seconds per grid position (one frame every 4 at 30 fps)
ACTIONS = np.array([[10.0, 14.0], [60.0, 61.0], [100.0, 130.0], [250.0, 252.0]])  # seconds
SHORT = np.array([[10.0, 14.0], [20.0, 25.0]])  # inside a 300-position (40 s) video


def whole_video(num, actions=ACTIONS, size=768, start=0.0):
    span = num * STEP
    return dict(video_name='v', full_video=True, temporal_dim=size, valid_length=num,
                window_start_snippet=0, window_start=start, window_duration=span,
                num_snippets=num, gt_segments=((actions - start) / span).astype(np.float32),
                gt_labels=np.arange(len(actions)))


def seconds(out):
    return out['gt_segments'].astype(np.float64) * out['window_duration'] + out['window_start']


@pytest.mark.parametrize('seed', range(20))
def test_long_video_window_and_annotation(seed):
    """A 2000-position video: a window of 768 positions, kept actions unchanged in seconds
    (clipped to the window), each with >= 75% inside, the dropped ones with less."""
    np.random.seed(seed)
    out = RandomTruncTAD(trunc_thresh=0.75)(whole_video(2000))
    st = out['window_start_snippet']
    assert 0 <= st <= 2000 - 768 and out['valid_length'] == 768
    assert out['window_start'] == pytest.approx(st * STEP)
    assert out['window_duration'] == pytest.approx(768 * STEP)
    lo, hi = out['window_start'], out['window_start'] + 768 * STEP
    inside = (np.minimum(ACTIONS[:, 1], hi) - np.maximum(ACTIONS[:, 0], lo)).clip(0)
    share = inside / (ACTIONS[:, 1] - ACTIONS[:, 0])
    kept = out['gt_labels']
    assert len(kept) >= 1 and (share[kept] >= 0.75 - 1e-6).all()
    assert (share[np.setdiff1d(np.arange(4), kept)] < 0.75 + 1e-6).all()
    np.testing.assert_allclose(seconds(out), ACTIONS[kept].clip(lo, hi), atol=1e-4)
    assert (out['gt_segments'] >= 0).all() and (out['gt_segments'] <= 1).all()


def test_short_video_crop_ratio():
    """A video of 300 <= 768 positions: windows of 270..300 positions (crop ratio 0.9-1.0),
    both ends drawn, padded to 768 positions of the same grid."""
    lengths = []
    for seed in range(300):
        np.random.seed(seed)
        out = RandomTruncTAD(trunc_thresh=0.5, crop_ratio=(0.9, 1.0))(
            whole_video(300, SHORT, start=1.0))
        n, st = out['valid_length'], out['window_start_snippet']
        assert 270 <= n <= 300 and 0 <= st <= 300 - n
        assert out['window_duration'] == pytest.approx(768 * STEP)
        assert out['window_start'] == pytest.approx(1.0 + st * STEP)
        assert (out['gt_segments'] <= n / 768 + 1e-6).all()  # inside the valid part
        lo, hi = out['window_start'], out['window_start'] + n * STEP
        np.testing.assert_allclose(seconds(out), SHORT[out['gt_labels']].clip(lo, hi),
                                   atol=1e-4)
        lengths.append(n)
    assert min(lengths) == 270 and max(lengths) == 300
    np.random.seed(0)
    whole = RandomTruncTAD(crop_ratio=None)(whole_video(300, SHORT))
    assert (whole['valid_length'], whole['window_start_snippet']) == (300, 0)
    np.testing.assert_allclose(seconds(whole), SHORT, atol=1e-4)


def test_draws_follow_numpy_seed():
    draw = []
    for seed in (3, 3, 4):
        np.random.seed(seed)
        draw.append(RandomTruncTAD()(whole_video(2000))['window_start_snippet'])
    assert draw[0] == draw[1] != draw[2]


def test_bad_arguments_and_input():
    with pytest.raises(ValueError, match='trunc_thresh'):
        RandomTruncTAD(trunc_thresh=0)
    with pytest.raises(ValueError, match='crop_ratio'):
        RandomTruncTAD(crop_ratio=(1.0, 0.9))
    sample = whole_video(100)
    sample.pop('full_video')
    with pytest.raises(ValueError, match="regime='full'"):
        RandomTruncTAD()(sample)
