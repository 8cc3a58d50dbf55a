"""The raw-video ETAD configs: every model builds; the synthetic one trains with the Runner."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmtad_ext.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VIDEO_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'etad', 'etad-egs_*-rgb.py')))
SYNTHETIC = osp.join(REPO, 'configs', 'etad',
                     'etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('path', VIDEO_CONFIGS, ids=osp.basename)
def test_build_video_config_models(path):
    init_default_scope('mmtad_ext')
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    wrapper = model.backbone
    assert type(wrapper).__name__ == 'EGSBackboneWrapper'
    assert wrapper.ratio == 0.1 and wrapper.norm_eval
    assert wrapper.frozen_modules and not any(
        p.requires_grad for p in dict(wrapper.backbone.named_modules())[
            wrapper.frozen_modules[0]].parameters())
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['backbone']['lr_mult'] < 1
    assert cfg.model.proposal_sampler.temporal_dim == cfg.train_dataloader.dataset.temporal_dim


class Snapshot(Hook):
    """Parameters after the Runner's weight initialisation, before the first step."""

    def before_train(self, runner):
        self.params = {n: p.detach().clone() for n, p in runner.model.named_parameters()}


@pytest.mark.slow  # Runner training and test
@pytest.mark.parametrize('mode', ['joint', 'two_phase'])
def test_runner_trains_and_tests_synthetic_video(tiny_video_tad, tmp_path, mode):
    cfg = Config.fromfile(SYNTHETIC)
    root = tiny_video_tad
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[loader]
        dl.update(batch_size=2, num_workers=0, persistent_workers=False)
        dl.dataset.update(ann_file=root + '/annotations.json', class_map=root + '/class_map.txt',
                          data_prefix=dict(video=root + '/videos'))
    cfg.model.backbone.update(mode=mode, ratio=0.25, init_cfg=None)
    cfg.model.cls_head.num_classes = 2
    cfg.train_cfg.update(max_epochs=2, val_interval=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    snapshot = Snapshot()
    runner.register_hook(snapshot)
    runner.train()
    changed = {n for n, p in runner.model.named_parameters()
               if not torch.equal(p, snapshot.params[n])}
    assert any(n.startswith('backbone.backbone.layer4') for n in changed)  # EGS trains it
    assert not any(n.startswith(('backbone.backbone.conv1', 'backbone.backbone.layer1'))
                   for n in changed)  # frozen stages stay
    assert any(n.startswith('neck.') for n in changed)
    metrics = runner.test()
    assert 0.0 <= metrics['tad/average_mAP'] <= 100.0
    assert set(metrics) >= {'tad/mAP@0.5', 'tad/mAP@0.95'}
