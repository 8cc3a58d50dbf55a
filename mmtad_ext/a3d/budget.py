"""Configuration-budget table of A3D (paper 002, sec. 3.3): FLOPs counting, Pareto front,
selection of the best row for a budget."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from .configs import Config


class _ConfigForward(nn.Module):
    """Runs ``model`` at one configuration, input ``(B, V, C, T, H, W)`` -> logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_feat(x, stage='head')[0]


@torch.no_grad()
def count_gflops(model: nn.Module, config: Config, input_shape: Sequence[int]) -> float:
    """GFLOPs (multiply-adds, fvcore/mmengine convention) of one clip at ``config``.

    Counted by :class:`mmengine.analysis.FlopAnalyzer` from a traced forward pass at the
    configuration (sliced weights, resampled input), not computed from the formula.

    Args:
        model (nn.Module): An ``A3DRecognizer3D``.
        config (tuple): ``(gamma_w, gamma_s, gamma_t)``.
        input_shape (Sequence[int]): Full-configuration input ``(C, T, H, W)``.

    Returns:
        float: GFLOPs for a batch of one clip.
    """
    from mmengine.analysis import FlopAnalyzer
    previous = model.active_config
    was_training = model.training
    model.eval()
    try:
        model.set_config(*config, use_bank=False)
        x = torch.zeros((1, 1) + tuple(input_shape), device=next(model.parameters()).device)
        analyzer = FlopAnalyzer(_ConfigForward(model), (x, ))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        flops = analyzer.total()
    finally:
        model.set_config(*previous, use_bank=False)
        model.train(was_training)
    return flops / 1e9


def pareto_front(rows: List[Dict], cost: str = 'gflops', score: str = 'top1') -> List[Dict]:
    """Rows not dominated by a cheaper-or-equal row with a higher-or-equal score.

    Returns them sorted by increasing cost (each is strictly more accurate than the previous).
    """
    front: List[Dict] = []
    for row in sorted(rows, key=lambda r: (r[cost], -r[score])):
        if not front or row[score] > front[-1][score]:
            front.append(row)
    return front


def select_row(rows: List[Dict], gflops: Optional[float] = None,
               latency_ms: Optional[float] = None) -> Dict:
    """The most accurate row within the budget (ties: the cheaper one).

    Args:
        rows (list[dict]): Table rows with ``gflops``, ``latency_ms``, ``top1`` and the config.
        gflops (float, optional): FLOPs budget. Defaults to None.
        latency_ms (float, optional): Latency budget. Defaults to None.

    Returns:
        dict: The chosen row.
    """
    if (gflops is None) == (latency_ms is None):
        raise ValueError('give exactly one of gflops= or latency_ms=')
    if not rows:
        raise ValueError('the configuration-budget table is empty: build it with '
                         'tools/a3d_budget_table.py and load the deploy checkpoint it writes')
    key, budget = ('gflops', gflops) if gflops is not None else ('latency_ms', latency_ms)
    fits = [r for r in rows if r[key] <= budget]
    if not fits:
        cheapest = min(r[key] for r in rows)
        raise ValueError(f'no configuration fits {key} <= {budget}; the cheapest row needs '
                         f'{cheapest:.4g}')
    return max(fits, key=lambda r: (r['top1'], -r[key]))
