"""Convert OpenTAD ActionFormer and public ETAD checkpoints into checkpoints of this package.

Run::

    python tools/convert/opentad_to_mmtad.py SRC.pth OUT.pth --config CONFIG [--weights auto]
    python tools/test.py CONFIG OUT.pth

Layouts (recognised from the keys, or named with ``--layout``):

- ``actionformer``: OpenTAD's ``ActionFormer`` (``Conv1DTransformerProj`` projection,
  ``FPNIdentity`` neck, ``ActionFormerHead``; github.com/sming256/OpenTAD,
  ``configs/actionformer``), feature-based, or end to end with the ``VisionTransformerCP``
  VideoMAE backbone inside OpenTAD's ``BackboneWrapper`` (AdaTAD's ``fullft`` / ``frozen``
  settings). Checkpoints with AdaTAD's temporal-informative adapters (``adapter`` settings)
  are refused: no model here has those adapters.
- ``etad``: the public ETAD code (github.com/sming256/ETAD, ``TAL_model``), feature-based. Its
  feature module has grouped convolutions and per-stream convs after the LSTMs, and its RoIAlign
  the legacy ``aligned=False`` convention; ``configs/etad/etad_lstm-public_*`` have that form
  (``LSTMTemporalAggregation(groups=4, branch_convs=True)``, ``ETADBoundaryHead(groups=4)``,
  ``ETADCascadeHead(roi_aligned=False, roi_sampling_ratio=0)``).

OpenTAD checkpoints hold ``state_dict`` and (with ``solver.ema=True``, as every OpenTAD
ActionFormer config sets) ``state_dict_ema``; OpenTAD's test tool evaluates the EMA weights
then, and so does ``--weights auto`` here. The converted file holds
``dict(state_dict, meta)``; it is checked against ``--config`` by a strict load before it is
written. Every source key is mapped (or the tool stops and lists the keys it does not know).
"""
import argparse
import json
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import mmtad_ext  # noqa: F401  (first: registers modules, applies compat)
import torch
from mmengine.logging import print_log

from mmtad_ext.utils import CheckpointError, run_cli
from mmtad_ext.utils.convert import (ConversionError, KeyRule, apply_key_map,
                                     build_model_from_config, check_converted,
                                     complete_extra_state, load_public_state_dict,
                                     save_converted)
from mmtad_ext.utils.errors import DEBUG_HELP

N = r'(\d+)'  # a layer index

# OpenTAD ActionFormer -> ActionFormer here. Parameter names from OpenTAD's
# projections/actionformer_proj.py, bricks/{conv,transformer,misc}.py, necks/fpn.py,
# dense_heads/anchor_free_head.py and backbones/{backbone_wrapper,vit}.py.
_BLOCK = r'projection\.(stem|branch)\.' + N + r'\.'
_VIT = r'backbone\.model\.backbone\.'
ACTIONFORMER_RULES = [
    # projection: masked conv embedding, stem and branch transformer blocks (same names)
    KeyRule(r'projection\.embed\.' + N + r'\.(conv\.weight|conv\.bias|norm\.weight|norm\.bias)',
            r'projection.embed.\1.\2'),
    KeyRule(_BLOCK + r'(ln1|ln2)\.(weight|bias)', r'projection.\1.\2.\3.\4'),
    KeyRule(_BLOCK + r'attn\.(query|key|value)_conv\.conv\.weight',
            r'projection.\1.\2.attn.\3_conv.conv.weight'),
    KeyRule(_BLOCK + r'attn\.(query|key|value)_norm\.(weight|bias)',
            r'projection.\1.\2.attn.\3_norm.\4'),
    KeyRule(_BLOCK + r'attn\.(query|key|value|proj)\.(weight|bias)',
            r'projection.\1.\2.attn.\3.\4'),
    KeyRule(_BLOCK + r'mlp\.(0|3)\.(weight|bias)', r'projection.\1.\2.mlp.\3.\4'),
    KeyRule(_BLOCK + r'drop_path_(attn|mlp)\.scale', r'projection.\1.\2.drop_path_\3.scale'),
    # neck: per-level LayerNorms
    KeyRule(r'neck\.fpn_norms\.' + N + r'\.(weight|bias)', r'neck.norms.\1.\2'),
    # head (rpn_head there)
    KeyRule(r'rpn_head\.loss_normalizer', r'head.loss_normalizer'),
    KeyRule(r'rpn_head\.(cls_convs|reg_convs)\.' + N + r'\.(conv\.weight|norm\.weight|norm\.bias)',
            r'head.\1.\2.\3'),
    KeyRule(r'rpn_head\.(cls_head|reg_head)\.(weight|bias)', r'head.\1.\2'),
    KeyRule(r'rpn_head\.scale\.' + N + r'\.scale', r'head.scales.\1.scale'),
    # end to end: VisionTransformerCP (mmaction2's VisionTransformer names) in BackboneWrapper
    # (.model = mmaction2 Recognizer3D, .backbone = the ViT) -> EGSBackboneWrapper.backbone
    KeyRule(_VIT + r'(patch_embed\.projection\.(?:weight|bias)|pos_embed)',
            r'backbone.backbone.\1'),
    KeyRule(_VIT + r'blocks\.' + N + r'\.(norm1|norm2)\.(weight|bias)',
            r'backbone.backbone.blocks.\1.\2.\3'),
    KeyRule(_VIT + r'blocks\.' + N + r'\.attn\.(q_bias|v_bias|qkv\.weight|proj\.weight|proj\.bias)',
            r'backbone.backbone.blocks.\1.attn.\2'),
    KeyRule(_VIT + r'blocks\.' + N + r'\.mlp\.layers\.(0\.0|1)\.(weight|bias)',
            r'backbone.backbone.blocks.\1.mlp.layers.\2.\3'),
    KeyRule(_VIT + r'fc_norm\.(weight|bias)', r'backbone.backbone.fc_norm.\1'),
]

