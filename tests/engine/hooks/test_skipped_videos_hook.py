"""SkippedVideosHook in a real Runner training on real clips: videos that cannot be decoded
(at indexing or at their first read, inside a DataLoader worker) are skipped, the run goes on
and ends with their list."""
import glob
import json
import os.path as osp
import shutil

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from _helpers.bad_videos import broken_frames_copy, short_clip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SYNTHETIC = osp.join(REPO, 'configs', 'etad',
                     'etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py')
SOURCES = ['bikes.mp4', 'carphone_pristine.mp4', 'carphone_distorted.mp4', 'bikes.mp4']

pytestmark = pytest.mark.slow


class BreakAfterIndexing(Hook):
    """Replace one indexed video by a header-intact copy with broken frames before the first
    step: its failure can only appear at read time, in the DataLoader worker."""

    def __init__(self, good, path):
        self.good, self.path = good, path

    def before_train(self, runner):
        broken_frames_copy(self.good, self.path)


def test_runner_skips_undecodable_videos_and_lists_them(tmp_path):
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    db = {}
    for k, src in enumerate(SOURCES):  # real 96-frame clips, 32 px, 25 fps: 3.84 s
        short_clip(vdir / f'v{k}.mp4', src, frames=96)
        db[f'v{k}'] = dict(subset='training', duration=3.84, annotations=[
            dict(label='a' if k % 2 else 'b', segment=[0.5 + 0.2 * k, 2.5])])
    # broken from the start (found by the probe or at its first read) ...
    broken_frames_copy(str(vdir / 'v0.mp4'), vdir / 'broken.mp4')
    db['broken'] = dict(db['v0'])
    # ... and broken after indexing (found at its first read, in the worker)
    good = shutil.copy(vdir / 'v1.mp4', tmp_path / 'v1_good.mp4')
    (tmp_path / 'ann.json').write_text(json.dumps(dict(database=db)))
    cfg = Config.fromfile(SYNTHETIC)
    dl = cfg.train_dataloader
    dl.update(batch_size=2, num_workers=1, persistent_workers=False)
    dl.dataset.update(ann_file=str(tmp_path / 'ann.json'), class_map=['a', 'b'],
                      data_prefix=dict(video=str(vdir)), skip_invalid=True)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.model.backbone.init_cfg = None
    cfg.model.cls_head.num_classes = 2
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.register_hook(BreakAfterIndexing(good, str(vdir / 'v1.mp4')))
    runner.train()
    (hook, ) = [h for h in runner.hooks if type(h).__name__ == 'SkippedVideosHook']
    assert sorted(hook.skipped) == ['broken', 'v1']
    assert hook.skipped['v1'] == 'epoch 1'  # read time, in the worker
    assert hook.skipped['broken'] in ('indexing', 'epoch 1')
    with open(osp.join(cfg.work_dir, 'skipped_videos.json')) as f:
        assert json.load(f)['skipped_videos'] == hook.skipped
    (log, ) = glob.glob(osp.join(cfg.work_dir, '*', '*.log'))
    text = open(log).read()
    assert "WARNING - SkippedVideosHook: this run skipped 2 video(s) that cannot be read" in text
    assert "'broken', 'v1'" in text
    assert 'Epoch(train) [1][' in text  # trained
