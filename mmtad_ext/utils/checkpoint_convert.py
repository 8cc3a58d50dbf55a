"""Generic pieces of ``tools/convert/``: public checkpoints -> mmengine checkpoints.

A converter reads a public checkpoint (:func:`load_public_checkpoint` unwraps ``state_dict`` /
``model`` / ``module`` / ``model_ema`` ...), renames its keys with an ordered list of rules
(:func:`apply_key_map`: the first rule whose pattern matches the whole key decides; a
:class:`Drop` rule drops the key *by design*, with the reason), refuses a checkpoint with keys
no rule matches (:meth:`Conversion.check`, listing them), adds the keys the target model makes
itself (:meth:`Conversion.add`: a sinusoidal position table, a sampler's state), checks that the
result loads strictly (:func:`verify_strict`) and saves it as an mmengine checkpoint
(:func:`save_converted`: ``state_dict`` + ``meta``). The error class, the config reader and the
model builder are those of :mod:`mmtad_ext.utils.convert`.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import check_checkpoint_matches
# one error class and one model builder for every converter
from .convert import ConversionError, build_model_from_config, read_config  # noqa: F401

SHOWN_KEYS = 20  # keys listed in an error message
STATE_DICT_KEYS = ('state_dict', 'model', 'module', 'model_ema')


@dataclass(frozen=True)
class Drop:
    """A key-map target: the source key is dropped on purpose (``reason`` is reported)."""

    reason: str


Rule = Tuple[str, Union[str, Drop]]  # (regex matching the whole key, re.sub template or Drop)


@dataclass
class Conversion:
    """The result of :func:`apply_key_map`, completed by the converter.

    Attributes:
        state_dict: target key -> tensor, in source order.
        source: target key -> the source key it came from (or a description).
        dropped: source key -> why it was dropped on purpose.
        unmatched: source keys no rule matched (a converter refuses these).
        added: target key -> why it is not in the source (made by the target model).
    """

    state_dict: 'OrderedDict[str, Tensor]' = field(default_factory=OrderedDict)
    source: Dict[str, str] = field(default_factory=dict)
    dropped: Dict[str, str] = field(default_factory=dict)
    unmatched: List[str] = field(default_factory=list)
    added: Dict[str, str] = field(default_factory=dict)

    def check(self, what: str) -> None:
        """Raise :class:`ConversionError` listing the unmatched keys of ``what`` (the file)."""
        if self.unmatched:
            keys = self.unmatched
            more = f' (+{len(keys) - SHOWN_KEYS} more)' if len(keys) > SHOWN_KEYS else ''
            raise ConversionError(
                f'{what}: not a checkpoint this converter recognises: {len(keys)} key(s) match '
                f'no rule: {", ".join(keys[:SHOWN_KEYS])}{more}. Check that the file is the '
                'public checkpoint the converter names (see its --help).')

    def add(self, key: str, value: Tensor, reason: str) -> None:
        """Put a key the target model makes itself (not taken from the source)."""
        if key in self.state_dict:
            raise ConversionError(f'{key} is already mapped from {self.source[key]}')
        self.state_dict[key] = value
        self.added[key] = reason

    def rename(self, fn) -> None:
        """Rename every target key with ``fn(key) -> key`` (e.g. add a prefix)."""
        self.state_dict = OrderedDict((fn(k), v) for k, v in self.state_dict.items())
        self.source = {fn(k): v for k, v in self.source.items()}
        self.added = {fn(k): v for k, v in self.added.items()}

    def summary(self) -> dict:
        """Counts and the reasons of dropped / added keys (grouped), for printing."""
        return dict(mapped=len(self.source), added=_group(self.added),
                    dropped=_group(self.dropped), unmatched=len(self.unmatched))


def _group(reasons: Dict[str, str]) -> Dict[str, int]:
    """``{reason: number of keys}``."""
    out: Dict[str, int] = {}
    for reason in reasons.values():
        out[reason] = out.get(reason, 0) + 1
    return out


def unwrap_state_dict(checkpoint: dict, keys: Sequence[str] = STATE_DICT_KEYS,
                      what: str = 'checkpoint') -> Tuple['OrderedDict[str, Tensor]', Optional[str]]:
    """The state dict inside ``checkpoint``: the value of the first of ``keys`` present (a dict),
    else the checkpoint itself if it is a flat dict of tensors; a ``module.`` prefix on every key
    (DistributedDataParallel) is removed.

    Returns:
        tuple: (state dict, the key it was found under or None).
    """
    found = None
    for key in keys:
        if isinstance(checkpoint.get(key), dict):
            state, found = checkpoint[key], key
            break
    else:
        state = checkpoint
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    if not tensors or len(tensors) != len(state):
        others = sorted(k for k, v in state.items() if not torch.is_tensor(v))[:SHOWN_KEYS]
        raise ConversionError(
            f'{what}: no state dict found: none of the entries {list(keys)} holds one, and the '
            f'top level is not a dict of tensors (non-tensor entries: {others})')
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return OrderedDict(state), found


def load_public_checkpoint(filename: str, keys: Sequence[str] = STATE_DICT_KEYS,
                           trust: bool = False) -> Tuple[dict, 'OrderedDict[str, Tensor]', str]:
    """Read a public checkpoint and unwrap its state dict (:func:`unwrap_state_dict`).

    Args:
        filename (str): Local path.
        keys (Sequence[str]): Entries to look for the state dict in, in order.
        trust (bool): Unpickle arbitrary objects (``torch.load(weights_only=False)``), needed
            for files that also store e.g. an ``argparse.Namespace`` of the training arguments.
            Only for files from a source you trust. Defaults to False.

    Returns:
        tuple: (the whole checkpoint, its state dict, the key it was under or '').
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        checkpoint = torch.load(filename, map_location='cpu', weights_only=not trust)
    except Exception as e:  # UnpicklingError (weights_only), RuntimeError (not a zip), EOF...
        hint = ('' if trust else ' If the file holds other objects than tensors (e.g. the '
                "training arguments) and comes from a source you trust, add --trust-checkpoint.")
        raise ConversionError(f'cannot read {filename}: {type(e).__name__}: '
                              f'{str(e).strip().splitlines()[0][:300]}.{hint}') from e
    if not isinstance(checkpoint, dict):
        raise ConversionError(f'{filename} holds a {type(checkpoint).__name__}, not a dict')
    state, found = unwrap_state_dict(checkpoint, keys, filename)
    return checkpoint, state, found or ''