# sming256/ETAD TAL_model (feature mode) -> ETAD here (public-form neck, grouped boundary conv).
# Names from lib/models/detector/{detector,feature,pem}.py and lib/models/build_model.py.
_PEM = r'base_detector\.stage_pem\.' + N + r'\.'
ETAD_RULES = [
    # feature module -> LSTMTemporalAggregation(groups=4, branch_convs=True)
    KeyRule(r'base_detector\.temporal_enhance\.layer1\.0\.weight', r'neck.in_proj.conv.weight'),
    KeyRule(r'base_detector\.temporal_enhance\.layer1\.1\.(weight|bias)', r'neck.in_proj.gn.\1'),
    KeyRule(r'base_detector\.temporal_enhance\.mem_f\.(\w+_l0)', r'neck.lstm_fwd.\1'),
    KeyRule(r'base_detector\.temporal_enhance\.mem_b\.(\w+_l0)', r'neck.lstm_bwd.\1'),
    KeyRule(r'base_detector\.temporal_enhance\.layer2_f\.0\.weight', r'neck.fwd_conv.conv.weight'),
    KeyRule(r'base_detector\.temporal_enhance\.layer2_f\.1\.(weight|bias)', r'neck.fwd_conv.gn.\1'),
    KeyRule(r'base_detector\.temporal_enhance\.layer2_b\.0\.weight', r'neck.bwd_conv.conv.weight'),
    KeyRule(r'base_detector\.temporal_enhance\.layer2_b\.1\.(weight|bias)', r'neck.bwd_conv.gn.\1'),
    KeyRule(r'base_detector\.temporal_enhance\.layer2_d\.0\.weight', r'neck.mid_conv.conv.weight'),
    KeyRule(r'base_detector\.temporal_enhance\.layer2_d\.1\.(weight|bias)', r'neck.mid_conv.gn.\1'),
    KeyRule(r'base_detector\.temporal_enhance\.layer3\.0\.weight', r'neck.fuse.conv.weight'),
    KeyRule(r'base_detector\.temporal_enhance\.layer3\.1\.(weight|bias)', r'neck.fuse.gn.\1'),
    # temporal evaluation (conv g4 + ReLU, conv 1x1, sigmoid) -> ETADBoundaryHead(groups=4)
    KeyRule(r'base_detector\.tem\.0\.(weight|bias)', r'boundary_head.conv.conv.\1'),
    KeyRule(r'base_detector\.tem\.2\.(weight|bias)', r'boundary_head.out.\1'),
    # cascade stages: stage conv + pem_module -> ETADCascadeHead.stages[i]
    KeyRule(r'base_detector\.stage_conv\.' + N + r'\.0\.(weight|bias)',
            r'proposal_head.stages.\1.residual.0.\2'),
    KeyRule(_PEM + r'reduce_dim_before\.0\.(weight|bias)', r'proposal_head.stages.\1.reduce.0.\2'),
    KeyRule(_PEM + r'reduce_dim_ext\.0\.(weight|bias)', r'proposal_head.stages.\1.ext_fc.0.\2'),
    KeyRule(_PEM + r'iou_fc\.([0246])\.(weight|bias)',
            r'proposal_head.stages.\1.iou_branch.\2.\3'),
    KeyRule(_PEM + r'cls_se_fc\.([0246])\.(weight|bias)',
            r'proposal_head.stages.\1.boundary_branch.\2.\3'),
    KeyRule(_PEM + r'reg_cw_fc\.([0246])\.(weight|bias)',
            r'proposal_head.stages.\1.center_width_branch.\2.\3'),
    KeyRule(_PEM + r'reg_s_fc\.([02468])\.(weight|bias)',
            r'proposal_head.stages.\1.start_branch.\2.\3'),
    KeyRule(_PEM + r'reg_e_fc\.([02468])\.(weight|bias)',
            r'proposal_head.stages.\1.end_branch.\2.\3'),
]

LAYOUTS = dict(actionformer=ACTIONFORMER_RULES, etad=ETAD_RULES)

