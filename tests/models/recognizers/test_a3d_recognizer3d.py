"""Mutual training step, configuration switching, persistence and FLOPs of A3DRecognizer3D."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from mmtad_ext.a3d import count_gflops
from mmtad_ext.a3d.configs import temporal_indices


def test_train_step_runs_sandwich_with_stated_inputs(build_tiny, batch):
    model = build_tiny(width_range=(0.5, 1.0), spatial_factors=(0.5, 0.75),
                       temporal_factors=(0.25, 0.5))
    model.train()
    seen = []
    model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append((m.gamma_w, tuple(args[0].shape))))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    steps = []
    optim.step = (lambda f: lambda **kw: (steps.append(1), f(**kw)))(optim.step)
    before = [p.detach().clone() for p in model.parameters()]
    log_vars = model.train_step(batch(), optim)
    assert len(seen) == 3 and len(steps) == 1
    # 1) full width, full clip
    assert seen[0] == (1.0, (2, 3, 8, 32, 32))
    # 2) minimum width and 3) a random width, each on a clip resampled from the full one
    for (w, shape), sub in zip(seen[1:], ('min', 'rand1')):
        t, s = shape[2], shape[3]
        assert t in (2, 4) and s in (16, 24)
        assert f'loss_kl_{sub}' in log_vars
    assert seen[1][0] == 0.5 and 0.5 <= seen[2][0] <= 1.0
    assert set(log_vars) >= {'loss', 'loss_cls', 'loss_kl_min', 'loss_kl_rand1', 'top1_acc'}
    torch.testing.assert_close(
        log_vars['loss'], log_vars['loss_cls'] + log_vars['loss_kl_min'] +
        log_vars['loss_kl_rand1'])
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters())]
    assert any(changed)
    assert model.active_config == (1.0, 1.0, 1.0)


def test_gradients_accumulate_over_the_three_passes(build_tiny, batch):
    """The single step uses grad(CE_full) + grad(KL_min) + grad(KL_rand)."""
    model = build_tiny()
    model.train()
    grads = {}

    class Capture(OptimWrapper):

        def step(self, **kwargs):
            grads['w'] = model.cls_head.fc_cls.weight.grad.clone()

    opt = Capture(torch.optim.SGD(model.parameters(), lr=0.0))
    model.train_step(batch(), opt)
    # recompute the three losses by hand with the same sub-configurations
    model2 = build_tiny()
    model2.train()
    configs = model2.sample_sub_configs()
    data = model2.data_preprocessor(batch(), True)
    total = 0
    logits = model2.extract_feat(data['inputs'], stage='head')[0]
    total = model2.cls_head.loss_by_feat(logits, data['data_samples'])['loss_cls']
    from mmtad_ext.models.recognizers.a3d_recognizer3d import distill_kl
    for cfg in configs:
        with model2._frozen_bn_stats(True):
            model2.set_config(*cfg, use_bank=False)
            total = total + distill_kl(model2.extract_feat(data['inputs'], stage='head')[0],
                                       logits.detach())
    total.backward()
    torch.testing.assert_close(grads['w'], model2.cls_head.fc_cls.weight.grad)


def test_sub_networks_do_not_touch_running_stats(build_tiny, batch):
    model = build_tiny()
    model.train()
    opt = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    ref = build_tiny()
    ref.train()
    model.train_step(batch(), opt)
    data = ref.data_preprocessor(batch(), True)
    with torch.no_grad():
        ref.extract_feat(data['inputs'], stage='head')  # full network only
    torch.testing.assert_close(model.backbone.conv1.bn.running_mean,
                               ref.backbone.conv1.bn.running_mean)


def test_state_dict_roundtrip_bank_table_generator(build_tiny, batch):
    model = build_tiny()
    batches = [batch(seed=i) for i in range(2)]
    model.calibrate_config((0.5, 0.5, 0.5), batches, 2)
    model.calibrate_config((1.0, 1.0, 1.0), batches, 2)
    model.budget_table = [
        dict(gamma_w=0.5, gamma_s=0.5, gamma_t=0.5, gflops=0.01, latency_ms=1.0, top1=0.5),
        dict(gamma_w=1.0, gamma_s=1.0, gamma_t=1.0, gflops=0.1, latency_ms=5.0, top1=0.9)]
    model.sample_sub_configs()
    state = model.state_dict()
    other = build_tiny()
    other.load_state_dict(state)
    assert other.budget_table == model.budget_table
    assert set(other.bn_bank) == set(model.bn_bank)
    assert other.sample_sub_configs() == model.sample_sub_configs()
    # budget switching: instant, no data
    row = other.set_budget(gflops=0.05)
    assert row['gamma_w'] == 0.5 and other.active_config == (0.5, 0.5, 0.5)
    torch.testing.assert_close(other.backbone.conv1.bn.running_mean[:8],
                               model.bn_bank[(0.5, 0.5, 0.5)]['backbone.conv1.bn']['mean'])
    assert other.set_budget(latency_ms=10)['gamma_w'] == 1.0
    with pytest.raises(ValueError, match='no configuration fits'):
        other.set_budget(gflops=0.001)


def test_bad_mutual_cfg(build_tiny, batch):
    with pytest.raises(ValueError, match='width_range'):
        build_tiny(width_range=(0.0, 1.0))
    with pytest.raises(KeyError, match='unknown mutual_cfg'):
        build_tiny(widht_range=(0.5, 1.0))


def _analyze(model, config, shape=(3, 8, 64, 64)):
    """(total, slimmable-conv body) GFLOPs counted at ``config``; the body excludes the stem
    conv (RGB input, never slimmed), the classifier and the width-linear BN/ReLU/add ops."""
    from mmengine.analysis import FlopAnalyzer

    from mmtad_ext.a3d.budget import _ConfigForward
    from mmtad_ext.models.layers.slimmable_conv import SlimmableConv3d
    model.eval()
    model.set_config(*config, use_bank=False)
    an = FlopAnalyzer(_ConfigForward(model), (torch.zeros((1, 1) + shape), ))
    an.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by = an.by_module()
    model.set_config(1.0, 1.0, 1.0, use_bank=False)
    convs = [f'model.{n}' for n, m in model.named_modules()
             if isinstance(m, SlimmableConv3d) and n != 'backbone.conv1.conv']
    return by[''] / 1e9, sum(by[n] for n in convs) / 1e9


def test_flops_scale_as_w2_s2_t(build_tiny):
    model = build_tiny()
    full, full_body = _analyze(model, (1.0, 1.0, 1.0))
    assert full == pytest.approx(count_gflops(model, (1.0, 1.0, 1.0), (3, 8, 64, 64)))
    for w, s, t in [(0.5, 1.0, 1.0), (1.0, 0.5, 0.5), (0.5, 0.5, 0.5), (0.75, 0.5, 0.25)]:
        sub, sub_body = _analyze(model, (w, s, t))
        # whole network: between the body's w^2 s^2 t and the stem's w s^2 t
        assert w**2 * s**2 * t * 0.97 <= sub / full <= w * s**2 * t * 1.03
        # slimmable convs follow w^2 s^2 t up to the rounding of sizes (e.g. 0.75 * 64 = 48)
        assert sub_body / full_body == pytest.approx(w**2 * s**2 * t, rel=0.03), (w, s, t)


def test_temporal_indices_uniform():
    assert temporal_indices(8, 0.25).tolist() == [2, 6]
    assert temporal_indices(8, 1.0).tolist() == list(range(8))
