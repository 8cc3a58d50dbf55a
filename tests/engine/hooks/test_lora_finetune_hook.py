"""LoRAFinetuneHook and the public-form VideoMAE-S baseline config: what trains, what merges."""
import copy
import os.path as osp
import re

import pytest
import torch
from _helpers.tiny_configs import write_actionformer_video_config
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmtad_ext.engine.block_drop.ema import find_ema
from mmtad_ext.engine.hooks import LoRAFinetuneHook
from mmtad_ext.models.layers.lora import has_lora
from mmtad_ext.registry import HOOKS, MODELS

pytest.importorskip('peft')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
LORA_CFG = osp.join(ROOT, 'configs', 'block_drop',
                    'actionformer_videomae-s-lora96_1xb2-60e_thumos14-rgb.py')
FULL_CFG = osp.join(ROOT, 'configs', 'actionformer',
                    'actionformer_videomae-s_1xb2-60e_thumos14-rgb.py')


def test_bad_arguments():
    with pytest.raises(ValueError, match='LoRAFinetuneHook rank'):
        LoRAFinetuneHook(rank=0)
    with pytest.raises(ValueError, match='LoRAFinetuneHook init'):
        LoRAFinetuneHook(rank=4, init='xavier')


def _tiny_video_model(tmp_path, **backbone):
    """The tiny raw-video ActionFormer of ``write_actionformer_video_config`` (its encoder's
    ``patch_embed`` and ``blocks.0`` frozen by ``frozen_modules``), ``backbone`` merged in."""
    cfg = Config.fromfile(write_actionformer_video_config(tmp_path / 'v.py', tmp_path))
    cfg.model.backbone.update(backbone)
    init_default_scope('mmtad_ext')
    return MODELS.build(cfg.model)


def test_the_models_frozen_modules_are_never_overridden(tmp_path):
    model = _tiny_video_model(tmp_path)  # frozen_modules=('patch_embed', 'blocks.0')
    hook = LoRAFinetuneHook(rank=2)
    with pytest.raises(ValueError, match=(
            r"model\.backbone\.frozen_modules holds 'patch_embed', which LoRAFinetuneHook "
            r"would train \(trainable matches 'patch_embed\.projection\.weight'.*remove "
            r"'patch_embed' from model\.backbone\.frozen_modules.*narrow LoRAFinetuneHook's "
            r"target_modules / trainable")):
        hook.apply(model, seed=0)
    assert not has_lora(hook.encoder(model))  # refused before anything changed
    model.backbone.frozen_modules = ('blocks.0', )  # what the check reads
    with pytest.raises(ValueError, match=r"holds 'blocks\.0'.*target_modules=.* matches "
                       r"'blocks\.0\.attn\.qkv'; trainable matches 'blocks\.0\.norm1"):
        hook.apply(model, seed=0)
    # the whole encoder frozen by frozen_modules, or by ratio=0
    model.backbone.frozen_modules = ('', )
    with pytest.raises(ValueError, match=r"frozen_modules holds ''"):
        hook.apply(model, seed=0)
    model.backbone.frozen_modules, model.backbone.sampler.ratio = (), 0.0
    with pytest.raises(ValueError, match=r'model\.backbone\.ratio=0 freezes the encoder.*'
                       r'set model\.backbone\.ratio > 0'):
        hook.apply(model, seed=0)
    assert not has_lora(hook.encoder(model))

    # narrowed to the other blocks, the frozen block stays frozen (and in eval mode)
    narrow = LoRAFinetuneHook(rank=2, target_modules=r'blocks\.[12]\.attn\.(qkv|proj)',
                              trainable=(r'.*lora_.*', r'blocks\.[12]\.norm\d\.(weight|bias)'))
    model = _tiny_video_model(tmp_path, frozen_modules=('blocks.0', ))
    model.head.requires_grad_(False)  # frozen outside the encoder: kept as it is
    narrow.apply(model, seed=0)
    enc = narrow.encoder(model)
    assert not any(p.requires_grad for p in enc.blocks[0].parameters())
    assert any(p.requires_grad for n, p in enc.blocks[1].named_parameters() if 'lora_' in n)
    assert not any(p.requires_grad for p in model.head.parameters())
    assert all(p.requires_grad for p in model.neck.parameters())
    model.train()
    assert not enc.blocks[0].training and enc.blocks[1].training


