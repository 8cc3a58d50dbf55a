"""tools/convert/block_drop_tad_to_mmtad.py: Progressive_Block_Drop-TAD students -> shorter models.

The public checkpoints are rebuilt in the layout of nanxiaolu/Progressive_Block_Drop-TAD (an
OpenTAD ``ActionFormerStudent`` whose ``BackboneWrapper.model`` is a ``Recognizer3D`` with
``VisionTransformerLongLoRAStudent``: dropped blocks are ``nn.Identity`` without keys, LoRA
``attn.lora_qkv`` / ``attn.lora_proj`` with ``A`` (in, r) and ``B`` (r, out)) with random
values. The reference is the full-depth model with the blocks removed and the LoRA path added
beside ``qkv`` / ``proj`` as the public attention computes it (forward hooks), not merged.
"""
import copy
import os.path as osp
import re

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from _helpers.paths import REPO
from _helpers.tool_run import run
from mmtad_ext.utils import load_detector_checkpoint
from mmtad_ext.utils.checkpoint_convert import (ConversionError, build_model_from_config,
                                                merge_lora_linear)

TOOL = osp.join(REPO, 'tools', 'convert', 'block_drop_tad_to_mmtad.py')
TINY = osp.join(REPO, 'configs', 'block_drop',
                'block-drop_actionformer-videomae-tiny_1xb4-3x4e_synthetic-tad-rgb.py')
THUMOS = osp.join(REPO, 'configs', 'block_drop',
                  'block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py')
ENC = 'backbone.model.backbone.'  # the public encoder prefix


def full_student(config, window_size=-1, seed=0):
    """Our full-depth student of ``config`` with random values everywhere (norms, scales too)."""
    cfg = Config.fromfile(config)
    student = copy.deepcopy(cfg.model.student)
    student.projection.window_size = window_size  # the public projection: global attention
    model = build_model_from_config(cfg, student)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p + 0.05 * torch.randn(p.shape, generator=gen))
    return model


def public_state(model, kept, rank, seed=1):
    """The public student's state dict: our names mapped back by hand, dropped blocks left out,
    and trained (non-zero) LoRA on qkv / proj of every kept block. Returns (state, lora)."""
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith('_extra_state'):
            continue
        if k.startswith('backbone.backbone.'):
            rest = k[len('backbone.backbone.'):]
            block = re.match(r'blocks\.(\d+)\.', rest)
            if block is None or int(block.group(1)) in kept:
                sd[ENC + rest] = v.clone()
        elif k.startswith('neck.norms.'):
            sd['neck.fpn_norms.' + k[len('neck.norms.'):]] = v.clone()
        elif k.startswith('head.scales.'):
            sd['rpn_head.scale.' + k[len('head.scales.'):]] = v.clone()
        elif k.startswith('head.'):
            sd['rpn_head.' + k[len('head.'):]] = v.clone()
        else:
            assert k.startswith('projection.'), k
            sd[k] = v.clone()
    gen = torch.Generator().manual_seed(seed)
    dim = model.backbone.backbone.embed_dims
    lora = {}
    for i in kept:
        for layer, out in (('qkv', 3 * dim), ('proj', dim)):
            a = torch.randn(dim, rank, generator=gen) / rank**0.5
            b = 0.05 * torch.randn(rank, out, generator=gen)
            sd[f'{ENC}blocks.{i}.attn.lora_{layer}.A'] = a
            sd[f'{ENC}blocks.{i}.attn.lora_{layer}.B'] = b
            lora[(i, layer)] = (a, b)
    return sd, lora


