"""ActionFormer configs: the paper settings, and a forward pass of each detector."""
import os.path as osp

import pytest
import torch
from mmaction.models.backbones import VisionTransformer
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmtad_ext.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'actionformer')


def _load(name):
    init_default_scope('mmtad_ext')
    return Config.fromfile(osp.join(CFG, name))


def _samples(n, labels=None, **meta):
    """Data samples of a 60 s window; with ``labels``, ground truth (segments at 10-30 s and
    35-50 s of it, in window fractions) of those classes."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    out = []
    for _ in range(n):
        ds = ActionDataSample()
        ds.set_metainfo(dict(dict(window_start=0.0, window_duration=60.0), **meta))
        if labels is not None:
            ds.gt_instances = InstanceData(
                segments=torch.tensor([[1 / 6, 0.5], [35 / 60, 50 / 60]])[:len(labels)],
                labels=torch.tensor(labels))
        out.append(ds)
    return out


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_thumos_i3d_paper_setting_and_forward():
    cfg = _load('actionformer_2xb1-35e_thumos14-i3d-feature.py')
    p, h = cfg.model.projection, cfg.model.head
    assert (p.in_channels, p.embed_dims, tuple(p.arch), p.num_heads, p.window_size) == \
        (2048, 512, (2, 2, 5), 4, 19)
    assert p.drop_path == 0.1 and p.input_drop == 0.2 and not p.use_abs_pe
    assert tuple(h.strides) == (1, 2, 4, 8, 16, 32) and h.center_sample_radius == 1.5
    assert [tuple(r) for r in h.regress_ranges][0] == (0, 4) and h.num_convs == 2
    assert h.loss_cls.type == 'mmdet.FocalLoss' and h.loss_reg.type == 'DIoU1dLoss'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4 and cfg.optim_wrapper.clip_grad.max_norm == 1
    assert cfg.train_cfg.max_epochs == 35 and cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.temporal_dim == 2304
    assert cfg.val_evaluator.nms_cfg.sigma == 0.5 and 'class_score_file' not in cfg.val_evaluator
    model = MODELS.build(cfg.model).eval()
    out = model(torch.randn(1, 2048, 256), _samples(1, valid_length=200), mode='predict')
    assert out[0].pred_instances.labels.max() < 20


def test_activitynet_tsp_paper_setting_and_forward():
    cfg = _load('actionformer_1xb16-15e_activitynet-tsp-feature.py')
    assert cfg.model.projection.use_abs_pe and cfg.model.projection.max_seq_len == 192
    assert list(cfg.model.projection.window_size) == [7, 7, 7, 7, 7, -1]
    assert cfg.model.head.num_classes == 1 and cfg.model.test_cfg.class_agnostic
    assert cfg.val_evaluator.nms_cfg.voting_thresh == 0.9
    assert cfg.val_evaluator.class_score_file  # external video-level classes
    model = MODELS.build(cfg.model).eval()
    out = model(torch.randn(2, 512, 192), _samples(2), mode='predict')
    assert 'labels' not in out[0].pred_instances
    # training on the dataset's 200 ActivityNet labels: the one-class head is class-agnostic
    losses = model.train()(torch.randn(2, 512, 192), _samples(2, labels=[17, 199]), mode='loss')
    assert set(losses) == {'loss_cls', 'loss_reg'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_videomae_s_activitynet_head_trains_on_activitynet_labels():
    """The end-to-end ActivityNet config shares the one-class head: its loss on 200-class
    labels is that of all-zero labels."""
    head_cfg = _load('actionformer_videomae-s_4xb4-15e_activitynet-rgb.py').model.head
    assert head_cfg.num_classes == 1
    torch.manual_seed(0)
    head = MODELS.build(head_cfg).train()
    lengths = [192 // s for s in head.strides]
    feats = [torch.randn(1, 256, t) for t in lengths]
    masks = [torch.ones(1, t, dtype=torch.bool) for t in lengths]
    segs = [torch.tensor([[20.0, 90.0], [100.0, 150.0]])]
    out = head(feats, masks)
    losses = head.loss(*out, masks, segs, [torch.tensor([17, 199])])
    head.loss_normalizer.fill_(200.0)
    zero = head.loss(*out, masks, segs, [torch.zeros(2, dtype=torch.long)])
    assert all(torch.isfinite(losses[k]) and torch.equal(losses[k], zero[k]) for k in losses)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_videomae_s_thumos_raw_video_setting():
    """The encoder is VideoMAE-S (23.4 GFLOPs per 16x160x160 clip, BENCHMARKS.md) and loads an
    mmaction2 VideoMAE-S state dict strictly; 768 frames per window."""
    cfg = _load('actionformer_videomae-s_1xb2-60e_thumos14-rgb.py')
    enc = cfg.model.backbone.backbone
    assert (enc.embed_dims, enc.depth, enc.num_heads, enc.patch_size) == (384, 12, 6, 16)
    ds = cfg.train_dataloader.dataset
    assert ds.temporal_dim * ds.pipeline[0].clip_len == 768
    assert cfg.train_dataloader.dataset.pipeline[2].size == 160
    model = MODELS.build(cfg.model)
    stock = VisionTransformer(img_size=224, patch_size=16, embed_dims=384, depth=12,
                              num_heads=6, num_frames=16, tubelet_size=2)
    model.backbone.backbone.load_state_dict(stock.state_dict(), strict=True)
