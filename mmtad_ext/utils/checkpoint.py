"""Checkpoint loading with errors a user can act on (file named, keys listed).

mmengine's ``load_checkpoint`` is non-strict by default: a checkpoint of another model loads
with size-mismatch warnings buried in the log and the model keeps random weights. Reading a
zero-byte file ends in a bare ``EOFError`` and random bytes in torch's advice to set
``weights_only=False`` (which would be wrong here). These functions wrap mmengine's loader
(the allow-listed globals of :func:`mmtad_ext.compat.allow_mmengine_checkpoint_globals` still
apply) and raise :class:`CheckpointError` naming the file instead.
"""
import glob
import logging
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from .errors import UserError

REVISE_KEYS = [(r'^module\.', '')]  # mmengine's default: DDP checkpoints load into a bare model
SHOWN_KEYS = 10
KEPT_BLOCKS_KEY = 'kept_blocks'  # a shortened VideoMAEEncoder's entry (original block indices)  # keys listed per kind in a mismatch message


class CheckpointError(UserError, ValueError):
    """A checkpoint file cannot be read or does not match the model."""


def read_checkpoint(filename: str, map_location: str = 'cpu') -> dict:
    """Read a checkpoint with mmengine's loader; every failure names the file.

    Args:
        filename (str): Local path (or any mmengine scheme: ``http://``, ``pavi://``...).
        map_location (str): Passed to ``torch.load``. Defaults to ``'cpu'``.

    Returns:
        dict: The checkpoint (a dict, usually with ``state_dict`` and ``meta``).

    Raises:
        FileNotFoundError: A local file that does not exist.
        CheckpointError: The file is empty, truncated, not a torch checkpoint, or holds objects
            that are not allowed to be unpickled.
    """
    local = '://' not in filename
    if local and not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    if local and osp.getsize(filename) == 0:
        raise CheckpointError(f'checkpoint file {filename} is empty (0 bytes); was the run '
                              'stopped while saving it?')
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    except Exception as e:  # EOFError, UnpicklingError, RuntimeError (zip), ...
        raise CheckpointError(f'cannot read checkpoint file {filename}: not a complete torch '
                              f'checkpoint ({_load_failure(e)})') from e
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'checkpoint file {filename} holds a {type(checkpoint).__name__}, '
                              'not a dict with a "state_dict"')
    return checkpoint


def _load_failure(e: Exception) -> str:
    """The useful part of a ``torch.load`` error: torch's weights-only advice (to load with
    ``weights_only=False``) is dropped, the unpickler's own reason kept."""
    text = str(e)
    if 'WeightsUnpickler error:' in text:  # the reason follows, after blank lines
        reason = text.split('WeightsUnpickler error:')[1].strip().splitlines()[0]
        return f'{type(e).__name__}: {reason}'
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f'{type(e).__name__}: {lines[0][:200]}' if lines else type(e).__name__


def state_dict_mismatch(model: torch.nn.Module, state_dict: dict,
                        revise_keys: Sequence[Tuple[str, str]] = REVISE_KEYS) -> dict:
    """Keys of ``state_dict`` that do not fit ``model``.

    Returns:
        dict: ``missing`` (in the model, not in the checkpoint), ``unexpected`` (the reverse)
        and ``shape`` (``(key, checkpoint shape, model shape)``), each a sorted list.
    """
    for pattern, repl in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    own = model.state_dict()
    shape = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
             if k in own and hasattr(v, 'shape') and tuple(v.shape) != tuple(own[k].shape)]
    return dict(missing=sorted(set(own) - set(state_dict)),
                unexpected=sorted(set(state_dict) - set(own)), shape=sorted(shape))


def _describe(mismatch: dict) -> List[str]:
    """One line per kind of mismatch, listing the first ``SHOWN_KEYS`` keys."""
    shapes = [f'{k} {c} vs {m}' for k, c, m in mismatch['shape']]
    lines = []
    for items, what in ((mismatch['missing'], 'missing from the checkpoint'),
                        (mismatch['unexpected'], 'in the checkpoint but not in the model'),
                        (shapes, 'of another shape (checkpoint vs model)')):
        if items:
            more = f' (+{len(items) - SHOWN_KEYS} more)' if len(items) > SHOWN_KEYS else ''
            lines.append(f'{len(items)} key(s) {what}: {", ".join(items[:SHOWN_KEYS])}{more}')
    return lines


def restore_checkpoint_structure(model: torch.nn.Module, checkpoint: dict,
                                 filename: str) -> None:
    """Give ``model`` the structure and state its own training wrote into ``checkpoint``.

    A model with ``restore_checkpoint_structure(checkpoint)`` does it: a
    ``BlockDropDistiller`` removes the dropped blocks and adds an unfinished stage's LoRA
    adapters, an ``A3DRecognizer3D`` loads its BN bank; any VideoMAE encoder (``keep_blocks``)
    whose ``kept_blocks`` entry is in the checkpoint keeps only those blocks. A
    checkpoint whose structure record does not fit the model raises :class:`CheckpointError`.
    """
    if is_model_wrapper(model):
        model = model.module
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    restore = getattr(model, 'restore_checkpoint_structure', None)
    try:
        if callable(restore):
            restore(checkpoint)
        # a shortened VideoMAE encoder anywhere (e.g. a block-drop stage file's student)
        for name, module in model.named_modules():
            kept = state_dict.get(f'{name}.{KEPT_BLOCKS_KEY}' if name else KEPT_BLOCKS_KEY)
            if kept is not None and callable(getattr(module, 'keep_blocks', None)):
                module.keep_blocks(kept.tolist())
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f'checkpoint {filename} does not fit the model '
                              f'{type(model).__name__}: {e}') from e


