"""Snippet sampling of ETAD's encoder gradient sampling (EGS).

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.3 and Fig. 3.
"""
from typing import Optional

import torch

from mmtad_ext.registry import TASK_UTILS
from .base_sampler import BaseIndexSampler


@TASK_UTILS.register_module()
class SnippetSampler(BaseIndexSampler):
    """Choose which of the ``N`` snippets of a video are back-propagated through the encoder.

    ``round(ratio * N)`` snippets are drawn (at least one when ``ratio > 0``, none when
    ``ratio == 0``) with the sampler's own seeded ``torch.Generator`` (seeding and state: see
    :class:`BaseIndexSampler`). Strategies on the 1-D snippet axis (paper Fig. 3, Tab. 5):

    - ``'random'``: a uniform random subset (the paper's default).
    - ``'grid'``: evenly strided snippets ``phase + k * stride`` with the integer stride
      ``N // n`` and a random phase in ``[0, N - stride * (n - 1))``.
    - ``'block'``: ``n`` consecutive snippets from a random start.

    Args:
        ratio (float): Fraction of snippets sampled, in [0, 1]. Defaults to 0.1.
        strategy (str): ``'random'``, ``'grid'`` or ``'block'``. Defaults to ``'random'``.
        seed (int, optional): Seed of the generator. Defaults to None (drawn once from torch's
            global RNG, so a globally seeded run is still reproducible).
    """

    def __init__(self, ratio: float = 0.1, strategy: str = 'random', seed: Optional[int] = None):
        if not 0 <= float(ratio) <= 1:
            raise ValueError(f'SnippetSampler: ratio must be in [0, 1], got {ratio}')
        super().__init__(ratio, strategy, seed)

    def num_samples(self, num_snippets: int) -> int:
        """``round(ratio * N)``, at least 1 for a positive ratio, 0 for ratio 0."""
        if self.ratio == 0:
            return 0
        return min(num_snippets, max(1, int(round(self.ratio * num_snippets))))

    def sample(self, num_snippets: int) -> torch.Tensor:
        """Sorted indices (n,) of the sampled snippets of one video."""
        n, total = self.num_samples(num_snippets), num_snippets
        if n == 0:
            return torch.zeros(0, dtype=torch.long)
        if n >= total:
            return torch.arange(total)
        if self.strategy == 'random':
            idx = self._random_subset(total, n)
        elif self.strategy == 'grid':
            stride = total // n
            phase = self._randint(0, total - stride * (n - 1) - 1)  # admissible phases
            idx = phase + stride * torch.arange(n)
        else:  # block
            start = self._randint(0, total - n)
            idx = torch.arange(start, start + n)
        return idx

    def sample_batch(self, batch_size: int, num_snippets: int) -> torch.Tensor:
        """Independent samples for every video of a batch: (B, n) sorted indices."""
        if self.num_samples(num_snippets) == 0:
            return torch.zeros(batch_size, 0, dtype=torch.long)
        return torch.stack([self.sample(num_snippets) for _ in range(batch_size)])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, '
                f'strategy={self.strategy!r})')


__all__ = ['SnippetSampler']