# recognised, explained refusals: (key pattern, why no config here fits)
KNOWN_UNSUPPORTED = [
    (r'backbone\.model\.backbone\.blocks\.\d+\.adapter\.', 'AdaTAD temporal-informative '
     'adapters (OpenTAD configs/adatad/*_adapter.py): no model here has these adapters; '
     'the fullft / frozen settings convert'),
    (r'roi_head\.proposal_heads\.', "OpenTAD's own ETAD (ETADHead with shared_conv_fc / "
     'iou_head / se_head / reg_head): its proposal head differs from the public ETAD code '
     'that ETADCascadeHead follows; convert checkpoints of github.com/sming256/ETAD instead'),
    (r'feature_extractor\.', 'an end-to-end ETAD checkpoint (TSP R(2+1)D encoder in '
     "feature_extractor): no config here has that encoder; the feature-based ETAD converts"),
    (r'projection\.proj\.', 'multi-stream input projections of Conv1DTransformerProj '
     '(in_channels given as a list): the ActionFormer projection here has one input'),
]


def detect_layout(state_dict: Dict, source: str) -> str:
    """The layout of a (prefix-stripped) public state dict.

    Raises:
        ConversionError: A known but unsupported checkpoint (the reason is given) or an
            unknown one (its first keys are listed).
    """
    keys = list(state_dict)
    for pattern, why in KNOWN_UNSUPPORTED:
        hits = [k for k in keys if re.match(pattern, k)]
        if hits:
            raise ConversionError(f'{source}: {len(hits)} key(s) such as {hits[0]} come from '
                                  f'{why}')
    if any(k.startswith('rpn_head.') for k in keys) and any(
            k.startswith('projection.') for k in keys):
        return 'actionformer'
    if any(k.startswith('base_detector.') for k in keys):
        return 'etad'
    raise ConversionError(
        f'{source} is neither an OpenTAD ActionFormer checkpoint (projection.*, rpn_head.*) '
        f'nor a public ETAD one (base_detector.*); its first keys: {", ".join(keys[:8])}')


PUBLIC_ETAD_CONFIG = 'configs/etad/etad_lstm-public_1xb16-6e_activitynet-tsp-feature.py'
WEIGHTS = dict(auto=None, ema='state_dict_ema', raw='state_dict')


def convert(src: str, config, layout: str = 'auto', weights: str = 'auto'
            ) -> Tuple['OrderedDict', dict]:
    """Convert the public checkpoint ``src`` for the model of ``config``.

    Args:
        src (str): The public checkpoint file.
        config (str | Config | nn.Module): The config here whose model the weights are for, or
            that model already built (it is then loaded with the converted weights).
        layout (str): ``'auto'``, ``'actionformer'`` or ``'etad'``. Defaults to ``'auto'``.
        weights (str): ``'auto'`` (EMA weights when present), ``'ema'`` or ``'raw'``.
            Defaults to ``'auto'``.

    Returns:
        tuple: ``(state_dict, info)``: the converted parameters (strictly loadable into the
        model of ``config``) and a summary (layout, entry read, mapped / dropped / filled keys).
    """
    state_dict, origin = load_public_state_dict(src, nesting=WEIGHTS[weights])
    found = detect_layout(state_dict, src)
    if layout != 'auto' and layout != found:
        raise ConversionError(f'{src} looks like a {found} checkpoint, not {layout}; drop '
                              '--layout or name the right one')
    converted, report = apply_key_map(state_dict, LAYOUTS[found], source=src)
    model = config if isinstance(config, torch.nn.Module) else build_model_from_config(config)
    filled = complete_extra_state(model, converted)
    try:
        check_converted(model, converted, name=f'{src} converted as {found}')
    except CheckpointError as e:
        if found != 'etad':
            raise
        raise ConversionError(f'{e}\n  public ETAD checkpoints need the public module form: '
                              f'use {PUBLIC_ETAD_CONFIG} (or a config with its neck, '
                              'boundary_head and proposal_head settings)') from e
    info = dict(layout=found, entry=origin or '(bare dict)', mapped=len(report.mapped),
                dropped=[k for k, _ in report.dropped], filled_from_config=filled)
    return converted, dict(info, report=report)


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Convert an OpenTAD ActionFormer or public ETAD checkpoint')
    parser.add_argument('src', help='the public checkpoint (.pth)')
    parser.add_argument('out', help='the converted checkpoint to write (.pth)')
    parser.add_argument('--config', required=True,
                        help='config here whose model the weights are for (strict load check)')
    parser.add_argument('--layout', choices=['auto'] + sorted(LAYOUTS), default='auto',
                        help='source layout; auto recognises it from the keys')
    parser.add_argument('--weights', choices=sorted(WEIGHTS), default='auto',
                        help='auto: state_dict_ema when present (what OpenTAD evaluates with '
                        'solver.ema=True), else state_dict; ema / raw force one of them')
    parser.add_argument('--verbose', action='store_true', help='print every key mapping')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    converted, info = convert(args.src, args.config, args.layout, args.weights)
    report = info.pop('report')
    print_log(report.summary(verbose=args.verbose), logger='current')
    save_converted(converted, args.out, source=args.src, converter='opentad_to_mmtad',
                   config=args.config, extra=dict(layout=info['layout'], entry=info['entry']))
    print_log(json.dumps(dict(info, out=args.out), indent=1), logger='current')


if __name__ == '__main__':
    run_cli(main)
