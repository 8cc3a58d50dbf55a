import pytest
import torch
from mmengine.structures import InstanceData

from mmaction.structures import ActionDataSample
from mmtad_ext.registry import MODELS
from mmtad_ext.utils.measure import SavedTensorMeter


def etad_cfg(ratio=0.06, temporal_dim=32, strategy='random', **kw):
    return dict(
        type='ETAD',
        neck=dict(type='LSTMTemporalAggregation', in_channels=6, channels=16, norm_cfg=None),
        boundary_head=dict(type='ETADBoundaryHead', in_channels=16, feat_channels=16),
        proposal_head=dict(type='ETADCascadeHead', in_channels=16, feat_channels=8,
                           mid_channels=32, fc_channels=16, roi_size=4),
        cls_head=dict(type='TADVideoClsHead', in_channels=6, feat_channels=8, num_classes=3),
        proposal_sampler=dict(type='ProposalSampler', temporal_dim=temporal_dim, ratio=ratio,
                              strategy=strategy, seed=0), **kw)


def test_cls_head_input_snippet_or_neck():
    torch.manual_seed(0)
    model = MODELS.build(etad_cfg())  # default: the head reads the snippet features (6 ch)
    model(torch.randn(2, 6, 32), samples(), mode='loss')['loss_cls'].backward()
    assert all(p.grad is None for p in model.neck.parameters())  # no gradient into the neck
    assert model.cls_head.fc.weight.grad is not None
    neck_cfg = etad_cfg(cls_head_input='neck')
    neck_cfg['cls_head'] = dict(type='TADVideoClsHead', in_channels=16, num_classes=3)
    model = MODELS.build(neck_cfg)
    model(torch.randn(2, 6, 32), samples(), mode='loss')['loss_cls'].backward()
    assert any(p.grad is not None for p in model.neck.parameters())
    with pytest.raises(ValueError, match='cls_head_input'):
        MODELS.build(etad_cfg(cls_head_input='backbone'))


def samples(n=2, span=50.0, start=10.0):
    out = []
    for i in range(n):
        ds = ActionDataSample()
        gt = InstanceData()
        gt.segments = torch.tensor([[0.1, 0.3], [0.6, 0.9]])
        gt.labels = torch.tensor([0, 2])
        ds.gt_instances = gt
        ds.set_metainfo(dict(video_name=f'v{i}', window_start=start, window_duration=span,
                             duration=100.0))
        out.append(ds)
    return out


def test_loss_terms_of_eq1():
    torch.manual_seed(0)
    model = MODELS.build(etad_cfg())
    losses = model(torch.randn(2, 6, 32), samples(), mode='loss')
    expected = {'loss_start', 'loss_end', 'loss_cls'} | {
        f's{k}.{n}' for k in range(3)
        for n in ('loss_iou_cls', 'loss_iou_reg', 'loss_boundary', 'loss_offset')}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if 'neck' in n)


def test_predict_outputs_seconds_and_class_scores():
    torch.manual_seed(0)
    model = MODELS.build(etad_cfg(test_cfg=dict(max_proposals=20))).eval()
    out = model(torch.randn(2, 6, 32), samples(), mode='predict')
    for ds in out:
        seg, score = ds.pred_instances.segments, ds.pred_instances.scores
        assert seg.shape[1] == 2 and 0 < seg.shape[0] <= 20
        assert float(seg.min()) >= 10.0 - 1e-4 and float(seg.max()) <= 60.0 + 1e-4
        assert bool((seg[:, 1] > seg[:, 0]).all())
        assert bool((score[:-1] >= score[1:]).all())  # sorted
        assert ds.pred_class_scores.shape == (3, )


def test_temporal_dim_mismatch_is_a_clear_error():
    model = MODELS.build(etad_cfg(temporal_dim=32))
    with pytest.raises(ValueError, match='temporal_dim'):
        model(torch.randn(2, 6, 40), samples(), mode='loss')


def _saved_bytes(model, x, data_samples):
    with SavedTensorMeter() as meter:
        losses = model(x, data_samples, mode='loss')
    sum(losses.values()).backward()
    return meter.total_bytes


def test_dps_saves_activation_memory():
    """Counted, not timed: the saved activations of the proposal part shrink with the ratio."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 64)
    full = MODELS.build(etad_cfg(ratio=1.0, temporal_dim=64))
    dps = MODELS.build(etad_cfg(ratio=0.06, temporal_dim=64))
    dps.load_state_dict(full.state_dict())
    ratio = _saved_bytes(dps, x, samples()) / _saved_bytes(full, x, samples())
    assert ratio < 0.2


def test_sampler_state_travels_with_the_state_dict():
    a = MODELS.build(etad_cfg())
    a.proposal_sampler.sample()
    b = MODELS.build(etad_cfg())
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.proposal_sampler.sample(), b.proposal_sampler.sample())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_dps_memory_on_cuda():
    """torch.cuda.max_memory_allocated of a training step: DPS 0.06 vs all proposals."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 128, device='cuda')
    peaks = {}
    for ratio in (1.0, 0.06):
        model = MODELS.build(etad_cfg(ratio=ratio, temporal_dim=128)).cuda()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        losses = model(x, [ds.to('cuda') for ds in samples(4)], mode='loss')
        sum(losses.values()).backward()
        peaks[ratio] = torch.cuda.max_memory_allocated() - base
    assert peaks[0.06] < 0.2 * peaks[1.0]


