"""Block-drop configs: the paper's THUMOS14 recipe and no EMA across the changing structure."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmtad_ext.engine.hooks import BlockDropHook
from mmtad_ext.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BLOCK_DROP = sorted(glob.glob(osp.join(ROOT, 'configs', 'block_drop', 'block-drop_*.py')))


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_every_block_drop_config_wraps_a_videomae_student():
    assert len(BLOCK_DROP) >= 3
    for path in BLOCK_DROP:
        cfg = Config.fromfile(path)
        hooks = [h['type'] for h in cfg.custom_hooks]
        # EpochSeedHook (default_hooks) makes --resume exact; the paper configs average (EMA
        # 0.999, public code)
        paper = 'videomae-s_' in osp.basename(path)
        assert hooks == ['BlockDropHook'] + ['EMAHook'] * paper, path
        assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook', path
        if paper:
            assert cfg.custom_hooks[1].momentum == 0.001, path
            assert cfg.custom_hooks[0].lora_init == 'public', path
        hook = cfg.custom_hooks[0]
        built = BlockDropHook(**{k: v for k, v in hook.items() if k != 'type'})
        assert cfg.train_cfg.max_epochs == built.total_epochs, path
        assert cfg.model.type == 'BlockDropDistiller' and cfg.model.student_ckpt, path
        init_default_scope('mmtad_ext')
        model = MODELS.build(cfg.model)
        assert hook.max_drops < model.student_encoder.depth


def test_thumos14_paper_recipe():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'block_drop',
                                   'block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py'))
    enc = cfg.model.student.backbone.backbone
    assert (enc.embed_dims, enc.depth, enc.num_heads) == (384, 12, 6)
    assert cfg.model.student.backbone.ratio == 1.0  # full end to end, as the paper
    hook = cfg.custom_hooks[0]
    assert hook.max_drops == enc.depth // 4 and hook.stage_epochs == 60
    assert hook.criterion == 'metric' and hook.metric_key == 'tad/mAP@0.5'
    assert hook.get('lora_rank') is None  # default: embed_dims // 4 = 96
    loss = cfg.model.distill_loss
    assert loss.temperature == 3.5 and loss.reg_iou == 'diou'
    assert loss.feat_weight == loss.cls_weight == loss.reg_weight == 1.0
    opt = cfg.optim_wrapper
    assert opt.optimizer.lr == 1e-4 and opt.optimizer.weight_decay == 0.05
    assert opt.clip_grad.max_norm == 1.0
    # public groups lora / norm / patch_embed: lr 1e-4 (= the detector's), wd 0.05 on all
    assert dict(opt.paramwise_cfg.custom_keys.backbone) == dict(lr_mult=1.0, decay_mult=1.0)
    assert cfg.val_evaluator.nms_cfg.sigma == 0.7 and cfg.val_evaluator.nms_cfg.voting_thresh == 0.7
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end, cosine.end) == (0, 5, 60)  # stage-relative


def test_activitynet_recipe_uses_a_dynamic_teacher():
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'block_drop',
        'block-drop_actionformer-videomae-s_4xb4-8-15-15e_activitynet-rgb.py'))
    hook = cfg.custom_hooks[0]
    assert hook.dynamic_teacher and hook.metric_key == 'tad/average_mAP'
    # the public workflow: sub_end_epoch=8 for stage 1, full_end_epoch=15 for stages 2 and 3
    assert list(hook.stage_epochs) == [8, 15, 15] and hook.max_drops == 3
    built = BlockDropHook(**{k: v for k, v in hook.items() if k != 'type'})
    assert [built.stage_end(t) for t in (1, 2, 3)] == [8, 23, 38] == [8, 23,
                                                                      cfg.train_cfg.max_epochs]
    warmup, cosine = cfg.param_scheduler  # stage-relative, cosine to the running stage's end
    assert (warmup.begin, warmup.end, cosine.begin) == (0, 5, 5)
    assert 'end' not in cosine and 'T_max' not in cosine
    assert cfg.train_cfg.val_interval == 1  # every stage end is validated
    # public: detector lr 1e-3, lora / norm / patch_embed lr 1e-4 with wd 0.05 on all
    opt = cfg.optim_wrapper
    assert opt.optimizer.lr == 1e-3 and opt.optimizer.weight_decay == 0.05
    assert dict(opt.paramwise_cfg.custom_keys.backbone) == dict(lr_mult=0.1, decay_mult=1.0)
    student = cfg.model.student
    assert student.head.num_classes == 1 and student.test_cfg.class_agnostic
    assert student.projection.window_size == -1 and student.projection.use_abs_pe
    assert cfg.val_evaluator.nms_cfg.voting_thresh == 0.9 and cfg.val_evaluator.class_score_file
    ds = cfg.train_dataloader.dataset
    decode = ds.pipeline[0]
    assert ds.regime == 'resize' and ds.temporal_dim * decode.frames_per_position == 768
    assert decode.sampling == 'frames' and student.backbone.temporal_length == ds.temporal_dim
