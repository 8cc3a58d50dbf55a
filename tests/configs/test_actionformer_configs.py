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
    assert ds.temporal_dim == 768 and ds.pipeline[1].sampling == 'frames'  # 768 frames
    assert tuple(cfg.train_dataloader.dataset.pipeline[4].scale) == (160, 160)
    model = MODELS.build(cfg.model)
    stock = VisionTransformer(img_size=224, patch_size=16, embed_dims=384, depth=12,
                              num_heads=6, num_frames=16, tubelet_size=2)
    model.backbone.backbone.load_state_dict(stock.state_dict(), strict=True)


VIDEOMAE_S = ('actionformer_videomae-s_1xb2-60e_thumos14-rgb.py',
              'actionformer_videomae-s_4xb4-15e_activitynet-rgb.py')


def test_videomae_s_public_frame_sampling():
    """OpenTAD's end-to-end sampling (AdaTAD VideoMAE-S configs): THUMOS14 windows of 768
    positions one frame every 4 (training: RandomTrunc 0.9-1.0, 75% of an action inside; val /
    test windows overlapping by 25% / 50%), tokens to 768 and global attention; ActivityNet
    192 x 4 = 768 frames over the whole video, tokens to 192."""
    thumos, anet = _load(VIDEOMAE_S[0]), _load(VIDEOMAE_S[1])
    train = thumos.train_dataloader.dataset
    assert (train.regime, train.temporal_dim, train.snippet_stride) == ('full', 768, 4)
    trunc = train.pipeline[0]
    assert trunc.type == 'RandomTruncTAD' and trunc.trunc_thresh == 0.75
    assert tuple(trunc.crop_ratio) == (0.9, 1.0)
    for loader, stride in ((thumos.val_dataloader, 576), (thumos.test_dataloader, 384)):
        ds = loader.dataset
        assert (ds.regime, ds.temporal_dim, ds.snippet_stride) == ('sliding', 768, 4)
        assert ds.window_stride == stride and ds.pipeline[0].sampling == 'frames'
    assert thumos.model.backbone.temporal_length == 768
    assert (thumos.model.projection.window_size, thumos.model.projection.max_seq_len) == (-1, 768)
    for loader in (anet.train_dataloader, anet.val_dataloader, anet.test_dataloader):
        ds = loader.dataset
        decode = ds.pipeline[0]
        assert ds.regime == 'resize' and ds.temporal_dim == 192
        assert (decode.sampling, decode.frames_per_position, decode.clip_len) == ('frames', 4, 16)
    assert anet.model.backbone.temporal_length == 192
    proj = anet.model.projection
    assert (proj.window_size, proj.max_seq_len, proj.input_drop) == (-1, 192, 0.2)


def test_videomae_s_thumos_public_post_processing():
    """Soft-NMS sigma 0.7 with segment voting 0.7, 2000 segments (OpenTAD e2e THUMOS)."""
    ev = _load(VIDEOMAE_S[0]).val_evaluator
    assert ev.nms_cfg.type == 'soft' and ev.nms_cfg.sigma == 0.7
    assert ev.nms_cfg.voting_thresh == 0.7 and ev.max_per_video == 2000


