"""EGSBackboneWrapper: encoder gradient sampling, joint and two-phase.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.3.

The reference computations here are written independently of the wrapper: plain end-to-end
training runs the inner backbone over every snippet with gradient; "back-propagating only through
the sampled snippets" detaches the features of the other snippets with ``torch.where``.
"""
import copy
import warnings

import pytest
import torch
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.structures import InstanceData

from mmaction.structures import ActionDataSample
from mmtad_ext.registry import MODELS
from mmtad_ext.utils.measure import SavedTensorMeter

B, N, T_CLIP, SIZE = 2, 8, 4, 16

SLOWONLY = dict(
    type='ResNet3dSlowOnly', depth=18, pretrained=None, in_channels=3, base_channels=4,
    num_stages=2, out_indices=(1, ), conv1_kernel=(1, 3, 3), inflate=(0, 1),
    spatial_strides=(1, 2), temporal_strides=(1, 1), dilations=(1, 1), norm_eval=False)
VIT = dict(type='VisionTransformer', img_size=SIZE, patch_size=8, embed_dims=16, depth=2,
           num_heads=2, num_frames=T_CLIP, tubelet_size=2)
BACKBONES = dict(slowonly=(SLOWONLY, 8), vit=(VIT, 16))  # (config, feature channels)


def build_etad(backbone='slowonly', **egs):
    torch.manual_seed(0)
    cfg, channels = BACKBONES[backbone]
    model = MODELS.build(dict(
        type='ETAD',
        data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW'),
        backbone=dict(type='EGSBackboneWrapper', backbone=cfg, **egs),
        neck=dict(type='LSTMTemporalAggregation', in_channels=channels, channels=16,
                  norm_cfg=dict(type='GN', num_groups=4)),
        boundary_head=dict(type='ETADBoundaryHead', in_channels=16, feat_channels=16),
        proposal_sampler=dict(type='ProposalSampler', temporal_dim=N, ratio=0.5, seed=0),
        proposal_head=dict(type='ETADCascadeHead', in_channels=16, feat_channels=8,
                           mid_channels=16, fc_channels=16, roi_size=4)))
    return model.train()


def make_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.rand(N, 3, T_CLIP, SIZE, SIZE, generator=g) * 255 for _ in range(B)]
    samples = []
    for b in range(B):
        ds = ActionDataSample()
        gt = InstanceData()
        gt.segments = torch.tensor([[0.125, 0.5], [0.625, 0.875]]) if b == 0 else \
            torch.tensor([[0.25, 0.75]])
        gt.labels = torch.zeros(gt.segments.shape[0], dtype=torch.long)
        ds.gt_instances = gt
        ds.set_metainfo(dict(video_name=f'v{b}', window_start=0.0, window_duration=8.0))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def no_step_optim_wrapper(model):
    """accumulative_counts=2: the first train_step only accumulates (loss scaled by 1/2)."""
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def reference(model, data, sampled=None):
    """Loss and gradients of plain end-to-end training; with ``sampled`` (B, n) indices the
    features of the other snippets are detached (back-propagation through the sample only)."""
    model.zero_grad(set_to_none=True)
    batch = model.data_preprocessor(copy.deepcopy(data), True)
    x = batch['inputs']  # (B, N, C, T, H, W)
    out = model.backbone.backbone(x.flatten(0, 1))
    if out.dim() > 2:
        out = out.mean(dim=tuple(range(2, out.dim())))  # global average pooling
    feats = out.view(B, N, -1)
    if sampled is not None:
        keep = torch.zeros(B, N, dtype=torch.bool)
        keep[torch.arange(B)[:, None], sampled] = True
        feats = torch.where(keep[..., None], feats, feats.detach())
    losses = model.loss_from_features(feats.transpose(1, 2), batch['data_samples'])
    loss, _ = model.parse_losses(losses)
    loss.backward()
    return loss.detach(), grads(model)


def egs_step(model, data):
    """One ``train_step``; returns the loss, the gradients and the snippets it sampled."""
    model.zero_grad(set_to_none=True)
    snippet_state = copy.deepcopy(model.backbone.sampler.state_dict())
    log_vars = model.train_step(copy.deepcopy(data), no_step_optim_wrapper(model))
    after = copy.deepcopy(model.backbone.sampler.state_dict())
    model.backbone.sampler.load_state_dict(snippet_state)
    sampled = model.backbone.sampler.sample_batch(B, N)  # replay the draw of the step
    model.backbone.sampler.load_state_dict(after)
    return log_vars['loss'], {k: 2 * v for k, v in grads(model).items()}, sampled


def run_both(model, data):
    """The EGS step and the references, all from the same proposal-sampler state."""
    proposal_state = copy.deepcopy(model.proposal_sampler.state_dict())
    rng = torch.get_rng_state()  # the proposal losses subsample negatives with it
    loss, g, sampled = egs_step(model, data)
    model.proposal_sampler.load_state_dict(copy.deepcopy(proposal_state))
    torch.set_rng_state(rng)
    ref_loss, ref_full = reference(model, data)
    model.proposal_sampler.load_state_dict(copy.deepcopy(proposal_state))
    torch.set_rng_state(rng)
    _, ref_sampled = reference(model, data, sampled)
    return loss, g, sampled, ref_loss, ref_full, ref_sampled