@pytest.mark.slow  # builds two VideoMAE-S detectors (~2 s)
def test_public_baseline_trains_lora_norms_patch_embed_and_merges_to_a_plain_model():
    cfg = Config.fromfile(LORA_CFG)
    init_default_scope('mmtad_ext')
    hook = HOOKS.build(cfg.custom_hooks[0])
    assert [h.type for h in cfg.custom_hooks] == ['LoRAFinetuneHook', 'EMAHook']
    assert hook.rank == 96 and hook.init == 'public'
    model = MODELS.build(cfg.model)
    plain_keys = set(model.state_dict())
    hook.apply(model, seed=0)
    enc = hook.encoder(model)
    kinds = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if not name.startswith('backbone.backbone.'):
            kind = 'outside'
        elif 'lora_' in name:
            kind = 'lora'
        elif 'patch_embed.' in name:
            kind = 'patch_embed'
        elif 'norm' in name.rsplit('.', 2)[-2]:
            kind = 'norm'
        else:
            kind = 'other'
        kinds[kind] = kinds.get(kind, 0) + p.numel()
    depth, dim = enc.depth, enc.embed_dims
    assert 'other' not in kinds  # no qkv/proj/mlp weight of the encoder trains
    # A (r x d) and B (d_out x r) on qkv (d -> 3d) and proj (d -> d) of every block
    assert kinds['lora'] == depth * 96 * ((dim + 3 * dim) + (dim + dim)) == 2654208
    n_norms = sum(p.numel() for n, p in enc.named_parameters()
                  if 'norm' in n.rsplit('.', 2)[-2])
    assert kinds['norm'] == n_norms == (depth * 2 + 1) * 2 * dim  # norm1, norm2; fc_norm
    assert kinds['patch_embed'] == sum(p.numel() for p in enc.patch_embed.parameters())
    outside = sum(p.numel() for n, p in model.named_parameters()
                  if not n.startswith('backbone.backbone.'))
    assert kinds['outside'] == outside > 0
    # the config's optimizer: encoder groups at 5e-5, the rest at 1e-4
    optim = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    lr_of = {id(p): g['lr'] for g in optim.param_groups for p in g['params']}
    for name, p in model.named_parameters():
        if p.requires_grad:
            want = 5e-5 if name.startswith('backbone.backbone.') else 1e-4
            assert lr_of[id(p)] == pytest.approx(want), name
    # a trained B makes the merge change qkv; merged, the state dict is the plain model's
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if 'lora_B' in name:
                p.normal_(0, 0.01)
    x = torch.randn(1, dim)  # a token for qkv of block 0
    qkv = enc.blocks[0].attn.qkv
    before = qkv(x)
    assert hook.merge(model) == 2 * depth
    assert torch.allclose(enc.blocks[0].attn.qkv(x), before, atol=1e-5)
    state = model.state_dict()
    assert set(state) == plain_keys and not any('lora_' in k for k in state)
    full = MODELS.build(Config.fromfile(FULL_CFG).model)
    full.load_state_dict(state, strict=True)


def _saved_model(runner):
    """The model whose weights the checkpoints' ``state_dict`` holds: EMAHook's average if
    any, else the trained model."""
    ema = find_ema(runner)
    return runner.model if ema is None else ema.module


class _Snapshot(Hook):
    """Records the model's weights before the LoRA hook injects (``before_train``) and, after
    the last epoch but before the merge, the saved model's outputs on ``batch`` (eval mode,
    LoRA present)."""

    priority = 'HIGHEST'  # before LoRAFinetuneHook (ABOVE_NORMAL) in both places

    def __init__(self, batch):
        self.batch, self.initial, self.outputs = batch, None, None

    def before_train(self, runner):
        self.initial = copy.deepcopy(runner.model.state_dict())

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == runner.train_loop.max_epochs:
            model = _saved_model(runner)
            assert has_lora(model.backbone.backbone)  # not merged yet
            self.outputs = _outputs(model, self.batch)
            runner.model.train()


def _outputs(model, batch):
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        cls_out, reg_out = model(**data, mode='tensor')
    return [t.clone() for t in cls_out + reg_out]


def _lora_video_cfg(tmp_path, root, name, ema):
    cfg = Config.fromfile(write_actionformer_video_config(tmp_path / f'{name}.py', root))
    cfg.model.backbone.frozen_modules = ()  # what trains in the encoder: the hook's choice
    cfg.train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=10)  # no validation
    cfg.custom_hooks = [dict(type='LoRAFinetuneHook', rank=4, seed=3)]
    if ema:  # as the public-form baseline config
        cfg.custom_hooks.append(
            dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(tmp_path / name)
    return cfg


@pytest.mark.slow  # builds a Runner
def test_runner_refuses_the_hook_over_the_models_frozen_modules(tiny_video_tad, tmp_path):
    cfg = _lora_video_cfg(tmp_path, tiny_video_tad, 'frozen', ema=True)
    cfg.model.backbone.frozen_modules = ('patch_embed', 'blocks.0')  # the tiny config's own
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r"model\.backbone\.frozen_modules holds 'patch_embed'"):
        runner.train()
    assert not osp.exists(osp.join(cfg.work_dir, 'epoch_1.pth'))


