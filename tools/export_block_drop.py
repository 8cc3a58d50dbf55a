"""Export a block-drop checkpoint as a physically shorter plain model.

Run::

    python tools/export_block_drop.py \
        configs/block_drop/block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py \
        work_dirs/block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb/epoch_12.pth \
        exported/
    python tools/test.py exported/<config name>_exported.py exported/model.pth

It rebuilds the ``BlockDropDistiller`` of CONFIG with the checkpoint's structure (dropped blocks,
unmerged LoRA of an interrupted stage), merges LoRA into ``qkv``/``proj`` (peft), and keeps the
student only (no teacher, adapters or ``kept_blocks``). The kept blocks are renumbered 0..D'-1,
so ``OUT/model.pth`` is a plain state dict (``torch.load(weights_only=True)``) of the student
with a stock mmaction2 ``VisionTransformer(depth=D')`` encoder (a ``VideoMAEEncoder(depth=D')``,
same keys, when the encoder keeps temporal tokens for TAD), and
``OUT/<config name>_exported.py`` is the matching config: the exported model only (no
original-depth ``student``, ``teacher``, ``stage_epochs``, ``max_drops``, ``BlockDropHook`` or
``EMAHook``: the checkpoint's ``state_dict`` already holds an EMA run's averaged weights), plus
``block_drop_export = dict(kept_blocks, dropped, source_checkpoint)``.
"""
import argparse
import copy
import json
import os
import os.path as osp

import torch
import mmtad_ext  # noqa: F401  (first: registers modules, applies compat, defers transformers)
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint

from mmtad_ext.engine.block_drop.checkpoint import (STATE_KEY, exported_config,
                                                    restore_structure)
from mmtad_ext.models.backbones.videomae_encoder import KEPT_BLOCKS_KEY
from mmtad_ext.models.layers import merge_lora
from mmtad_ext.registry import MODELS
from mmtad_ext.utils import run_cli
from mmtad_ext.utils.errors import DEBUG_HELP



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a shorter model after block drop')
    parser.add_argument('config', help='the block-drop (BlockDropDistiller) config')
    parser.add_argument('checkpoint', help='a checkpoint of that run')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def _set_path(cfg: dict, path: str, value: dict) -> None:
    """Replace the dict at dotted ``path`` inside a model config."""
    *parents, last = path.split('.')
    for name in parents:
        cfg = cfg[name]
    cfg[last] = value


def _get_path(cfg: dict, path: str) -> dict:
    for name in path.split('.'):
        cfg = cfg[name]
    return cfg


def export(config: str, checkpoint: str, out: str) -> dict:
    """Write ``OUT/model.pth`` and ``OUT/<name>_exported.py``; return a summary dict."""
    cfg = Config.fromfile(config)
    if cfg.model.get('type') != 'BlockDropDistiller':
        raise ValueError(f'{config}: model.type must be BlockDropDistiller, got '
                         f'{cfg.model.get("type")!r}')
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(student_ckpt=None, teacher_ckpt=None)  # everything comes from CKPT
    model = MODELS.build(model_cfg)
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    if 'state_dict' not in ckpt:
        raise KeyError(f'{checkpoint}: no state_dict (not an mmengine checkpoint)')
    restore_structure(model, ckpt)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    merged = merge_lora(model.student_encoder)
    encoder = model.student_encoder
    kept = list(encoder.block_ids)
    prefix = f'{model.encoder_path}.'
    state = {k: v.clone() if torch.is_tensor(v) else copy.deepcopy(v)  # EGS: sampler state
             for k, v in model.student.state_dict().items() if k != prefix + KEPT_BLOCKS_KEY}

    # the shortened config: the student, its encoder a stock mmaction2 VisionTransformer
    student_cfg = copy.deepcopy(cfg.model.student)
    enc_cfg = dict(_get_path(student_cfg, model.encoder_path))
    if enc_cfg.get('out_type', 'pooled') == 'pooled':
        enc_cfg.pop('out_type', None)
        enc_cfg.update(type='mmaction.VisionTransformer', depth=len(kept))
    else:  # temporal tokens (TAD): our encoder, same keys, built at the shorter depth
        enc_cfg.update(depth=len(kept))
    _set_path(student_cfg, model.encoder_path, enc_cfg)
    # only the exported model: no block-drop leftovers (the original-depth student, teacher,
    # stage schedule) a reader would take for the model
    out_cfg = exported_config(cfg, student_cfg, dict(
        kept_blocks=kept, source_checkpoint=osp.abspath(checkpoint),
        dropped=(ckpt.get(STATE_KEY) or {}).get('dropped')))
    os.makedirs(out, exist_ok=True)
    weights = osp.join(out, 'model.pth')
    torch.save(state, weights)
    name = osp.splitext(osp.basename(config))[0]
    cfg_path = osp.join(out, f'{name}_exported.py')
    out_cfg.dump(cfg_path)
    return dict(weights=weights, config=cfg_path, kept_blocks=kept, depth=len(kept),
                original_depth=encoder.original_depth, merged_lora_layers=merged)


def main(argv=None):
    args = parse_args(argv)
    summary = export(args.config, args.checkpoint, args.out)
    print_log(json.dumps(summary, indent=1), logger='current')
    return summary


if __name__ == '__main__':
    run_cli(main)
