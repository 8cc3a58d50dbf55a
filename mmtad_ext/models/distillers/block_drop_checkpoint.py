"""Block-drop state in checkpoints: the key it is saved under, its upgrade from older key names,
and how a freshly built :class:`BlockDropDistiller` regains the structure (dropped blocks,
unmerged LoRA) of a block-drop checkpoint before its weights load.

Model-level, so that :meth:`BlockDropDistiller.restore_checkpoint_structure` (strict checkpoint
loading of ``tools/test.py``, ``tools/infer.py``, ``init_detector``) needs nothing from the
engine; :class:`~mmtad_ext.engine.hooks.BlockDropHook` (resume) and
``tools/export_block_drop.py`` use it through :mod:`mmtad_ext.engine.block_drop.checkpoint`.
"""
from ..backbones.videomae_encoder import KEPT_BLOCKS_KEY
from ..layers.lora import has_lora, inject_lora

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
