"""Every shipped config parses and builds its model (and its datasets' transforms)."""
import glob
import logging
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmtad_ext.registry import MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
ANET = 'etad_lstm_1xb16-6e_activitynet-tsp-feature.py'
THUMOS = 'etad_lstm_1xb16-6e_thumos14-i3d-feature.py'


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {'etad_lstm_1xb8-16e_synthetic-tad-feature.py', ANET, THUMOS} <= names


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_build_model_of_every_config(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmtad_ext'
    assert 'mmtad_ext' in cfg.custom_imports['imports']
    # --resume is exact: seeds per epoch, iteration and sample, from a fixed seed, once
    assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook'
    assert cfg.randomness.seed is not None
    assert 'EpochSeedHook' not in [h['type'] for h in cfg.get('custom_hooks') or []]
    assert cfg.train_cfg.get('type', 'EpochBasedTrainLoop') == 'EpochBasedTrainLoop'
    init_default_scope('mmtad_ext')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            for t in loader.dataset.get('pipeline', []):
                TRANSFORMS.build(t)
    if cfg.optim_wrapper.get('paramwise_cfg'):
        # one log line per rule, not mmengine's ~300 per-parameter INFO lines; every custom key
        # takes some parameter of the model (an unmatched key warns)
        assert cfg.optim_wrapper.constructor == 'SummaryOptimWrapperConstructor'
        handler = logging.Handler(logging.WARNING)
        warnings = []
        handler.emit = warnings.append
        logger = MMLogger.get_current_instance()
        logger.addHandler(handler)
        try:
            build_optim_wrapper(model, cfg.optim_wrapper)
        finally:
            logger.removeHandler(handler)
        assert not [w.getMessage() for w in warnings if 'paramwise_cfg' in w.getMessage()]


def test_paper_settings_of_the_etad_configs():
    for name in (ANET, THUMOS):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'etad', name))
        assert cfg.model.proposal_sampler.ratio == 0.06
        assert tuple(cfg.model.proposal_head.pos_iou_thrs) == (0.7, 0.8, 0.9)
        assert cfg.model.proposal_head.loss_offset.loss_weight == 10.0
        assert cfg.optim_wrapper.optimizer.lr == 1e-3
        assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
        assert cfg.train_dataloader.batch_size == 16 and cfg.train_cfg.max_epochs == 6
        assert cfg.model.cls_head is None and cfg.val_evaluator.class_score_file
    anet = Config.fromfile(osp.join(ROOT, 'configs', 'etad', ANET))
    # public ETAD code (sming256/ETAD): head, losses, inference, Soft-NMS sigma on ActivityNet
    head = anet.model.proposal_head
    assert head.roi_size == 24 and head.extend_ratio == 0.5
    assert head.loss_iou_reg.type == 'IoUBalancedMSELoss' and head.loss_iou_reg.loss_weight == 5
    assert head.loss_iou_cls.pos_threshold == 0.9 and head.loss_offset.beta == 1.0
    assert anet.model.test_cfg.stage_fusion == 'mean' and anet.model.test_cfg.score == 'iou'
    assert anet.val_evaluator.nms_cfg.sigma == 0.35
    assert 'seed' not in anet.model.proposal_sampler  # the draws follow randomness.seed
    thumos = Config.fromfile(osp.join(ROOT, 'configs', 'etad', THUMOS))
    assert thumos.train_dataloader.dataset.regime == 'sliding'
    assert thumos.train_dataloader.dataset.window_stride == 64
    assert thumos.val_evaluator.tiou_thresholds == 'thumos'
