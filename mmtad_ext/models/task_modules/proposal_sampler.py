"""Detector proposal sampling (DPS) of ETAD.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.2 and Fig. 3; the 2-D grid and block patterns follow the public code
(``sming256/ETAD``, ``lib/utils/sampler.py`` and the dataset's grid mask).
"""
import math
from typing import Optional

import torch

from mmtad_ext.registry import TASK_UTILS
from .base_sampler import BaseIndexSampler


@TASK_UTILS.register_module()
class ProposalSampler(BaseIndexSampler):
    """Sample a subset of the valid proposals of the duration x start proposal map.

    A proposal ``(s, e)`` covers snippets ``s..e`` (``0 <= s <= e < T``); it sits at row
    ``d = e - s`` (duration index, ``d < max_duration``) and column ``s`` of the ``D x T`` map,
    so ``T=128`` gives ``128 * 129 / 2 = 8256`` valid proposals. :attr:`valid_proposals` lists
    them in *map order* (row by row: duration, then start). In training a subset is drawn; at
    test time (``training=False``) every valid proposal is returned (the paper evaluates at
    100%).

    Strategies on the 2-D start-end map (paper Fig. 3, in the public code's form; seeding and
    state: see :class:`BaseIndexSampler`):

    - ``'random'``: ``round(ratio * N)`` proposals drawn uniformly without replacement.
    - ``'grid'``: a fixed 2-D grid on the map: rows and columns ``1, 1 + k, 1 + 2k, ...``
      (rounded) with ``k = sqrt(1 / ratio)``, valid cells only. The same proposals every
      iteration, every scale and position covered.
    - ``'block'``: one square ``w x w`` block of the map with ``w = int(sqrt(ratio * N))``,
      placed at a random row ``x`` in ``[0, D - 2w]`` and column ``y`` in ``[0, T - 2w - x]``
      (both inclusive, so the block is always inside the valid triangle): a narrow band of
      durations and positions, which the paper finds clearly worse.

    Args:
        temporal_dim (int): Number of snippets ``T``. Defaults to 128.
        ratio (float): Fraction of valid proposals sampled in training, in (0, 1].
            Defaults to 0.06.
        strategy (str): ``'random'``, ``'grid'`` or ``'block'``. Defaults to ``'random'``.
        max_duration (int, optional): Longest proposal in snippets (rows ``D`` of the map).
            Defaults to None (``T``).
        seed (int, optional): Seed of the sampler's own generator. Defaults to None (follow
            torch's global RNG, i.e. the run's ``randomness.seed``).
    """

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
        super().__init__(ratio, strategy, seed)
        self.temporal_dim = int(temporal_dim)
        self.max_duration = int(max_duration or temporal_dim)
        if not 1 <= self.max_duration <= self.temporal_dim:
            raise ValueError('ProposalSampler: max_duration must be in [1, temporal_dim], '
                             f'got {max_duration}')
        # (D, T) index of each map cell into valid_proposals, -1 where s + d >= T
        d = torch.arange(self.max_duration)[:, None]
        s = torch.arange(self.temporal_dim)[None, :]
        valid = (s + d) < self.temporal_dim  # (D, T)
        self.index_map = torch.full(valid.shape, -1, dtype=torch.long)
        self.index_map[valid] = torch.arange(int(valid.sum()))
        cells = valid.nonzero()  # (N, 2) rows (d, s) in map order
        self.valid_proposals = torch.stack([cells[:, 1], cells[:, 1] + cells[:, 0]], dim=1)
        self.block_size = int(math.sqrt(self._num_random()))
        if self.strategy == 'block' and self.ratio < 1 and 2 * self.block_size > min(
                self.temporal_dim, self.max_duration):
            raise ValueError(
                f'ProposalSampler: a {self.block_size}x{self.block_size} block (ratio '
                f'{self.ratio}) does not fit twice into the {self.max_duration}x'
                f'{self.temporal_dim} proposal map; use a smaller ratio for block sampling')
        self.grid_indices = self._grid_indices()

    def _num_random(self) -> int:
        return max(1, int(round(self.ratio * self.num_valid)))

    def _grid_indices(self) -> torch.Tensor:
        """Indices (sorted) of the fixed 2-D grid: rows/columns ``1 + k * i`` rounded."""
        step = math.sqrt(1.0 / self.ratio)
        rows = torch.arange(1, self.max_duration, step, dtype=torch.float64).round().long()
        cols = torch.arange(1, self.temporal_dim, step, dtype=torch.float64).round().long()
        rows, cols = rows[rows < self.max_duration].unique(), cols[cols < self.temporal_dim].unique()
        idx = self.index_map[rows[:, None], cols[None, :]].flatten()
        idx = idx[idx >= 0]
        if idx.numel() == 0:  # tiny maps: fall back to the first valid cell
            idx = torch.zeros(1, dtype=torch.long)
        return idx.sort().values

    @property
    def num_valid(self) -> int:
        """Number of valid proposals ``N``."""
        return self.valid_proposals.shape[0]

    @property
    def num_samples(self) -> int:
        """Proposals per training sample: ``round(ratio * N)`` (random), the grid's cell count
        (grid) or ``w * w`` (block); ``N`` at ratio 1."""
        if self.ratio >= 1:
            return self.num_valid
        if self.strategy == 'grid':
            return self.grid_indices.numel()
        if self.strategy == 'block':
            return self.block_size**2
        return self._num_random()

    def sample_indices(self) -> torch.Tensor:
        """Indices into :attr:`valid_proposals` of one training sample, sorted ascending."""
        if self.ratio >= 1:
            return torch.arange(self.num_valid)
        if self.strategy == 'random':
            idx = self._random_subset(self.num_valid, self.num_samples)
        elif self.strategy == 'grid':
            idx = self.grid_indices.clone()
        else:  # block: w x w cells at a random (row, column), always inside the triangle
            w = self.block_size
            x = self._randint(0, self.max_duration - 2 * w)
            y = self._randint(0, self.temporal_dim - 2 * w - x)
            idx = self.index_map[x:x + w, y:y + w].flatten()  # (w * w,)
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

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(temporal_dim={self.temporal_dim}, '
                f'ratio={self.ratio}, strategy={self.strategy!r}, '
                f'samples={self.num_samples}/{self.num_valid})')


def num_valid_proposals(temporal_dim: int, max_duration: Optional[int] = None) -> int:
    """Closed form of the number of valid proposals (``T(T+1)/2`` without a duration cap)."""
    d = max_duration or temporal_dim
    return sum(temporal_dim - k + 1 for k in range(1, d + 1))


__all__ = ['ProposalSampler', 'num_valid_proposals']
