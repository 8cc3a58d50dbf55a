"""Detector proposal sampling (DPS) of ETAD (paper 001, sec. 3.2, Fig. 3)."""
from typing import Optional

import torch

from mmtad_ext.registry import TASK_UTILS


@TASK_UTILS.register_module()
class ProposalSampler:
    """Sample a subset of the valid proposals of a ``T x T`` proposal map.

    A proposal ``(s, e)`` covers snippets ``s..e`` (``0 <= s <= e < T``, duration ``e - s + 1``
    capped by ``max_duration``), so ``T=128`` gives ``128 * 129 / 2 = 8256`` proposals. The valid
    proposals are enumerated in a fixed *map order*: by duration, then by start. In training a
    subset of ``round(ratio * N)`` proposals is drawn; at test time (``training=False``) all valid
    proposals are returned (the paper evaluates at 100%).

    Strategies (paper Fig. 3):

    - ``'random'``: a uniform random subset.
    - ``'grid'``: every ``N / n``-th proposal of the map order from a random phase, i.e. a fixed
      stride over the proposal map that keeps every scale (the strided positions are deterministic
      given the phase).
    - ``'block'``: one contiguous area of the map: ``n`` consecutive proposals in map order, which
      spans only a narrow band of durations (the paper finds this clearly worse).

    Args:
        temporal_dim (int): Number of snippets ``T``. Defaults to 128.
        ratio (float): Fraction of valid proposals sampled in training, in (0, 1].
            Defaults to 0.06.
        strategy (str): ``'random'``, ``'grid'`` or ``'block'``. Defaults to ``'random'``.
        max_duration (int, optional): Longest proposal in snippets. Defaults to None (``T``).
        seed (int, optional): Seed of the sampler's own generator; the same seed gives the same
            sequence of samples. Defaults to None (seeded from torch's global RNG once).
    """

    STRATEGIES = ('random', 'grid', 'block')

    def __init__(self,
                 temporal_dim: int = 128,
                 ratio: float = 0.06,
                 strategy: str = 'random',
                 max_duration: Optional[int] = None,
                 seed: Optional[int] = None):
        if int(temporal_dim) < 1:
            raise ValueError(f'ProposalSampler: temporal_dim must be >= 1, got {temporal_dim}')
        if not 0 < float(ratio) <= 1:
            raise ValueError(f'ProposalSampler: ratio must be in (0, 1], got {ratio}')
        if strategy not in self.STRATEGIES:
            raise ValueError(f'ProposalSampler: strategy must be one of {self.STRATEGIES}, '
                             f'got {strategy!r}')
        self.temporal_dim = int(temporal_dim)
        self.max_duration = int(max_duration or temporal_dim)
        if not 1 <= self.max_duration <= self.temporal_dim:
            raise ValueError('ProposalSampler: max_duration must be in [1, temporal_dim], '
                             f'got {max_duration}')
        self.ratio = float(ratio)
        self.strategy = strategy
        self.generator = torch.Generator()
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1, )).item())
        self.generator.manual_seed(int(seed))
        self.valid_proposals = self._enumerate()  # (N, 2) start/end snippet indices

    def _enumerate(self) -> torch.Tensor:
        """All valid ``(start, end)`` pairs in map order (duration, then start)."""
        pairs = [(s, s + d - 1) for d in range(1, self.max_duration + 1)
                 for s in range(self.temporal_dim - d + 1)]
        return torch.tensor(pairs, dtype=torch.long)

    @property
    def num_valid(self) -> int:
        """Number of valid proposals ``N``."""
        return self.valid_proposals.shape[0]

    @property
    def num_samples(self) -> int:
        """Number of proposals sampled in training, ``round(ratio * N)`` (at least 1)."""
        return max(1, int(round(self.ratio * self.num_valid)))

    def sample_indices(self) -> torch.Tensor:
        """Indices into :attr:`valid_proposals` of one training sample, sorted ascending."""
        n, total = self.num_samples, self.num_valid
        if n >= total:
            return torch.arange(total)
        if self.strategy == 'random':
            idx = torch.randperm(total, generator=self.generator)[:n]
        elif self.strategy == 'grid':
            stride = total / n
            phase = torch.rand((), generator=self.generator).item() * stride
            idx = (phase + stride * torch.arange(n, dtype=torch.float64)).floor().long()
            idx = idx.clamp_(max=total - 1)
        else:  # block
            start = int(torch.randint(0, total - n + 1, (1, ), generator=self.generator))
            idx = torch.arange(start, start + n)
        return idx.sort().values

    def sample(self, training: bool = True) -> torch.Tensor:
        """Proposals ``(M, 2)`` as inclusive snippet indices (start, end).

        Args:
            training (bool): Sample a subset (True) or return every valid proposal (False).
                Defaults to True.
        """
        if not training:
            return self.valid_proposals.clone()
        return self.valid_proposals[self.sample_indices()]

    def state_dict(self) -> dict:
        """Generator state, so a resumed run draws the same sequence."""
        return dict(generator=self.generator.get_state())

    def load_state_dict(self, state: dict) -> None:
        """Restore the generator state saved by :meth:`state_dict`."""
        self.generator.set_state(state['generator'])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(temporal_dim={self.temporal_dim}, '
                f'ratio={self.ratio}, strategy={self.strategy!r}, '
                f'samples={self.num_samples}/{self.num_valid})')


def num_valid_proposals(temporal_dim: int, max_duration: Optional[int] = None) -> int:
    """Closed form of the number of valid proposals (``T(T+1)/2`` without a duration cap)."""
    d = max_duration or temporal_dim
    return sum(temporal_dim - k + 1 for k in range(1, d + 1))


__all__ = ['ProposalSampler', 'num_valid_proposals']
