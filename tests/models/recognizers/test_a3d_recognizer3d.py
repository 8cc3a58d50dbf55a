"""Mutual training step, sub-network switching, BN calibration, persistence and FLOPs of
A3DRecognizer3D."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from mmtad_ext.models.utils import bn_layers, calibrate_bn, snapshot_bn_stats


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
    assert model.active_subnet == (1.0, 1.0, 1.0)


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
    # recompute the three losses by hand with the same sub-networks
    model2 = build_tiny()
    model2.train()
    subnets = model2.sample_subnets()
    data = model2.data_preprocessor(batch(), True)
    total = 0
    logits = model2.extract_feat(data['inputs'], stage='head')[0]
    total = model2.cls_head.loss_by_feat(logits, data['data_samples'])['loss_cls']
    from mmtad_ext.models.recognizers.a3d_recognizer3d import distill_kl
    for subnet in subnets:
        with model2._frozen_bn_stats(True):
            model2.set_subnet(subnet, use_bank=False)
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
    model.calibrate(batches, [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0)], 2)
    model.set_budget_table([
        dict(gamma_w=0.5, gamma_s=0.5, gamma_t=0.5, gmacs=0.01, latency_ms=1.0, top1=0.5),
        dict(gamma_w=1.0, gamma_s=1.0, gamma_t=1.0, gmacs=0.1, latency_ms=5.0, top1=0.9)])
    model.sample_subnets()
    state = model.state_dict()
    other = build_tiny()
    other.load_state_dict(state)
    assert other.budget_table == model.budget_table
    assert set(other.bn_bank) == set(model.bn_bank)
    assert other.sample_subnets() == model.sample_subnets()
    # budget switching: instant, no data
    row = other.set_budget(gmacs=0.05)
    assert row['gamma_w'] == 0.5 and other.active_subnet == (0.5, 0.5, 0.5)
    torch.testing.assert_close(other.backbone.conv1.bn.running_mean[:8],
                               model.bn_bank[(0.5, 0.5, 0.5)]['backbone.conv1.bn']['mean'])
    assert other.set_budget(latency_ms=10)['gamma_w'] == 1.0
    with pytest.raises(ValueError, match='no sub-network fits'):
        other.set_budget(gmacs=0.001)



def test_gflops_names_still_work_with_a_deprecation_warning(build_tiny, batch):
    """``gflops`` (the budget in GMACs before the rename) in set_budget and in a table row."""
    model = build_tiny()
    model.calibrate([batch(seed=0)], [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0)], 1)
    with pytest.warns(DeprecationWarning, match="'gflops'.*'gmacs'"):
        model.set_budget_table([
            dict(gamma_w=0.5, gamma_s=0.5, gamma_t=0.5, gflops=0.01, latency_ms=1.0, top1=0.5),
            dict(gamma_w=1.0, gamma_s=1.0, gamma_t=1.0, gflops=0.1, latency_ms=5.0, top1=0.9)])
    assert [r['gmacs'] for r in model.budget_table] == [0.01, 0.1]
    with pytest.warns(DeprecationWarning, match='gflops=.*gmacs='):
        row = model.set_budget(gflops=0.05)
    assert row['gamma_w'] == 0.5 and model.active_subnet == (0.5, 0.5, 0.5)
    with pytest.warns(DeprecationWarning, match='gflops=0.2 overrides gmacs=0.05'):
        assert model.set_budget(gmacs=0.05, gflops=0.2)['gamma_w'] == 1.0

def test_checkpoint_with_pre_rename_keys_loads(build_tiny, batch):
    """Checkpoints written before the "config" -> "subnet" rename stored the active sub-network
    and the bank's sub-networks as ``a3d_state.active_config`` / ``a3d_state.bank_configs``."""
    model = build_tiny()
    model.calibrate([batch()], [(0.5, 0.5, 0.5)])
    model.set_subnet((0.5, 0.5, 0.5))
    state = model.state_dict()
    state['a3d_state.active_config'] = state.pop('a3d_state.active_subnet')
    state['a3d_state.bank_configs'] = state.pop('a3d_state.bank_subnets')
    other = build_tiny()
    other.load_state_dict(state, strict=True)
    assert other.active_subnet == (0.5, 0.5, 0.5)
    assert set(other.bn_bank) == {(0.5, 0.5, 0.5)}
    torch.testing.assert_close(other.bn_bank[(0.5, 0.5, 0.5)], model.bn_bank[(0.5, 0.5, 0.5)])
    assert set(other.state_dict()) == set(model.state_dict())  # saved again with the new keys


