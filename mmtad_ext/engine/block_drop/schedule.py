"""Stage lengths of progressive block drop: one number for every stage, or one per stage (the
public workflow trains ActivityNet's first stage 8 epochs and the later ones 15), and the
stage-relative parameter schedulers rebuilt at every stage start."""
import copy
from typing import Dict, List, Sequence


def check_stage_epochs(stage_epochs) -> List[int]:
    """``stage_epochs`` as a list of positive ints (one value: every stage)."""

    def positive(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if positive(stage_epochs):
        return [stage_epochs]
    if (isinstance(stage_epochs, (str, bytes)) or not isinstance(stage_epochs, Sequence)
            or not stage_epochs or not all(positive(v) for v in stage_epochs)):
        raise ValueError('BlockDropHook stage_epochs must be a positive int or a non-empty '
                         f'sequence of positive ints (one per stage), got {stage_epochs!r}')
    return list(stage_epochs)


def stage_length(lengths: Sequence[int], stage: int) -> int:
    """Epochs of stage ``stage`` (1-based): ``lengths[stage - 1]``, the last value repeating."""
    if stage < 1:
        raise ValueError(f'BlockDropHook stages count from 1, got {stage}')
    return lengths[min(stage, len(lengths)) - 1]


def stage_schedulers(cfgs, length: int, iters_per_epoch: int, stage: int) -> List[Dict]:
    """The config's ``param_scheduler`` entries for a stage of ``length`` epochs: a missing
    ``end`` is the stage's end (in epochs, or iterations for ``by_epoch=False``). A scheduler
    that would begin at or after its end in this stage (e.g. a cosine after a 5-epoch warm-up
    in a 1-epoch stage) is refused with its index and the stage length, not left to mmengine's
    ``end should be larger than begin``."""
    cfgs = copy.deepcopy(cfgs or [])
    if isinstance(cfgs, dict):
        cfgs = [cfgs]
    for i, s in enumerate(cfgs):
        by_epoch = s.get('by_epoch', True)
        s.setdefault('end', length if by_epoch else length * iters_per_epoch)
        if s.get('begin', 0) >= s['end']:
            unit = 'epochs' if by_epoch else 'iterations'
            raise ValueError(
                f"BlockDropHook: param_scheduler[{i}] ({s.get('type')}) begins at "
                f"{s.get('begin', 0)} and ends at {s['end']} {unit} into stage {stage}, which "
                f'is {length} epochs long: lengthen the stage (stage_epochs) or move the '
                "scheduler's begin / end")
    return cfgs


def check_stage_plan(hook, encoder, max_epochs: int, schedulers, iters_per_epoch: int) -> None:
    """Refuse, before any training, a block-drop run that cannot finish its plan: ``max_epochs``
    ending inside a stage (its LoRA unmerged, the stage unrecorded), ``one_shot_ids`` that are
    not fewer than the encoder's blocks, ``max_drops`` not below its depth, or a scheduler
    that cannot fit some stage (:func:`stage_schedulers`)."""
    ends = [hook.stage_end(t) for t in range(1, hook.max_drops + 1)]
    if max_epochs not in ends and max_epochs < ends[-1]:
        raise ValueError(f'BlockDropHook: train_cfg.max_epochs {max_epochs} ends inside a '
                         f'stage; stages end at epochs {ends} (stage_epochs='
                         f'{hook.stage_epochs!r}, max_drops={hook.max_drops}): set '
                         f'max_epochs to {ends[-1]}')
    if hook.one_shot_ids is not None and (
            len(hook.one_shot_ids) >= encoder.depth
            or not set(hook.one_shot_ids) <= set(encoder.block_ids)):
        raise ValueError(f'BlockDropHook one_shot_ids {hook.one_shot_ids} must be fewer '
                         f'than all of the encoder\'s blocks {encoder.block_ids}')
    if hook.max_drops >= encoder.original_depth:
        raise ValueError(f'BlockDropHook max_drops {hook.max_drops} must be below the '
                         f'encoder depth {encoder.original_depth}')
    for t in range(1, hook.max_drops + 1):
        stage_schedulers(schedulers, hook.stage_length(t), iters_per_epoch, t)