@pytest.mark.parametrize('name', VIDEOMAE_S)
def test_videomae_s_public_augmentation_runs_on_decoded_snippets(name):
    """Train: short side 182, RandomResizedCrop, 160x160, flip, ColorJitter; test: short side
    160 then centre crop 160. Run on frames shaped as DecodeTADSnippets yields them."""
    import numpy as np
    from mmaction.registry import TRANSFORMS
    cfg = _load(name)
    enc = cfg.model.backbone.backbone
    assert enc.temporal_fc_norm is False  # OpenTAD: no fc_norm on temporal tokens
    rng = np.random.default_rng(0)
    for pipeline, short, train in ((cfg.train_dataloader.dataset.pipeline, 182, True),
                                   (cfg.val_dataloader.dataset.pipeline, 160, False)):
        if pipeline[0].type == 'RandomTruncTAD':  # THUMOS14 training: truncation first
            pipeline = pipeline[1:]
        assert pipeline[0].type == 'DecodeTADSnippets' and pipeline[0].short_side == short
        types = [t.type for t in pipeline]
        if train:
            assert types[1:6] == ['Resize', 'RandomResizedCrop', 'Resize', 'Flip', 'ColorJitter']
        else:
            assert types[1:3] == ['Resize', 'CenterCrop'] and pipeline[2].crop_size == 160
            assert tuple(pipeline[1].scale) == (-1, 160)
        frames = [rng.integers(0, 256, (short, 284, 3), dtype=np.uint8) for _ in range(32)]
        results = dict(imgs=frames, num_clips=2, clip_len=16, img_shape=(short, 284),
                       original_shape=(short, 284), modality='RGB')
        for t in pipeline[1:-1]:
            results = TRANSFORMS.build(t)(results)
        assert results['imgs'].shape == (2, 3, 16, 160, 160), name


@pytest.mark.parametrize('name,backbone_lr', [(VIDEOMAE_S[0], 1e-5), (VIDEOMAE_S[1], 1e-4)])
def test_videomae_s_public_weight_decay_groups(name, backbone_lr):
    """As OpenTAD's optimizer: every encoder parameter (LayerNorms, biases, patch embedding) at
    wd 0.05 and lr x0.1; detector biases and norms at 0, detector weights at 0.05; the unused
    fc_norm is not optimised."""
    from mmengine.optim import build_optim_wrapper
    cfg = _load(name)
    cfg.model.backbone.backbone.depth = 1  # the groups do not depend on the depth
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    group = {id(p): g for g in optim.param_groups for p in g['params']}
    lr = cfg.optim_wrapper.optimizer.lr
    enc = 'backbone.backbone.'
    for key in ('blocks.0.norm1.weight', 'blocks.0.norm1.bias', 'blocks.0.attn.q_bias',
                'patch_embed.projection.weight', 'patch_embed.projection.bias',
                'blocks.0.mlp.layers.0.0.weight'):
        p = model.get_parameter(enc + key)
        assert group[id(p)]['weight_decay'] == 0.05, key
        assert group[id(p)]['lr'] == pytest.approx(backbone_lr), key
    assert all(not p.requires_grad or id(p) not in group
               for p in model.backbone.backbone.fc_norm.parameters())
    decay, no_decay = 0, 0
    for mn, m in model.named_modules():
        if mn.startswith('backbone'):
            continue
        for pn, p in m.named_parameters(recurse=False):
            wd, plr = group[id(p)]['weight_decay'], group[id(p)]['lr']
            assert plr == lr, (mn, pn)
            if pn == 'bias' or isinstance(m, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
                assert wd == 0.0, (mn, pn)
                no_decay += 1
            elif isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)) and pn == 'weight':
                assert wd == 0.05, (mn, pn)
                decay += 1
    assert decay and no_decay


def test_thumos_i3d_actionformer_trains_on_random_truncations():
    """OpenTAD's features_i3d_pad.py: RandomTrunc(2304, thresh 0.5, crop ratio 0.9-1.0)."""
    cfg = _load('actionformer_2xb1-35e_thumos14-i3d-feature.py')
    ds = cfg.train_dataloader.dataset
    trunc = ds.pipeline[1]
    assert ds.regime == 'full' and ds.temporal_dim == 2304 and trunc.type == 'RandomTruncTAD'
    assert trunc.trunc_thresh == 0.5 and tuple(trunc.crop_ratio) == (0.9, 1.0)
    assert cfg.val_dataloader.dataset.regime == 'sliding'


def test_thumos_i3d_feature_configs_use_the_public_time_alignment():
    """I3D snippet t centred at (4t + 8) / fps with each video's fps (OpenTAD)."""
    for path in ('actionformer/actionformer_2xb1-35e_thumos14-i3d-feature.py',
                 'etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', path))
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            ds = loader.dataset
            assert (ds.snippet_stride, ds.offset_frames) == (4, 8), path
            assert ds.get('snippet_duration') is None, path
