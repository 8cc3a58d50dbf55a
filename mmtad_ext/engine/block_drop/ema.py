"""The averaged model of mmengine's ``EMAHook`` through block drop's structure changes.

The public code of *Temporal Action Detection Model Compression by Progressive Block Drop*
(arXiv 2503.16916; ``nanxiaolu/Progressive_Block_Drop-TAD``, ``tools/train_distillation_auto.py``)
trains every stage with an EMA of the student (decay 0.999, ``opentad/utils/ema.py``), scores
the candidates with the averaged weights and, at each new stage, rebuilds the EMA over the new
structure and loads the previous stage's merged averaged weights into it. Here mmengine's
``EMAHook`` keeps the average; :class:`~mmtad_ext.engine.hooks.BlockDropHook` applies every
structure change (block removed, LoRA injected with the same seed, LoRA merged, last good stage
restored) to the averaged copy as well, so the two keep the same structure and parameter order
(``EMAHook`` swaps them by position for validation), and calls :func:`refresh_ema` after each.
"""
import copy
from typing import Optional

from mmengine.hooks import EMAHook
from mmengine.model import BaseAveragedModel

from .checkpoint import restore_structure

EMA_STATE_KEY = 'ema_state_dict'  # mmengine's EMAHook: ``steps`` and ``module.<key>``


def find_ema(runner) -> Optional[BaseAveragedModel]:
    """The averaged model of the run's ``EMAHook`` (built in its ``before_run``), or None."""
    for hook in runner.hooks:
        if isinstance(hook, EMAHook):
            return getattr(hook, 'ema_model', None)
    return None


def refresh_ema(ema: BaseAveragedModel) -> None:
    """Point the averaged model's update table at its current tensors (after a structure
    change the old table holds removed blocks and misses new adapters); nothing trains in it."""
    ema.module.requires_grad_(False)
    ema.avg_parameters = (ema.module.state_dict() if ema.update_buffers else
                          dict(ema.module.named_parameters()))


def load_ema_checkpoint(ema: BaseAveragedModel, checkpoint: dict, resume: bool) -> None:
    """Give the averaged model the checkpoint's structure and averaged weights, strictly.

    ``EMAHook.after_load_checkpoint`` (which runs first) loads them non-strictly into the
    structure it built before the run (full depth, no adapters). On resume the averaged
    weights are ``ema_state_dict`` (``EMAHook`` has already swapped them back out of
    ``state_dict``) with the update count ``steps``; otherwise (``load_from``, testing) the
    checkpoint's ``state_dict`` is the averaged model, as ``EMAHook`` saves it.
    """
    if resume and EMA_STATE_KEY in checkpoint:
        saved = checkpoint[EMA_STATE_KEY]
        state = {k[len('module.'):]: v for k, v in saved.items() if k.startswith('module.')}
        steps = saved.get('steps')
    else:
        state, steps = checkpoint['state_dict'], None
    restore_structure(ema.module, dict(checkpoint, state_dict=state))
    ema.module.load_state_dict(copy.copy(state), strict=True)
    if steps is not None:
        ema.steps.copy_(steps)
    refresh_ema(ema)
