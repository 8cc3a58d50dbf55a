"""ActionFormer through tools/train.py and tools/test.py: synthetic features and raw video."""
import json
import os.path as osp

import pytest

from _helpers.tiny_configs import (write_actionformer_feature_config,
                                   write_actionformer_video_config)
from _helpers.tool_run import TEST, TRAIN, run

pytestmark = pytest.mark.slow  # tool subprocesses: trainings


def test_train_then_test_on_synthetic_features(tiny_data, tmp_path):
    cfg = write_actionformer_feature_config(tmp_path / 'af.py', tiny_data)
    work = str(tmp_path / 'work')
    log = run([TRAIN, cfg, '--work-dir', work], cwd=str(tmp_path))
    assert 'loss_cls' in log and 'loss_reg' in log and 'tad/average_mAP' in log
    dump = str(tmp_path / 'sub.json')
    log = run([TEST, cfg, osp.join(work, 'epoch_2.pth'), '--work-dir', work, '--dump', dump],
              cwd=str(tmp_path))
    assert 'tad/average_mAP' in log
    with open(dump) as f:
        results = json.load(f)['results']
    assert len(results) == 4 and all(d['label'] for dets in results.values() for d in dets)


def test_train_then_test_end_to_end_on_synthetic_video(tiny_video_tad, tmp_path):
    cfg = write_actionformer_video_config(tmp_path / 'af_video.py', tiny_video_tad)
    work = str(tmp_path / 'work')
    log = run([TRAIN, cfg, '--work-dir', work], cwd=str(tmp_path))
    assert 'loss_cls' in log and 'tad/average_mAP' in log
    log = run([TEST, cfg, osp.join(work, 'epoch_1.pth'), '--work-dir', work],
              cwd=str(tmp_path))
    assert 'tad/mAP@0.5' in log
