"""VideoMAEEncoder: bit-identical to mmaction2's VideoMAE, LoRA acts, blocks are addressable."""
import pytest
import torch
from mmaction.models.backbones import VisionTransformer

from mmtad_ext.models.backbones import VideoMAEEncoder

TINY = dict(img_size=32, patch_size=16, embed_dims=32, depth=4, num_heads=2, num_frames=4,
            tubelet_size=2)


def _pair(**kwargs):
    torch.manual_seed(0)
    stock = VisionTransformer(**TINY, **kwargs)
    stock.init_weights()
    for name, p in stock.named_parameters():  # non-trivial biases (init is zero)
        if 'bias' in name:
            torch.nn.init.normal_(p, std=0.1)
    ours = VideoMAEEncoder(**TINY, **kwargs)
    ours.load_state_dict(stock.state_dict(), strict=True)  # same keys, strictly
    return stock.eval(), ours.eval()


def test_equals_mmaction2_bit_for_bit():
    stock, ours = _pair()
    x = torch.randn(2, 3, 4, 32, 32)
    assert torch.equal(stock(x), ours(x))
    stock_fm, ours_fm = _pair(return_feat_map=True)
    assert torch.equal(stock_fm(x), ours_fm(x))


def test_skip_equals_remove_and_kept_ids():
    _, ours = _pair()
    x = torch.randn(2, 3, 4, 32, 32)
    with ours.skip_blocks([1]):
        skipped = ours(x)
    full = ours(x)
    assert not torch.equal(skipped, full)
    ours.remove_blocks([1])
    assert ours.block_ids == [0, 2, 3] and ours.depth == 3
    assert torch.equal(ours(x), skipped)
    with pytest.raises(ValueError, match=r'blocks \[1\] are not in the model'):
        ours.remove_blocks([1])


def test_capture_by_original_index():
    _, ours = _pair()
    ours.remove_blocks([0, 2])
    x = torch.randn(2, 3, 4, 32, 32)
    outs = ours.block_outputs(x)
    assert sorted(outs) == [1, 3]
    assert outs[3].shape == (2, 2 * 2 * 2, 32)  # (B, tokens, C)
    with ours.capture_block_outputs() as cap:
        ours(x[:1])
        ours(x[1:])
    assert torch.allclose(cap.cat(3), outs[3], atol=1e-6)


def test_shortened_state_dict_round_trip_and_stock_load():
    _, ours = _pair()
    ours.remove_blocks([2])
    sd = ours.state_dict()
    assert sd['kept_blocks'].tolist() == [0, 1, 3]
    fresh = VideoMAEEncoder(**TINY)  # full depth: loading removes block 2 first
    fresh.load_state_dict(sd, strict=True)
    assert fresh.block_ids == [0, 1, 3]
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(fresh.eval()(x), ours(x))
    # without the key it is a stock depth-3 VideoMAE state dict
    stock = VisionTransformer(**dict(TINY, depth=3)).eval()
    stock.load_state_dict({k: v for k, v in sd.items() if k != 'kept_blocks'}, strict=True)
    assert torch.equal(stock(x), ours(x))


def test_temporal_tokens():
    _, ours = _pair()
    ours.out_type = 'temporal'
    out = ours(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, 32, 2)  # (B, C, T / tubelet)
    with pytest.raises(ValueError, match='out_type'):
        VideoMAEEncoder(out_type='tokens', **TINY)



def test_temporal_tokens_without_fc_norm_match_the_stock_feature_map():
    """temporal_fc_norm=False (OpenTAD): the spatial mean of mmaction2's feature map (norm is
    Identity with mean pooling, fc_norm unused); fc_norm is kept for the keys but frozen."""
    stock, _ = _pair(return_feat_map=True)
    ours = VideoMAEEncoder(out_type='temporal', temporal_fc_norm=False, **TINY)
    ours.load_state_dict(stock.state_dict(), strict=True)
    ours.eval()
    x = torch.randn(2, 3, 4, 32, 32)
    ref = stock(x).mean((3, 4))  # (B, C, T')
    assert torch.equal(ours(x), ref)
    with_norm = VideoMAEEncoder(out_type='temporal', **TINY)
    with_norm.load_state_dict(stock.state_dict(), strict=True)
    assert not torch.allclose(with_norm.eval()(x), ref)  # the default still applies fc_norm
    assert not any(p.requires_grad for p in ours.fc_norm.parameters())
    assert all(p.requires_grad for n, p in ours.named_parameters() if not n.startswith('fc_norm'))
    with pytest.raises(ValueError, match='temporal_fc_norm'):
        VideoMAEEncoder(out_type='pooled', temporal_fc_norm=False, **TINY)

def _lora(model):
    from peft import LoraConfig, inject_adapter_in_model
    cfg = LoraConfig(r=4, lora_alpha=4, target_modules=r'.*blocks\.\d+\.attn\.qkv')
    model = inject_adapter_in_model(cfg, model)
    for name, p in model.named_parameters():
        p.requires_grad_('lora_' in name)
        if 'lora_B' in name:  # B = 0 at init: make the update non-zero
            torch.nn.init.normal_(p, std=0.5)
    return model