def test_set_subnet_switches_width_input_and_bank_stats(build_tiny, batch):
    model = build_tiny()
    model.eval()
    seen = []
    model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append((m.gamma_w, tuple(args[0].shape))))
    model.set_subnet((0.5, 0.5, 0.25), use_bank=False)
    assert model.active_subnet == (0.5, 0.5, 0.25)
    data = model.data_preprocessor(batch(), False)
    logits = model.extract_feat(data['inputs'], stage='head')[0]
    # half width; 8 frames -> 2, 32 px -> 16 px, resampled inside the model
    assert seen[-1] == (0.5, (2, 3, 2, 16, 16)) and logits.shape == (2, 4)
    bn = model.backbone.conv1.bn
    training_mean = bn.running_mean.clone()
    # with use_bank the calibrated statistics of the sub-network are loaded
    stats = model.calibrate([batch(seed=3)], [(0.5, 0.5, 0.25)])[(0.5, 0.5, 0.25)]
    model.set_subnet((0.5, 0.5, 0.25), use_bank=False)
    torch.testing.assert_close(bn.running_mean, training_mean, rtol=0, atol=0)
    model.set_subnet([0.5, 0.5, 0.25])  # any sequence of three factors
    c = stats['backbone.conv1.bn']['mean'].numel()
    torch.testing.assert_close(bn.running_mean[:c], stats['backbone.conv1.bn']['mean'])
    assert not torch.equal(bn.running_mean[:c], training_mean[:c])
    with pytest.raises(ValueError, match='gamma_s'):
        model.set_subnet((1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r'\(gamma_w, gamma_s, gamma_t\)'):
        model.set_subnet((1.0, 1.0))


def test_calibrate_equals_direct_calibration_and_restores_the_model(build_tiny, batch):
    """calibrate() stores, per sub-network, the statistics of calibrate_bn on the same batches;
    weights, running statistics, active sub-network and train mode are left as they were."""
    model = build_tiny()
    model.train()
    model.set_subnet((0.75, 1.0, 1.0), use_bank=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [batch(seed=i) for i in range(3)]
    subnets = [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0)]
    out = model.calibrate(iter(batches), subnets, num_batches=2)  # a one-pass iterator
    assert set(out) == set(subnets) and set(model.bn_bank) == set(subnets)
    assert model.training and model.active_subnet == (0.75, 1.0, 1.0)
    for k, v in model.state_dict().items():
        if not k.startswith('a3d_state.'):
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    ref = build_tiny()
    ref.eval()
    for subnet in subnets:
        ref.set_subnet(subnet, use_bank=False)
        expected = snapshot_bn_stats(ref, calibrate_bn(ref, batches, 2))
        assert set(out[subnet]) == set(bn_layers(model))
        for name, s in expected.items():
            torch.testing.assert_close(out[subnet][name], s, rtol=1e-6, atol=1e-6)
        assert model.bn_bank[subnet] is out[subnet]
    # the sub-networks differ: half width calibrates half the channels, input size the values
    stem = 'backbone.conv1.bn'
    assert out[(0.5, 0.5, 0.5)][stem]['mean'].numel() * 2 == out[(1.0, 1.0, 1.0)][stem][
        'mean'].numel()


def test_calibrate_and_budget_table_arguments(build_tiny, batch):
    model = build_tiny()
    with pytest.raises(ValueError, match='num_batches'):
        model.calibrate([batch()], [(1.0, 1.0, 1.0)], num_batches=0)
    with pytest.raises(ValueError, match='no batch'):
        model.calibrate([], [(1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match='no sub-network'):
        model.calibrate([batch()], [])
    row = dict(gamma_w=0.5, gamma_s=1.0, gamma_t=1.0, gmacs=0.01, latency_ms=1.0, top1=0.5)
    with pytest.raises(KeyError, match='no calibrated BN statistics'):
        model.set_budget_table([row])
    with pytest.raises(KeyError, match='lacks'):
        model.set_budget_table([{k: v for k, v in row.items() if k != 'top1'}])
    # the budget table keeps the BN statistics of its own sub-networks and the full network's
    model.calibrate([batch()], [(0.5, 1.0, 1.0), (0.75, 1.0, 1.0), (1.0, 1.0, 1.0)])
    model.set_budget_table([row])
    assert set(model.bn_bank) == {(0.5, 1.0, 1.0), (1.0, 1.0, 1.0)}
    assert model.budget_table == [row]


def test_bad_mutual_cfg(build_tiny, batch):
    with pytest.raises(ValueError, match='width_range'):
        build_tiny(width_range=(0.0, 1.0))
    with pytest.raises(KeyError, match='unknown mutual_cfg'):
        build_tiny(widht_range=(0.5, 1.0))


class _Logits(torch.nn.Module):
    """``model`` at its active sub-network, clip ``(B, V, C, T, H, W)`` -> logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.extract_feat(x, stage='head')[0]


def _analyze(model, subnet, shape=(3, 8, 64, 64)):
    """(total, slimmable-conv body) GFLOPs counted at ``subnet``; the body excludes the stem
    conv (RGB input, never slimmed), the classifier and the width-linear BN/ReLU/add ops."""
    from mmengine.analysis import FlopAnalyzer

    from mmtad_ext.models.layers.slimmable_conv import SlimmableConv3d
    model.eval()
    model.set_subnet(subnet, use_bank=False)
    an = FlopAnalyzer(_Logits(model), (torch.zeros((1, 1) + shape), ))
    an.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by = an.by_module()
    model.set_subnet((1.0, 1.0, 1.0), use_bank=False)
    convs = [f'model.{n}' for n, m in model.named_modules()
             if isinstance(m, SlimmableConv3d) and n != 'backbone.conv1.conv']
    return by[''] / 1e9, sum(by[n] for n in convs) / 1e9


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_flops_scale_as_w2_s2_t(build_tiny):
    model = build_tiny()
    full, full_body = _analyze(model, (1.0, 1.0, 1.0))
    for w, s, t in [(0.5, 1.0, 1.0), (1.0, 0.5, 0.5), (0.5, 0.5, 0.5), (0.75, 0.5, 0.25)]:
        sub, sub_body = _analyze(model, (w, s, t))
        # whole network: between the body's w^2 s^2 t and the stem's w s^2 t
        assert w**2 * s**2 * t * 0.97 <= sub / full <= w * s**2 * t * 1.03
        # slimmable convs follow w^2 s^2 t up to the rounding of sizes (e.g. 0.75 * 64 = 48)
        assert sub_body / full_body == pytest.approx(w**2 * s**2 * t, rel=0.03), (w, s, t)


BAD_SUBNETS = [
    ('half', TypeError, 'sequence'),
    (0.5, TypeError, 'sequence'),
    (None, TypeError, 'sequence'),
    ({'gamma_w': 0.5}, TypeError, 'sequence'),
    ((0.5, 0.5), ValueError, '2 values'),
    ((0.5, 0.5, 0.5, 0.5), ValueError, '4 values'),
    (('half', 1.0, 1.0), TypeError, 'gamma_w must be a real number'),
    ((1.0, None, 1.0), TypeError, 'gamma_s must be a real number'),
    ((1.0, 1.0, True), TypeError, 'gamma_t must be a real number'),
    ((float('nan'), 1.0, 1.0), ValueError, r'gamma_w must be in \(0, 1\]'),
    ((1.0, float('inf'), 1.0), ValueError, 'gamma_s must be in'),
    ((1.0, 1.0, 0.0), ValueError, 'gamma_t must be in'),
    ((-0.5, 1.0, 1.0), ValueError, 'gamma_w must be in'),
    ((1.5, 1.0, 1.0), ValueError, 'gamma_w must be in'),
]


@pytest.mark.parametrize('subnet,error,match', BAD_SUBNETS)
def test_bad_subnet_arguments_are_clear_errors_and_change_nothing(build_tiny, batch, subnet,
                                                                 error, match):
    model = build_tiny()
    model.set_subnet((0.75, 1.0, 1.0), use_bank=False)
    for call in (lambda: model.set_subnet(subnet), lambda: model.set_subnet(subnet, strict=True),
                 lambda: model.untrained_reasons(subnet),
                 lambda: model.calibrate([batch()], [subnet])):
        with pytest.raises(error, match=match):
            call()
        assert model.active_subnet == (0.75, 1.0, 1.0) and model.backbone.gamma_w == 0.75
    assert model.bn_bank == {}


def test_backbone_set_width_rejects_non_numbers_and_nan(build_tiny):
    backbone = build_tiny().backbone
    for bad, error in (('half', TypeError), (None, TypeError), (True, TypeError),
                       ([0.5], TypeError), (float('nan'), ValueError), (0, ValueError)):
        with pytest.raises(error, match='gamma_w'):
            backbone.set_width(bad)
        assert backbone.gamma_w == 1.0
    backbone.set_width(torch.tensor(0.5))  # a one-element tensor is a number
    assert backbone.gamma_w == 0.5 and isinstance(backbone.gamma_w, float)


def _subnet_warnings(record):
    from mmtad_ext.models.utils import SubNetWarning
    return [str(w.message) for w in record if issubclass(w.category, SubNetWarning)]


@pytest.mark.parametrize('subnet,reason', [
    ((0.25, 1.0, 1.0), r'gamma_w=0.25 is outside the trained widths \[0.5, 1\]'),
    ((0.5, 0.5, 1.0), 'gamma_s=0.5 is below the smallest trained factor 0.57'),
    ((1.0, 1.0, 0.2), 'gamma_t=0.2 is below the smallest trained factor 0.25'),
])
def test_untrained_subnet_warns_at_warning_level_or_raises_when_strict(
        build_tiny, batch, subnet, reason):
    import logging
    model = build_tiny()
    model.calibrate([batch()], [subnet])  # calibrated: only the range is reported
    assert model.untrained_reasons(subnet)
    with pytest.raises(ValueError, match=reason):
        model.set_subnet(subnet, strict=True)
    assert model.active_subnet == (1.0, 1.0, 1.0)  # refused before any change
    with pytest.warns(UserWarning) as record:
        model.set_subnet(subnet)
    messages = _subnet_warnings(record)
    assert len(messages) == 1 and 'no calibrated' not in messages[0]
    assert model.active_subnet == subnet
    # the WARNING line of mmengine's logger, not an INFO one
    import warnings

    from mmengine.logging import MMLogger
    logger, seen = MMLogger.get_current_instance(), []
    handler = logging.Handler()
    handler.emit = seen.append
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model.set_subnet(subnet, use_bank=False)
    finally:
        logger.removeHandler(handler)
    assert [r.levelno for r in seen if 'trained' in r.getMessage()] == [logging.WARNING]
    # calibrate() reports untrained sub-networks too (strict: raises before calibrating)
    with pytest.raises(ValueError, match='outside the trained range'):
        model.calibrate([batch()], [(1.0, 1.0, 1.0), subnet], strict=True)


def test_trained_range_comes_from_mutual_cfg(build_tiny):
    model = build_tiny(width_range=(0.5, 0.75), spatial_factors=(0.5, 1.0),
                       temporal_factors=(0.5, ))
    assert model.untrained_reasons((0.5, 0.5, 0.5)) == []
    assert model.untrained_reasons((0.75, 0.7, 0.9)) == []  # between trained factors
    assert model.untrained_reasons((1.0, 1.0, 1.0)) == []  # the full network is trained
    reasons = model.untrained_reasons((0.9, 0.4, 0.25))
    assert len(reasons) == 3 and 'and 1' in reasons[0]


def test_uncalibrated_subnet_warns_or_raises_and_full_network_needs_no_entry(build_tiny,
                                                                            batch):
    import warnings
    model = build_tiny()
    sub = (0.5, 0.57, 0.25)  # inside the trained range
    bn = model.backbone.conv1.bn
    training_mean = bn.running_mean.clone()
    # an empty bank: the sub-network would run on the training statistics
    with pytest.raises(ValueError, match="no calibrated BN statistics.*full network's training"):
        model.set_subnet(sub, strict=True)
    with pytest.warns(UserWarning) as record:
        model.set_subnet(sub)
    assert len(_subnet_warnings(record)) == 1
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # use_bank=False: no BN statistics are asked for
        model.set_subnet(sub, use_bank=False)
        model.set_subnet((1.0, 1.0, 1.0))  # training statistics are the full network's
        model.calibrate([batch()], [sub])
        model.set_subnet(sub, strict=True)  # calibrated now
    c = model.bn_bank[sub]['backbone.conv1.bn']['mean'].numel()
    assert not torch.equal(bn.running_mean[:c], training_mean[:c])
    # the buffers hold the sub-network's statistics: the full network is no longer clean
    with pytest.raises(ValueError, match='calibrated statistics of w0.5_s0.57_t0.25'):
        model.set_subnet((1.0, 1.0, 1.0), strict=True)
    # ... and this is remembered across a checkpoint
    other = build_tiny()
    other.load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match='calibrated statistics of w0.5_s0.57_t0.25'):
        other.set_subnet((1.0, 1.0, 1.0), strict=True)
    other.calibrate([batch()], [(1.0, 1.0, 1.0)])
    other.set_subnet((1.0, 1.0, 1.0), strict=True)


def test_set_budget_checks_the_budget_and_passes_strict(build_tiny, batch):
    model = build_tiny()
    sub = (0.25, 1.0, 1.0)  # calibrated but below the trained widths
    model.calibrate([batch()], [sub])
    model.set_budget_table([dict(gamma_w=0.25, gamma_s=1.0, gamma_t=1.0, gmacs=0.01,
                                 latency_ms=1.0, top1=0.5)])
    for bad, error in (('1', TypeError), (True, TypeError), (float('nan'), ValueError),
                       (0, ValueError), (-1.0, ValueError)):
        with pytest.raises(error, match='gmacs must be a number > 0'):
            model.set_budget(gmacs=bad)
    with pytest.raises(ValueError, match='outside the trained widths'):
        model.set_budget(gmacs=float('inf'), strict=True)
    with pytest.warns(UserWarning, match='outside the trained widths'):
        assert model.set_budget(latency_ms=float('inf'))['gamma_w'] == 0.25
    row = dict(gamma_w='half', gamma_s=1.0, gamma_t=1.0, gmacs=0.01, latency_ms=1.0, top1=0.5)
    with pytest.raises(TypeError, match='budget-table row.*gamma_w must be a real number'):
        model.set_budget_table([row])
    with pytest.raises(ValueError, match=r"budget-table row.*\['gmacs'\] must be numbers"):
        model.set_budget_table([dict(row, gamma_w=0.25, gmacs=float('nan'))])
