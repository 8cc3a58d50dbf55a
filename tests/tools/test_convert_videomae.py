"""tools/convert/videomae_to_mmtad.py: official VideoMAE checkpoints -> our configs.

The public checkpoints are rebuilt here from the parameter names and shapes of VideoMAE's
``modeling_pretrain.py`` / ``modeling_finetune.py`` (MCG-NJU/VideoMAE) with random values, and
the converted model is compared with a functional re-implementation of VideoMAE's forward on the
public keys (independent of the converter's key map).
"""
import argparse
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from _helpers.paths import REPO
from _helpers.tool_run import run
from mmtad_ext.utils.checkpoint_convert import (ConversionError, build_model_from_config,
                                                interpolate_pos_embed)
from mmtad_ext.utils import CheckpointError

TOOL = osp.join(REPO, 'tools', 'convert', 'videomae_to_mmtad.py')
TINY_RECOGNIZER = osp.join(REPO, 'configs', '_base_', 'models', 'videomae-tiny_recognizer.py')
TINY_TAD = osp.join(REPO, 'configs', 'actionformer',
                    'actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py')
VIDEOMAE_S_TAD = osp.join(REPO, 'configs', 'actionformer',
                          'actionformer_videomae-s_1xb2-60e_thumos14-rgb.py')
MMACTION_VIT_B = ('mmaction::recognition/videomae/'
                  'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py')
# the tiny recognizer: 8 frames x 32 px, tubelet 2, 8 px patches, width 64, 8 blocks, 4 heads
TINY = dict(dim=64, depth=8, heads=4, patch=8, tubelet=2, frames=8, img=32, classes=10)


def block_params(prefix, dim, gen, mlp=4):
    """One VideoMAE ``Block`` (qkv_bias=True) under ``prefix``, with VideoMAE's names."""
    r = lambda *s: torch.randn(*s, generator=gen) * 0.05  # noqa: E731
    return {
        f'{prefix}norm1.weight': 1 + r(dim), f'{prefix}norm1.bias': r(dim),
        f'{prefix}attn.q_bias': r(dim), f'{prefix}attn.v_bias': r(dim),
        f'{prefix}attn.qkv.weight': r(3 * dim, dim),
        f'{prefix}attn.proj.weight': r(dim, dim), f'{prefix}attn.proj.bias': r(dim),
        f'{prefix}norm2.weight': 1 + r(dim), f'{prefix}norm2.bias': r(dim),
        f'{prefix}mlp.fc1.weight': r(mlp * dim, dim), f'{prefix}mlp.fc1.bias': r(mlp * dim),
        f'{prefix}mlp.fc2.weight': r(dim, mlp * dim), f'{prefix}mlp.fc2.bias': r(dim)}