def test_lora_on_qkv_acts_here_and_is_bypassed_by_mmaction2():
    """Why the subclass exists: mmaction2's attention reads ``qkv.weight`` directly, so a peft
    LoRA on ``attn.qkv`` changes nothing and gets no gradient."""
    pytest.importorskip('peft')
    stock, ours = _pair()
    x = torch.randn(2, 3, 4, 32, 32)
    ref_stock, ref_ours = stock(x), ours(x)
    stock, ours = _lora(stock), _lora(ours)
    out_stock, out_ours = stock(x), ours(x)
    assert torch.equal(out_stock, ref_stock) and not out_stock.requires_grad
    assert (out_ours - ref_ours).abs().max() > 1e-3
    # a random projection: the plain sum of a LayerNorm output has no gradient
    (out_ours * torch.randn_like(out_ours)).sum().backward()
    grads = [p.grad for n, p in ours.named_parameters() if 'lora_A' in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def _egs(mode, ratio=0.5, **kwargs):
    from mmtad_ext.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='EGSBackboneWrapper', backbone=dict(type='VideoMAEEncoder', out_type='temporal',
                                                 **TINY),
        ratio=ratio, mode=mode, chunk_size=3, seed=1, with_cp=True,
        keep_temporal=True, **kwargs))


@pytest.mark.parametrize('length', [None, 16, 3])
def test_inside_egs_with_checkpointing_keeps_temporal_tokens(length):
    """End to end through encoder gradient sampling: (B, N, C, T, H, W) -> (B, C, N * t) (or
    resized to ``temporal_length``: 16 up, 3 down), and joint EGS (checkpointed) and the
    two-phase protocol give the same encoder gradients (through the resize too)."""
    x = torch.randn(2, 4, 3, 4, 32, 32)  # 2 videos x 4 snippets of 4 frames
    joint, two = _egs('joint', temporal_length=length), _egs('two_phase', temporal_length=length)
    two.load_state_dict(joint.state_dict())
    joint.train(), two.train()
    feats = joint(x)
    assert feats.shape == (2, 32, length or 4 * 2)
    with torch.no_grad():
        ref = joint.extract_no_grad(x)
    assert torch.allclose(feats, ref, atol=1e-5)
    weight = torch.randn_like(feats)
    (feats * weight).sum().backward()
    assert two.extract_no_grad(x).shape == feats.shape
    two.backward_sampled(x, weight)
    for (name, a), (_, b) in zip(joint.named_parameters(), two.named_parameters()):
        if a.grad is not None or b.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-5), name


def test_temporal_length_is_a_linear_resize_of_the_concatenated_tokens():
    """OpenTAD's Interpolate(align_corners=False) over the whole video's tokens (not per
    snippet); the length of the tokens themselves is the identity; bad arguments name the fix."""
    x = torch.randn(1, 4, 3, 4, 32, 32)
    plain = _egs('joint').eval()
    with torch.no_grad():
        tokens = plain(x)  # (1, 32, 8)
        resized = _egs('joint', temporal_length=16).eval()(x)
        same = _egs('joint', temporal_length=8).eval()(x)
    assert torch.equal(same, tokens)
    expected = torch.nn.functional.interpolate(tokens, size=16, mode='linear',
                                               align_corners=False)
    assert torch.allclose(resized, expected, atol=1e-6)
    # position 8 reads input 3.75: tokens 3 and 4, across the border of snippets 1 and 2
    assert torch.allclose(resized[..., 8], 0.75 * tokens[..., 4] + 0.25 * tokens[..., 3],
                          atol=1e-6)
    from mmtad_ext.registry import MODELS
    with pytest.raises(ValueError, match='keep_temporal=True'):
        MODELS.build(dict(type='EGSBackboneWrapper', temporal_length=16, backbone=dict(
            type='VideoMAEEncoder', out_type='temporal', **TINY)))


def test_flop_counter_attributes_qkv():
    """mmengine's counter sees the qkv projection as ``attn.qkv`` (0 on mmaction2's attention),
    and the totals agree."""
    from mmengine.analysis import FlopAnalyzer
    stock, ours = _pair()
    x = torch.randn(1, 3, 4, 32, 32)
    f_stock, f_ours = FlopAnalyzer(stock, (x, )), FlopAnalyzer(ours, (x, ))
    for f in (f_stock, f_ours):
        f.unsupported_ops_warnings(False), f.uncalled_modules_warnings(False)
    tokens, c = 2 * 2 * 2, 32
    assert f_stock.by_module()['blocks.0.attn.qkv'] == 0
    assert f_ours.by_module()['blocks.0.attn.qkv'] == tokens * c * 3 * c
    assert f_ours.total() == f_stock.total()
