"""LoRAFinetuneHook and the public-form VideoMAE-S baseline config: what trains, what merges."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmtad_ext.engine.hooks import LoRAFinetuneHook
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
