"""Snippet sampling of ETAD's encoder gradient sampling (EGS, paper 001, sec. 3.3, Fig. 3)."""
from typing import Optional

import torch

from mmtad_ext.registry import TASK_UTILS


@TASK_UTILS.register_module()
class SnippetSampler:
    """Choose which of the ``N`` snippets of a video are back-propagated through the encoder.

    ``round(ratio * N)`` snippets are drawn (at least one when ``ratio > 0``, none when
    ``ratio == 0``) with the sampler's own seeded ``torch.Generator``, so the same seed gives
    the same sequence of samples. Strategies (paper Fig. 3, Tab. 5):

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

    STRATEGIES = ('random', 'grid', 'block')

    def __init__(self, ratio: float = 0.1, strategy: str = 'random', seed: Optional[int] = None):
        if not 0 <= float(ratio) <= 1:
            raise ValueError(f'SnippetSampler: ratio must be in [0, 1], got {ratio}')
        if strategy not in self.STRATEGIES:
            raise ValueError(f'SnippetSampler: strategy must be one of {self.STRATEGIES}, '
                             f'got {strategy!r}')
        self.ratio = float(ratio)
        self.strategy = strategy
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1, )).item())
        self.generator = torch.Generator()
        self.generator.manual_seed(int(seed))

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
            idx = torch.randperm(total, generator=self.generator)[:n].sort().values
        elif self.strategy == 'grid':
            stride = total // n
            span = total - stride * (n - 1)  # number of admissible phases
            phase = int(torch.randint(0, span, (1, ), generator=self.generator))
            idx = phase + stride * torch.arange(n)
        else:  # block
            start = int(torch.randint(0, total - n + 1, (1, ), generator=self.generator))
            idx = torch.arange(start, start + n)
        return idx

    def sample_batch(self, batch_size: int, num_snippets: int) -> torch.Tensor:
        """Independent samples for every video of a batch: (B, n) sorted indices."""
        if self.num_samples(num_snippets) == 0:
            return torch.zeros(batch_size, 0, dtype=torch.long)
        return torch.stack([self.sample(num_snippets) for _ in range(batch_size)])

    def state_dict(self) -> dict:
        """Generator state, so that a resumed run draws the same sequence."""
        return dict(generator=self.generator.get_state())

    def load_state_dict(self, state: dict) -> None:
        """Restore the generator state saved by :meth:`state_dict`."""
        self.generator.set_state(state['generator'])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, '
                f'strategy={self.strategy!r})')


__all__ = ['SnippetSampler']