def finetuned_state(dim, depth, patch, tubelet, classes, seed=0, **_):
    """``VisionTransformer`` of modeling_finetune.py (use_mean_pooling, sinusoidal pos)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {'patch_embed.proj.weight': torch.randn(dim, 3, tubelet, patch, patch, generator=gen)
          * 0.05, 'patch_embed.proj.bias': torch.randn(dim, generator=gen) * 0.05}
    for i in range(depth):
        sd.update(block_params(f'blocks.{i}.', dim, gen))
    sd.update({'fc_norm.weight': 1 + 0.05 * torch.randn(dim, generator=gen),
               'fc_norm.bias': 0.05 * torch.randn(dim, generator=gen),
               'head.weight': 0.05 * torch.randn(classes, dim, generator=gen),
               'head.bias': 0.05 * torch.randn(classes, generator=gen)})
    return sd


def pretrained_state(dim, depth, patch, tubelet, seed=0, dec_dim=32, dec_depth=2, **_):
    """``PretrainVisionTransformer`` of modeling_pretrain.py: encoder, decoder, mask token."""
    gen = torch.Generator().manual_seed(seed)
    enc = finetuned_state(dim, depth, patch, tubelet, 1, seed)
    sd = {'encoder.' + k: v for k, v in enc.items() if not k.startswith(('fc_norm', 'head'))}
    sd.update({'encoder.norm.weight': 1 + 0.05 * torch.randn(dim, generator=gen),
               'encoder.norm.bias': 0.05 * torch.randn(dim, generator=gen)})
    for i in range(dec_depth):
        sd.update(block_params(f'decoder.blocks.{i}.', dec_dim, gen))
    sd.update({'decoder.norm.weight': torch.ones(dec_dim),
               'decoder.norm.bias': torch.zeros(dec_dim),
               'decoder.head.weight': torch.randn(3 * tubelet * patch**2, dec_dim, generator=gen),
               'decoder.head.bias': torch.zeros(3 * tubelet * patch**2),
               'encoder_to_decoder.weight': torch.randn(dec_dim, dim, generator=gen),
               'mask_token': torch.randn(1, 1, dec_dim, generator=gen)})
    return sd


def sinusoid(n, d):
    """VideoMAE's get_sinusoid_encoding_table (position / 10000^(2 (j // 2) / d))."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(d, dtype=torch.float64)[None]
    table = pos / torch.pow(10000, 2 * (j // 2) / d)
    table[:, 0::2] = table[:, 0::2].sin()
    table[:, 1::2] = table[:, 1::2].cos()
    return table.float()[None]


def videomae_tokens(sd, x, heads, prefix='', pos=None):
    """VideoMAE's encoder forward on the public keys (no masking): tokens after the blocks."""
    w = lambda k: sd[prefix + k]  # noqa: E731
    k = w('patch_embed.proj.weight')
    x = F.conv3d(x, k, w('patch_embed.proj.bias'), stride=k.shape[2:]).flatten(2).transpose(1, 2)
    b, n, c = x.shape
    x = x + (sinusoid(n, c) if pos is None else pos)
    depth = 1 + max(int(key.split('.')[1]) for key in sd if key.startswith(prefix + 'blocks.')
                    for key in [key[len(prefix):]])
    for i in range(depth):
        p = f'blocks.{i}.'
        h = F.layer_norm(x, (c, ), w(p + 'norm1.weight'), w(p + 'norm1.bias'), 1e-6)
        bias = torch.cat([w(p + 'attn.q_bias'), torch.zeros(c), w(p + 'attn.v_bias')])
        qkv = F.linear(h, w(p + 'attn.qkv.weight'), bias).reshape(b, n, 3, heads, -1)
        q, kk, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q * (c // heads)**-0.5) @ kk.transpose(-2, -1)).softmax(-1)
        x = x + F.linear((attn @ v).transpose(1, 2).reshape(b, n, c), w(p + 'attn.proj.weight'),
                         w(p + 'attn.proj.bias'))
        h = F.layer_norm(x, (c, ), w(p + 'norm2.weight'), w(p + 'norm2.bias'), 1e-6)
        h = F.linear(F.gelu(F.linear(h, w(p + 'mlp.fc1.weight'), w(p + 'mlp.fc1.bias'))),
                     w(p + 'mlp.fc2.weight'), w(p + 'mlp.fc2.bias'))
        x = x + h
    return x


def write_config(tmp_path, base, name='cfg.py', **backbone):
    """A config inheriting ``base`` with encoder overrides (e.g. use_learnable_pos_emb)."""
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        f.write(f'_base_ = [{base!r}]\n')
        if backbone:
            args = ', '.join(f'{k}={v!r}' for k, v in backbone.items())
            f.write(f'model = dict(backbone=dict({args}))\n')
    return path


@pytest.fixture
def tool(load_tool):
    return load_tool('convert/videomae_to_mmtad')


def test_finetuned_into_recognizer_equals_videomae_forward(tool, tmp_path):
    src, out = str(tmp_path / 'ft.pth'), str(tmp_path / 'out.pth')
    sd = finetuned_state(**TINY)
    torch.save({'module': sd}, src)
    cfg = write_config(tmp_path, TINY_RECOGNIZER)
    summary = tool.main([src, cfg, out])
    assert summary['layout'] == 'fine-tuned' and summary['classifier']
    assert summary['source_key'] == 'module' and summary['pos_embed'] == 'regenerated'
    assert summary['unmatched'] == 0 and summary['dropped'] == {}
    assert summary['mapped'] == len(sd)  # every public key mapped
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    model = build_model_from_config(Config.fromfile(cfg))
    model.load_state_dict(ckpt['state_dict'], strict=True)
    # hand map (independent of the converter): the public names, renamed one by one
    hand = {'backbone.pos_embed': model.backbone.pos_embed}
    for k, v in sd.items():
        k = (k.replace('patch_embed.proj.', 'patch_embed.projection.')
             .replace('mlp.fc1.', 'mlp.layers.0.0.').replace('mlp.fc2.', 'mlp.layers.1.'))
        hand['cls_head.fc_cls.' + k[5:] if k.startswith('head.') else 'backbone.' + k] = v
    assert hand.keys() == ckpt['state_dict'].keys()
    for k, v in hand.items():
        assert torch.equal(v, ckpt['state_dict'][k]), k
    x = torch.randn(2, 3, TINY['frames'], TINY['img'], TINY['img'],
                    generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model.cls_head(model.backbone(x))
        tokens = videomae_tokens(sd, x, TINY['heads'])
        ref = F.linear(F.layer_norm(tokens.mean(1), (TINY['dim'], ), sd['fc_norm.weight'],
                                    sd['fc_norm.bias'], 1e-6), sd['head.weight'], sd['head.bias'])
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_pretrained_into_tad_encoder_drops_decoder_and_loads_through_init_cfg(tool, tmp_path):
    src, out = str(tmp_path / 'pt.pth'), str(tmp_path / 'out.pth')
    sd = pretrained_state(**TINY, seed=3)
    torch.save({'model': sd}, src)
    summary = tool.main([src, TINY_TAD, out])
    assert summary['layout'] == 'pre-trained' and not summary['classifier']
    assert summary['encoder'] == 'backbone.backbone'
    decoder = [k for k in sd if k.startswith(('decoder.', 'encoder_to_decoder', 'mask_token'))]
    assert summary['dropped'] == {'MAE decoder (pre-training only)': len(decoder),
                                  'pre-trained final LayerNorm (VideoMAE fine-tuning replaces it '
                                  'by fc_norm)': 2}
    assert summary['mapped'] + len(decoder) + 2 == len(sd)  # every key mapped or dropped
    state = torch.load(out, weights_only=True)['state_dict']
    assert torch.equal(state['backbone.fc_norm.weight'], torch.ones(TINY['dim']))
    # the TAD config's init_cfg (Pretrained, checkpoint keys backbone.*) reads the file
    cfg = Config.fromfile(TINY_TAD)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=out)
    model = build_model_from_config(cfg)
    model.backbone.init_weights()
    encoder = model.backbone.backbone
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, state['backbone.' + k]), k
    x = torch.randn(1, 3, 4, TINY['img'], TINY['img'],  # the TAD snippets: 4 frames
                    generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = encoder.block_outputs(x)[encoder.block_ids[-1]]  # before any final norm
    torch.testing.assert_close(ours, videomae_tokens(sd, x, TINY['heads'], 'encoder.'),
                               rtol=0, atol=1e-5)


@pytest.mark.slow  # builds the VideoMAE-S ActionFormer (~1.5 s)
def test_finetuned_vit_s_real_names_and_shapes_into_videomae_s_tad_config(tool, tmp_path):
    """The real ViT-S (12 blocks, width 384, 16 x 224 px -> 1568 tokens, 400 classes) layout."""
    src, out = str(tmp_path / 'vit_s.pth'), str(tmp_path / 'out.pth')
    sd = finetuned_state(dim=384, depth=12, patch=16, tubelet=2, classes=400)
    assert len(sd) == 2 + 12 * 13 + 4  # patch embed, 13 per block, fc_norm, head
    torch.save({'module': sd}, src)
    summary = tool.main([src, VIDEOMAE_S_TAD, out])
    assert summary['mapped'] == len(sd) - 2
    assert summary['dropped'] == {'Kinetics classifier (the config has no classification head)': 2}
    assert summary['added'] == {
        'sinusoidal position table, regenerated for the target input size': 1}
    state = torch.load(out, weights_only=True)['state_dict']
    assert state['backbone.pos_embed'].shape == (1, 1568, 384)
    torch.testing.assert_close(state['backbone.pos_embed'], sinusoid(1568, 384), rtol=0, atol=1e-6)


def test_learnt_position_embedding_is_interpolated_to_the_config_size(tool, tmp_path):
    sd = finetuned_state(**TINY)
    # a checkpoint trained at 48 px (6 x 6 patches) and 8 frames with a learnt embedding
    pos = torch.randn(1, 4 * 6 * 6, TINY['dim'], generator=torch.Generator().manual_seed(4))
    sd['pos_embed'] = pos
    src, out = str(tmp_path / 'pos.pth'), str(tmp_path / 'out.pth')
    torch.save({'model': sd}, src)
    cfg = write_config(tmp_path, TINY_RECOGNIZER, use_learnable_pos_emb=True)
    summary = tool.main([src, cfg, out, '--src-num-frames', '8'])
    assert summary['pos_embed'] == 'interpolated'
    got = torch.load(out, weights_only=True)['state_dict']['backbone.pos_embed']
    assert got.shape == (1, 4 * 4 * 4, TINY['dim'])
    torch.testing.assert_close(got, interpolate_pos_embed(pos, (4, 6, 6), (4, 4, 4)))
    # the config keeps the fixed sinusoidal table: a learnt embedding is not silently replaced
    with pytest.raises(ConversionError, match='use_learnable_pos_emb=True'):
        tool.main([src, write_config(tmp_path, TINY_RECOGNIZER, 'fixed.py'), out])


def test_interpolate_pos_embed_identity_shapes_and_constants():
    pos = torch.randn(1, 8 * 14 * 14, 16)
    assert interpolate_pos_embed(pos, (8, 14, 14), (8, 14, 14)) is pos  # same grid: unchanged
    assert interpolate_pos_embed(pos, (8, 14, 14), (8, 10, 10)).shape == (1, 800, 16)
    assert interpolate_pos_embed(pos, (8, 14, 14), (4, 10, 12)).shape == (1, 480, 16)
    const = torch.full((1, 4 * 3 * 3, 5), 0.7)  # bicubic / linear keep a constant
    torch.testing.assert_close(interpolate_pos_embed(const, (4, 3, 3), (2, 5, 5)),
                               torch.full((1, 2 * 5 * 5, 5), 0.7))
    # time: linear in t stays linear in t (align_corners=False samples the cell centres)
    ramp = torch.arange(4.).repeat_interleave(9)[None, :, None]  # (1, 4 * 3 * 3, 1)
    got = interpolate_pos_embed(ramp, (4, 3, 3), (8, 3, 3)).reshape(8, 9)[:, 0]
    torch.testing.assert_close(got[1:-1], torch.tensor([0.25, 0.75, 1.25, 1.75, 2.25, 2.75]))
    with pytest.raises(ConversionError, match='does not fit'):
        interpolate_pos_embed(pos, (4, 14, 14), (4, 14, 14))


def test_unknown_checkpoint_is_refused_listing_its_keys(tool, tmp_path):
    sd = finetuned_state(**TINY)
    sd['blocks.0.attn.relative_position_bias_table'] = torch.zeros(3)
    sd['cls_token'] = torch.zeros(1, 1, TINY['dim'])
    src = str(tmp_path / 'odd.pth')
    torch.save({'model': sd}, src)
    with pytest.raises(ConversionError, match=r'2 key\(s\) match no rule: '
                       r'blocks\.0\.attn\.relative_position_bias_table, cls_token'):
        tool.main([src, TINY_RECOGNIZER, str(tmp_path / 'out.pth')])
    assert not osp.exists(tmp_path / 'out.pth')
    # right names, wrong model size: the strict check names the keys
    torch.save({'model': finetuned_state(**dict(TINY, dim=32, heads=2))}, src)
    with pytest.raises(CheckpointError, match='of another shape'):
        tool.main([src, TINY_RECOGNIZER, str(tmp_path / 'out.pth')])
    torch.save({'optimizer': {'lr': 1.0}}, src)
    with pytest.raises(ConversionError, match='no state dict found'):
        tool.main([src, TINY_RECOGNIZER, str(tmp_path / 'out.pth')])
    # VideoMAE's files also pickle the training arguments: read only when trusted
    torch.save({'model': finetuned_state(**TINY), 'args': argparse.Namespace(lr=1.0)}, src)
    with pytest.raises(ConversionError, match='--trust-checkpoint'):
        tool.main([src, TINY_RECOGNIZER, str(tmp_path / 'out.pth')])
    assert tool.main([src, TINY_RECOGNIZER, str(tmp_path / 'out.pth'), '--trust-checkpoint'])


@pytest.mark.slow  # tool subprocess
def test_tool_subprocess(tmp_path):
    src, out = str(tmp_path / 'pt.pth'), str(tmp_path / 'out.pth')
    torch.save({'model': pretrained_state(**TINY), 'args': {'model': 'tiny'}}, src)
    log = run([TOOL, src, TINY_TAD, out], cwd=str(tmp_path))
    assert '"layout": "pre-trained"' in log and '"unmatched": 0' in log
    assert torch.load(out, weights_only=True)['meta']['layout'] == 'pre-trained'


@pytest.mark.slow  # builds mmaction2's ViT-B recognizer (~3 s)
def test_finetuned_vit_b_into_mmaction2_kinetics_config(tool, tmp_path):
    """The real ViT-B (12 blocks, width 768, 400 classes) into mmaction2's own VideoMAE config,
    named as an installed package's config (``mmaction::``): the whole recognizer, strictly."""
    src, out = str(tmp_path / 'vit_b.pth'), str(tmp_path / 'out.pth')
    torch.save({'module': finetuned_state(dim=768, depth=12, patch=16, tubelet=2, classes=400)},
               src)
    summary = tool.main([src, MMACTION_VIT_B, out])
    assert summary['classifier'] and summary['mapped'] == 2 + 12 * 13 + 4
    assert summary['dropped'] == {} and summary['encoder'] == 'backbone'
    state = torch.load(out, weights_only=True)['state_dict']
    assert state['cls_head.fc_cls.weight'].shape == (400, 768)
