"""Every A3D config builds its model; the synthetic A3D config trains through a real Runner."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmtad_ext.datasets.synthetic import make_clip_dataset
from mmtad_ext.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
A3D_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'a3d', '*.py')))


def test_a3d_configs_exist():
    names = {osp.basename(p) for p in A3D_CONFIGS}
    assert {'a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py',
            'a3d-0.06-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py',
            'slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py',
            'a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py',
            'slowonly_tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py'} <= names


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('path', A3D_CONFIGS, ids=osp.basename)
def test_build_model_of_every_a3d_config(path):
    cfg = Config.fromfile(path)
    init_default_scope('mmtad_ext')
    model = MODELS.build(cfg.model)
    if cfg.model.type == 'A3DRecognizer3D':
        assert model.mutual_cfg['width_range'] == tuple(cfg.a3d_mutual_cfg.width_range)
        assert set(cfg.a3d_table) >= {'widths', 'spatial_factors', 'temporal_factors'}
        model.set_subnet((min(cfg.a3d_table.widths), 1.0, 1.0), use_bank=False)
        # under a distributed launcher the Runner wraps it so that train_step still runs
        from mmengine.registry import MODEL_WRAPPERS

        from mmtad_ext.engine import DelegatingDistributedDataParallel
        # looked up as Runner.wrap_model does: in mmengine's root registry, no scope switch
        assert MODEL_WRAPPERS.get(cfg.model_wrapper_cfg.type) is \
            DelegatingDistributedDataParallel


@pytest.mark.slow  # Runner training, then resume
def test_runner_trains_synthetic_a3d_and_resumes(tmp_path):
    data = str(tmp_path / 'clips')
    make_clip_dataset(data, dict(train=8, val=4), num_classes=10, num_frames=16, size=32)
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'a3d', 'a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py'))
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size, loader.num_workers, loader.persistent_workers = 4, 0, False
        loader.dataset.ann_file = f'{data}/{"train" if split == "train" else "val"}' \
                                  '_list_videos.txt'
        loader.dataset.data_prefix = dict(video=data)
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = torch.load(osp.join(cfg.work_dir, 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)
    assert 'a3d_state.generator' in ckpt['state_dict']
    after_train = runner.model.sample_subnets()
    # a fresh model loading the checkpoint continues the same random sequence
    init_default_scope('mmtad_ext')
    fresh = MODELS.build(cfg.model)
    fresh.load_state_dict(ckpt['state_dict'])
    runner.model.load_state_dict(ckpt['state_dict'])
    assert fresh.sample_subnets() == runner.model.sample_subnets()
    assert isinstance(after_train, list)
