"""Shared base of ETAD's two samplers: proposals (DPS) and snippets (EGS).

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), sec. 3.2,
sec. 3.3 and Fig. 3: both samplers draw a fraction of an index space with one of three patterns.
"""
from typing import Optional

import torch


class BaseIndexSampler:
    """A seeded sampler of a subset of an index space with ETAD's three patterns.

    The patterns mean the same in every subclass:

    - ``'random'``: a uniform subset without replacement (the paper's default);
    - ``'grid'``: evenly strided positions along every axis of the index space (1-D for
      snippets, the two axes of the start-end map for proposals), every region covered;
    - ``'block'``: one contiguous block (a run of snippets, a square of the map) at a random
      place, which the paper finds clearly worse.

    Each subclass states its space, the grid's phase and the block's placement. The sampler owns
    a ``torch.Generator``; with ``seed=None`` its seed is drawn from torch's global RNG when the
    sampler is built, so under mmengine's Runner (which seeds that RNG with ``randomness.seed``
    before building the model) the draws follow the run's seed. A config that sets ``seed`` pins
    the sequence. :meth:`state_dict` / :meth:`load_state_dict` carry the generator state.

    Args:
        ratio (float): Fraction sampled; the subclass checks its range.
        strategy (str): ``'random'``, ``'grid'`` or ``'block'``.
        seed (int, optional): Seed of the generator. Defaults to None (see above).
    """

    STRATEGIES = ('random', 'grid', 'block')

    def __init__(self, ratio: float, strategy: str, seed: Optional[int] = None):
        if strategy not in self.STRATEGIES:
            raise ValueError(f'{type(self).__name__}: strategy must be one of '
                             f'{self.STRATEGIES}, got {strategy!r}')
        self.ratio = float(ratio)
        self.strategy = strategy
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1, )).item())
        self.generator = torch.Generator()
        self.generator.manual_seed(int(seed))

    def _randint(self, low: int, high: int) -> int:
        """Uniform integer in ``[low, high]`` (inclusive) from the sampler's generator."""
        return int(torch.randint(low, max(high, low) + 1, (1, ), generator=self.generator))

    def _random_subset(self, total: int, n: int) -> torch.Tensor:
        """``n`` of ``range(total)`` uniformly without replacement, sorted."""
        return torch.randperm(total, generator=self.generator)[:n].sort().values

    def state_dict(self) -> dict:
        """Generator state, so that a resumed run draws the same sequence."""
        return dict(generator=self.generator.get_state())

    def load_state_dict(self, state: dict) -> None:
        """Restore the generator state saved by :meth:`state_dict`."""
        self.generator.set_state(state['generator'])
