"""A3DSlowFast equals mmaction2's ResNet3dSlowFast as the full network and, with sliced
weights, a plain SlowFast built with the narrower Slow widths; the adaptive fusion resizes the
lateral features to the Slow pathway's current size; counted Slow FLOPs follow gamma_w."""
import pytest
import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d_slowfast import ResNet3dSlowFast
from mmaction.structures import ActionDataSample
from mmengine.analysis import FlopAnalyzer
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from mmtad_ext.models.backbones.a3d_slowfast import A3DSlowFast
from mmtad_ext.models.utils import temporal_indices
from mmtad_ext.registry import MODELS


@pytest.fixture(autouse=True)
def one_thread_native_conv():
    """Tiny models: one intra-op thread avoids OpenMP spinning on a busy 2-core machine.

    With oneDNN off, mmaction2's convolutions and the slimmable ones run the same native kernel,
    so equality is exact (with it on, SlimmableConv3d sends the convolutions PyTorch would run
    in ``slow_conv3d`` to oneDNN: same result up to float rounding, see test_slimmable_layers).
    """
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = onednn
    torch.set_num_threads(threads)


# tiny SlowFast: bottleneck, one block per stage; tau = alpha = 4, beta = 1/8
SLOW = dict(type='resnet3d', depth=50, stage_blocks=(1, 1, 1, 1), base_channels=32,
            pretrained=None, pretrained2d=False, lateral=True, conv1_kernel=(1, 7, 7),
            conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1))
FAST = dict(type='resnet3d', depth=50, stage_blocks=(1, 1, 1, 1), base_channels=4,
            pretrained=None, pretrained2d=False, lateral=False, conv1_kernel=(5, 7, 7),
            conv1_stride_t=1, pool1_stride_t=1)
RATES = dict(resample_rate=4, speed_ratio=4)
# post-fusion convs of the first block of each stage and their 2 beta C fast inputs
FUSED = {f'slow_path.layer{i + 1}.0.{c}.conv': tail
         for i, tail in enumerate((8, 32, 64, 128)) for c in ('conv1', 'downsample')}


def build_a3d(seed=0):
    torch.manual_seed(seed)
    model = A3DSlowFast(slow_pathway=SLOW, fast_pathway=FAST, channel_ratio=8, width_divisor=4,
                        min_channels=4, **RATES)
    _randomize(model, seed)
    return model.eval()


def build_plain(slow_base=32, channel_ratio=8):
    """mmaction2's SlowFast; (slow_base * g, channel_ratio * g) keeps the lateral shapes."""
    return ResNet3dSlowFast(slow_pathway=dict(SLOW, base_channels=slow_base),
                            fast_pathway=dict(FAST), channel_ratio=channel_ratio,
                            **RATES).eval()


def _randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (0.2 if t.dim() > 1 else 0.5))


@torch.no_grad()
def _slice_into(plain, a3d):
    """Copy ``a3d``'s weights at its active width into the narrower ``plain`` backbone."""
    src = dict(a3d.named_modules())
    for name, m in plain.named_modules():
        s = src[name]
        if isinstance(m, nn.Conv3d):
            # paper Fig. 3: first gamma_w C input columns, then the last 2 beta C (fast) ones
            tail = FUSED.get(name, 0)
            cols = list(range(m.in_channels - tail)) + list(range(s.in_channels - tail,
                                                                  s.in_channels))
            m.weight.copy_(s.weight[:m.out_channels, cols])
        elif isinstance(m, nn.BatchNorm3d):
            for attr in ('weight', 'bias', 'running_mean', 'running_var'):
                getattr(m, attr).copy_(getattr(s, attr)[:m.num_features])


