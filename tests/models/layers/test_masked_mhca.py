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


def test_local_attention_gradients_equal_band_masked_full_attention():
    """Training step: the gradients of the input and of every parameter equal those through
    band-masked full attention (window 19 on 45 positions, one sequence padded; stride 2)."""
    for stride in (1, 2):
        torch.manual_seed(0)
        attn = MaskedMHCA(16, 4, window_size=19, stride=stride).double().train()
        x = torch.randn(2, 16, 45, dtype=torch.float64, requires_grad=True)
        mask = torch.ones(2, 45, dtype=torch.bool)
        mask[1, 30:] = False
        results = []
        for forward in (lambda: attn(x, mask)[0], lambda: _naive_local(attn, x, mask, 9)):
            out = forward()
            cot = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                              dtype=out.dtype)
            grads = torch.autograd.grad((out * cot).sum(), [x, *attn.parameters()])
            results.append((out, grads))
        (out, grads), (ref, ref_grads) = results
        assert torch.allclose(out, ref, atol=1e-12)
        assert len(grads) == len(ref_grads) == 1 + len(list(attn.parameters()))
        for g, r in zip(grads, ref_grads):
            assert torch.allclose(g, r, atol=1e-10)


def test_attention_dropout_drops_window_probabilities():
    """attn_drop in training: some probabilities are zeroed (outputs change, gradients finite);
    in eval it is off."""
    torch.manual_seed(0)
    attn = MaskedMHCA(16, 4, window_size=5, attn_drop=0.5)
    x, mask = torch.randn(1, 16, 12), torch.ones(1, 12, dtype=torch.bool)
    dropped, _ = attn.train()(x, mask)
    clean, _ = attn.eval()(x, mask)
    assert not torch.allclose(dropped, clean)
    assert torch.allclose(clean, _naive_local(attn, x, mask, 2), atol=1e-5)
    attn.train()(x.requires_grad_(), mask)[0].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_macs_are_counted_through_a_trace():
    """count_macs (a jit trace) sees the window attention as its two block matmuls:
    (B*h*T/L) blocks of L queries x (L + 2w) keys x d, for the scores and for the values."""
    from mmtad_ext.utils.measure import count_macs
    attn = MaskedMHCA(16, 4, window_size=5)
    x, mask = torch.randn(1, 16, 40), torch.ones(1, 40, dtype=torch.bool)
    total = count_macs(attn, (x, mask))
    attn._local = lambda q, k, v, kv_mask: q + k + v  # the module without the attention
    blocks, length, span, d = 4, 40, 40 + 4, 4  # 4 heads, one block of 40, w = 2
    assert total - count_macs(attn, (x, mask)) == 2 * blocks * length * span * d


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