def check_checkpoint_matches(model: torch.nn.Module, checkpoint: dict, filename: str,
                             revise_keys: Sequence[Tuple[str, str]] = REVISE_KEYS) -> None:
    """Raise :class:`CheckpointError` unless ``checkpoint`` has exactly ``model``'s keys and
    shapes (a model wrapper is unwrapped). The structure and state the model's own training
    saved (dropped blocks, LoRA, a BN bank) are restored first
    (:func:`restore_checkpoint_structure`), so a run's own checkpoints match."""
    if is_model_wrapper(model):
        model = model.module
    restore_checkpoint_structure(model, checkpoint, filename)
    state_dict = checkpoint.get('state_dict', checkpoint)
    lines = _describe(state_dict_mismatch(model, state_dict, revise_keys))
    if lines:
        raise CheckpointError(
            f'checkpoint {filename} does not match the model {type(model).__name__} (is it a '
            'checkpoint of another config?):\n  ' + '\n  '.join(lines))


def load_detector_checkpoint(model: torch.nn.Module,
                             filename: str,
                             map_location: str = 'cpu',
                             strict: bool = True,
                             revise_keys: Sequence[Tuple[str, str]] = REVISE_KEYS) -> dict:
    """Load ``filename`` into ``model``, strictly by default; errors name the file and keys.

    The equivalent of mmengine's ``load_checkpoint(model, filename, strict=True)``, with the
    errors of :func:`read_checkpoint` and :func:`check_checkpoint_matches`. With a Runner,
    prefer ``cfg.load_from`` (checkpoint hooks such as ``EMAHook`` then run) after checking the
    file with :func:`read_checkpoint` and :func:`check_checkpoint_matches`, as ``tools/test.py``
    does.

    Args:
        model (nn.Module): The model (a model wrapper is unwrapped).
        filename (str): Checkpoint path or URL.
        map_location (str): Passed to ``torch.load``. Defaults to ``'cpu'``.
        strict (bool): Refuse a checkpoint whose keys or shapes differ from the model's.
            Defaults to True.
        revise_keys (Sequence[tuple]): ``(pattern, replacement)`` applied to the checkpoint
            keys. Defaults to stripping a DDP ``module.`` prefix.

    Returns:
        dict: The checkpoint (``meta`` holds e.g. ``dataset_meta``).
    """
    if is_model_wrapper(model):
        model = model.module
    checkpoint = read_checkpoint(filename, map_location)
    if strict:
        check_checkpoint_matches(model, checkpoint, filename, revise_keys)
    else:
        restore_checkpoint_structure(model, checkpoint, filename)
    return _load_checkpoint_to_model(model, checkpoint, strict=strict,
                                     revise_keys=list(revise_keys))


def check_resume_checkpoint(filename: str) -> None:
    """Raise :class:`CheckpointError` naming ``filename`` and what to do unless it is a readable
    checkpoint to resume from (``--resume FILE``, or ``resume=True`` with ``load_from``)."""
    try:
        read_checkpoint(filename)
    except (CheckpointError, FileNotFoundError) as e:
        raise CheckpointError(
            f'cannot resume: {e}. Resume from an earlier checkpoint of the run (--resume '
            f'{osp.join(osp.dirname(filename) or ".", "epoch_N.pth")}), or give --resume '
            'without a path to resume from the newest readable checkpoint of the work dir') from e


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint an automatic resume (``--resume`` without a path, ``resume=True`` without
    ``load_from``) continues from: the one ``work_dir/last_checkpoint`` names, as mmengine's
    ``find_latest_checkpoint`` reads it.

    If that file is truncated, unreadable or missing (the run was killed while saving it), the
    newest readable ``epoch_*.pth`` / ``iter_*.pth`` next to it or in ``work_dir`` is used
    instead, with a WARNING naming both files.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str or None: The checkpoint path; None when ``work_dir`` has no ``last_checkpoint``
        (nothing to resume: the run starts from the beginning, as with mmengine).

    Raises:
        CheckpointError: The named checkpoint cannot be read and no earlier one can.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.exists(pointer):
        return None
    with open(pointer) as f:
        named = f.read().strip()
    if not named:  # killed while writing it
        named, reason = pointer, f'{pointer} is empty'
    else:
        try:
            read_checkpoint(named)
            return named
        except (CheckpointError, FileNotFoundError) as e:
            reason = str(e)
    candidates = set()
    for folder in {work_dir, osp.dirname(named)}:
        for pattern in ('epoch_*.pth', 'iter_*.pth'):
            candidates.update(glob.glob(osp.join(folder or '.', pattern)))
    candidates.discard(named)
    for path in sorted(candidates, key=osp.getmtime, reverse=True):
        try:
            read_checkpoint(path)
        except (CheckpointError, FileNotFoundError):
            continue
        print_log(f'cannot resume from {named} ({reason}); resuming from the previous '
                  f'checkpoint {path} instead', logger='current', level=logging.WARNING)
        return path
    raise CheckpointError(
        f'cannot resume from {named} ({reason}) and {work_dir} holds no earlier readable '
        f'epoch_*.pth or iter_*.pth. Start the run again without --resume (delete {pointer} '
        'if the config sets resume=True)')