def _clip(seed=0, frames=16, size=32):
    return torch.randn(2, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('train', [False, True])
def test_full_network_equals_mmaction2(train):
    a3d = build_a3d()
    plain = build_plain()
    assert set(plain.state_dict()) == set(a3d.state_dict())
    plain.load_state_dict(a3d.state_dict())
    a3d.train(train)
    plain.train(train)
    x = _clip()
    for out, ref in zip(a3d(x), plain(x)):
        torch.testing.assert_close(out, ref, rtol=0, atol=0)
    if train:  # running statistics updated identically
        torch.testing.assert_close(a3d.state_dict(), plain.state_dict(), rtol=0, atol=0)


@pytest.mark.parametrize('gamma_w,slow_base,channel_ratio', [(0.5, 16, 4), (0.75, 24, 6)])
def test_narrow_width_equals_sliced_plain(gamma_w, slow_base, channel_ratio):
    a3d = build_a3d(seed=1)
    x = _clip(seed=1)
    with torch.no_grad():
        full_slow, full_fast = a3d(x)
        a3d.set_width(gamma_w)
        slow, fast = a3d(x)
    # a plain SlowFast with the narrower Slow widths (same lateral conv shapes) and sliced weights
    plain = build_plain(slow_base, channel_ratio)
    _slice_into(plain, a3d)
    with torch.no_grad():
        ref_slow, ref_fast = plain(x)
    assert slow.shape[1] == plain.slow_path.feat_dim == int(full_slow.shape[1] * gamma_w)
    torch.testing.assert_close(slow, ref_slow, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast, ref_fast, rtol=0, atol=0)
    torch.testing.assert_close(fast, full_fast, rtol=0, atol=0)  # fast pathway never slimmed


def _capture_fused_inputs(model):
    """Forward pre-hooks recording the inputs of the post-fusion convs and lateral outputs."""
    seen, handles = {}, []
    modules = dict(model.named_modules())
    for name in FUSED:
        handles.append(modules[name].register_forward_pre_hook(
            lambda m, args, name=name: seen.__setitem__(name, args[0])))
    for name in ('conv1_lateral', 'layer1_lateral', 'layer2_lateral', 'layer3_lateral'):
        handles.append(getattr(model.slow_path, name).register_forward_hook(
            lambda m, args, out, name=name: seen.__setitem__(name, out)))
    return seen, handles


def test_fusion_channel_layout_fast_channels_last():
    a3d = build_a3d(seed=2)
    x = _clip(seed=2)
    seen, handles = _capture_fused_inputs(a3d)
    with torch.no_grad():
        a3d(x)
        full = dict(seen)
        a3d.set_width(0.5)
        a3d(x)
    for h in handles:
        h.remove()
    modules = dict(a3d.named_modules())
    for name, tail in FUSED.items():
        conv = modules[name]
        assert conv.fixed_in_tail == tail
        slow_c = (conv.in_channels - tail) // 2
        # input: gamma_w C slow channels, then the 2 beta C fast channels, unchanged by width
        assert seen[name].shape[1] == slow_c + tail
        torch.testing.assert_close(seen[name][:, -tail:], full[name][:, -tail:], rtol=0, atol=0)
        # which map to the last 2 beta C weight columns, the slow ones to the first columns
        w = conv.active_weight(slow_c + tail)[0]
        assert torch.equal(w[:, -tail:], conv.weight[:w.shape[0], -tail:])
        assert torch.equal(w[:, :slow_c], conv.weight[:w.shape[0], :slow_c])
    for m in a3d._lateral_modules():  # lateral convs are never slimmed
        assert m.conv.active_out_channels == m.conv.out_channels


@pytest.mark.parametrize('gamma_s,gamma_t', [(0.75, 0.5), (0.5, 0.75)])
def test_resized_slow_input_fuses_at_slow_size(gamma_s, gamma_t):
    a3d = build_a3d(seed=3)
    x = _clip(seed=3)
    with torch.no_grad():
        _, full_fast = a3d(x)
    a3d.set_width(0.5)
    a3d.set_input_scale(gamma_s, gamma_t)
    seen, handles = _capture_fused_inputs(a3d)
    with torch.no_grad():
        slow, fast = a3d(x)
    for h in handles:
        h.remove()
    slow_frames = round(gamma_t * 16 / RATES['resample_rate'])
    assert slow.shape[2] == slow_frames and fast.shape[2] == 16
    torch.testing.assert_close(fast, full_fast, rtol=0, atol=0)
    laterals = ('conv1_lateral', 'layer1_lateral', 'layer2_lateral', 'layer3_lateral')
    for (name, tail), lateral in zip(list(FUSED.items())[::2], laterals):
        fused, lat = seen[name], seen[lateral]
        t, h, w = fused.shape[2:]
        assert t == slow_frames  # the lateral features follow the slow pathway's frame count
        assert lat.shape[2] == 16 // RATES['speed_ratio']  # time-strided conv: T frames
        # expected fusion: the kept frames of the slow input, bilinear resize to the slow size
        ref = lat.index_select(2, temporal_indices(lat.shape[2], gamma_t))
        ref = nn.functional.interpolate(ref, size=(t, h, w), mode='trilinear',
                                        align_corners=False)
        torch.testing.assert_close(fused[:, -tail:], ref, rtol=0, atol=0)
    # spatial size after the stem: the slow input was resized by gamma_s
    stem = seen['slow_path.layer1.0.conv1.conv']
    assert stem.shape[3:] != seen['conv1_lateral'].shape[3:]


def _recognizer(backbone, head_in, a3d=True):
    init_default_scope('mmtad_ext')
    return MODELS.build(dict(
        type='A3DRecognizer3D' if a3d else 'Recognizer3D', backbone=backbone,
        cls_head=dict(type='SlowFastHead', in_channels=head_in, num_classes=4,
                      dropout_ratio=0.0, average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75] * 3,
                               std=[57.375] * 3, format_shape='NCTHW'))).eval()


