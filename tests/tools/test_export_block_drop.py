"""tools/export_block_drop.py: a shorter plain model that stock mmaction2 loads and evaluates."""
import os.path as osp

import pytest
import torch
from mmaction.models.backbones import VisionTransformer
from mmengine.config import Config
from mmengine.registry import init_default_scope

from _helpers.tool_run import TEST, run
from mmtad_ext.engine.hooks.block_drop_hook import STATE_KEY
from mmtad_ext.models.layers import ATTENTION_TARGETS, inject_lora
from mmtad_ext.registry import MODELS

pytest.importorskip('peft')


def interrupted_checkpoint(cfg, path):
    """A distiller in the middle of stage 2: blocks 1 and 3 dropped, trained (non-zero) LoRA."""
    init_default_scope('mmtad_ext')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.student_encoder.remove_blocks([1, 3])
    lora = dict(rank=8, alpha=None, target_modules=ATTENTION_TARGETS)
    inject_lora(model.student_encoder, lora['rank'], lora['alpha'], lora['target_modules'])
    for name, p in model.student_encoder.named_parameters():
        if 'lora_B' in name:
            torch.nn.init.normal_(p, std=0.1)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=3),
                    **{STATE_KEY: dict(stage=2, dropped=[1, 3], lora=lora)}), path)
    return model.eval()


@pytest.mark.slow  # tools/test.py subprocess
def test_export_loads_into_stock_mmaction2_and_matches(block_drop_cfg, load_tool, tmp_path):
    cfg = block_drop_cfg(str(tmp_path / 'work'))
    cfg_path = str(tmp_path / 'bd.py')
    cfg.dump(cfg_path)
    ckpt = str(tmp_path / 'epoch_3.pth')
    model = interrupted_checkpoint(cfg, ckpt)
    out = str(tmp_path / 'out')
    summary = load_tool('export_block_drop').main([cfg_path, ckpt, out])
    assert summary['kept_blocks'] == [0, 2] and summary['depth'] == 2
    assert summary['merged_lora_layers'] == 4  # qkv and proj of the 2 kept blocks

    state = torch.load(osp.join(out, 'model.pth'), weights_only=True)
    assert not any('lora_' in k or 'teacher' in k or 'kept_blocks' in k for k in state)
    assert {k.split('.')[2] for k in state if k.startswith('backbone.blocks.')} == {'0', '1'}
    exported = Config.fromfile(summary['config'])
    assert 'BlockDropHook' not in str(exported.custom_hooks)
    # the exported config describes the exported model only, plus the export record
    for leftover in ('student', 'teacher', 'distiller', 'stage_epochs', 'max_drops'):
        assert leftover not in exported, leftover
    assert 'depth=4' not in exported.pretty_text  # the original depth
    assert 'BlockDropDistiller' not in exported.pretty_text
    assert exported.block_drop_export == dict(kept_blocks=[0, 2], dropped=[1, 3],
                                              source_checkpoint=osp.abspath(ckpt))
    init_default_scope('mmtad_ext')
    stock = MODELS.build(exported.model)
    assert type(stock.backbone) is VisionTransformer and len(stock.backbone.blocks) == 2
    stock.load_state_dict(state, strict=True)
    stock.eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        ref = model.student.cls_head(model.student.backbone(x))  # unmerged LoRA, peft layers
        out_stock = stock.cls_head(stock.backbone(x))
    assert (ref - out_stock).abs().max() < 1e-5

    # tools/test.py evaluates the exported model as any mmaction2 recognizer
    log = run([TEST, summary['config'], osp.join(out, 'model.pth'), '--work-dir',
               str(tmp_path / 'test')], cwd=str(tmp_path))
    assert 'acc/top1' in log


def test_export_refuses_a_plain_model_config(block_drop_cfg, load_tool, tmp_path):
    cfg = block_drop_cfg(str(tmp_path / 'work'))
    cfg.model = cfg.model.student
    path = str(tmp_path / 'plain.py')
    cfg.dump(path)
    with pytest.raises(ValueError, match='must be BlockDropDistiller'):
        load_tool('export_block_drop').main([path, 'x.pth', str(tmp_path)])
