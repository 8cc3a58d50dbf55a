"""tools/convert/opentad_to_mmtad.py: OpenTAD ActionFormer and public ETAD checkpoints.

The public state dicts are built from the parameter names and shapes of the public modules
(OpenTAD: ``projections/actionformer_proj.py``, ``bricks/{conv,transformer,misc}.py``,
``necks/fpn.py``, ``dense_heads/anchor_free_head.py``, ``backbones/{backbone_wrapper,vit}.py``;
sming256/ETAD: ``lib/models/detector/{detector,feature,pem}.py``), written out below from
that code with random values, independently of the converter's key map.
"""
import os.path as osp
from collections import OrderedDict

import pytest
import torch

from _helpers.paths import CONFIGS
from _helpers.tool_run import run_tool
from mmtad_ext.utils import CheckpointError, load_detector_checkpoint
from mmtad_ext.utils.convert import ConversionError, build_model_from_config

AF_THUMOS = osp.join(CONFIGS, 'actionformer', 'actionformer_2xb1-35e_thumos14-i3d-feature.py')
AF_ANET = osp.join(CONFIGS, 'actionformer', 'actionformer_1xb16-15e_activitynet-tsp-feature.py')
AF_VMAE_THUMOS = osp.join(CONFIGS, 'actionformer',
                          'actionformer_videomae-s_1xb2-60e_thumos14-rgb.py')
AF_VMAE_ANET = osp.join(CONFIGS, 'actionformer',
                        'actionformer_videomae-s_4xb4-15e_activitynet-rgb.py')
ETAD_PUBLIC = osp.join(CONFIGS, 'etad', 'etad_lstm-public_1xb16-6e_activitynet-tsp-feature.py')
ETAD_ANET = osp.join(CONFIGS, 'etad', 'etad_lstm_1xb16-6e_activitynet-tsp-feature.py')


# -- public layouts, from the public code -------------------------------------------------------
def opentad_actionformer_shapes(in_channels, channels, num_classes, arch=(2, 2, 5),
                                num_levels=6, num_convs=2, vit=None):
    """Names and shapes of OpenTAD's ActionFormer state dict (LN norms, drop path > 0).

    ``vit``: ``(embed_dims, depth)`` of a ``VisionTransformerCP`` backbone (224 px, 16
    frames, patch 16, tubelet 2, mean pooling) inside ``BackboneWrapper``.
    """
    c = channels
    shapes = OrderedDict()
    if vit is not None:
        d, depth = vit
        p = 'backbone.model.backbone.'
        shapes[p + 'patch_embed.projection.weight'] = (d, 3, 2, 16, 16)
        shapes[p + 'patch_embed.projection.bias'] = (d, )
        shapes[p + 'pos_embed'] = (1, 8 * 14 * 14, d)  # sinusoid buffer (persistent)
        for i in range(depth):
            b = f'{p}blocks.{i}.'
            for n in ('norm1', 'norm2'):
                shapes[b + n + '.weight'] = shapes[b + n + '.bias'] = (d, )
            shapes[b + 'attn.q_bias'] = shapes[b + 'attn.v_bias'] = (d, )
            shapes[b + 'attn.qkv.weight'] = (3 * d, d)
            shapes[b + 'attn.proj.weight'], shapes[b + 'attn.proj.bias'] = (d, d), (d, )
            shapes[b + 'mlp.layers.0.0.weight'] = (4 * d, d)
            shapes[b + 'mlp.layers.0.0.bias'] = (4 * d, )
            shapes[b + 'mlp.layers.1.weight'], shapes[b + 'mlp.layers.1.bias'] = (d, 4 * d), (d, )
        shapes[p + 'fc_norm.weight'] = shapes[p + 'fc_norm.bias'] = (d, )
    for i in range(arch[0]):  # ConvModule with LN: conv without bias
        shapes[f'projection.embed.{i}.conv.weight'] = (c, in_channels if i == 0 else c, 3)
        shapes[f'projection.embed.{i}.norm.weight'] = (c, )
        shapes[f'projection.embed.{i}.norm.bias'] = (c, )
    blocks = [f'projection.stem.{i}.' for i in range(arch[1])]
    blocks += [f'projection.branch.{i}.' for i in range(arch[2])]
    for b in blocks:  # TransformerBlock with (Local)MaskedMHCA
        for n in ('ln1', 'ln2'):
            shapes[b + n + '.weight'] = shapes[b + n + '.bias'] = (c, )
        for n in ('query', 'key', 'value'):
            shapes[f'{b}attn.{n}_conv.conv.weight'] = (c, 1, 3)  # depthwise, no bias
            shapes[f'{b}attn.{n}_norm.weight'] = shapes[f'{b}attn.{n}_norm.bias'] = (c, )
        for n in ('key', 'query', 'value', 'proj'):
            shapes[f'{b}attn.{n}.weight'], shapes[f'{b}attn.{n}.bias'] = (c, c, 1), (c, )
        shapes[b + 'mlp.0.weight'], shapes[b + 'mlp.0.bias'] = (4 * c, c, 1), (4 * c, )
        shapes[b + 'mlp.3.weight'], shapes[b + 'mlp.3.bias'] = (c, 4 * c, 1), (c, )
        shapes[b + 'drop_path_attn.scale'] = shapes[b + 'drop_path_mlp.scale'] = (1, c, 1)
    for i in range(num_levels):
        shapes[f'neck.fpn_norms.{i}.weight'] = shapes[f'neck.fpn_norms.{i}.bias'] = (c, )
    shapes['rpn_head.loss_normalizer'] = ()
    for tower in ('cls_convs', 'reg_convs'):
        for i in range(num_convs):
            shapes[f'rpn_head.{tower}.{i}.conv.weight'] = (c, c, 3)
            shapes[f'rpn_head.{tower}.{i}.norm.weight'] = (c, )
            shapes[f'rpn_head.{tower}.{i}.norm.bias'] = (c, )
    shapes['rpn_head.cls_head.weight'], shapes['rpn_head.cls_head.bias'] = (
        (num_classes, c, 3), (num_classes, ))
    shapes['rpn_head.reg_head.weight'], shapes['rpn_head.reg_head.bias'] = (2, c, 3), (2, )
    for i in range(num_levels):
        shapes[f'rpn_head.scale.{i}.scale'] = ()
    return shapes


