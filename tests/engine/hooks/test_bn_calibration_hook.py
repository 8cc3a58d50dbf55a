"""BNCalibrationHook: a tiny Runner run leaves calibrated BN statistics of every table
sub-network in the checkpoint, equal to a direct calibration, and changes no weight."""
import copy
import itertools
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import Dataset

from _helpers.tiny_configs import tiny_a3d_recognizer_cfg
from mmtad_ext.engine.hooks import BNCalibrationHook
from mmtad_ext.models.utils import bn_layers, subnet_grid
from mmtad_ext.registry import MODELS


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one intra-op thread avoids OpenMP spinning on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TABLE = dict(widths=(0.5, 1.0), spatial_factors=(0.5, 1.0), temporal_factors=(0.5, 1.0),
             calib_batches=2)


def tiny_model_cfg():
    # a single sub-network shape keeps the tiny run short
    return tiny_a3d_recognizer_cfg(num_classes=3, base_channels=8, width_range=(0.5, 0.5),
                                   spatial_factors=(1.0, ), temporal_factors=(1.0, ))


class TinyClips(Dataset):
    """Deterministic random uint8 clips (1, 3, 4, 16, 16) with labels 0..2."""

    def __init__(self, n=4):
        g = torch.Generator().manual_seed(0)
        self.clips = torch.randint(0, 255, (n, 1, 3, 4, 16, 16), generator=g).to(torch.uint8)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return dict(inputs=self.clips[i],
                    data_samples=ActionDataSample().set_gt_label(torch.tensor([i % 3])))


class SnapshotHook(Hook):
    """Records the model state at the end of training, before the calibration hook."""
    priority = 'NORMAL'

    def after_train_epoch(self, runner):
        self.state = copy.deepcopy(runner.model.state_dict())


def _runner(tmp_path, hooks, cfg=None):
    init_default_scope('mmtad_ext')
    torch.manual_seed(0)
    loader = dict(dataset=TinyClips(), batch_size=2, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='pseudo_collate'))
    return Runner(
        model=tiny_model_cfg(), work_dir=str(tmp_path), train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks, cfg=cfg, default_scope='mmtad_ext', randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')))


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_runner_checkpoint_holds_calibrated_stats_and_unchanged_weights(tmp_path):
    snap = SnapshotHook()
    runner = _runner(tmp_path, [snap, dict(type='BNCalibrationHook', table=TABLE)])
    runner.train()
    ckpt = torch.load(osp.join(str(tmp_path), 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)['state_dict']
    # no weight changed and the training running statistics were restored
    names = [n for n in snap.state if not n.startswith('a3d_state.')]  # weights and buffers
    for name in names:
        torch.testing.assert_close(ckpt[name], snap.state[name], rtol=0, atol=0)
        torch.testing.assert_close(runner.model.state_dict()[name], snap.state[name], rtol=0,
                                   atol=0)
    assert snap.state['a3d_state.bank_subnets'].numel() == 0  # the bank was empty before
    assert runner.model.active_subnet == (1.0, 1.0, 1.0)

    # the checkpoint's bank holds every table sub-network
    subnets = subnet_grid(TABLE['widths'], TABLE['spatial_factors'], TABLE['temporal_factors'])
    assert sorted(map(tuple, ckpt['a3d_state.bank_subnets'].tolist())) == sorted(subnets)
    init_default_scope('mmtad_ext')
    fresh = MODELS.build(tiny_model_cfg())
    fresh.load_state_dict(ckpt)
    assert set(fresh.bn_bank) == set(subnets)

    # each entry equals a direct calibration on the first 2 training batches
    batches = list(itertools.islice(runner.train_dataloader, 2))
    direct = copy.deepcopy(runner.model)
    layers = bn_layers(direct)
    for subnet in subnets:
        stats = fresh.bn_bank[subnet]
        assert set(stats) == set(layers)
        direct.calibrate(batches, [subnet], 2)
        for name, s in stats.items():
            ref = direct.bn_bank[subnet][name]
            torch.testing.assert_close(s['mean'], ref['mean'], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(s['var'], ref['var'], rtol=1e-6, atol=1e-6)
    # width changes the calibrated slice, input size the values
    stem = 'backbone.conv1.bn'
    assert fresh.bn_bank[(0.5, 1.0, 1.0)][stem]['mean'].numel() == 4
    assert fresh.bn_bank[(1.0, 1.0, 1.0)][stem]['mean'].numel() == 8
    assert not torch.allclose(fresh.bn_bank[(1.0, 0.5, 1.0)][stem]['var'],
                              fresh.bn_bank[(1.0, 1.0, 1.0)][stem]['var'])
    # switching sub-network loads them without data
    fresh.set_subnet((0.5, 0.5, 0.5))
    torch.testing.assert_close(dict(fresh.named_modules())[stem].running_mean[:4],
                               fresh.bn_bank[(0.5, 0.5, 0.5)][stem]['mean'])


def test_table_and_batches_from_config(tmp_path):
    hook = BNCalibrationHook()
    runner = _runner(tmp_path, [hook], cfg=dict(a3d_table=dict(TABLE, widths=(0.5, ))))
    hook.before_train(runner)
    assert hook.subnets == subnet_grid((0.5, ), (0.5, 1.0), (0.5, 1.0))
    assert hook.resolved_num_batches == 2


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_batches=0), 'num_batches'),
    (dict(interval=-1), 'interval'),
    (dict(table=dict(widths=(0.5, ))), 'spatial_factors'),
    (dict(table=dict(TABLE, widths=(1.5, ))), r'table.widths.*1\.5'),
])
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BNCalibrationHook(**kwargs)


