"""EpochSeedHook: the random draws of an epoch depend only on (runner.seed, epoch)."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from mmtad_ext.engine.hooks import EpochSeedHook


def draws(seed, epoch, noise=0):
    torch.rand(noise)  # whatever ran before (another epoch, a validation) is forgotten
    EpochSeedHook().before_train_epoch(SimpleNamespace(seed=seed, epoch=epoch))
    return torch.rand(3).tolist(), np.random.rand(2).tolist(), random.random()


def test_same_seed_and_epoch_same_draws_whatever_came_before():
    assert draws(0, 1) == draws(0, 1, noise=5)
    assert draws(0, 1) != draws(0, 2)
    assert draws(0, 1) != draws(1, 1)


def test_runs_before_other_hooks():
    assert EpochSeedHook.priority == 'VERY_HIGH'