def public_etad_shapes(in_channels=512, stages=3, roi_size=24, mid=512, fc=128):
    """Names and shapes of sming256/ETAD's ``TAL_model`` (feature mode) state dict: the
    ``detector_model`` under ``base_detector`` (feature_module, tem, stage_conv, stage_pem)."""
    shapes = OrderedDict()
    f = 'base_detector.temporal_enhance.'
    for name, c_out, c_in, k in (('layer1', 256, in_channels, 3), ('layer2_f', 128, 256, 3),
                                 ('layer2_b', 128, 256, 3), ('layer2_d', 256, 256, 3),
                                 ('layer3', 256, 512, 1)):  # conv (groups 4, no bias) + GN
        shapes[f'{f}{name}.0.weight'] = (c_out, c_in // 4, k)
        shapes[f'{f}{name}.1.weight'] = shapes[f'{f}{name}.1.bias'] = (c_out, )
    for lstm in ('mem_f', 'mem_b'):
        shapes[f'{f}{lstm}.weight_ih_l0'] = shapes[f'{f}{lstm}.weight_hh_l0'] = (1024, 256)
        shapes[f'{f}{lstm}.bias_ih_l0'] = shapes[f'{f}{lstm}.bias_hh_l0'] = (1024, )
    shapes['base_detector.tem.0.weight'], shapes['base_detector.tem.0.bias'] = (256, 64, 3), (256, )
    shapes['base_detector.tem.2.weight'], shapes['base_detector.tem.2.bias'] = (2, 256, 1), (2, )
    for i in range(stages):
        shapes[f'base_detector.stage_conv.{i}.0.weight'] = (256, 64, 3)
        shapes[f'base_detector.stage_conv.{i}.0.bias'] = (256, )
        p = f'base_detector.stage_pem.{i}.'
        shapes[p + 'reduce_dim_before.0.weight'] = (128, 256, 3)
        shapes[p + 'reduce_dim_before.0.bias'] = (128, )
        shapes[p + 'reduce_dim_ext.0.weight'] = (mid, 128 * roi_size)
        shapes[p + 'reduce_dim_ext.0.bias'] = (mid, )
        for head, out in (('iou_fc', 2), ('cls_se_fc', 2), ('reg_cw_fc', 2)):
            dims = [mid, fc, fc, fc, out]
            for j in range(4):
                shapes[f'{p}{head}.{2 * j}.weight'] = (dims[j + 1], dims[j])
                shapes[f'{p}{head}.{2 * j}.bias'] = (dims[j + 1], )
        for head in ('reg_s_fc', 'reg_e_fc'):
            dims = [128 * roi_size // 4, mid, fc, fc, fc, 1]
            for j in range(5):
                shapes[f'{p}{head}.{2 * j}.weight'] = (dims[j + 1], dims[j])
                shapes[f'{p}{head}.{2 * j}.bias'] = (dims[j + 1], )
    return shapes


def random_state_dict(shapes, seed, prefix='module.'):
    """Random values (LayerNorm-like scales near 1) with a DDP prefix, as OpenTAD saves."""
    g = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for k, s in shapes.items():
        v = torch.randn(s, generator=g) * 0.05
        if k.endswith('scale') or 'norm' in k and k.endswith('weight'):
            v = v + 1.0
        if k.endswith('loss_normalizer'):
            v = torch.tensor(123.0)
        out[prefix + k] = v
    return out


def opentad_checkpoint(path, shapes, seed=0, ema=True):
    """An OpenTAD checkpoint file (tools/train.py's save_checkpoint): epoch, state_dict and,
    with EMA, state_dict_ema (other values)."""
    ckpt = dict(epoch=34, state_dict=random_state_dict(shapes, seed), optimizer={},
                scheduler={})
    if ema:
        ckpt['state_dict_ema'] = random_state_dict(shapes, seed + 100)
    torch.save(ckpt, path)
    return ckpt


def hand_map_actionformer(public):
    """Our names for OpenTAD's, written by hand with plain string edits."""
    out = OrderedDict()
    for k, v in public.items():
        k = k[len('module.'):]
        k = k.replace('backbone.model.backbone.', 'backbone.backbone.')
        k = k.replace('neck.fpn_norms.', 'neck.norms.')
        k = k.replace('rpn_head.scale.', 'head.scales.').replace('rpn_head.', 'head.')
        out[k] = v
    return out


@pytest.fixture
def tool(load_tool):
    return load_tool('convert/opentad_to_mmtad')


# -- ActionFormer -------------------------------------------------------------------------------
@pytest.mark.parametrize('config,in_channels,channels,num_classes', [
    pytest.param(AF_THUMOS, 2048, 512, 20, marks=pytest.mark.slow),  # ~5 s: width 512
    (AF_ANET, 512, 256, 1)])
def test_actionformer_outputs_equal_hand_loaded_weights(tool, tmp_path, config, in_channels,
                                                        channels, num_classes):
    shapes = opentad_actionformer_shapes(in_channels, channels, num_classes)
    ckpt = opentad_checkpoint(str(tmp_path / 'opentad.pth'), shapes)
    ours = build_model_from_config(config)
    converted, info = tool.convert(str(tmp_path / 'opentad.pth'), ours)  # loads them strictly
    assert info['layout'] == 'actionformer' and info['entry'] == 'state_dict_ema'
    assert info['mapped'] == len(shapes) and info['dropped'] == []  # every key mapped
    assert info['filled_from_config'] == []
    assert torch.equal(ours.state_dict()['head.cls_head.weight'], converted['head.cls_head.weight'])
    by_hand = build_model_from_config(config)
    by_hand.load_state_dict(hand_map_actionformer(ckpt['state_dict_ema']), strict=True)
    feats = torch.randn(2, in_channels, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cls_a, reg_a = ours(feats, None, mode='tensor')
        cls_b, reg_b = by_hand(feats, None, mode='tensor')
    assert len(cls_a) == 6
    for a, b in zip(cls_a + reg_a, cls_b + reg_b):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    # the EMA weights, not the raw ones, were taken; --weights raw takes the others
    key = 'rpn_head.cls_head.weight'
    assert torch.equal(converted['head.cls_head.weight'], ckpt['state_dict_ema']['module.' + key])
    raw, info = tool.convert(str(tmp_path / 'opentad.pth'), by_hand, weights='raw')
    assert info['entry'] == 'state_dict'
    assert torch.equal(raw['head.cls_head.weight'], ckpt['state_dict']['module.' + key])


@pytest.mark.slow  # two VideoMAE-S models, ~3 s each
@pytest.mark.parametrize('config', [AF_VMAE_THUMOS, AF_VMAE_ANET])
def test_actionformer_videomae_end_to_end_loads_strictly(tool, tmp_path, config):
    """OpenTAD's AdaTAD fullft / frozen layout (VisionTransformerCP in BackboneWrapper) of
    VideoMAE-S (384 wide, 12 blocks) onto the VideoMAE-S ActionFormer configs here."""
    cfg_model = build_model_from_config(config)
    num_classes, channels = cfg_model.state_dict()['head.cls_head.weight'].shape[:2]
    shapes = opentad_actionformer_shapes(384, channels, num_classes, vit=(384, 12))
    ckpt = opentad_checkpoint(str(tmp_path / 'e2e.pth'), shapes, ema=False)
    converted, info = tool.convert(str(tmp_path / 'e2e.pth'), config)
    assert info['mapped'] == len(shapes) and info['entry'] == 'state_dict'
    assert info['filled_from_config'] == ['backbone._extra_state']  # EGS sampler state
    qkv = 'backbone.model.backbone.blocks.11.attn.qkv.weight'
    assert torch.equal(converted['backbone.backbone.blocks.11.attn.qkv.weight'],
                       ckpt['state_dict']['module.' + qkv])
    by_hand = hand_map_actionformer(ckpt['state_dict'])
    assert set(by_hand) == set(converted) - {'backbone._extra_state'}
    for k, v in by_hand.items():
        assert torch.equal(converted[k], v), k


def test_adatad_adapter_checkpoint_is_refused_with_the_reason(tool, tmp_path):
    shapes = opentad_actionformer_shapes(8, 8, 2, arch=(1, 1, 1), num_levels=2, num_convs=1,
                                         vit=(8, 1))
    shapes['backbone.model.backbone.blocks.0.adapter.down_proj.weight'] = (2, 8)
    opentad_checkpoint(str(tmp_path / 'adapter.pth'), shapes)
    with pytest.raises(ConversionError, match='blocks.0.adapter.down_proj.weight.*adapters'):
        tool.convert(str(tmp_path / 'adapter.pth'), AF_VMAE_THUMOS)


def test_unmatched_keys_are_listed(tool, tmp_path):
    shapes = opentad_actionformer_shapes(8, 8, 2, arch=(1, 1, 1), num_levels=2, num_convs=1)
    shapes['projection.stem.0.attn.rel_pe'] = (1, 4, 1, 19)
    shapes['rpn_head.extra_layer.weight'] = (3, )
    opentad_checkpoint(str(tmp_path / 'odd.pth'), shapes)
    with pytest.raises(ConversionError) as e:
        tool.convert(str(tmp_path / 'odd.pth'), AF_THUMOS)
    msg = str(e.value)
    assert '2 of' in msg and 'projection.stem.0.attn.rel_pe' in msg
    assert 'rpn_head.extra_layer.weight' in msg and 'odd.pth' in msg


def test_unknown_checkpoint_and_wrong_config_are_refused(tool, tmp_path):
    torch.save(dict(state_dict={'module.fc.weight': torch.zeros(2, 2)}), tmp_path / 'x.pth')
    with pytest.raises(ConversionError, match='neither an OpenTAD ActionFormer.*fc.weight'):
        tool.convert(str(tmp_path / 'x.pth'), AF_THUMOS)
    # 20-class weights against the class-agnostic ActivityNet config: the shapes are listed
    opentad_checkpoint(str(tmp_path / 'th.pth'), opentad_actionformer_shapes(512, 256, 20))
    with pytest.raises(CheckpointError,
                       match=r'2 key\(s\) of another shape.*cls_head.bias \(20,\) vs \(1,\)'):
        tool.convert(str(tmp_path / 'th.pth'), AF_ANET)


@pytest.mark.slow  # subprocess
def test_tool_writes_a_checkpoint_tools_test_loads(tmp_path):
    shapes = opentad_actionformer_shapes(512, 256, 1)
    opentad_checkpoint(str(tmp_path / 'anet.pth'), shapes)
    out = str(tmp_path / 'out' / 'af.pth')
    proc = run_tool('convert/opentad_to_mmtad',
                    [str(tmp_path / 'anet.pth'), out, '--config', AF_ANET], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'mapped {len(shapes)} key(s)' in proc.stdout + proc.stderr
    model = build_model_from_config(AF_ANET)
    ckpt = load_detector_checkpoint(model, out)  # strict, as tools/test.py
    assert ckpt['meta']['converter'] == 'opentad_to_mmtad'
    assert ckpt['meta']['layout'] == 'actionformer'
    torch.save(dict(state_dict={'module.fc.weight': torch.zeros(2)}), tmp_path / 'bad.pth')
    proc = run_tool('convert/opentad_to_mmtad',
                    [str(tmp_path / 'bad.pth'), out + '2', '--config', AF_ANET], cwd=tmp_path)
    assert proc.returncode == 1 and 'error:' in proc.stderr and 'fc.weight' in proc.stderr
    assert not osp.exists(out + '2')


# -- ETAD ---------------------------------------------------------------------------------------
def test_public_etad_maps_every_key_and_loads_strictly(tool, tmp_path):
    shapes = public_etad_shapes()
    # sming256/ETAD tools/train.py saves model.module.state_dict(): no DDP prefix
    public = random_state_dict(shapes, 3, prefix='')
    torch.save(dict(epoch=5, state_dict=public, optimizer={}, scheduler={}),
                tmp_path / 'etad.pth')
    converted, info = tool.convert(str(tmp_path / 'etad.pth'), ETAD_PUBLIC)
    assert info['layout'] == 'etad' and info['mapped'] == len(shapes)
    assert info['filled_from_config'] == ['_extra_state']  # proposal sampler state
    pairs = {  # a few by hand
        'base_detector.temporal_enhance.layer2_d.0.weight': 'neck.mid_conv.conv.weight',
        'base_detector.temporal_enhance.mem_b.weight_hh_l0': 'neck.lstm_bwd.weight_hh_l0',
        'base_detector.tem.2.bias': 'boundary_head.out.bias',
        'base_detector.stage_conv.2.0.weight': 'proposal_head.stages.2.residual.0.weight',
        'base_detector.stage_pem.1.cls_se_fc.6.weight':
        'proposal_head.stages.1.boundary_branch.6.weight',
        'base_detector.stage_pem.0.reg_e_fc.8.bias': 'proposal_head.stages.0.end_branch.8.bias',
    }
    for src, dst in pairs.items():
        assert torch.equal(converted[dst], public[src])


def test_public_etad_onto_the_other_etad_config_names_the_public_config(tool, tmp_path):
    torch.save(dict(state_dict=random_state_dict(public_etad_shapes(), 0, prefix='')),
               tmp_path / 'etad.pth')
    with pytest.raises(ConversionError,
                       match='(?s)another shape.*use configs/etad/etad_lstm-public_'):
        tool.convert(str(tmp_path / 'etad.pth'), ETAD_ANET)


@pytest.mark.parametrize('with_detector,extra,reason', [
    (False, {'projection.convs.0.conv.weight': (256, 100, 3),
             'roi_head.proposal_heads.0.shared_conv_fc.fcs.0.weight': (512, 16)},
     "OpenTAD's own ETAD"),
    (True, {'feature_extractor.backbone.stem.0.weight': (45, 3, 1, 7, 7)}, 'end-to-end ETAD'),
])
def test_unsupported_etad_checkpoints_are_refused_with_the_reason(tool, tmp_path, with_detector,
                                                                   extra, reason):
    shapes = public_etad_shapes() if with_detector else OrderedDict()
    shapes.update(extra)
    opentad_checkpoint(str(tmp_path / 'etad_x.pth'), shapes)
    with pytest.raises(ConversionError, match=reason):
        tool.convert(str(tmp_path / 'etad_x.pth'), ETAD_PUBLIC)