def test_runner_checks():
    hook = BNCalibrationHook(table=TABLE)
    runner = SimpleNamespace(model=torch.nn.Linear(2, 2), cfg={}, train_loop=None)
    with pytest.raises(TypeError, match=r'calibrate\(batches, subnets\)'):
        hook.before_train(runner)
    init_default_scope('mmtad_ext')
    runner.model = MODELS.build(tiny_model_cfg())
    with pytest.raises(TypeError, match='IterBasedTrainLoop'):
        hook.before_train(runner)


class _RecordingModel(torch.nn.Module):
    """Stands for an A3D recognizer: records the calls of its public calibrate()."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def calibrate(self, batches, subnets, num_batches=None):
        self.calls.append((batches, list(subnets), num_batches))
        return {}


def test_hook_calls_the_unwrapped_models_calibrate_once():
    """The hook only calls the model's public calibrate(), through a DDP-like wrapper too."""
    from mmengine.model import MMDistributedDataParallel
    from mmengine.runner import EpochBasedTrainLoop
    model = _RecordingModel()
    # a wrapper object without a process group: is_model_wrapper only checks its type
    wrapper = MMDistributedDataParallel.__new__(MMDistributedDataParallel)
    torch.nn.Module.__init__(wrapper)
    wrapper.module = model
    loader = ['batch0', 'batch1', 'batch2']
    runner = SimpleNamespace(model=wrapper, cfg={}, train_dataloader=loader,
                             train_loop=EpochBasedTrainLoop.__new__(EpochBasedTrainLoop))
    hook = BNCalibrationHook(table=TABLE)
    hook.before_train(runner)
    hook.calibrate(runner)
    subnets = subnet_grid(TABLE['widths'], TABLE['spatial_factors'], TABLE['temporal_factors'])
    assert model.calls == [(loader, subnets, TABLE['calib_batches'])]


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_iteration_based_loop_calibrates_after_the_last_iteration(tmp_path):
    """With an IterBasedTrainLoop the bank is filled after the last iteration, before the
    checkpoint of that iteration is written."""
    init_default_scope('mmtad_ext')
    torch.manual_seed(0)
    loader = dict(dataset=TinyClips(), batch_size=2, num_workers=0,
                  sampler=dict(type='InfiniteSampler', shuffle=False),
                  collate_fn=dict(type='pseudo_collate'))
    runner = Runner(
        model=tiny_model_cfg(), work_dir=str(tmp_path), train_dataloader=loader,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=3),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='BNCalibrationHook', table=TABLE)], default_scope='mmtad_ext',
        randomness=dict(seed=0), env_cfg=dict(dist_cfg=dict(backend='gloo')))
    runner.train()
    ckpt = torch.load(osp.join(str(tmp_path), 'iter_3.pth'), map_location='cpu',
                      weights_only=False)['state_dict']
    subnets = subnet_grid(TABLE['widths'], TABLE['spatial_factors'], TABLE['temporal_factors'])
    assert sorted(map(tuple, ckpt['a3d_state.bank_subnets'].tolist())) == sorted(subnets)
