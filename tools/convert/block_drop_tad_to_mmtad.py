"""Convert a compressed student of Progressive_Block_Drop-TAD into a shorter plain model here.

Run::

    python tools/convert/block_drop_tad_to_mmtad.py best.pth \
        configs/block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py \
        converted/
    python tools/test.py converted/<config name>_converted.py converted/model.pth

The source is a checkpoint of ``tools/train_distillation_auto.py`` in
nanxiaolu/Progressive_Block_Drop-TAD (an OpenTAD ActionFormer whose backbone wrapper holds
mmaction2's ``Recognizer3D`` with ``VisionTransformerLongLoRAStudent``): ``state_dict_ema``
(default, the weights its test script evaluates) or ``state_dict`` (``--no-ema``) with keys
``backbone.model.backbone.*`` (the encoder; a dropped block is an ``nn.Identity`` and has no
keys, the others keep their original index), ``projection.*``, ``neck.fpn_norms.*`` and
``rpn_head.*``. The converter

- merges each block's LoRA (``attn.lora_qkv`` / ``attn.lora_proj``: ``scaling * x @ A @ B``
  beside the linear layer, A: (in, r), B: (r, out)) into ``attn.qkv.weight`` /
  ``attn.proj.weight`` as ``W + scaling * (A B)^T`` (``--lora-scaling``, the LoRA layer's
  ``alpha``: 1 in the public code, not stored in the checkpoint); a checkpoint already merged
  (no LoRA keys) is taken as it is;
- renumbers the kept blocks 0..D'-1 and builds CONFIG's model (a ``BlockDropDistiller`` config's
  student, or an ActionFormer + VideoMAE config) with an encoder of depth D', local attention
  replaced by the public global attention (``--window-size``, -1), and checks that the
  converted state dict loads into it strictly;
- writes ``OUT/model.pth`` (``state_dict`` + ``meta``) and ``OUT/<config name>_converted.py``,
  the same form as ``tools/export_block_drop.py``'s output: the shortened model only, plus
  ``block_drop_export = dict(kept_blocks, dropped, source_checkpoint)`` (original indices).

The detector keys keep their names except ``neck.fpn_norms`` -> ``neck.norms``,
``rpn_head.scale.N`` -> ``head.scales.N`` and ``rpn_head`` -> ``head``. Keys of any other layout
are refused, listed.
"""
import argparse
import copy
import json
import os
import os.path as osp
import re

import mmtad_ext  # noqa: F401  (first: registers modules, applies compat)
from mmengine.logging import print_log

from mmtad_ext.engine.block_drop.checkpoint import exported_config
from mmtad_ext.utils import run_cli
from mmtad_ext.utils.checkpoint_convert import (ConversionError, Drop, apply_key_map,
                                                build_model_from_config,
                                                convert_videomae_pos_embed,
                                                find_videomae_encoder, load_public_checkpoint,
                                                merge_lora_linear, read_config, save_converted,
                                                verify_strict)
from mmtad_ext.utils.errors import DEBUG_HELP

SRC_ENC = r'backbone\.model\.backbone\.'  # OpenTAD BackboneWrapper.model (Recognizer3D).backbone
LORA = re.compile(SRC_ENC + r'blocks\.(\d+)\.attn\.lora_(qkv|proj)\.A')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a Progressive_Block_Drop-TAD compressed student')
    parser.add_argument('checkpoint', help='the public checkpoint (best.pth / merge.pth)')
    parser.add_argument('config', help='the block-drop (or ActionFormer + VideoMAE) config here')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--no-ema', action='store_true',
                        help="convert 'state_dict' instead of the EMA weights 'state_dict_ema'")
    parser.add_argument('--lora-scaling', type=float, default=1.0,
                        help='the LoRA layer\'s alpha (1 in the public code). Defaults to 1')
    parser.add_argument('--window-size', type=int, default=-1,
                        help='attention window of the converted config\'s projection; -1 '
                        '(global) as the public configs (n_mha_win_size=-1). Defaults to -1')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle non-tensor objects too (optimizer / scheduler states of '
                        'other classes); only for files from a source you trust')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def detector_rules(enc: str) -> list:
    """Ordered rules: public names -> ours (``enc``: our encoder's path, e.g.
    ``backbone.backbone``); blocks keep their original index (renumbered afterwards)."""
    return [
        (SRC_ENC + r'blocks\.(\d+)\.attn\.lora_(qkv|proj)\.(A|B)',
         Drop('LoRA A / B, merged into attn.qkv / attn.proj (W + scaling (A B)^T)')),
        (SRC_ENC + r'blocks\.(\d+)\.(.+)', enc + r'.blocks.\1.\2'),
        (SRC_ENC + r'(patch_embed\.projection\.(weight|bias)|pos_embed)', enc + r'.\1'),
        (SRC_ENC + r'((fc_norm|norm)\.(weight|bias))', enc + r'.\1'),
        (r'projection\.(.+)', r'projection.\1'),
        (r'neck\.fpn_norms\.(\d+)\.(weight|bias)', r'neck.norms.\1.\2'),
        (r'rpn_head\.scale\.(\d+)\.scale', r'head.scales.\1.scale'),
        (r'rpn_head\.(cls_convs|reg_convs)\.(\d+)\.(conv|norm)\.(weight|bias)',
         r'head.\1.\2.\3.\4'),
        (r'rpn_head\.(cls_head|reg_head)\.(weight|bias)', r'head.\1.\2'),
        (r'rpn_head\.loss_normalizer', 'head.loss_normalizer'),
    ]


