"""inject_lora / merge_lora on the VideoMAE encoder: targets, B = 0 start, exact merge."""
import math

import pytest
import torch
from torch import nn

from mmtad_ext.models.backbones import VideoMAEEncoder
from mmtad_ext.models.layers import has_lora, inject_lora, merge_lora
from mmtad_ext.models.layers.lora import lora_layers

pytest.importorskip('peft')
TINY = dict(img_size=32, patch_size=16, embed_dims=32, depth=3, num_heads=2, num_frames=4,
            tubelet_size=2)


def test_targets_identity_start_and_exact_merge():
    torch.manual_seed(0)
    enc = VideoMAEEncoder(**TINY).eval()
    keys = set(enc.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    ref = enc(x)
    inject_lora(enc, rank=8)
    names = {n.rsplit('.lora_A', 1)[0] for n, _ in enc.named_parameters() if '.lora_A.' in n}
    # qkv and proj of every block, not patch_embed.projection
    assert names == {f'blocks.{i}.attn.{p}' for i in range(3) for p in ('qkv', 'proj')}
    assert torch.equal(enc(x), ref)  # B = 0: the adapters start as the identity
    for n, p in enc.named_parameters():
        if 'lora_B' in n:
            torch.nn.init.normal_(p, std=0.2)
    adapted = enc(x)
    assert (adapted - ref).abs().max() > 1e-3
    with pytest.raises(RuntimeError, match='already holds LoRA'):
        inject_lora(enc, rank=8)
    assert merge_lora(enc) == 6 and not has_lora(enc)
    assert set(enc.state_dict()) == keys  # the original structure and keys
    assert torch.allclose(enc(x), adapted, atol=1e-5)
    with pytest.raises(ValueError, match='rank'):
        inject_lora(enc, rank=0)


def test_seeded_injection_is_reproducible_and_leaves_the_global_rng_alone():
    def adapters(enc):
        return {n: p.detach().clone() for n, p in enc.named_parameters() if 'lora_A' in n}

    encs = [VideoMAEEncoder(**TINY) for _ in range(3)]
    torch.manual_seed(1)
    state = torch.get_rng_state()
    inject_lora(encs[0], rank=4, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # neither used nor advanced
    torch.manual_seed(2)
    inject_lora(encs[1], rank=4, seed=7)
    inject_lora(encs[2], rank=4, seed=8)
    a, b, c = (adapters(e) for e in encs)
    assert len(a) == 6 and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize('init,std', [('peft', 1 / math.sqrt(3 * 384)),
                                      ('public', 1 / math.sqrt(96))])
def test_lora_init_std(init, std):
    """A at rank 96 on 384-wide layers (VideoMAE-S): peft's Kaiming-uniform (std 0.0295) or the
    public code's randn / sqrt(r) (std 0.102); B = 0 either way (the model is unchanged)."""
    model = nn.Sequential(*[nn.Linear(384, 384) for _ in range(4)])
    inject_lora(model, rank=96, target_modules=r'\d', seed=0, init=init)
    a = torch.cat([m.lora_A['default'].weight.flatten() for _, m in lora_layers(model)])
    b = torch.cat([m.lora_B['default'].weight.flatten() for _, m in lora_layers(model)])
    assert a.numel() == 4 * 96 * 384 and abs(float(a.std()) / std - 1) < 0.02
    assert abs(float(a.mean())) < 0.01 * std * 10 and torch.count_nonzero(b) == 0
    with pytest.raises(ValueError, match="init must be one of .* got 'kaiming'"):
        inject_lora(nn.Sequential(nn.Linear(4, 4)), rank=2, target_modules=r'0', init='kaiming')