def assert_grads_close(actual, expected, prefix):
    names = [n for n in expected if n.startswith(prefix)]
    assert names, f'no gradient under {prefix!r}'
    assert {n for n in actual if n.startswith(prefix)} == set(names)
    for n in names:
        torch.testing.assert_close(actual[n], expected[n], rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('backbone', ['slowonly', 'vit'])
@pytest.mark.parametrize('mode', ['joint', 'two_phase'])
def test_ratio_one_equals_end_to_end(mode, backbone):
    model = build_etad(backbone, ratio=1.0, mode=mode, chunk_size=5, seed=1)
    loss, g, sampled, ref_loss, ref_full, _ = run_both(model, make_batch())
    assert sampled.shape == (B, N)
    torch.testing.assert_close(loss, ref_loss)
    assert_grads_close(g, ref_full, '')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
@pytest.mark.parametrize('backbone', ['slowonly', 'vit'])
@pytest.mark.parametrize('mode', ['joint', 'two_phase'])
@pytest.mark.parametrize('strategy', ['random', 'grid', 'block'])
def test_sampled_gradients(mode, backbone, strategy):
    model = build_etad(backbone, ratio=0.25, strategy=strategy, mode=mode,
                       chunk_size=3, seed=2)
    loss, g, sampled, ref_loss, ref_full, ref_sampled = run_both(model, make_batch())
    assert sampled.shape == (B, 2)
    torch.testing.assert_close(loss, ref_loss)  # forward values are identical
    detector = {n: v for n, v in ref_full.items() if not n.startswith('backbone.')}
    assert_grads_close(g, detector, 'neck.')  # detector gradients == full end-to-end
    assert_grads_close(g, detector, 'proposal_head.')
    assert_grads_close(g, ref_sampled, 'backbone.')  # encoder: only the sampled snippets
    # and the sampled-only encoder gradient really differs from the full one
    name = next(n for n in ref_full if n.startswith('backbone.'))
    assert not torch.allclose(ref_full[name], ref_sampled[name])


def test_two_phase_steps_once_and_zeroes():
    model = build_etad(ratio=0.25, mode='two_phase', seed=0)
    assert model.backbone.two_phase
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train_step(make_batch(), wrapper)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith('backbone.') for n in changed)
    assert any(n.startswith('neck.') for n in changed)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    model.eval()
    assert not model.backbone.two_phase


def test_frozen_encoder_ratio_zero():
    model = build_etad(ratio=0, seed=0)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not model.backbone.backbone.training  # whole encoder in eval mode while training
    data = make_batch()
    _, g, sampled = egs_step(model, data)
    assert sampled.shape == (B, 0)
    assert not any(n.startswith('backbone.') for n in g)
    assert any(n.startswith('neck.') for n in g)


def test_norm_eval_and_frozen_modules():
    model = build_etad(frozen_modules=('conv1', 'layer1'), seed=0)
    bb = model.backbone.backbone
    assert not any(p.requires_grad for p in bb.conv1.parameters())
    assert not any(p.requires_grad for p in bb.layer1.parameters())
    assert all(p.requires_grad for p in bb.layer2.parameters())
    assert not bb.layer1.training and bb.layer2.training
    bns = [m for m in bb.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert bns and not any(m.training for m in bns)
    stats = [m.running_mean.clone() for m in bns]
    model.train_step(make_batch(), no_step_optim_wrapper(model))
    assert all(torch.equal(m.running_mean, s) for m, s in zip(bns, stats))  # frozen statistics
    with pytest.raises(ValueError, match='layer9'):
        build_etad(frozen_modules=('layer9', ))


def test_eval_is_no_grad_and_chunk_invariant():
    model = build_etad(ratio=0.5, chunk_size=3, seed=0).eval()
    x = model.data_preprocessor(make_batch(), False)['inputs']
    feats = model.backbone(x)
    assert feats.shape == (B, 8, N) and not feats.requires_grad
    model.backbone.chunk_size = N * B
    torch.testing.assert_close(model.backbone(x), feats)
    with pytest.raises(ValueError, match=r'\(B, N, C, T, H, W\)'):
        model.backbone(x[0])


def test_activation_checkpointing_same_gradients():
    data = make_batch()
    results = []
    for with_cp in (False, True):
        model = build_etad(ratio=0.5, seed=3, with_cp=with_cp)
        _, g, _ = egs_step(model, data)
        results.append(g)
    assert_grads_close(results[1], results[0], '')


def saved_backbone_bytes(model, data):
    """Bytes of the activations autograd saves during one joint forward of the backbone."""
    x = model.data_preprocessor(copy.deepcopy(data), True)['inputs']
    with SavedTensorMeter() as meter:
        model.backbone(x)
    return meter.total_bytes


def test_saved_activation_memory_scales_with_ratio():
    data = make_batch()
    full = saved_backbone_bytes(build_etad(ratio=1.0, seed=0), data)
    egs = saved_backbone_bytes(build_etad(ratio=0.25, seed=0), data)
    cp = saved_backbone_bytes(build_etad(ratio=1.0, seed=0, with_cp=True), data)
    input_bytes = B * N * 3 * T_CLIP * SIZE * SIZE * 4
    assert egs / full < 0.3  # 2 of 8 snippets keep their activations (+ shared weights)
    assert cp <= input_bytes < full  # checkpointing keeps only the chunk inputs


def test_backbone_lr_through_paramwise_cfg():
    model = build_etad(seed=0)
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
        paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1e-3)})))
    backbone_params = {id(p) for p in model.backbone.parameters()}
    lrs = {(id(p) in backbone_params, round(g['lr'], 12))
           for g in wrapper.optimizer.param_groups for p in g['params']}
    assert lrs == {(True, 1e-6), (False, 1e-3)}


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(dict(type='EGSBackboneWrapper', backbone=SLOWONLY, mode='both'))
    with pytest.raises(ValueError, match='chunk_size'):
        MODELS.build(dict(type='EGSBackboneWrapper', backbone=SLOWONLY, chunk_size=0))
    with pytest.raises(ValueError, match='ratio'):
        MODELS.build(dict(type='EGSBackboneWrapper', backbone=SLOWONLY, ratio=1.5))


