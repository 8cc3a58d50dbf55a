"""Seeds derived from the run's seed and a position in the run, so that a resumed run draws what
an uninterrupted one draws (used by :class:`~mmtad_ext.engine.hooks.EpochSeedHook`).

Three places draw random numbers during training: hooks at an epoch's start, the iteration itself
(dropout, drop-path, EGS / proposal sampling in the main process) and the data pipeline (random
crops, flips, frame offsets, in the main process or in DataLoader workers). mmengine seeds the
global generators once when the runner is built and seeds each DataLoader worker once when the
worker starts; its checkpoints hold none of these states. Here each of the three starts from a
seed that depends only on ``(seed, epoch)``, ``(seed, iteration)`` or ``(seed, epoch, sample
index)``, whatever ran before it: a checkpoint at any epoch end or iteration is then an exact
restart point, with or without (persistent) workers.

The epoch reaches the workers inside the sample indices: :class:`EpochIndexSampler` wraps the
training sampler and yields :class:`SampleIndex` (an ``int`` that also carries the epoch), and
:class:`SeededPrepare` re-seeds before the dataset prepares such an index.
"""
import random
from typing import Iterator

import numpy as np
import torch

# tags keep the three kinds of seed apart (an epoch and an iteration of the same number)
EPOCH, ITERATION, SAMPLE = 1, 2, 3


def derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed from the run's seed and integer keys, well spread (NumPy's
    ``SeedSequence`` hashing): nearby keys give unrelated seeds."""
    return int(np.random.SeedSequence([int(seed) % 2**64] + [int(k) for k in keys])
               .generate_state(1)[0])


def seed_global(seed: int) -> None:
    """Seed ``random``, NumPy and torch (CPU and every CUDA device) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class SampleIndex(int):
    """A dataset index that also carries the training epoch it is drawn for.

    It is an ``int`` (datasets index with it as before) that survives pickling, so it reaches
    DataLoader workers, persistent ones included, through the index queues.
    """

    def __new__(cls, index: int, epoch: int):
        obj = super().__new__(cls, index)
        obj.epoch = int(epoch)
        return obj

    def __reduce__(self):
        return SampleIndex, (int(self), self.epoch)

    def __repr__(self) -> str:
        return f'SampleIndex({int(self)}, epoch={self.epoch})'


class EpochIndexSampler:
    """Wrap a sampler: yield its indices as :class:`SampleIndex` of :attr:`epoch`, and skip the
    first :attr:`skip` of them once (a run resumed in the middle of an epoch continues with the
    samples the uninterrupted run drew next, without loading the ones it already trained on).

    Args:
        sampler: The sampler to wrap (mmengine's ``DefaultSampler`` or any sampler of indices).
    """

    def __init__(self, sampler):
        self.sampler = sampler
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Forward to the wrapped sampler (mmengine's ``DistSamplerSeedHook`` calls it on the
        DataLoader's own ``sampler``, which stays the wrapped one)."""
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[SampleIndex]:
        skip, self.skip = self.skip, 0  # the skip applies to one pass only
        epoch = self.epoch
        for pos, index in enumerate(self.sampler):
            if pos >= skip:
                yield SampleIndex(index, epoch)

    def __len__(self) -> int:
        return len(self.sampler)


class SeededPrepare:
    """Replacement of a dataset's ``prepare_data``: seed ``random``, NumPy and torch from
    ``(seed, epoch, index)`` before preparing a :class:`SampleIndex`, then run the dataset's
    own ``prepare_data``. A plain ``int`` (mmengine's ``_rand_another`` retry after a failed
    sample) is prepared without re-seeding: it continues from the failed sample's seeded state.

    It is a picklable object (not a closure): DataLoader workers started with ``spawn`` receive
    the dataset pickled.

    Args:
        dataset: An mmengine ``BaseDataset`` (anything whose ``__getitem__`` calls
            ``self.prepare_data(idx)``).
        seed (int): The run's seed.
    """

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.prepare = type(dataset).prepare_data  # the class's function: no bound-method cycle
        self.seed = int(seed)

    def __call__(self, idx):
        if isinstance(idx, SampleIndex):
            seed_global(derive_seed(self.seed, SAMPLE, idx.epoch, int(idx)))
        return self.prepare(self.dataset, idx)
