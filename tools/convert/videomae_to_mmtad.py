"""Convert an official VideoMAE checkpoint (MCG-NJU/VideoMAE) for a config here.

Run::

    python tools/convert/videomae_to_mmtad.py \
        checkpoint.pth configs/actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py \
        data/pretrained/vit-small-p16_videomae-k400-pre_16x4x1_kinetics-400.pth

Sources (the layouts of VideoMAE's ``modeling_pretrain.py`` / ``modeling_finetune.py``):

- a pre-trained checkpoint (``model``: ``encoder.*`` + ``decoder.*``, ``encoder_to_decoder``,
  ``mask_token``): the encoder is converted; the MAE decoder is dropped (pre-training only);
- a fine-tuned checkpoint (``module`` or ``model``: ``patch_embed.proj``, ``blocks.N.*``,
  ``fc_norm``, ``head``): the encoder and, for a recognizer config (``cls_head.fc_cls``), the
  classifier.

Renames: ``patch_embed.proj`` -> ``patch_embed.projection``, ``mlp.fc1`` / ``mlp.fc2`` ->
``mlp.layers.0.0`` / ``mlp.layers.1`` (mmcv's FFN); the rest keeps its name. The output keys are
those of mmaction2's ``Recognizer3D`` (``backbone.*``, ``cls_head.fc_cls.*``): what a recognizer
config loads, and what the ``init_cfg`` of the ActionFormer + VideoMAE configs reads. The
position embedding is VideoMAE's fixed sinusoidal table unless the checkpoint learnt one: then
it is regenerated for the config's input size (not mapped); a learnt one is mapped and
interpolated (bicubic over H x W, linear over time) to the config's frames and image size. The
output is checked to load strictly into the config's encoder (and into the whole recognizer when
the classifier is converted); a checkpoint with keys of another layout is refused, listing them.
"""
import argparse
import json
import os.path as osp

import mmtad_ext  # noqa: F401  (first: registers modules, applies compat)
from mmengine.logging import print_log
from torch import nn

from mmtad_ext.utils import run_cli
from mmtad_ext.utils.checkpoint_convert import (Drop, apply_key_map, build_model_from_config,
                                                convert_videomae_pos_embed,
                                                find_videomae_encoder, load_public_checkpoint,
                                                read_config, save_converted, verify_strict)
from mmtad_ext.utils.errors import DEBUG_HELP

