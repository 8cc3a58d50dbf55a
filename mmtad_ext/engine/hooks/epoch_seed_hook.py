"""Re-seed at every training epoch, iteration and sample, so that a resumed run draws what an
uninterrupted one draws."""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler

from mmtad_ext.engine.seeding import (EPOCH, ITERATION, EpochIndexSampler, SeededPrepare,
                                      derive_seed, seed_global)
from mmtad_ext.registry import HOOKS


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Make ``--resume`` exact: the randomness of training depends only on the run's seed and
    the position in the run, never on what ran before in the process.

    mmengine seeds the global generators once, when the runner is built, and each DataLoader
    worker once, when it starts; its checkpoints hold none of these states. A run resumed with
    ``--resume`` therefore continues from other random states than the uninterrupted run had at
    that point (drop-path, EGS / proposal sampling, random crops, the workers' streams...) and
    ends with other weights. This hook (in ``default_hooks`` of every config, from
    ``configs/_base_/default_runtime.py``) seeds ``random``, NumPy and torch (CPU and CUDA):

    - at the start of every training epoch from ``(runner.seed, epoch)`` (hooks that draw in
      ``before_train_epoch``, e.g. ``BlockDropHook`` scoring its candidates, run after it);
    - before every training iteration from ``(runner.seed, iteration)``;
    - before every training sample is prepared from ``(runner.seed, epoch, index)``, in the main
      process or in the DataLoader worker that prepares it: the training sampler is wrapped in
      :class:`~mmtad_ext.engine.seeding.EpochIndexSampler` (the indices carry the epoch to the
      workers, persistent ones included) and the dataset's ``prepare_data`` in
      :class:`~mmtad_ext.engine.seeding.SeededPrepare`.

    A run resumed from an iteration checkpoint (``CheckpointHook(by_epoch=False)``) in the middle
    of an epoch continues with the samples the uninterrupted run drew next: mmengine's
    ``EpochBasedTrainLoop`` would run the whole epoch again, so the wrapped sampler skips the
    samples of the iterations already done (without loading them). A killed and resumed run then
    ends with the same weights as an uninterrupted one, bitwise on the CPU (tested); on a GPU,
    CUDA's non-deterministic kernels can still make two runs differ unless
    ``randomness.deterministic=True`` (not tested on a GPU). The logged batch index of that
    partial epoch starts at 0.

    Set ``randomness.seed`` in the config (the default runtime sets 0): without it mmengine draws
    a new seed on every start. ``runner.seed`` already includes the rank under
    ``diff_rank_seed``. Priority ``VERY_HIGH``: the seeds are set before any other hook draws.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._sampler = None

    def before_train(self, runner) -> None:
        """Wrap the training sampler and the dataset's ``prepare_data`` (before the DataLoader
        starts its workers, at the first epoch's iteration)."""
        others = [h for h in runner.hooks if isinstance(h, EpochSeedHook) and h is not self]
        if others:
            raise ValueError('EpochSeedHook is registered twice (it is in default_hooks of '
                             'configs/_base_/default_runtime.py); remove it from custom_hooks')
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            # mmengine's IterBasedTrainLoop skips the done iterations itself on resume, and its
            # infinite sampler has no epoch here: only epochs and iterations are seeded
            print_log(f'EpochSeedHook: {type(runner.train_loop).__name__} is not epoch-based; '
                      'samples are not seeded per (epoch, index)', logger='current',
                      level=logging.WARNING)
            return
        loader = runner.train_dataloader
        batch_sampler = getattr(loader, 'batch_sampler', None)
        if batch_sampler is None or not hasattr(batch_sampler, 'sampler'):
            print_log(
                'EpochSeedHook: the training DataLoader has no batch_sampler.sampler to wrap; '
                'samples are not seeded per (epoch, index) and --resume may not be exact',
                logger='current', level=logging.WARNING)
            return
        if not isinstance(batch_sampler.sampler, EpochIndexSampler):
            batch_sampler.sampler = EpochIndexSampler(batch_sampler.sampler)
        self._sampler = batch_sampler.sampler
        dataset = loader.dataset
        if not isinstance(getattr(dataset, 'prepare_data', None), SeededPrepare):
            if not callable(getattr(type(dataset), 'prepare_data', None)):
                print_log(
                    f'EpochSeedHook: {type(dataset).__name__} has no prepare_data (not an '
                    'mmengine BaseDataset); its samples are not seeded per (epoch, index) and '
                    '--resume with DataLoader workers may not be exact',
                    logger='current', level=logging.WARNING)
            else:
                dataset.prepare_data = SeededPrepare(dataset, runner.seed)

    def before_train_epoch(self, runner) -> None:
        seed_global(derive_seed(runner.seed, EPOCH, runner.epoch))
        if self._sampler is None:
            return
        self._sampler.epoch = runner.epoch
        # iterations of this epoch already done (resumed from an iteration checkpoint)
        loader = runner.train_dataloader
        done = runner.iter - runner.epoch * len(loader)
        if done > 0:
            batch_sampler = loader.batch_sampler
            if type(batch_sampler) is not BatchSampler:
                raise ValueError(
                    f'EpochSeedHook: cannot resume in the middle of epoch {runner.epoch + 1} '
                    f'with a {type(batch_sampler).__name__} (only torch\'s BatchSampler is '
                    'skipped exactly); resume from an epoch checkpoint instead')
            self._sampler.skip = min(done, len(loader)) * batch_sampler.batch_size
            print_log(
                f'EpochSeedHook: resuming in epoch {runner.epoch + 1} after {done} of its '
                f'{len(loader)} iterations; their samples are skipped', logger='current')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_global(derive_seed(runner.seed, ITERATION, runner.iter))
