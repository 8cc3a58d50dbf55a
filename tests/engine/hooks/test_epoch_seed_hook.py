"""EpochSeedHook: the random draws of an epoch, an iteration and a sample depend only on the
run's seed and their position; a resumed Runner (epoch end or mid-epoch, with or without
persistent DataLoader workers) ends with the same weights as an uninterrupted one."""
import os.path as osp
import pickle
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmtad_ext.engine.hooks import EpochSeedHook
from mmtad_ext.engine.seeding import EpochIndexSampler, SampleIndex, SeededPrepare


def draws(call, noise=0):
    torch.rand(noise)  # whatever ran before (another epoch, a validation) is forgotten
    np.random.rand(noise)
    call()
    return torch.rand(3).tolist(), np.random.rand(2).tolist(), random.random()


def epoch_draws(seed, epoch, noise=0):
    return draws(lambda: EpochSeedHook().before_train_epoch(SimpleNamespace(seed=seed,
                                                                            epoch=epoch)), noise)


def iter_draws(seed, it, noise=0):
    return draws(lambda: EpochSeedHook().before_train_iter(SimpleNamespace(seed=seed, iter=it),
                                                           0), noise)


def test_same_seed_and_epoch_same_draws_whatever_came_before():
    assert epoch_draws(0, 1) == epoch_draws(0, 1, noise=5)
    assert epoch_draws(0, 1) != epoch_draws(0, 2)
    assert epoch_draws(0, 1) != epoch_draws(1, 1)


def test_same_seed_and_iteration_same_draws_and_apart_from_the_epoch_seeds():
    assert iter_draws(0, 7) == iter_draws(0, 7, noise=3)
    assert iter_draws(0, 7) != iter_draws(0, 8)
    assert iter_draws(0, 1) != epoch_draws(0, 1)  # tagged: iteration 1 is not epoch 1


def test_runs_before_other_hooks():
    assert EpochSeedHook.priority == 'VERY_HIGH'


def test_sample_index_is_an_int_that_keeps_its_epoch_through_pickling():
    idx = SampleIndex(5, epoch=3)
    assert idx == 5 and list(range(10))[idx] == 5 and np.arange(10)[idx] == 5
    back = pickle.loads(pickle.dumps(idx))
    assert type(back) is SampleIndex and back == 5 and back.epoch == 3


def test_epoch_index_sampler_tags_the_epoch_and_skips_once():
    sampler = EpochIndexSampler([4, 2, 0, 1, 3])
    sampler.epoch, sampler.skip = 2, 3
    first = list(sampler)
    assert first == [1, 3] and all(i.epoch == 2 for i in first)
    assert list(sampler) == [4, 2, 0, 1, 3] and len(sampler) == 5  # the skip was for one pass


class NoisyDataset(BaseDataset):
    """8 samples; preparing one draws from NumPy, ``random`` and torch (a random crop's worth
    of randomness in each)."""

    def load_data_list(self):
        return [dict(x=float(i)) for i in range(8)]

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        noise = np.random.rand() + random.random() + torch.rand(()).item()
        return dict(inputs=torch.tensor([info['x'], noise], dtype=torch.float32))


@pytest.mark.slow
def test_seeded_prepare_depends_on_epoch_and_index_only():
    ds = NoisyDataset(lazy_init=False)
    ds.prepare_data = SeededPrepare(ds, seed=0)
    a = ds[SampleIndex(3, epoch=1)]['inputs']
    torch.rand(4)
    assert torch.equal(ds[SampleIndex(3, epoch=1)]['inputs'], a)
    assert not torch.equal(ds[SampleIndex(3, epoch=2)]['inputs'], a)
    assert ds[SampleIndex(4, epoch=1)]['inputs'][1] != a[1]
    ds2 = pickle.loads(pickle.dumps(ds))  # what a spawned DataLoader worker receives
    assert torch.equal(ds2[SampleIndex(3, epoch=1)]['inputs'], a)


class NoisyModel(BaseModel):
    """A linear layer behind dropout: every iteration draws from torch in the main process."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.fc(self.drop(x))
        if mode == 'loss':
            return dict(loss=(out ** 2).mean())
        return out


def toy_runner(work_dir, epochs=3, workers=0, persistent=False, resume_from=None,
               iter_interval=None):
    # epoch checkpoints, and iteration checkpoints from a second CheckpointHook
    iter_ckpt = [dict(type='CheckpointHook', by_epoch=False, interval=iter_interval)]
    return Runner(
        model=NoisyModel(), work_dir=work_dir,
        train_dataloader=dict(
            dataset=dict(type=NoisyDataset), batch_size=2, num_workers=workers,
            persistent_workers=persistent, sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        custom_hooks=iter_ckpt if iter_interval else None,
        default_hooks=dict(epoch_seed=dict(type='EpochSeedHook'),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), default_scope='mmtad_ext',
        resume=resume_from is not None, load_from=resume_from, experiment_name=osp.basename(
            work_dir))


@pytest.mark.slow
@pytest.mark.parametrize('workers,persistent', [(0, False), (1, True)])
def test_resumed_runner_ends_with_the_uninterrupted_weights(tmp_path, workers, persistent):
    """4 iterations per epoch, 3 epochs, checkpoints every epoch and every 3 iterations (so
    iteration 6 is in the middle of epoch 2): resumed at the end of epoch 1 and at iteration 6
    (after other draws in this process), the final weights equal the uninterrupted run's."""
    full = toy_runner(str(tmp_path / 'full'), workers=workers, persistent=persistent,
                      iter_interval=3)
    full.train()
    ref = full.model.state_dict()
    for ckpt in ('epoch_1.pth', 'iter_6.pth'):
        torch.rand(11), np.random.rand(5), random.random()  # another history
        path = str(tmp_path / 'full' / ckpt)
        resumed = toy_runner(str(tmp_path / ckpt), workers=workers, persistent=persistent,
                             resume_from=path)
        resumed.train()
        assert resumed.iter == full.iter == 12
        state = resumed.model.state_dict()
        assert all(torch.equal(ref[k], state[k]) for k in ref), ckpt


@pytest.mark.slow
def test_registered_twice_is_an_error(tmp_path):
    runner = toy_runner(str(tmp_path / 'twice'), epochs=1)
    runner.register_hook(dict(type='EpochSeedHook'))
    with pytest.raises(ValueError, match='registered twice.*default_hooks'):
        runner.train()