def test_select_boundaries_pads_ends_and_forces_edges():
    model = MODELS.build(etad_cfg())
    probs = torch.tensor([0.30, 0.1, 0.2, 0.1, 0.9, 0.2, 0.25])
    # peaks (zero padded): 0, 2, 4, 6; above 0.5 * 0.9: 4
    assert model._select_boundaries(probs, False, False).tolist() == [1, 0, 1, 0, 1, 0, 1]
    flat = torch.tensor([0.1, 0.3, 0.3, 0.1, 0.1])  # no peak, nothing above 0.15 at the ends
    assert model._select_boundaries(flat, False, False).tolist() == [0, 1, 1, 0, 0]
    assert model._select_boundaries(flat, True, False).tolist() == [1, 1, 1, 0, 0]
    assert model._select_boundaries(flat, False, True).tolist() == [0, 1, 1, 0, 1]
    model.test_cfg['force_edges'] = False
    assert model._select_boundaries(flat, True, True).tolist() == [0, 1, 1, 0, 0]


def test_inference_averages_the_stages_and_scores_iou():
    """Public-code inference: refined segments and IoU probabilities averaged over the stages,
    score iou_cls * iou_reg; the paper's form (last stage, p_s p_e iou) as an option."""
    torch.manual_seed(0)
    x = torch.randn(1, 6, 32)
    ds = samples(1, span=1.0, start=0.0)
    model = MODELS.build(etad_cfg(test_cfg=dict(max_proposals=10000, force_edges=False,
                                                boundary_threshold=0.0))).eval()
    pred = model(x, ds, mode='predict')[0].pred_instances  # threshold 0: every snippet kept
    with torch.no_grad():
        feats = model.neck(x)
        pairs = model.proposal_sampler.sample(training=False)
        outs = model.proposal_head(feats, model._normalise(pairs)[None])
    segs = torch.stack([o['refined'][0] for o in outs]).mean(0)
    ious = torch.stack([o['iou_logits'][0].sigmoid() for o in outs]).mean(0)
    score = ious[:, 0] * ious[:, 1]
    order = score.argsort(descending=True)
    assert pred.scores.numel() == pairs.shape[0]
    torch.testing.assert_close(pred.scores, score[order])
    torch.testing.assert_close(pred.segments, segs[order])
    model.test_cfg.update(stage_fusion='last', score='boundary_iou')
    last = model(x, samples(1, span=1.0, start=0.0), mode='predict')[0].pred_instances
    with torch.no_grad():
        probs = model.boundary_head(feats)[0].sigmoid()
    seg, iou = outs[-1]['refined'][0], outs[-1]['iou_logits'][0].sigmoid()
    idx = (seg * 32).floor().long().clamp(0, 31)
    score = iou[:, 0] * iou[:, 1] * probs[0, idx[:, 0]] * probs[1, idx[:, 1]]
    torch.testing.assert_close(last.scores, score.sort(descending=True).values)


@pytest.mark.parametrize('test_cfg', [dict(stage_fusion='max'), dict(score='p_iou'),
                                      dict(nms_thr=0.5)])
def test_bad_test_cfg_names_the_key(test_cfg):
    with pytest.raises(ValueError, match=next(iter(test_cfg))):
        MODELS.build(etad_cfg(test_cfg=test_cfg))


def test_proposal_draws_follow_the_runner_seed(tmp_path):
    """randomness.seed of a Runner decides the proposal sampler's draws (no fixed seed)."""
    from mmengine.runner import Runner
    cfg = etad_cfg()
    cfg['proposal_sampler'].pop('seed')
    draws = []
    for i, seed in enumerate((1, 1, 2)):
        runner = Runner(model=cfg, work_dir=str(tmp_path / str(i)), randomness=dict(seed=seed),
                        default_scope='mmtad_ext')
        draws.append(runner.model.proposal_sampler.sample())
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def _amp_step(device, dtype):
    torch.manual_seed(0)
    model = MODELS.build(etad_cfg()).to(device)
    data = [s.to(device) for s in samples()]
    with torch.autocast(device_type=device, dtype=dtype):
        losses = model(torch.randn(2, 6, 32, device=device), data, mode='loss')
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    return losses


def test_training_step_under_cpu_autocast_bf16():
    losses = _amp_step('cpu', torch.bfloat16)
    assert {'loss_start', 's2.loss_iou_cls', 'loss_cls'} <= set(losses)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_training_step_under_cuda_autocast_fp16():
    # binary_cross_entropy on probabilities raises under CUDA autocast; the logits forms do not
    _amp_step('cuda', torch.float16)