PREFIX = 'backbone.'  # the encoder's keys in the output (mmaction2 Recognizer3D layout)
DECODER = Drop('MAE decoder (pre-training only)')
FRESH_FC_NORM = ('fc_norm at 1 / 0 (not in a pre-trained checkpoint), as VideoMAE fine-tuning '
                 'starts it')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an official VideoMAE checkpoint (pre-trained or fine-tuned)')
    parser.add_argument('checkpoint', help='the VideoMAE checkpoint (.pth)')
    parser.add_argument('config', help='the config whose encoder (and classifier) it is for')
    parser.add_argument('out', help='output checkpoint (.pth)')
    parser.add_argument('--src-num-frames', type=int, default=16,
                        help='frames the checkpoint was trained with (only used to interpolate '
                        'a learnt position embedding). Defaults to 16')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle non-tensor objects too (the public files also store the '
                        'training arguments); only for files from a source you trust')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def videomae_rules(pretrained: bool, final_norm: bool, head: bool) -> list:
    """Ordered (pattern, target) rules from VideoMAE's names to the encoder's (no prefix).

    Args:
        pretrained (bool): The pre-training layout (``encoder.`` prefix, decoder).
        final_norm (bool): The target encoder has a final ``norm`` LayerNorm
            (``use_mean_pooling=False``); otherwise the pre-trained ``encoder.norm`` is dropped
            (VideoMAE's fine-tuning replaces it with ``fc_norm``, initialised to 1 / 0).
        head (bool): The target has ``cls_head.fc_cls`` (a recognizer): map ``head.*`` to it.
    """
    e = r'encoder\.' if pretrained else ''
    rules = [
        (e + r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1'),
        (e + r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)', r'blocks.\1.mlp.layers.0.0.\2'),
        (e + r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)', r'blocks.\1.mlp.layers.1.\2'),
        (e + r'blocks\.(\d+)\.(norm1|norm2|attn\.qkv|attn\.proj)\.(weight|bias)',
         r'blocks.\1.\2.\3'),
        (e + r'blocks\.(\d+)\.(attn\.q_bias|attn\.v_bias|gamma_1|gamma_2)', r'blocks.\1.\2'),
        (e + r'pos_embed', 'pos_embed'),
    ]
    if pretrained:
        rules += [
            (r'encoder\.norm\.(weight|bias)',
             r'norm.\1' if final_norm else Drop(
                 'pre-trained final LayerNorm (VideoMAE fine-tuning replaces it by fc_norm)')),
            (r'decoder\..*', DECODER), (r'encoder_to_decoder\.weight', DECODER),
            (r'mask_token', DECODER), (r'encoder\.head\.(weight|bias)', DECODER)]
    else:
        rules += [
            (r'(norm|fc_norm)\.(weight|bias)', r'\1.\2'),
            (r'head\.(weight|bias)', r'cls_head.fc_cls.\1' if head else Drop(
                'Kinetics classifier (the config has no classification head)'))]
    return rules


def convert(checkpoint: str, config: str, out: str, src_num_frames: int = 16,
            trust: bool = False) -> dict:
    """Write ``out``; return a summary (counts, dropped / regenerated keys, layout)."""
    _, state, found = load_public_checkpoint(checkpoint, trust=trust)
    cfg = read_config(config)
    model = build_model_from_config(cfg)
    enc_path, encoder = find_videomae_encoder(model)
    head = isinstance(getattr(getattr(model, 'cls_head', None), 'fc_cls', None), nn.Linear)
    pretrained = any(k.startswith('encoder.') for k in state)
    final_norm = isinstance(encoder.norm, nn.LayerNorm)
    conv = apply_key_map(state, videomae_rules(pretrained, final_norm, head))
    conv.check(checkpoint)
    pos = convert_videomae_pos_embed(conv, 'pos_embed', encoder, src_num_frames)
    if pretrained and encoder.fc_norm is not None and not final_norm:
        # as VideoMAE's fine-tuning: a fresh fc_norm (weight 1, bias 0) on the mean-pooled tokens
        fc = nn.LayerNorm(encoder.fc_norm.normalized_shape)
        for name in ('weight', 'bias'):
            conv.add(f'fc_norm.{name}', getattr(fc, name).detach(), FRESH_FC_NORM)
    head_sd = {k: conv.state_dict.pop(k) for k in list(conv.state_dict)
               if k.startswith('cls_head.')}
    verify_strict(encoder, conv.state_dict, f'{checkpoint} (converted encoder)')
    conv.rename(lambda k: PREFIX + k)
    conv.state_dict.update(head_sd)
    if head_sd:  # the whole recognizer: encoder + classifier, nothing else
        verify_strict(model, conv.state_dict, f'{checkpoint} (converted recognizer)')
    summary = dict(conv.summary(), layout='pre-trained' if pretrained else 'fine-tuned',
                   source_key=found, pos_embed=pos, encoder=enc_path, classifier=bool(head_sd),
                   out=out)
    meta = dict(converted_from=osp.abspath(checkpoint), converter='videomae_to_mmtad',
                config=config if '::' in config else osp.abspath(config),
                layout=summary['layout'], pos_embed=pos, dropped=sorted(conv.dropped),
                added=sorted(conv.added))
    save_converted(out, conv.state_dict, meta)
    return summary


def main(argv=None):
    args = parse_args(argv)
    summary = convert(args.checkpoint, args.config, args.out, args.src_num_frames,
                      args.trust_checkpoint)
    print_log(json.dumps(summary, indent=1), logger='current')
    return summary


if __name__ == '__main__':
    run_cli(main)
