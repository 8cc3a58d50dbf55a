"""Re-seed the global random generators at every training epoch, so that a resumed run draws
what an uninterrupted one draws."""
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from mmtad_ext.registry import HOOKS

# the epoch's seed: runner.seed + _STRIDE * (epoch + 1); a large odd stride keeps the epochs'
# seeds apart from mmengine's samplers, which shuffle with seed + epoch
_STRIDE = 1_000_003


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, NumPy and torch (CPU and CUDA) at the start of every training epoch
    from the run's seed and the epoch.

    mmengine seeds the global generators once, when the runner is built, and its checkpoints
    do not hold their states, so a run resumed with ``--resume`` continues from other random
    states than the uninterrupted run had at that epoch (drop-path, random crops in the main
    process, the DataLoader's base seed...) and ends with other weights. With this hook the
    randomness of epoch ``e`` depends only on ``(runner.seed, e)``: a killed and resumed run
    ends with the same weights as an uninterrupted one (the block-drop configs use it; tested
    there). Set ``randomness.seed`` in the config: without it mmengine draws a new seed on
    every start. ``runner.seed`` already includes the rank under ``diff_rank_seed``.

    Priority ``VERY_HIGH``: the epoch is seeded before any other hook's ``before_train_epoch``
    draws (e.g. ``BlockDropHook`` evaluating its candidates).
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        seed = (int(runner.seed) + _STRIDE * (runner.epoch + 1)) % 2**32
        set_random_seed(seed, deterministic=getattr(runner, '_deterministic', False))
