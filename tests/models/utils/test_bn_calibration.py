"""BN calibration changes only running statistics and does not lower a sub-network's accuracy;
under torch.distributed it gives every rank the statistics of all ranks' batches."""
import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmaction.structures import ActionDataSample
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from _helpers.tiny_configs import tiny_a3d_recognizer_cfg
from mmtad_ext.datasets.synthetic import render_clip
from mmtad_ext.models.utils import calibrate_bn, snapshot_bn_stats
from mmtad_ext.registry import MODELS

NUM_CLASSES = 4
PATTERNS = (0, 2, 4, 6)  # four patterns of distinct colours: learnt in a few steps


def _batches(n_batches, batch_size, seed):
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n_batches):
        labels = [(b * batch_size + i) % NUM_CLASSES for i in range(batch_size)]
        clips = [torch.from_numpy(render_clip(PATTERNS[c], 4, 16, rng)).permute(3, 0, 1, 2)
                 [None].float() for c in labels]  # (1, C, T, H, W)
        samples = [ActionDataSample().set_gt_label(torch.tensor([c])) for c in labels]
        out.append(dict(inputs=clips, data_samples=samples))
    return out


def _accuracy(model, batches):
    hits = n = 0
    with torch.no_grad():
        for batch in batches:
            for s in model.test_step(batch):
                hits += int(s.pred_score.argmax() == s.gt_label.item())
                n += 1
    return hits / n


def _model():
    torch.manual_seed(0)
    model = MODELS.build(tiny_a3d_recognizer_cfg(
        num_classes=NUM_CLASSES, base_channels=8, width_range=(0.5, 1.0),
        spatial_factors=(0.5, 1.0), temporal_factors=(0.5, 1.0)))
    model.init_weights()
    return model


@pytest.mark.slow  # over 1 s: trains the model
def test_calibration_changes_only_running_stats_and_helps_subnet():
    init_default_scope('mmtad_ext')
    model = _model()
    train = _batches(8, 8, seed=1)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    model.train()
    for batch in train * 6:
        model.train_step(batch, optim)
    model.eval()
    val = _batches(4, 8, seed=2)
    sub = (0.5, 0.5, 0.5)
    model.set_subnet(sub, use_bank=False)  # still the full network's running statistics
    before = _accuracy(model, val)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    active = calibrate_bn(model, train, num_batches=4)
    after = _accuracy(model, val)
    changed = {k for k, v in model.state_dict().items()
               if not k.startswith('a3d_state.') and not torch.equal(v, state[k])}
    assert changed and all(k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))
                           for k in changed)
    assert not model.training and all(not m.training for m in model.modules())
    assert active['backbone.conv1.bn'] == 4  # half of 8 channels were calibrated
    assert snapshot_bn_stats(model, active)['backbone.conv1.bn']['mean'].numel() == 4
    assert after >= before
    print('sub-network accuracy before/after calibration', before, after)


def _calibrated(model, batches):
    model.eval()
    model.set_subnet((0.5, 0.5, 0.5), use_bank=False)
    calibrate_bn(model, batches, num_batches=len(batches))
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))}


def _calibration_worker(rank, port, queue):
    import mmtad_ext  # noqa: F401
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    try:
        init_default_scope('mmtad_ext')
        batches = _batches(3, 4, seed=1)
        own = batches[:2] if rank == 0 else batches[2:]  # unequal counts: weights matter
        # numpy, pickled by value: torch tensors would travel as shared-memory handles that
        # vanish when this process exits
        queue.put((rank, {k: v.numpy() for k, v in _calibrated(_model(), own).items()}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawned ranks
@pytest.mark.skipif(not dist.is_available(), reason='no torch.distributed')
def test_distributed_calibration_equals_single_process_on_all_batches(spawn_ranks):
    results = spawn_ranks(_calibration_worker)
    init_default_scope('mmtad_ext')
    ref = _calibrated(_model(), _batches(3, 4, seed=1))  # one process, all three batches
    for rank in (0, 1):
        assert set(results[rank]) == set(ref)
        for k in ref:
            torch.testing.assert_close(torch.from_numpy(results[rank][k]), ref[k], rtol=1e-5,
                                       atol=1e-6)
    k = 'backbone.conv1.bn.running_mean'
    assert not torch.allclose(ref[k][:4], _calibrated(_model(), _batches(3, 4, seed=1)[:2])[k][:4])
