"""VideoMAE encoder that LoRA can adapt and block drop can address.

A thin subclass of mmaction2's VideoMAE :class:`~mmaction.models.backbones.VisionTransformer`
for *Temporal Action Detection Model Compression by Progressive Block Drop* (arXiv 2503.16916)
and end-to-end TAD (ActionFormer on VideoMAE, as OpenTAD's AdaTAD configs).
"""
import contextlib
from typing import Dict, Iterable, Iterator, List, Optional

import torch
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import VisionTransformer
from mmengine.model import ModuleList
from torch import Tensor

from mmtad_ext.registry import MODELS

from ..layers.lora_ready_attention import LoRAReadyAttention

KEPT_BLOCKS_KEY = 'kept_blocks'


class BlockOutputs(dict):
    """``{original block index: [output of each forward call]}`` filled during a capture.

    :meth:`cat` concatenates the calls along the batch dimension (an ``EGSBackboneWrapper``
    encodes a video's snippets in several chunks).
    """

    def cat(self, index: int) -> Tensor:
        return torch.cat(self[index])


@MODELS.register_module()
class VideoMAEEncoder(VisionTransformer):
    """mmaction2's VideoMAE ``VisionTransformer`` with LoRA-ready attention and addressable blocks.

    Differences from the parent, all opt-in (without them the output equals mmaction2's bit for
    bit on the same weights, and mmaction2 VideoMAE state dicts load strictly):

    - Every block's attention is :class:`LoRAReadyAttention`, so peft's LoRA on
      ``blocks.N.attn.qkv`` acts (on the parent it is silently bypassed) and FLOP counters
      attribute the qkv projection to ``attn.qkv``.
    - :meth:`capture_block_outputs` records each block's output keyed by the block's
      *original* index (cross-depth feature alignment).
    - :meth:`skip_blocks` skips blocks in the forward (cheap candidate evaluation);
      :meth:`remove_blocks` physically removes them: ``blocks`` becomes a shorter ModuleList
      and :attr:`block_ids` remembers the original index of every kept block. A shortened
      encoder's state dict carries ``kept_blocks`` (the original indices), and loading such a
      state dict into a full-depth encoder removes the same blocks first; stripped of that key
      it is exactly a stock ``VisionTransformer(depth=len(kept))`` state dict.
    - ``out_type='temporal'`` keeps one token per tubelet in time: (B, C, T / tubelet_size),
      the spatial mean of each temporal slice (OpenTAD's VideoMAE keeps the temporal tokens of
      each snippet for TAD instead of pooling everything), normalised by ``fc_norm`` unless
      ``temporal_fc_norm=False`` (OpenTAD's form: with ``return_feat_map=True`` its
      VisionTransformer returns the tokens after ``norm`` = Identity, never through ``fc_norm``).

    Args:
        out_type (str): ``'pooled'`` (the parent's output: (B, C) mean-pooled, or (B, C, T, H, W)
            with ``return_feat_map=True``) or ``'temporal'`` ((B, C, T')). Defaults to
            ``'pooled'``.
        temporal_fc_norm (bool): With ``out_type='temporal'``, apply ``fc_norm`` to the
            temporal tokens. False is OpenTAD's form: the tokens are used unnormalised and
            ``fc_norm`` is kept (checkpoint keys unchanged) but frozen, so it takes no gradient
            and no weight decay. Defaults to True.
        **kwargs: :class:`mmaction.models.backbones.VisionTransformer` arguments
            (``embed_dims``, ``depth``, ``num_heads``, ``img_size``, ``num_frames``...).
    """

    def __init__(self, out_type: str = 'pooled', temporal_fc_norm: bool = True,
                 **kwargs) -> None:
        if out_type not in ('pooled', 'temporal'):
            raise ValueError(f"VideoMAEEncoder out_type must be 'pooled' or 'temporal', got "
                             f'{out_type!r}')
        if not temporal_fc_norm and out_type != 'temporal':
            raise ValueError("VideoMAEEncoder temporal_fc_norm=False only applies to "
                             "out_type='temporal'; set out_type='temporal' or drop the option")
        super().__init__(**kwargs)
        self.out_type = out_type
        self.temporal_fc_norm = temporal_fc_norm
        if not temporal_fc_norm and self.fc_norm is not None:
            self.fc_norm.requires_grad_(False)  # unused: no gradient, no decay, keys kept
        for blk in self.blocks:  # swap in the LoRA-ready attention: same parameters and keys
            old = blk.attn
            new = LoRAReadyAttention(
                old.embed_dims, num_heads=old.num_heads, qkv_bias=hasattr(old, 'q_bias'),
                qk_scale=old.scale, attn_drop_rate=old.attn_drop.p, drop_rate=old.proj_drop.p)
            new.scale = old.scale
            blk.attn = new
        self.original_depth = len(self.blocks)
        self.block_ids: List[int] = list(range(self.original_depth))
        self._skip: frozenset = frozenset()
        self._capture: Optional[BlockOutputs] = None
        self._register_state_dict_hook(self._add_kept_blocks)

    # -- block addressing ---------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of blocks currently in the model."""
        return len(self.blocks)

    def _check_ids(self, ids: Iterable[int], what: str) -> frozenset:
        ids = frozenset(int(i) for i in ids)
        unknown = sorted(ids - set(self.block_ids))
        if unknown:
            raise ValueError(f'VideoMAEEncoder.{what}: blocks {unknown} are not in the model '
                             f'(kept original indices: {self.block_ids})')
        return ids

    @contextlib.contextmanager
    def skip_blocks(self, ids: Iterable[int]) -> Iterator[None]:
        """Within the context, forward passes skip the blocks of these *original* indices."""
        ids = self._check_ids(ids, 'skip_blocks')
        previous, self._skip = self._skip, ids
        try:
            yield
        finally:
            self._skip = previous

    @contextlib.contextmanager
    def capture_block_outputs(self) -> Iterator[BlockOutputs]:
        """Within the context, record every executed block's output (B, N, C).

        Yields:
            BlockOutputs: filled as forwards run, keyed by original block index; each entry
            holds one tensor per forward call (with their graphs, for a feature loss).
            Recomputation by activation checkpointing during a backward inside the context
            would append again, so exit the context before ``backward``.
        """
        if self._capture is not None:
            raise RuntimeError('VideoMAEEncoder.capture_block_outputs cannot be nested')
        self._capture = BlockOutputs()
        try:
            yield self._capture
        finally:
            self._capture = None

    def remove_blocks(self, ids: Iterable[int]) -> None:
        """Physically remove the blocks of these *original* indices (the rest keep theirs)."""
        ids = self._check_ids(ids, 'remove_blocks')
        if len(ids) >= len(self.block_ids):
            raise ValueError('VideoMAEEncoder.remove_blocks: cannot remove every block')
        keep = [k for k, i in enumerate(self.block_ids) if i not in ids]
        self.blocks = ModuleList([self.blocks[k] for k in keep])
        self.block_ids = [self.block_ids[k] for k in keep]

    def keep_blocks(self, kept: Iterable[int]) -> None:
        """Remove every block whose *original* index is not in ``kept`` (e.g. a checkpoint's
        ``kept_blocks``), so that this encoder has the structure of a shortened one.

        Raises:
            ValueError: ``kept`` names blocks this encoder no longer has.
        """
        kept = [int(i) for i in kept]
        if not set(kept) <= set(self.block_ids):
            raise ValueError(f'the state dict keeps blocks {kept}, but this encoder only has '
                             f'blocks {self.block_ids}')
        extra = set(self.block_ids) - set(kept)
        if extra:
            self.remove_blocks(extra)

    # -- state dict: a shortened encoder records which blocks it kept ---------------------------
    def _add_kept_blocks(self, module, state_dict, prefix, local_metadata):
        if len(self.block_ids) != self.original_depth:
            state_dict[prefix + KEPT_BLOCKS_KEY] = torch.tensor(self.block_ids)
        return state_dict

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        kept = state_dict.pop(prefix + KEPT_BLOCKS_KEY, None)
        if kept is not None:
            try:  # runs before the children load: the shorter ModuleList receives them
                self.keep_blocks(kept)
            except ValueError as e:
                error_msgs.append(f'{prefix}{KEPT_BLOCKS_KEY}: {e}')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # -- forward ------------------------------------------------------------------------------
    def _pos_embed(self, h: int, w: int) -> Tensor:
        """Position embedding for an (h, w) patch grid (bicubic resize as the parent)."""
        if (h, w) == self.grid_size:
            return self.pos_embed
        pos = self.pos_embed.reshape(-1, *self.grid_size, self.embed_dims).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(h, w), mode='bicubic', align_corners=False)
        return pos.permute(0, 2, 3, 1).flatten(1, 2).reshape(1, -1, self.embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) clips -> features (see ``out_type``)."""
        b, _, _, h, w = x.shape
        h, w = h // self.patch_size, w // self.patch_size
        x = self.patch_embed(x)[0]  # (B, T' * h * w, C)
        x = self.pos_drop(x + self._pos_embed(h, w))
        for index, blk in zip(self.block_ids, self.blocks):
            if index in self._skip:
                continue
            x = blk(x)
            if self._capture is not None:
                self._capture.setdefault(index, []).append(x)
        x = self.norm(x)
        if self.out_type == 'temporal':
            x = x.reshape(b, -1, h * w, self.embed_dims).mean(2)  # (B, T', C)
            if self.temporal_fc_norm and self.fc_norm is not None:
                x = self.fc_norm(x)
            return x.transpose(1, 2)  # (B, C, T')
        if self.return_feat_map:
            return x.reshape(b, -1, h, w, self.embed_dims).permute(0, 4, 1, 2, 3)
        if self.fc_norm is not None:
            return self.fc_norm(x.mean(1))  # (B, C)
        return x[:, 0]

    def block_outputs(self, x: Tensor, ids: Optional[Iterable[int]] = None) -> Dict[int, Tensor]:
        """Convenience: one forward, returning ``{original index: (B, N, C)}`` (all or ``ids``)."""
        with self.capture_block_outputs() as outs:
            self(x)
        wanted = self.block_ids if ids is None else list(ids)
        return {i: outs.cat(i) for i in wanted if i in outs}