def apply_key_map(state_dict: Dict[str, Tensor], rules: Sequence[Rule]) -> Conversion:
    """Rename ``state_dict`` with ``rules``: for each key, the first rule whose pattern matches
    the *whole* key renames it (``re.sub`` template) or drops it (:class:`Drop`); keys no rule
    matches are listed in :attr:`Conversion.unmatched`.

    Raises:
        ConversionError: Two source keys map to the same target key.
    """
    compiled = [(re.compile(p), t) for p, t in rules]
    out = Conversion()
    for key, value in state_dict.items():
        for pattern, target in compiled:
            match = pattern.fullmatch(key)
            if match is None:
                continue
            if isinstance(target, Drop):
                out.dropped[key] = target.reason
            else:
                new = match.expand(target)
                if new in out.state_dict:
                    raise ConversionError(f'{key} and {out.source[new]} both map to {new}')
                out.state_dict[new] = value
                out.source[new] = key
            break
        else:
            out.unmatched.append(key)
    return out


def merge_lora_linear(weight: Tensor, a: Tensor, b: Tensor, scaling: float = 1.0) -> Tensor:
    """``W + scaling * (A @ B)^T`` for a LoRA path ``scaling * x @ A @ B`` (A: (in, r), B:
    (r, out)) beside ``x @ W^T`` (W: (out, in)): the merged weight gives the same output."""
    if a.shape[0] != weight.shape[1] or b.shape[1] != weight.shape[0] or a.shape[1] != b.shape[0]:
        raise ConversionError(f'LoRA shapes A {tuple(a.shape)}, B {tuple(b.shape)} do not fit '
                              f'the weight {tuple(weight.shape)} (A: (in, r), B: (r, out))')
    delta = (a.double() @ b.double()).t() * scaling  # (out, in), in float64 then cast back
    return (weight.double() + delta).to(weight.dtype)


def interpolate_pos_embed(pos: Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]) -> Tensor:
    """Resize a video position embedding (1, T * H * W, C) from a (T, H, W) token grid to
    another: bicubic over (H, W) as VideoMAE's fine-tuning code, then linear over T. Returned
    unchanged (the same tensor) when the grids are equal."""
    (t0, h0, w0), (t1, h1, w1) = tuple(src_grid), tuple(dst_grid)
    if pos.dim() != 3 or pos.shape[0] != 1 or pos.shape[1] != t0 * h0 * w0:
        raise ConversionError(f'position embedding of shape {tuple(pos.shape)} does not fit a '
                              f'{t0}x{h0}x{w0} token grid (expected (1, {t0 * h0 * w0}, C))')
    if (t0, h0, w0) == (t1, h1, w1):
        return pos
    c = pos.shape[-1]
    x = pos.reshape(t0, h0, w0, c).permute(0, 3, 1, 2).float()  # (T, C, H, W)
    if (h0, w0) != (h1, w1):
        x = F.interpolate(x, size=(h1, w1), mode='bicubic', align_corners=False)
    if t0 != t1:  # (H W, C, T) -> linear over T
        x = x.permute(2, 3, 1, 0).reshape(h1 * w1, c, t0)
        x = F.interpolate(x, size=t1, mode='linear', align_corners=False)
        x = x.reshape(h1, w1, c, t1).permute(3, 2, 0, 1)  # (T, C, H, W)
    return x.permute(0, 2, 3, 1).reshape(1, t1 * h1 * w1, c).to(pos.dtype)


