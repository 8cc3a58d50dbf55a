"""Convert public checkpoints into this package's parameter names (``tools/convert/*.py``).

A converter is an ordered key map plus, where needed, a few tensor edits. The generic steps live
here so that every converter reads, maps, reports, refuses and saves the same way:

1. :func:`load_public_state_dict` reads the file and picks the parameter dict out of the usual
   nestings (``state_dict_ema`` / ``state_dict`` / ``model`` / ``module`` / ``ema`` or a bare
   dict of tensors), stripping a DDP ``module.`` prefix.
2. :func:`apply_key_map` renames the keys with an ordered list of :class:`KeyRule`
   (regular expression -> replacement, or ``None`` to drop a key on purpose with a reason). The
   first rule that matches a key decides. A key no rule matches, or two keys renamed to one,
   raise :class:`ConversionError` listing the keys, so nothing is silently dropped.
3. :func:`check_converted` builds the model of a config here (:func:`build_model_from_config`)
   and checks that the converted dict has exactly its keys and shapes, then loads it strictly
   (as ``tools/test.py`` does); :func:`complete_extra_state` first adds the model's own
   ``_extra_state`` entries (sampler RNG states) that no public checkpoint has.
4. :func:`save_converted` writes an mmengine checkpoint (``state_dict`` + ``meta`` naming the
   source file, the converter and the config).

Example (a converter's ``main``)::

    state_dict, origin = load_public_state_dict(args.src)
    converted, report = apply_key_map(state_dict, RULES, source=args.src)
    print_log(report.summary(), logger='current')
    model = build_model_from_config(args.config)
    complete_extra_state(model, converted)
    check_converted(model, converted)
    save_converted(converted, args.out, source=args.src, converter='opentad_to_mmtad',
                   config=args.config, extra=dict(origin=origin))
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from .checkpoint import CheckpointError, check_checkpoint_matches, read_checkpoint

SHOWN_KEYS = 20  # keys listed in a refusal
# nestings of a public checkpoint, in the order they are tried: an EMA copy first (OpenTAD
# evaluates its EMA model when its config sets solver.ema=True), then the trained weights
NESTING_KEYS = ('state_dict_ema', 'state_dict', 'model_ema', 'model', 'module', 'ema')
PREFIXES = ('module.', )  # DDP / DataParallel wrappers


class ConversionError(CheckpointError):
    """A public checkpoint that a converter does not recognise (unmatched keys are listed)."""


@dataclass(frozen=True)
class KeyRule:
    """One rename of a converter's key map.

    Args:
        pattern (str): Regular expression matched (``re.fullmatch``) against a source key.
        replacement (str, optional): ``re.sub`` template of the new key (``\\1``, ``\\g<name>``),
            or None to drop the key on purpose (``reason`` says why, e.g. optimizer-only
            buffers the model here does not have).
        reason (str): Why a key is dropped; shown in the report. Defaults to ''.
    """
    pattern: str
    replacement: Optional[str]
    reason: str = ''

    def match(self, key: str) -> Optional['re.Match']:
        """The match of ``pattern`` on the whole of ``key``, or None."""
        return re.fullmatch(self.pattern, key)


Rules = Sequence[Union[KeyRule, Tuple[str, Optional[str]]]]


@dataclass
class ConversionReport:
    """What :func:`apply_key_map` did: ``mapped`` (source, target) pairs in source order,
    ``dropped`` (source key, reason) pairs."""
    mapped: List[Tuple[str, str]] = field(default_factory=list)
    dropped: List[Tuple[str, str]] = field(default_factory=list)

    def summary(self, verbose: bool = False) -> str:
        """A few lines: counts, and with ``verbose`` every mapping."""
        lines = [f'mapped {len(self.mapped)} key(s), dropped {len(self.dropped)} on purpose']
        if verbose:
            lines += [f'  {s} -> {t}' for s, t in self.mapped]
        lines += [f'  dropped {s}: {r}' for s, r in self.dropped]
        return '\n'.join(lines)


def _as_rule(rule) -> KeyRule:
    return rule if isinstance(rule, KeyRule) else KeyRule(*rule)


def _list(keys: Sequence[str]) -> str:
    keys = list(keys)
    more = f' (+{len(keys) - SHOWN_KEYS} more)' if len(keys) > SHOWN_KEYS else ''
    return ', '.join(keys[:SHOWN_KEYS]) + more


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(checkpoint: dict, filename: str = '<checkpoint>',
                      nesting: Optional[str] = None,
                      prefixes: Sequence[str] = PREFIXES) -> Tuple['OrderedDict', str]:
    """The parameter dict of a loaded public checkpoint.

    Args:
        checkpoint (dict): What ``torch.load`` returned.
        filename (str): Named in errors. Defaults to ``'<checkpoint>'``.
        nesting (str, optional): Take this entry (e.g. ``'state_dict'`` for the non-EMA weights
            of an OpenTAD checkpoint); None tries :data:`NESTING_KEYS` in order, then the dict
            itself. Defaults to None.
        prefixes (Sequence[str]): Prefixes stripped from every key when all keys carry one.
            Defaults to ``('module.',)``.

    Returns:
        tuple: ``(state_dict, origin)``, ``origin`` the entry used (``''`` for a bare dict).

    Raises:
        ConversionError: No entry holds a dict of tensors (the entries found are listed).
    """
    if nesting is not None:
        if nesting not in checkpoint:
            raise ConversionError(f'{filename} has no entry {nesting!r}; its entries: '
                                  f'{_list(sorted(map(str, checkpoint)))}')
        candidates = [nesting]
    else:
        candidates = [k for k in NESTING_KEYS if k in checkpoint]
    state_dict, origin = None, None
    for key in candidates:
        obj = checkpoint[key]
        if isinstance(obj, torch.nn.Module):
            obj = obj.state_dict()
        if _is_state_dict(obj):
            state_dict, origin = obj, key
            break
    if state_dict is None and nesting is None and _is_state_dict(checkpoint):
        state_dict, origin = checkpoint, ''
    if state_dict is None:
        raise ConversionError(
            f'{filename} holds no dict of parameter tensors (looked for '
            f'{", ".join(candidates or NESTING_KEYS)} and a bare dict); its entries: '
            f'{_list(sorted(map(str, checkpoint)))}')
    for prefix in prefixes:
        if all(k.startswith(prefix) for k in state_dict):
            state_dict = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items())
    return OrderedDict(state_dict), origin


def load_public_state_dict(filename: str, nesting: Optional[str] = None,
                           prefixes: Sequence[str] = PREFIXES) -> Tuple['OrderedDict', str]:
    """Read ``filename`` (mmengine's loader, errors naming the file) and unwrap its parameter
    dict with :func:`unwrap_state_dict`; returns ``(state_dict, origin)``."""
    return unwrap_state_dict(read_checkpoint(filename), filename, nesting, prefixes)


def apply_key_map(state_dict: Dict[str, torch.Tensor], rules: Rules,
                  source: str = '<checkpoint>') -> Tuple['OrderedDict', ConversionReport]:
    """Rename every key of ``state_dict`` with the first rule of ``rules`` that matches it.

    Args:
        state_dict (dict): Source parameters.
        rules (Sequence[KeyRule | tuple]): Ordered rules (a tuple is ``KeyRule(*tuple)``).
        source (str): Named in errors (the file). Defaults to ``'<checkpoint>'``.

    Returns:
        tuple: ``(converted, report)``; ``converted`` keeps the source order.

    Raises:
        ConversionError: Some keys match no rule (listed: the checkpoint is not of the layout
            the converter knows), or two keys map to one target.
    """
    rules = [_as_rule(r) for r in rules]
    converted, report, unmatched, origin_of = OrderedDict(), ConversionReport(), [], {}
    for key, value in state_dict.items():
        for rule in rules:
            m = rule.match(key)
            if m is not None:
                break
        else:
            unmatched.append(key)
            continue
        if rule.replacement is None:
            report.dropped.append((key, rule.reason or 'dropped by the key map'))
            continue
        target = m.expand(rule.replacement)
        if target in origin_of:
            raise ConversionError(f'{source}: keys {origin_of[target]} and {key} both map to '
                                  f'{target}; the key map is ambiguous for this checkpoint')
        origin_of[target] = key
        converted[target] = value
        report.mapped.append((key, target))
    if unmatched:
        raise ConversionError(
            f'{source} is not a checkpoint of the layout this converter knows: '
            f'{len(unmatched)} of {len(state_dict)} key(s) match no rule: {_list(unmatched)}')
    return converted, report


def read_config(config: str):
    """``Config.fromfile``, also for a config of an installed package (``mmaction::...``)."""
    from mmengine.config import Config
    if '::' in config:
        config, _ = Config._get_cfg_path(config, '.')
    return Config.fromfile(config)


def build_model_from_config(config, model_cfg: Optional[dict] = None):
    """The model of ``config`` (a path, ``package::path`` or an mmengine ``Config``), or
    ``model_cfg`` when given, built in the config's scope, on CPU, in eval mode, without
    loading pretrained weights (the converted weights replace its ``init_cfg``)."""
    from mmengine.registry import init_default_scope

    import mmtad_ext  # noqa: F401  registers the modules
    from mmtad_ext.registry import MODELS
    cfg = read_config(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    return MODELS.build(model_cfg if model_cfg is not None else cfg.model).eval()


def complete_extra_state(model: torch.nn.Module, state_dict: Dict) -> List[str]:
    """Add to ``state_dict`` (in place) the ``*_extra_state`` entries of ``model`` it lacks.

    Modules here that keep non-parameter state in checkpoints (the seeded samplers of
    ``EGSBackboneWrapper`` and ``ETAD``'s proposal sampler, via ``get_extra_state``) have no
    counterpart in a public checkpoint; a strict load needs the entry, so the fresh model's
    state (the config's seed) is used. Returns the keys added.
    """
    added = []
    for key, value in model.state_dict().items():
        if key.endswith('_extra_state') and key not in state_dict:
            state_dict[key] = value
            added.append(key)
    return added


def check_converted(config, state_dict: Dict, load: bool = True,
                    name: str = '<converted>') -> torch.nn.Module:
    """Check that ``state_dict`` has exactly the keys and shapes of the model of ``config`` and
    (``load=True``) load it strictly; returns the model.

    Args:
        config (str | Config | nn.Module): A config (path or ``Config``) whose model is built
            with :func:`build_model_from_config`, or an already built model.
        state_dict (dict): Converted parameters (our names).
        load (bool): Also ``load_state_dict(strict=True)``. Defaults to True.
        name (str): Named in errors. Defaults to ``'<converted>'``.

    Raises:
        CheckpointError: Keys missing, unexpected or of another shape (listed per kind).
    """
    model = config if isinstance(config, torch.nn.Module) else build_model_from_config(config)
    check_checkpoint_matches(model, dict(state_dict=state_dict), name)
    if load:
        model.load_state_dict(state_dict, strict=True)
    return model


def save_converted(state_dict: Dict[str, torch.Tensor], out: str, source: str, converter: str,
                   config: Optional[str] = None, extra: Optional[dict] = None) -> str:
    """Write ``dict(state_dict=..., meta=...)`` to ``out`` (folders created); ``meta`` holds
    ``converted_from`` (the source file), ``converter``, ``config`` and ``extra``. Tensors are
    made contiguous CPU tensors. Returns ``out``."""
    meta = dict(converted_from=osp.basename(source), converter=converter)
    if config is not None:
        meta['config'] = config
    meta.update(extra or {})
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    state_dict = OrderedDict((k, v.detach().cpu().contiguous()) for k, v in state_dict.items())
    torch.save(dict(state_dict=state_dict, meta=meta), out)
    return out