class _Head(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.extract_feat(x, stage='head')[0]


def _flops_by_module(model, shape):
    """Counted FLOPs (mmengine's FlopAnalyzer) of each module of ``model`` for one clip."""
    an = FlopAnalyzer(_Head(model), (torch.zeros((1, 1) + shape), ))
    an.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by = {k[len('model.'):]: v for k, v in an.by_module().items() if k.startswith('model.')}
    by[''] = an.total()
    return by


def _slow_parts(by):
    """(Slow pathway without its never-slimmed lateral convs, its convs other than the stem
    and the post-fusion ones)."""
    lateral = sum(v for k, v in by.items() if k.startswith('backbone.slow_path.')
                  and k.count('.') == 2 and k.endswith('_lateral'))
    fixed = {'backbone.slow_path.conv1.conv'} | {f'backbone.{k}' for k in FUSED}
    interior = sum(v for k, v in by.items() if k.startswith('backbone.slow_path.layer')
                   and k.endswith('.conv') and '_lateral' not in k and k not in fixed)
    return by['backbone.slow_path'] - lateral, interior


@pytest.mark.slow  # over 1 s: counts FLOPs of full-width SlowFast sub-networks
def test_flops_slow_pathway_scale_with_width():
    shape = (3, 16, 32, 32)
    model = _recognizer(dict(type='A3DSlowFast', slow_pathway=SLOW, fast_pathway=FAST,
                             channel_ratio=8, width_divisor=4, min_channels=4, **RATES),
                        1024 + 128)
    by_full = _flops_by_module(model, shape)  # the full network
    full_slow, full_interior = _slow_parts(by_full)
    for gamma_w, slow_base, ratio in ((0.5, 16, 4), (0.75, 24, 6)):
        model.set_subnet((gamma_w, 1.0, 1.0), use_bank=False)
        gflops = _flops_by_module(model, shape)[''] / 1e9
        model.set_subnet((1.0, 1.0, 1.0), use_bank=False)
        plain = _recognizer(dict(type='ResNet3dSlowFast',
                                 slow_pathway=dict(SLOW, base_channels=slow_base),
                                 fast_pathway=FAST, channel_ratio=ratio, **RATES),
                            int(1024 * gamma_w) + 128, a3d=False)
        by = _flops_by_module(plain, shape)
        # the sub-network costs exactly the FLOPs of the plain narrower network
        assert gflops * 1e9 == pytest.approx(by[''], rel=1e-9)
        # the fast pathway costs the same at every width
        assert by['backbone.fast_path'] == by_full['backbone.fast_path']
        slow, interior = _slow_parts(by)
        # convs with slimmed inputs and outputs cost exactly gamma_w^2 (eq. 2); the stem
        # (3 inputs) and the post-fusion convs (2 beta C fixed inputs) between gamma_w^2 and
        # gamma_w, so the whole Slow pathway too
        assert interior / full_interior == pytest.approx(gamma_w ** 2, rel=1e-9)
        assert gamma_w ** 2 < slow / full_slow < gamma_w, (gamma_w, slow / full_slow)


def test_recognizer_mutual_training_step():
    model = _recognizer(dict(type='A3DSlowFast', slow_pathway=SLOW, fast_pathway=FAST,
                             channel_ratio=8, width_divisor=4, min_channels=4, **RATES),
                        1024 + 128).train()
    assert model.cls_head.fc_cls.fixed_in_head == 128
    g = torch.Generator().manual_seed(0)
    data = dict(inputs=[torch.randint(0, 255, (1, 3, 16, 32, 32), generator=g).float()
                        for _ in range(2)],
                data_samples=[ActionDataSample().set_gt_label(torch.tensor([i]))
                              for i in range(2)])
    before = {k: v.clone() for k, v in model.named_parameters()}
    state = model._generator.get_state()
    subnets = model.sample_subnets()  # the sub-networks train_step will draw
    model._generator.set_state(state)
    shapes = {'slow': [], 'fast': []}
    hooks = [getattr(model.backbone, f'{p}_path').conv1.register_forward_pre_hook(
        lambda m, args, p=p: shapes[p].append(tuple(args[0].shape[2:]))) for p in shapes]
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(data, optim)
    for h in hooks:
        h.remove()
    # full clip, then each sub-network's clip resampled inside the backbone (slow input only)
    assert shapes['slow'] == [(4, 32, 32)] + [(round(t * 4), round(s * 32), round(s * 32))
                                              for _, s, t in subnets]
    assert shapes['fast'] == [(16, 32, 32)] * 3
    assert {'loss_cls', 'loss_kl_min', 'loss_kl_rand1'} <= set(log_vars)
    assert all(torch.isfinite(v) for v in log_vars.values())
    # one optimizer step updated both pathways
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert any('fast_path' in k for k in changed) and any('slow_path' in k for k in changed)
    assert model.active_subnet == (1.0, 1.0, 1.0) and model.backbone.gamma_s == 1.0


def test_argument_validation():
    with pytest.raises(ValueError, match='lateral'):
        A3DSlowFast(slow_pathway=dict(SLOW, lateral=False), fast_pathway=FAST, **RATES)
    with pytest.raises(ValueError, match='conv_cfg'):
        A3DSlowFast(slow_pathway=dict(SLOW, conv_cfg=dict(type='Conv3d')), fast_pathway=FAST,
                    **RATES)
    a3d = build_a3d()
    with pytest.raises(ValueError, match='gamma_t'):
        a3d.set_input_scale(1.0, 0.0)
    with pytest.raises(ValueError, match='gamma_w'):
        a3d.set_width(1.2)
    # wrong types and NaN: clear errors, nothing changed (both factors checked first)
    for bad, error in (('half', TypeError), (None, TypeError), (float('nan'), ValueError)):
        with pytest.raises(error, match='gamma_w'):
            a3d.set_width(bad)
        with pytest.raises(error, match='gamma_t'):
            a3d.set_input_scale(0.5, bad)
    assert (a3d.gamma_w, a3d.gamma_s, a3d.gamma_t) == (1.0, 1.0, 1.0)