def merge_public_lora(state: dict, scaling: float) -> list:
    """Merge every block's LoRA into its weight, in place (A / B stay, for the key report).
    Returns the merged weights' source keys."""
    merged = []
    for key in [k for k in state if LORA.fullmatch(k)]:
        block, layer = LORA.fullmatch(key).groups()
        base = f'backbone.model.backbone.blocks.{block}.attn.{layer}.weight'
        b_key = key[:-1] + 'B'
        if base not in state or b_key not in state:
            raise ConversionError(f'{key}: LoRA without {b_key if b_key not in state else base}')
        state[base] = merge_lora_linear(state[base], state[key], state[b_key], scaling)
        merged.append(base)
    return merged


def _get(cfg: dict, path: str) -> dict:
    for name in path.split('.'):
        cfg = cfg[name]
    return cfg


def convert(checkpoint: str, config: str, out: str, ema: bool = True, lora_scaling: float = 1.0,
            window_size: int = -1, trust: bool = False) -> dict:
    """Write ``OUT/model.pth`` and ``OUT/<name>_converted.py``; return a summary dict."""
    keys = ('state_dict_ema', 'state_dict') if ema else ('state_dict', )
    _, state, found = load_public_checkpoint(checkpoint, keys=keys, trust=trust)
    state = dict(state)
    merged = merge_public_lora(state, lora_scaling)

    cfg = read_config(config)
    if cfg.model.get('type', '').split('.')[-1] == 'BlockDropDistiller':
        model_cfg, enc_path = copy.deepcopy(cfg.model.student), cfg.model.encoder_path
    else:
        model_cfg = copy.deepcopy(cfg.model)
        enc_path, _ = find_videomae_encoder(build_model_from_config(cfg, model_cfg))
    enc_cfg = _get(model_cfg, enc_path)
    original_depth = enc_cfg.get('depth', 12)

    conv = apply_key_map(state, detector_rules(enc_path))
    conv.check(checkpoint)
    block_re = re.compile(re.escape(enc_path) + r'\.blocks\.(\d+)\.')
    kept = sorted({int(m.group(1)) for k in conv.state_dict for m in [block_re.match(k)] if m})
    if not kept or kept[-1] >= original_depth:
        raise ConversionError(
            f'{checkpoint}: encoder blocks {kept} do not fit the depth {original_depth} of '
            f'{config} ({enc_path}); is it the config of the uncompressed model?')
    new_index = {old: new for new, old in enumerate(kept)}
    conv.rename(lambda k: block_re.sub(
        lambda m: f'{enc_path}.blocks.{new_index[int(m.group(1))]}.', k, count=1))

    # the converted model: encoder of depth D', the public global attention
    enc_cfg['depth'] = len(kept)
    if window_size is not None and 'projection' in model_cfg:
        model_cfg['projection']['window_size'] = window_size
    model = build_model_from_config(cfg, model_cfg)
    encoder = model.get_submodule(enc_path)
    pos = convert_videomae_pos_embed(conv, f'{enc_path}.pos_embed', encoder)
    for key, value in model.state_dict().items():
        if key.endswith('_extra_state') and key not in conv.state_dict:
            conv.add(key, value, 'module state made by the target model (EGS sampler)')
    verify_strict(model, conv.state_dict, f'{checkpoint} (converted)')

    dropped = [i for i in range(original_depth) if i not in kept]
    record = dict(kept_blocks=kept, dropped=dropped, source_checkpoint=osp.abspath(checkpoint))
    out_cfg = exported_config(cfg, model_cfg, record)  # the form of tools/export_block_drop.py
    os.makedirs(out, exist_ok=True)
    weights = osp.join(out, 'model.pth')
    save_converted(weights, conv.state_dict, dict(
        block_drop_export=record, converted_from=osp.abspath(checkpoint), source_key=found,
        converter='block_drop_tad_to_mmtad', lora_scaling=lora_scaling,
        merged_lora=len(merged), pos_embed=pos))
    name = osp.splitext(osp.basename(config))[0]
    cfg_path = osp.join(out, f'{name}_converted.py')
    out_cfg.dump(cfg_path)
    return dict(conv.summary(), weights=weights, config=cfg_path, kept_blocks=kept,
                dropped_blocks=dropped, depth=len(kept), original_depth=original_depth,
                merged_lora_layers=len(merged), source_key=found, pos_embed=pos)


def main(argv=None):
    args = parse_args(argv)
    summary = convert(args.checkpoint, args.config, args.out, not args.no_ema,
                      args.lora_scaling, args.window_size, args.trust_checkpoint)
    print_log(json.dumps(summary, indent=1), logger='current')
    return summary


if __name__ == '__main__':
    run_cli(main)
