"""Stage lengths of progressive block drop: one number for every stage, or one per stage (the
public workflow trains ActivityNet's first stage 8 epochs and the later ones 15)."""
from typing import List, Sequence


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
