"""band_attention: values and gradients of band-masked full attention, and what it saves."""
import pytest
import torch

from mmtad_ext.models.layers.band_attention import band_attention
from mmtad_ext.utils.measure import SavedTensorMeter


def _reference(q, k, v, kv_mask, w, drop=None):
    """Full (T x T) attention with a band mask and ActionFormer's masking rules."""
    t = k.shape[2]
    idx = torch.arange(t)
    offset = idx[None, :] - idx[:, None] + w  # (T, T): key s is column s - t + w of query t
    band = (offset >= 0) & (offset <= 2 * w)
    att = q @ k.transpose(-2, -1) + torch.where(kv_mask[:, None, None, :], 0.0, -1e4).to(q.dtype)
    att = att.masked_fill(~band, float('-inf')).softmax(-1)
    att = att.masked_fill(~kv_mask[:, None, :, None], 0.0)
    if drop is not None:  # (B, h, T, 2w + 1) -> (B, h, T, T) on the band
        att = att * torch.where(band, drop.gather(-1, offset.clamp(0, 2 * w).expand_as(att)), 0)
    return att @ v


def _inputs(b, h, t, d, valid, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, h, t, d, generator=g, dtype=dtype).requires_grad_()
               for _ in range(3))
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[-1, valid:] = False
    return q, k, v, mask


@pytest.mark.parametrize('t,w,block', [(37, 4, 8), (10, 3, 4), (12, 2, 64), (5, 4, 2),
                                       (30, 9, 64)])
def test_values_and_gradients_equal_band_masked_full_attention(t, w, block):
    """Sequences shorter than the window, blocks smaller than the window (a window spans
    several blocks) and larger than the sequence; one sequence padded."""
    q, k, v, mask = _inputs(2, 3, t, 5, valid=2 * t // 3)
    g = torch.Generator().manual_seed(1)
    drop = (torch.rand(2, 3, t, 2 * w + 1, generator=g) > 0.3).double() / 0.7
    for d in (None, drop):
        out = band_attention(q, k, v, mask, w, d, block)
        ref = _reference(q, k, v, mask, w, d)
        assert torch.allclose(out, ref, atol=1e-12)
        cot = torch.randn(out.shape, generator=g, dtype=out.dtype)
        grads = torch.autograd.grad(out, (q, k, v), cot)
        ref_grads = torch.autograd.grad(ref, (q, k, v), cot)
        for a, r in zip(grads, ref_grads):
            assert torch.allclose(a, r, atol=1e-12)
    assert out[-1, :, 2 * t // 3:].abs().max() == 0  # padded queries
    assert torch.autograd.gradcheck(lambda *x: band_attention(*x, mask, w, drop, block),
                                    (q, k, v), fast_mode=True)


def test_saves_padded_qkv_and_the_probabilities_only():
    """Counted bytes saved for backward = q, k, v (each padded to whole blocks; k and v with w
    rows before and after) + the (B, h, T, 2w + 1) probabilities. The unfold form keeps a
    (2w + 1)-fold copy of k and of v instead."""
    b, h, t, d, w = 2, 2, 50, 8, 9
    q, k, v, mask = _inputs(b, h, t, d, valid=40, dtype=torch.float32)
    with SavedTensorMeter() as meter:
        out = band_attention(q, k, v, mask, w, block=32)  # 2 blocks of 25: no padding
    rows = b * h * t
    expected = 4 * (rows * d + 2 * (rows + 2 * w) * d + rows * (2 * w + 1))
    assert meter.peak_bytes['total'] == expected
    unfold_copies = 4 * 2 * rows * (2 * w + 1) * d
    assert expected < 0.2 * unfold_copies
    out.sum().backward()
    assert q.grad.shape == q.shape and torch.isfinite(k.grad).all()


def test_half_precision_and_bad_arguments():
    q, k, v, mask = _inputs(1, 2, 20, 4, valid=20, dtype=torch.float32)
    out = band_attention(q, k, v, mask, 3)
    half = band_attention(*(x.detach().bfloat16() for x in (q, k, v)), mask, 3)
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), out, atol=0.05)
    with pytest.raises(ValueError, match='one shape'):
        band_attention(q, k[:, :, :10], v, mask, 3)
    with pytest.raises(ValueError, match='half_window'):
        band_attention(q, k, v, mask, 0)
