"""Masked multi-head convolutional self-attention, global or local (ActionFormer).

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925), sec. 3.2;
the form of OpenTAD's ``MaskedMHCA`` / ``LocalMaskedMHCA`` (``bricks/transformer.py``) is
followed: depthwise convs (stride 1 or the block's down-sampling stride) + LayerNorm before the
q/k/v 1x1 projections, padded positions masked.

The local form lets each query attend to the keys within ``window_size // 2`` positions. OpenTAD
computes it with Longformer's chunked diagonals (T divisible by the window size - 1); here with
:func:`~.band_attention.band_attention` (block matmuls over strided views, any T), which keeps
only q, k, v and the window probabilities for backward. The masking is the same: keys outside
the sequence get ``-inf``, padded keys inside it ``-1e4`` (so a query whose whole window is
padding stays finite), and padded queries output 0.
"""
import math
from typing import Tuple

from torch import Tensor, nn

from .band_attention import band_attention
from .masked_conv1d import ChannelLayerNorm, MaskedConv1dModule


class MaskedMHCA(nn.Module):
    """Masked multi-head conv attention on (B, C, T) features.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Heads (C divisible by it).
        window_size (int): Local attention window (odd, > 1); ``-1`` (or <= 1) for global
            attention. Defaults to -1.
        stride (int): Down-sampling stride of queries and keys/values (1 or even).
            Defaults to 1.
        attn_drop (float): Attention dropout. Defaults to 0.
        proj_drop (float): Output projection dropout. Defaults to 0.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int = -1, stride: int = 1,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'MaskedMHCA: embed_dims {embed_dims} not divisible by num_heads '
                             f'{num_heads}')
        if stride != 1 and stride % 2:
            raise ValueError(f'MaskedMHCA: stride must be 1 or even, got {stride}')
        self.num_heads, self.head_dims = num_heads, embed_dims // num_heads
        self.scale = 1.0 / math.sqrt(self.head_dims)
        self.half_window = window_size // 2 if window_size > 1 else -1
        kernel = stride + 1 if stride > 1 else 3
        for name in ('query', 'key', 'value'):
            setattr(self, f'{name}_conv', MaskedConv1dModule(
                embed_dims, embed_dims, kernel, stride=stride, groups=embed_dims,
                with_norm=False, with_act=False, bias=False))
            setattr(self, f'{name}_norm', ChannelLayerNorm(embed_dims))
            setattr(self, name, nn.Conv1d(embed_dims, embed_dims, 1))
        self.proj = nn.Conv1d(embed_dims, embed_dims, 1)
        self.attn_drop, self.proj_drop = nn.Dropout(attn_drop), nn.Dropout(proj_drop)
        for m in (self.query, self.key, self.value, self.proj):
            nn.init.zeros_(m.bias)

    def _heads(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        return x.view(b, self.num_heads, self.head_dims, t).transpose(2, 3)  # (B, h, T, d)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, C, T), (B, T) bool -> (B, C, T'), (B, T') bool."""
        b, c, _ = x.shape
        q, q_mask = self.query_conv(x, mask)
        k, kv_mask = self.key_conv(x, mask)
        v, _ = self.value_conv(x, mask)
        q = self._heads(self.query(self.query_norm(q))) * self.scale  # (B, h, T', d)
        k = self._heads(self.key(self.key_norm(k)))
        v = self._heads(self.value(self.value_norm(v)))
        if self.half_window < 0:
            out = self._global(q, k, v, kv_mask)
        else:
            out = self._local(q, k, v, kv_mask)
        out = out.transpose(2, 3).reshape(b, c, -1)  # (B, C, T')
        out = self.proj_drop(self.proj(out)) * q_mask[:, None].to(out.dtype)
        return out, q_mask

    def _global(self, q: Tensor, k: Tensor, v: Tensor, kv_mask: Tensor) -> Tensor:
        att = q @ k.transpose(-2, -1)  # (B, h, T', T'')
        att = att.masked_fill(~kv_mask[:, None, None, :], float('-inf'))
        att = self.attn_drop(att.softmax(-1))
        return att @ (v * kv_mask[:, None, :, None].to(v.dtype))  # (B, h, T', d)

    def _local(self, q: Tensor, k: Tensor, v: Tensor, kv_mask: Tensor) -> Tensor:
        b, h, t, _ = q.shape
        if k.shape[2] != t:
            raise ValueError('local MaskedMHCA needs equal query and key lengths')
        drop = None
        if self.training and self.attn_drop.p > 0:  # keep mask / keep probability per window
            drop = self.attn_drop(q.new_ones(b, h, t, 2 * self.half_window + 1))
        return band_attention(q, k, v, kv_mask, self.half_window, drop)  # (B, h, T, d)
