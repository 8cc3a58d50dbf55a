"""Masked (local) multi-head conv attention and the ActionFormer block."""
import torch

from mmtad_ext.models.layers.actionformer_block import ActionFormerBlock
from mmtad_ext.models.layers.masked_mhca import MaskedMHCA


def _naive_local(attn, x, mask, half):
    """Full attention with a band mask, written out (ActionFormer's masking rules)."""
    q, q_mask = attn.query_conv(x, mask)
    k, kv_mask = attn.key_conv(x, mask)
    v, _ = attn.value_conv(x, mask)
    q = attn._heads(attn.query(attn.query_norm(q))) * attn.scale
    k = attn._heads(attn.key(attn.key_norm(k)))
    v = attn._heads(attn.value(attn.value_norm(v)))
    t = k.shape[2]
    att = q @ k.transpose(-2, -1)  # (B, h, T, T)
    idx = torch.arange(t)
    band = (idx[:, None] - idx[None, :]).abs() <= half
    att = att + torch.where(kv_mask[:, None, None, :], 0.0, -1e4)
    att = att.masked_fill(~band, float('-inf')).softmax(-1)
    att = att.masked_fill(~kv_mask[:, None, :, None], 0.0)
    out = (att @ v).transpose(2, 3).reshape(x.shape[0], x.shape[1], -1)
    return attn.proj(out) * q_mask[:, None]


def test_local_attention_equals_band_masked_full_attention():
    torch.manual_seed(0)
    attn = MaskedMHCA(16, 4, window_size=5).eval()
    x = torch.randn(2, 16, 12)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False
    out, _ = attn(x, mask)
    assert torch.allclose(out, _naive_local(attn, x, mask, 2), atol=1e-5)
    assert out[1, :, 7:].abs().max() == 0  # padded queries output 0


def test_block_outputs_do_not_depend_on_padding():
    """Zero padding (as the detector pads) only adds masked positions: the valid outputs are the
    same (window and global attention, stride 1 and 2)."""
    torch.manual_seed(0)
    for window, stride in ((5, 1), (5, 2), (-1, 1), (-1, 2)):
        blk = ActionFormerBlock(16, 4, window_size=window, stride=stride, drop_path=0.1).eval()
        x = torch.randn(1, 16, 8)
        short, _ = blk(x, torch.ones(1, 8, dtype=torch.bool))
        padded = torch.cat([x, torch.zeros(1, 16, 8)], dim=-1)
        mask = torch.zeros(1, 16, dtype=torch.bool)
        mask[:, :8] = True
        long, out_mask = blk(padded, mask)
        n = short.shape[-1]
        assert int(out_mask.sum()) == n
        assert torch.allclose(long[..., :n], short, atol=1e-5), (window, stride)
