"""tools/analysis_tools/benchmark_masked_mhca.py: the public chunked form it compares against is
band attention, and MaskedMHCA saves no more for backward than it."""
import pytest
import torch


def _band_masked_full(attn, q, k, v, kv_mask):
    t, w = k.shape[2], attn.half_window
    idx = torch.arange(t)
    att = q @ k.transpose(-2, -1) + torch.where(kv_mask[:, None, None, :], 0.0, -1e4)
    att = att.masked_fill((idx[:, None] - idx[None, :]).abs() > w, float('-inf')).softmax(-1)
    return att.masked_fill(~kv_mask[:, None, :, None], 0.0) @ v


def test_public_form_is_band_attention(load_tool):
    """The re-implemented Longformer chunks give band-masked full attention (both sequence
    ends, a padded tail) and refuse lengths the public code refuses."""
    tool = load_tool('analysis_tools/benchmark_masked_mhca')
    attn = tool.PublicLocalMHCA(16, 4, window_size=7)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 36, 4, generator=g) for _ in range(3))
    mask = torch.ones(2, 36, dtype=torch.bool)
    mask[1, 25:] = False
    assert torch.allclose(attn._local(q, k, v, mask), _band_masked_full(attn, q, k, v, mask),
                          atol=1e-5)
    with pytest.raises(ValueError, match='T % 6'):
        attn._local(q[:, :, :35], k[:, :, :35], v[:, :, :35], mask[:, :35])


@pytest.mark.parametrize('kind', ['attention', 'block'])
def test_saved_bytes_at_most_the_public_form(load_tool, kind):
    """Counted bytes saved for backward at a small THUMOS-like shape (window 19, 4 heads,
    144 positions, one sequence padded): MaskedMHCA / the public form <= 0.9 for the layer
    alone and <= 1.0 for the whole block; same outputs and input gradients."""
    tool = load_tool('analysis_tools/benchmark_masked_mhca')
    ours, public = (m.train() for m in tool.build_pair(kind, embed_dims=32, num_heads=4,
                                                        window_size=19))
    x, mask = tool.make_inputs(2, 32, 144, 100)
    saved = [tool.saved_bytes(m, x, mask) for m in (ours, public)]
    assert saved[0] <= (0.9 if kind == 'attention' else 1.0) * saved[1], saved
    outs = []
    for m in (ours.eval(), public.eval()):
        xg = x.clone().requires_grad_()
        out, _ = m(xg, mask)
        out.sum().backward()
        outs.append((out, xg.grad))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-5)
    assert torch.allclose(outs[0][1], outs[1][1], atol=1e-5)
