"""Block-drop checkpoints on the engine side: the state helpers of
:mod:`mmtad_ext.models.distillers.block_drop_checkpoint` (re-exported) and the config a
checkpoint is loaded with (a stage file holds the student alone).

Shared by :class:`~mmtad_ext.engine.hooks.BlockDropHook` (resume), ``tools/export_block_drop.py``,
``tools/test.py`` and ``init_detector``.
"""
import copy

from mmtad_ext.models.distillers.block_drop_checkpoint import (STATE_KEY, restore_structure,
                                                               upgrade_state)

__all__ = ['BLOCK_DROP_KEYS', 'STATE_KEY', 'exported_config', 'is_student_checkpoint',
           'restore_structure', 'student_config', 'training_free_hooks', 'upgrade_state']

# top-level names of a block-drop config that describe the run, not an exported model
BLOCK_DROP_KEYS = ('student', 'teacher', 'distiller', 'stage_epochs', 'max_drops')


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
    hooks leave out ``BlockDropHook`` and ``EMAHook`` (:func:`training_free_hooks`), so that
    ``tools/test.py``, ``tools/infer.py`` and ``init_detector`` test and run exactly the
    stage's model."""
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


def exported_config(cfg, model_cfg: dict, record: dict):
    """The config of a shorter plain model made from a block-drop run
    (``tools/export_block_drop.py``) or converted from a public one (``tools/convert/block_drop_tad_to_mmtad.py``): ``cfg``
    without the run's leftovers (the original-depth ``student``, ``teacher``, stage schedule,
    ``BlockDropHook`` / ``EMAHook``; the weights already hold an EMA run's averaged model), its
    model ``model_cfg``, no ``load_from``, and ``block_drop_export = record`` (``kept_blocks``,
    ``dropped``, ``source_checkpoint``)."""
    out = copy.deepcopy(cfg)
    run = (cfg.model.get('student'), cfg.model.get('teacher'))
    for key in list(out.keys()):
        value = out[key]
        if key in BLOCK_DROP_KEYS or (key != 'model' and isinstance(value, dict)
                                      and value in run):
            out.pop(key)
    out.model = model_cfg
    out.custom_hooks = training_free_hooks(out.get('custom_hooks'))
    out.load_from = None
    out.block_drop_export = record
    return out