def verify_strict(model: nn.Module, state_dict: Dict[str, Tensor], what: str) -> None:
    """Load ``state_dict`` into ``model`` with ``strict=True``; a mismatch raises
    :class:`CheckpointError` listing the missing / unexpected / other-shape keys."""
    check_checkpoint_matches(model, dict(state_dict=state_dict), what, revise_keys=())
    model.load_state_dict(state_dict, strict=True)


def save_converted(path: str, state_dict: Dict[str, Tensor], meta: dict) -> None:
    """Save ``dict(state_dict=..., meta=...)`` (an mmengine checkpoint that
    ``torch.load(weights_only=True)`` reads: ``meta`` holds plain types only)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    state = OrderedDict((k, v.contiguous() if torch.is_tensor(v) else v)
                        for k, v in state_dict.items())
    torch.save(dict(state_dict=state, meta=meta), path)


# -- VideoMAE encoders (mmaction2's VisionTransformer and subclasses) ---------------------------
def find_videomae_encoder(model: nn.Module) -> Tuple[str, nn.Module]:
    """The first mmaction2 VideoMAE ``VisionTransformer`` in ``model``: (dotted path, module)."""
    from mmaction.models.backbones.vit_mae import VisionTransformer
    for name, module in model.named_modules():
        if isinstance(module, VisionTransformer):
            return name, module
    raise ConversionError(f'the config builds no VideoMAE encoder (mmaction2 VisionTransformer '
                          f'or VideoMAEEncoder) inside {type(model).__name__}')


def convert_videomae_pos_embed(conv: Conversion, key: str, encoder: nn.Module,
                               src_num_frames: int = 16) -> str:
    """Settle the position embedding ``key`` (target name, e.g. ``backbone.pos_embed``) of a
    converted VideoMAE encoder.

    - Not in the source, or equal to the sinusoidal table (VideoMAE's default,
      ``use_learnable_pos_emb=False``): the target encoder's own sinusoidal table, made for its
      input size (frames, image size), is used: "regenerated", not mapped.
    - Learnt (``use_learnable_pos_emb=True``): mapped, interpolated from the source's token grid
      (``src_num_frames / tubelet`` x H x W) to the target's when they differ; the target must
      learn its embedding too (otherwise the learnt one would be replaced: refused).

    Returns:
        str: ``'regenerated'``, ``'mapped'`` or ``'interpolated'``.
    """
    from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
    own = encoder.pos_embed.detach()
    learnable = isinstance(encoder.pos_embed, nn.Parameter)
    reason = 'sinusoidal position table, regenerated for the target input size'
    src = conv.state_dict.get(key)
    if src is not None and src.dim() == 3 and torch.allclose(
            src.float(), get_sinusoid_encoding(src.shape[1], src.shape[2]), atol=1e-5):
        conv.dropped[conv.source.pop(key)] = reason
        del conv.state_dict[key]
        src = None
    if src is None:
        if learnable:
            raise ConversionError(
                'the checkpoint has a sinusoidal (fixed) position embedding but the config\'s '
                'encoder learns one (use_learnable_pos_emb=True); set use_learnable_pos_emb=False')
        conv.add(key, own.clone(), reason)
        return 'regenerated'
    if not learnable:
        raise ConversionError(
            f'{conv.source[key]}: the checkpoint has a learnt position embedding but the '
            "config's encoder uses the fixed sinusoidal one; set use_learnable_pos_emb=True in "
            'the encoder config so that it is kept')
    tubelet = encoder.patch_embed.projection.kernel_size[0]
    t0 = src_num_frames // tubelet
    side = round((src.shape[1] / max(t0, 1))**0.5)
    if t0 < 1 or t0 * side * side != src.shape[1]:
        raise ConversionError(f'{conv.source[key]}: {src.shape[1]} tokens are not '
                              f'{t0} (= {src_num_frames} frames / tubelet {tubelet}) x H x H; '
                              'pass the number of frames the checkpoint was trained with')
    gh, gw = encoder.grid_size
    dst = (own.shape[1] // (gh * gw), gh, gw)
    conv.state_dict[key] = interpolate_pos_embed(src, (t0, side, side), dst)
    return 'mapped' if (t0, side, side) == dst else 'interpolated'