def test_sampling_ratio_is_the_deprecated_name_of_ratio():
    """``sampling_ratio`` (the name before ``ratio``) still sets the EGS ratio, with a
    DeprecationWarning (and, see tests/utils/test_deprecation.py, a logged WARNING); ``ratio``
    warns about nothing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        new = MODELS.build(dict(type='EGSBackboneWrapper', backbone=SLOWONLY, ratio=0.25))
        assert new.ratio == new.sampler.ratio == 0.25
    assert not [w for w in caught if 'deprecated' in str(w.message)]
    with pytest.warns(DeprecationWarning, match='sampling_ratio=... is deprecated.*use ratio'):
        old = MODELS.build(dict(type='EGSBackboneWrapper', backbone=SLOWONLY,
                                sampling_ratio=0.25))
    assert old.ratio == old.sampler.ratio == 0.25
    with pytest.warns(DeprecationWarning, match='use ratio'):
        assert old.sampling_ratio == 0.25
    # a config inheriting ratio=1.0 from its base, overridden with the old name
    with pytest.warns(DeprecationWarning, match='sampling_ratio=0.25 overrides ratio=1.0'):
        both = MODELS.build(dict(type='EGSBackboneWrapper', backbone=SLOWONLY, ratio=1.0,
                                 sampling_ratio=0.25))
    assert both.ratio == 0.25


def test_sampler_state_in_checkpoint():
    model = build_etad(ratio=0.25, seed=5)
    state = copy.deepcopy(model.state_dict())
    first = model.backbone.sampler.sample_batch(B, N)
    model.load_state_dict(state)
    torch.testing.assert_close(model.backbone.sampler.sample_batch(B, N), first)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_tsm_2d_backbone_frames_in_batch():
    """A 2D TSM backbone sees (M * T, C, H, W) frames; EGS gradients still match."""
    torch.manual_seed(0)
    tsm = dict(type='ResNetTSM', depth=18, pretrained=None, num_segments=T_CLIP)
    wrapper = MODELS.build(dict(type='EGSBackboneWrapper', backbone=tsm, ratio=0.5,
                                input_format='NCHW', seed=0, chunk_size=3)).train()
    x = torch.randn(1, 4, 3, T_CLIP, SIZE, SIZE)
    state = copy.deepcopy(wrapper.sampler.state_dict())
    feats = wrapper(x)  # (1, 512, 4)
    weight = torch.randn_like(feats)
    (feats * weight).sum().backward()
    got = wrapper.backbone.conv1.conv.weight.grad.clone()
    wrapper.zero_grad()
    wrapper.sampler.load_state_dict(state)
    sampled = wrapper.sampler.sample_batch(1, 4)[0]
    frames = x[0].transpose(1, 2).flatten(0, 1)  # (N * T, C, H, W), snippet-major
    ref = wrapper.backbone(frames).mean((2, 3)).view(4, T_CLIP, -1).mean(1)  # (N, C')
    keep = torch.zeros(4, 1, dtype=torch.bool)
    keep[sampled] = True
    ref = torch.where(keep, ref, ref.detach()).T[None]  # (1, C', N)
    torch.testing.assert_close(feats, ref)
    (ref * weight).sum().backward()
    torch.testing.assert_close(got, wrapper.backbone.conv1.conv.weight.grad)
    with pytest.raises(ValueError, match='input_format'):
        MODELS.build(dict(type='EGSBackboneWrapper', backbone=tsm, input_format='NTCHW'))