@pytest.mark.slow  # two tiny raw-video ActionFormer trainings through mmengine's Runner
@pytest.mark.parametrize('ema', [False, True], ids=['plain', 'ema'])
def test_runner_training_trains_only_lora_norms_patch_embed_and_saves_a_plain_merged_model(
        tiny_video_tad, tmp_path, ema):
    cfg = _lora_video_cfg(tmp_path, tiny_video_tad, 'full', ema)
    runner = Runner.from_cfg(cfg)
    batch = next(iter(runner.val_dataloader))
    snap = _Snapshot(batch)
    runner.register_hook(snap)
    runner.train()
    initial = snap.initial
    enc = 'backbone.backbone.'

    # (1) epoch 1 (mid-run, LoRA unmerged): the encoder's base weights are the initial ones;
    # LoRA, norms, patch embedding and the rest of the detector trained
    mid = torch.load(osp.join(cfg.work_dir, 'epoch_1.pth'), map_location='cpu',
                     weights_only=False)['state_dict']
    assert any('lora_A' in k for k in mid) and any('lora_B' in k for k in mid)
    plain_key = {k: k.replace('.base_layer.', '.') for k in mid if 'lora_' not in k}
    assert set(plain_key.values()) == set(initial)
    frozen, trained = [], []
    for k, p in plain_key.items():
        name = p[len(enc):] if p.startswith(enc) else None
        is_frozen = name is not None and not (
            re.fullmatch(r'.*norm\d*\.(weight|bias)', name) or name.startswith('patch_embed.'))
        if not torch.is_tensor(initial[p]) or not initial[p].is_floating_point():
            continue  # the EGS sampler's generator state, integer buffers
        same = torch.equal(mid[k], initial[p])
        if is_frozen:
            assert same, f'{p} (frozen) changed during training'
            frozen.append(p)
        elif not same:
            trained.append(p)
    assert any('.attn.qkv.weight' in p for p in frozen)
    assert any('.mlp.' in p for p in frozen) and any('.attn.proj.weight' in p for p in frozen)
    assert any(p.startswith(enc + 'patch_embed.') for p in trained)
    assert any(p.startswith(enc) and 'norm' in p for p in trained)
    assert any(not p.startswith('backbone.') for p in trained)
    assert any(torch.count_nonzero(v) for k, v in mid.items() if 'lora_B' in k)  # B trained

    # (2) the final checkpoint: no adapters, the plain model's keys, loads strictly into the
    # model built without the hook; its outputs are the LoRA model's before the merge
    final = torch.load(osp.join(cfg.work_dir, 'epoch_2.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert not any('lora_' in k for k in final) and set(final) == set(initial)
    assert not torch.equal(final[enc + 'blocks.0.attn.qkv.weight'],
                           initial[enc + 'blocks.0.attn.qkv.weight'])  # the merged delta
    init_default_scope('mmtad_ext')
    plain = MODELS.build(copy.deepcopy(cfg.model))
    plain.load_state_dict(final, strict=True)
    assert not has_lora(runner.model.backbone.backbone)
    assert not has_lora(_saved_model(runner).backbone.backbone)
    merged_out = _outputs(_saved_model(runner), batch)
    plain_out = _outputs(plain, batch)
    assert all(torch.equal(a, b) for a, b in zip(plain_out, merged_out))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(plain_out, snap.outputs))

    # (3) resumed from epoch 1 (LoRA unmerged) to epoch 2: the uninterrupted run's weights
    cfg_b = _lora_video_cfg(tmp_path, tiny_video_tad, 'resumed', ema)
    cfg_b.resume, cfg_b.load_from = True, osp.join(cfg.work_dir, 'epoch_1.pth')
    Runner.from_cfg(cfg_b).train()
    full = torch.load(osp.join(cfg.work_dir, 'epoch_2.pth'), map_location='cpu',
                      weights_only=False)
    resumed = torch.load(osp.join(cfg_b.work_dir, 'epoch_2.pth'), map_location='cpu',
                         weights_only=False)
    for key in ['state_dict'] + (['ema_state_dict'] if ema else []):
        a, b = full[key], resumed[key]
        assert set(a) == set(b) and not any('lora_' in k for k in b), key
        assert [k for k in a if torch.is_tensor(a[k]) and not torch.equal(a[k], b[k])] == []
