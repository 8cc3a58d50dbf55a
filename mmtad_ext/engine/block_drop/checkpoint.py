"""Block-drop state in checkpoints: the key it is saved under and how a fresh model regains the
structure (dropped blocks, unmerged LoRA) of a block-drop checkpoint before its weights load.

Shared by :class:`~mmtad_ext.engine.hooks.BlockDropHook` (resume) and
``tools/export_block_drop.py``.
"""
import copy

from mmtad_ext.models.backbones.videomae_encoder import KEPT_BLOCKS_KEY
from mmtad_ext.models.layers.lora import has_lora, inject_lora

STATE_KEY = 'block_drop'
# keys of the saved LoRA config renamed since: old -> current
_RENAMED_LORA_KEYS = {'targets': 'target_modules'}


def upgrade_state(state: dict) -> dict:
    """The block-drop state of a checkpoint with the current key names.

    A checkpoint saved before the renames holds the LoRA target regex as ``lora['targets']``
    (now ``lora['target_modules']``, peft's name) and stage records timed in seconds
    (``latency_s``, now ``latency_ms``), so old checkpoints still resume and export. ``state``
    itself is not changed.
    """
    lora = state.get('lora')
    if lora and any(k in lora for k in _RENAMED_LORA_KEYS):
        state = dict(state, lora={_RENAMED_LORA_KEYS.get(k, k): v for k, v in lora.items()})
    records = state.get('records')
    if records and any('latency_s' in r for r in records):
        state = dict(state, records=[_latency_in_ms(r) for r in records])
    return state


def _latency_in_ms(record: dict) -> dict:
    if 'latency_s' not in record:
        return record
    record = dict(record)
    seconds = record.pop('latency_s')
    record['latency_ms'] = None if seconds is None else seconds * 1e3
    return record


def restore_structure(model, checkpoint: dict, check: bool = True) -> None:
    """Give a freshly built :class:`BlockDropDistiller` the structure of a block-drop checkpoint.

    Both encoders remove the blocks their saved ``kept_blocks`` leave out; the student gets the
    LoRA adapters of an unfinished stage (the checkpoint's ``block_drop`` state). With
    ``check``, raises ``KeyError`` on any remaining key mismatch (mmengine's own load is not
    strict). Used by :meth:`BlockDropHook.after_load_checkpoint`, ``tools/export_block_drop.py``
    and (``check=False``, then a strict check naming the file) the checkpoint loading of
    ``tools/test.py``, ``tools/infer.py`` and ``init_detector``.
    """
    state = upgrade_state(checkpoint.get(STATE_KEY) or {})
    sd = {k[len('module.'):] if k.startswith('module.') else k: v
          for k, v in checkpoint['state_dict'].items()}
    for prefix, enc in (('student.', model.student_encoder), ('teacher.', model.teacher_encoder)):
        kept = sd.get(f'{prefix}{model.encoder_path}.{KEPT_BLOCKS_KEY}')
        if kept is not None:
            enc.keep_blocks(kept)
    lora = state.get('lora')
    if lora is not None and not has_lora(model.student_encoder):
        inject_lora(model.student_encoder, lora['rank'], lora['alpha'], lora['target_modules'],
                    seed=lora.get('seed'))  # initial values moot: the checkpoint's load next
    if not check:
        return
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(sd)), sorted(set(sd) - expected)
    if missing or unexpected:
        raise KeyError(f'BlockDropHook: the checkpoint does not match the model (dropped '
                       f'blocks {state.get("dropped")}, LoRA {lora}): missing keys '
                       f'{missing[:8]}{"..." if len(missing) > 8 else ""}, unexpected keys '
                       f'{unexpected[:8]}{"..." if len(unexpected) > 8 else ""}')


def is_student_checkpoint(checkpoint: dict) -> bool:
    """Whether ``checkpoint`` is a plain state dict of the student alone (a run's
    ``block_drop_stage{t}.pth``), not a checkpoint of the whole ``BlockDropDistiller``."""
    sd = checkpoint.get('state_dict', checkpoint)
    return bool(sd) and 'state_dict' not in checkpoint and not any(
        k.startswith(('student.', 'teacher.', 'module.student.')) for k in sd)


def student_config(cfg, checkpoint: dict):
    """The config to load ``checkpoint`` with: ``cfg`` itself, or, for a stage file
    (:func:`is_student_checkpoint`) and a ``BlockDropDistiller`` config, a copy whose model is
    the student (its encoder takes the dropped blocks from the file's ``kept_blocks``) and whose
    hooks leave out ``BlockDropHook`` and ``EMAHook`` (:func:`training_free_hooks`), so that ``tools/test.py``, ``tools/infer.py`` and
    ``init_detector`` test and run exactly the stage's model."""
    model = cfg.get('model') or {}
    if model.get('type', '').split('.')[-1] != 'BlockDropDistiller' or \
            not is_student_checkpoint(checkpoint):
        return cfg
    cfg = copy.deepcopy(cfg)
    student = copy.deepcopy(model['student'])
    if model.get('data_preprocessor') is not None:
        student['data_preprocessor'] = copy.deepcopy(model['data_preprocessor'])
    cfg.model = student
    cfg.custom_hooks = training_free_hooks(cfg.get('custom_hooks'))
    return cfg


def training_free_hooks(hooks) -> list:
    """``custom_hooks`` without the block-drop run's ``BlockDropHook`` and ``EMAHook`` (a stage
    file or an export already holds the averaged weights, as a plain state dict)."""
    return [h for h in hooks or []
            if h.get('type', '').split('.')[-1] not in ('BlockDropHook', 'EMAHook')]
