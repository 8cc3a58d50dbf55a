"""Banded (local window) attention that saves only q, k, v and the probabilities for backward.

Each query t attends to the keys t - w .. t + w (a window of 2w + 1). The sequence is cut into
blocks of ``block`` queries; block n reads the ``block + 2w`` keys around it through an
overlapping strided view of the (padded) keys, so the scores are one batched matmul
(N, block, d) x (N, d, block + 2w) and the window of query i is the diagonal band i .. i + 2w
of its block's score matrix, again a view. Values are read the same way. Nothing of size
T x window x d is materialised: unlike ``unfold`` + ``einsum`` (which copies every key and
value window and keeps the copies for backward) or Longformer's sliding chunks (which keep
chunked copies of q, k, v and the diagonalised probabilities), the autograd node here keeps
the padded q, k, v (one copy each) and the (B, h, T, 2w + 1) probabilities, and its backward
recomputes the block matrices from them. Without gradients (inference, or a jit trace such as
mmengine's ``FlopAnalyzer``) the same forward runs as plain tensor operations.

Masking follows ActionFormer (arXiv 2202.07925) / OpenTAD's ``LocalMaskedMHCA``: keys outside
the sequence get ``-inf``, padded keys inside it ``-1e4`` (a query whose window is all padding
stays finite), padded queries get all-zero probabilities.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

BLOCK = 64  # queries per block: larger blocks mean fewer, larger matmuls and more wasted scores


def _store(x: Tensor, pad: int, length: int) -> Tensor:
    """(B, h, T, d) -> (pad + B*h*length + pad, d): each sequence zero-padded to ``length``,
    the sequences back to back, ``pad`` zero rows before the first and after the last."""
    b, h, t, d = x.shape
    out = x.new_zeros(2 * pad + b * h * length, d)
    out[pad:pad + b * h * length].view(b, h, length, d)[:, :, :t] = x
    return out


def _windows(store: Tensor, n: int, span: int, block: int) -> Tensor:
    """(rows, d) store -> (N, span, d) overlapping view: window n starts at row n * block."""
    d = store.shape[1]
    return store.as_strided((n, span, d), (block * d, d, 1))


def _band(blocks: Tensor, w: int) -> Tensor:
    """Contiguous (N, L, L + 2w) -> its band (N, L, 2w + 1) as a view: [n, i, j] = [n, i, i + j]."""
    n, length, span = blocks.shape
    return blocks.as_strided((n, length, 2 * w + 1), (length * span, span + 1, 1))


def _banded(p: Tensor, length: int, block: int) -> Tensor:
    """(B, h, T, 2w + 1) band -> (N, block, block + 2w) block matrices, zero off the band."""
    b, h, t, width = p.shape
    n = b * h * length // block
    out = p.new_zeros(n, block, block + width - 1)
    _band(out, width // 2).copy_(F.pad(p, (0, 0, 0, length - t)).view(n, block, width))
    return out


def _scatter(win: Tensor, shape: torch.Size, length: int, w: int, block: int) -> Tensor:
    """Gradient of the overlapping windows (N, span, d) -> gradient of (B, h, T, d): the part of
    each window that overlaps the next blocks is added block by block (no two windows of one
    part overlap)."""
    b, h, t, d = shape
    n, span, _ = win.shape
    parts = -(-span // block)
    store = win.new_zeros((n + parts) * block, d)
    for m in range(parts):
        rows = min(block, span - m * block)
        store[m * block:(m + n) * block].view(n, block, d)[:, :rows] += \
            win[:, m * block:m * block + rows]
    return store[w:w + b * h * length].view(b, h, length, d)[:, :, :t]


def window_bias(kv_mask: Tensor, w: int, dtype: torch.dtype) -> Tensor:
    """(B, T) valid-key mask -> (B, 1, T, 2w + 1) additive bias of each query's window: 0 for a
    valid key, -1e4 for a padded key, -inf for a position outside the sequence."""
    inside = F.pad(torch.ones_like(kv_mask), (w, w)).unfold(1, 2 * w + 1, 1)  # (B, T, 2w+1)
    valid = F.pad(kv_mask, (w, w)).unfold(1, 2 * w + 1, 1)
    bias = torch.zeros(inside.shape, dtype=dtype, device=kv_mask.device)
    bias = bias.masked_fill(inside & ~valid, -1e4).masked_fill(~inside, float('-inf'))
    return bias[:, None]


def _attend(q: Tensor, k: Tensor, v: Tensor, kv_mask: Tensor, drop: Optional[Tensor], w: int,
            block: int) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """The forward: output (B, h, T, d) and what backward needs (stores of q, k, v; probs)."""
    b, h, t, d = q.shape
    length = -(-t // block) * block
    n, span = b * h * length // block, block + 2 * w
    qs, ks, vs = _store(q, 0, length), _store(k, w, length), _store(v, w, length)
    scores = torch.bmm(qs.view(n, block, d), _windows(ks, n, span, block).transpose(1, 2))
    att = _band(scores, w).reshape(b, h, length, 2 * w + 1)[:, :, :t]  # (B, h, T, 2w+1)
    acc = torch.promote_types(q.dtype, torch.float32)  # softmax in at least fp32
    att = (att.to(acc) + window_bias(kv_mask, w, acc)).softmax(-1)
    att = att.masked_fill(~kv_mask[:, None, :, None], 0.0).to(q.dtype)  # padded queries
    probs = att if drop is None else att * drop
    out = torch.bmm(_banded(probs, length, block), _windows(vs, n, span, block))
    return out.view(b, h, length, d)[:, :, :t], (qs, ks, vs, att)


class _BandAttention(torch.autograd.Function):
    """softmax(q k^T + bias) v restricted to the band |t - s| <= w (see the module docstring)."""

    @staticmethod
    def forward(ctx, q, k, v, kv_mask, drop, w, block):
        out, saved = _attend(q, k, v, kv_mask, drop, w, block)
        ctx.save_for_backward(*saved, drop)
        ctx.shape, ctx.w, ctx.block = q.shape, w, block
        return out

    @staticmethod
    def backward(ctx, grad_out):
        qs, ks, vs, att, drop = ctx.saved_tensors
        (b, h, t, d), w, block = ctx.shape, ctx.w, ctx.block
        length = -(-t // block) * block
        n, span = b * h * length // block, block + 2 * w
        grad_out = _store(grad_out.to(qs.dtype), 0, length).view(n, block, d)
        grad_q = grad_k = grad_v = None
        if ctx.needs_input_grad[2]:
            probs = att if drop is None else att * drop
            grad_v = _scatter(
                torch.bmm(_banded(probs, length, block).transpose(1, 2), grad_out),
                ctx.shape, length, w, block)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_p = torch.bmm(grad_out, _windows(vs, n, span, block).transpose(1, 2))
            grad_p = _band(grad_p, w).reshape(b, h, length, 2 * w + 1)[:, :, :t]
            if drop is not None:
                grad_p = grad_p * drop
            grad_s = att * (grad_p - (att * grad_p).sum(-1, keepdim=True))  # softmax backward
            grad_s = _banded(grad_s, length, block)  # (N, block, span)
            if ctx.needs_input_grad[0]:
                grad_q = torch.bmm(grad_s, _windows(ks, n, span, block))
                grad_q = grad_q.view(b, h, length, d)[:, :, :t]
            if ctx.needs_input_grad[1]:
                grad_k = _scatter(torch.bmm(grad_s.transpose(1, 2), qs.view(n, block, d)),
                                  ctx.shape, length, w, block)
        return grad_q, grad_k, grad_v, None, None, None, None


def band_attention(q: Tensor, k: Tensor, v: Tensor, kv_mask: Tensor, half_window: int,
                   drop: Optional[Tensor] = None, block: int = BLOCK) -> Tensor:
    """Local attention of each query over the keys within ``half_window`` positions.

    Args:
        q (Tensor): Queries (B, h, T, d), already scaled.
        k (Tensor): Keys (B, h, T, d).
        v (Tensor): Values (B, h, T, d).
        kv_mask (Tensor): (B, T) bool, True for valid positions (keys and queries).
        half_window (int): w; the window is 2w + 1 keys.
        drop (Tensor, optional): Attention dropout as a (B, h, T, 2w + 1) multiplier (the
            keep mask divided by the keep probability). Defaults to None.
        block (int): Queries per block at most (the blocks are evened out over T).
            Defaults to :data:`BLOCK`.

    Returns:
        Tensor: (B, h, T, d).
    """
    if q.shape != k.shape or k.shape != v.shape:
        raise ValueError(f'band_attention needs q, k, v of one shape, got {tuple(q.shape)}, '
                         f'{tuple(k.shape)}, {tuple(v.shape)}')
    if half_window < 1 or block < 1:
        raise ValueError(f'half_window and block must be >= 1, got {half_window}, {block}')
    t = q.shape[2]
    block = -(-t // -(-t // block))  # as many blocks as needed, evened out: < 1 row a block padded
    k, v = k.to(q.dtype), v.to(q.dtype)
    with torch.autocast(q.device.type, enabled=False):
        if torch.jit.is_tracing() or not (torch.is_grad_enabled() and any(
                x.requires_grad for x in (q, k, v))):
            return _attend(q, k, v, kv_mask, drop, half_window, block)[0]  # plain ops
        return _BandAttention.apply(q, k, v, kv_mask, drop, half_window, block)
