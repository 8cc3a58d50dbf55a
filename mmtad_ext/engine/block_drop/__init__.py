"""Progressive block drop's engine parts beside :class:`~mmtad_ext.engine.hooks.BlockDropHook`:
candidate selection (:mod:`.selection`), the stage report (:mod:`.report`) and the checkpoint
state that restores a dropped structure (:mod:`.checkpoint`)."""
from .checkpoint import STATE_KEY, restore_structure, upgrade_state
from .report import encoder_input_shape, format_stage_table
from .selection import CRITERIA, BlockSelector, resolve_criterion

__all__ = [
    'BlockSelector', 'CRITERIA', 'STATE_KEY', 'encoder_input_shape', 'format_stage_table',
    'resolve_criterion', 'restore_structure', 'upgrade_state'
]