def snippets(seed=2):
    """One window of the tiny raw-video config: 8 snippets of 4 frames at 32 px."""
    return torch.randn(1, 8, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def tool(load_tool):
    return load_tool('convert/block_drop_tad_to_mmtad')


def test_lora_merge_is_exact():
    gen = torch.Generator().manual_seed(0)
    w, bias = torch.randn(48, 16, generator=gen), torch.randn(48, generator=gen)
    a, b = torch.randn(16, 4, generator=gen), torch.randn(4, 48, generator=gen)
    x = torch.randn(5, 7, 16, generator=gen)
    for scaling in (1.0, 0.5):
        merged = merge_lora_linear(w, a, b, scaling)
        torch.testing.assert_close(F.linear(x, merged, bias),
                                   F.linear(x, w, bias) + scaling * (x @ a @ b),
                                   rtol=1e-5, atol=1e-5)
    with pytest.raises(ConversionError, match='do not fit'):
        merge_lora_linear(w, b, a)


@pytest.mark.slow  # three tiny detectors built and run (~2 s)
def test_student_converts_to_a_shorter_model_equal_to_the_public_forward(tool, tmp_path):
    kept, dropped = [0, 2, 3, 5, 6, 7], [1, 4]
    model = full_student(TINY)
    sd, lora = public_state(model, kept, rank=4)
    assert {f'{ENC}blocks.0.attn.lora_qkv.A', 'rpn_head.scale.0.scale', 'neck.fpn_norms.0.weight',
            'rpn_head.loss_normalizer', f'{ENC}patch_embed.projection.weight'} <= set(sd)
    assert not any(k.startswith(f'{ENC}blocks.1.') for k in sd)
    src = str(tmp_path / 'best.pth')
    noise = {k: torch.zeros_like(v) for k, v in sd.items()}  # state_dict (not EMA): unused
    torch.save({'epoch': 7, 'state_dict': {'module.' + k: v for k, v in noise.items()},
                'state_dict_ema': sd}, src)
    out = str(tmp_path / 'out')
    summary = tool.main([src, TINY, out])
    assert summary['source_key'] == 'state_dict_ema'
    assert summary['kept_blocks'] == kept and summary['dropped_blocks'] == dropped
    assert summary['depth'] == 6 and summary['original_depth'] == 8
    assert summary['merged_lora_layers'] == 12 and summary['unmatched'] == 0
    lora_keys = 4 * len(kept)
    assert summary['dropped'] == {
        'LoRA A / B, merged into attn.qkv / attn.proj (W + scaling (A B)^T)': lora_keys,
        'sinusoidal position table, regenerated for the target input size': 1}
    assert summary['mapped'] + lora_keys + 1 == len(sd)  # every key mapped or dropped

    cfg = Config.fromfile(summary['config'])
    assert cfg.block_drop_export == dict(kept_blocks=kept, dropped=dropped,
                                         source_checkpoint=osp.abspath(src))
    for leftover in ('student', 'teacher', 'stage_epochs', 'max_drops'):
        assert leftover not in cfg, leftover
    assert 'BlockDropHook' not in str(cfg.custom_hooks)
    assert cfg.model.backbone.backbone.depth == 6 and cfg.model.projection.window_size == -1
    converted = build_model_from_config(cfg)
    load_detector_checkpoint(converted, summary['weights'])  # strict, as tools/test.py
    assert torch.load(summary['weights'], weights_only=True)['meta']['block_drop_export'][
        'kept_blocks'] == kept

    # reference: the full-depth model, blocks removed, LoRA beside qkv / proj (not merged)
    model.backbone.backbone.remove_blocks(dropped)
    for i, blk in zip(model.backbone.backbone.block_ids, model.backbone.backbone.blocks):
        for layer in ('qkv', 'proj'):
            a, b = lora[(i, layer)]
            getattr(blk.attn, layer).register_forward_hook(
                lambda m, inp, out, a=a, b=b: out + inp[0] @ a @ b)
    with torch.no_grad():
        cls_ref, reg_ref = model.eval()(snippets(), mode='tensor')
        cls_out, reg_out = converted(snippets(), mode='tensor')
    for ours, ref in zip(cls_out + reg_out, cls_ref + reg_ref):
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    # ... and the LoRA changes the output (the check above could not pass without the merge)
    plain = build_model_from_config(cfg)
    sd_plain = torch.load(summary['weights'], weights_only=True)['state_dict']
    for new, old in enumerate(kept):
        for layer in ('qkv', 'proj'):
            key = f'backbone.backbone.blocks.{new}.attn.{layer}.weight'
            sd_plain[key] = sd[f'{ENC}blocks.{old}.attn.{layer}.weight']
    plain.load_state_dict(sd_plain)
    with torch.no_grad():
        assert not torch.allclose(plain(snippets(), mode='tensor')[0][0], cls_ref[0], atol=1e-3)


def test_unknown_or_inconsistent_checkpoints_are_refused(tool, tmp_path):
    sd, _ = public_state(full_student(TINY), [0, 1, 2, 3, 4, 5, 6, 7], rank=2)
    src, out = str(tmp_path / 'odd.pth'), str(tmp_path / 'out')
    odd = dict(sd, **{'backbone.model.cls_head.fc_cls.weight': torch.zeros(2, 64),
                      'teacher.projection.embed.0.conv.weight': torch.zeros(1)})
    torch.save({'state_dict_ema': odd}, src)
    with pytest.raises(ConversionError, match=r'2 key\(s\) match no rule: '
                       r'backbone\.model\.cls_head\.fc_cls\.weight, teacher\.projection'):
        tool.main([src, TINY, out])
    broken = {k: v for k, v in sd.items() if k != f'{ENC}blocks.3.attn.lora_proj.B'}
    torch.save({'state_dict_ema': broken}, src)
    with pytest.raises(ConversionError, match=r'blocks\.3\.attn\.lora_proj\.A: LoRA without'):
        tool.main([src, TINY, out])
    # a VideoMAE-L student into the VideoMAE-S / tiny config: blocks past the depth
    deep = dict(sd, **{k.replace('blocks.7.', 'blocks.20.'): v for k, v in sd.items()
                       if 'blocks.7.' in k})
    torch.save({'state_dict_ema': deep}, src)
    with pytest.raises(ConversionError, match=r'do not fit the depth 8'):
        tool.main([src, TINY, out])
    assert not osp.exists(osp.join(out, 'model.pth'))


@pytest.mark.slow  # builds the VideoMAE-S ActionFormer twice (~4 s)
def test_videomae_s_student_real_names_and_shapes(tool, tmp_path):
    """The paper's THUMOS14 student: VideoMAE-S (12 blocks, 384, 16 x 224 px), LoRA rank 96,
    3 blocks dropped, ActionFormer 512 wide with 20 classes."""
    kept = [0, 1, 2, 4, 5, 6, 8, 9, 11]
    model = full_student(THUMOS)
    sd, _ = public_state(model, kept, rank=96)
    assert sd[f'{ENC}blocks.11.attn.lora_qkv.A'].shape == (384, 96)
    assert sd[f'{ENC}blocks.11.attn.lora_qkv.B'].shape == (96, 1152)
    assert sd[f'{ENC}pos_embed'].shape == (1, 1568, 384)
    assert sd['rpn_head.cls_head.weight'].shape == (20, 512, 3)
    src = str(tmp_path / 'best.pth')
    torch.save({'state_dict_ema': sd}, src)
    summary = tool.main([src, THUMOS, str(tmp_path / 'out')])
    assert summary['dropped_blocks'] == [3, 7, 10] and summary['depth'] == 9
    assert summary['merged_lora_layers'] == 18 and summary['unmatched'] == 0


@pytest.mark.slow  # tool subprocess
def test_tool_subprocess(tmp_path):
    sd, _ = public_state(full_student(TINY), [0, 1, 2, 3, 5, 6, 7], rank=2)
    src, out = str(tmp_path / 'best.pth'), str(tmp_path / 'out')
    torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}}, src)
    log = run([TOOL, src, TINY, out, '--no-ema'], cwd=str(tmp_path))
    assert '"dropped_blocks": [\n  4\n ]' in log and '"unmatched": 0' in log
    assert osp.isfile(osp.join(out, 'model.pth'))


@pytest.mark.slow  # two tiny detectors built (~1.5 s)
def test_merged_uncompressed_model_into_a_plain_actionformer_config(tool, tmp_path):
    """A file already merged by the public merge_model.py (no LoRA keys, all blocks) into the
    uncompressed ActionFormer config (not a block-drop one): the encoder is found in the model."""
    plain = osp.join(REPO, 'configs', 'block_drop',
                     'actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb.py')
    model = full_student(TINY)
    sd, _ = public_state(model, list(range(8)), rank=2)
    sd = {k: v for k, v in sd.items() if '.lora_' not in k}
    src = str(tmp_path / 'merge.pth')
    torch.save({'state_dict_ema': sd}, src)
    summary = tool.main([src, plain, str(tmp_path / 'out')])
    assert summary['kept_blocks'] == list(range(8)) and summary['dropped_blocks'] == []
    assert summary['merged_lora_layers'] == 0 and summary['depth'] == 8
    state = torch.load(summary['weights'], weights_only=True)['state_dict']
    for k, v in model.state_dict().items():
        if not k.endswith('_extra_state'):
            assert torch.equal(state[k], v), k
