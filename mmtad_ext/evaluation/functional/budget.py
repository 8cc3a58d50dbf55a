"""Configuration-budget table of A3D (paper 002, sec. 3.3): FLOPs counting, Pareto front,
selection of the best row for a budget."""
import time
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


def _top1(model: nn.Module, batches: List) -> float:
    """Top-1 accuracy of ``model.test_step`` over cached data-loader batches."""
    correct = total = 0
    for batch in batches:
        for sample in model.test_step(batch):
            correct += int(sample.pred_score.argmax().item() == int(sample.gt_label.item()))
            total += 1
    return correct / max(total, 1)


@torch.no_grad()
def measure_latency_ms(model: nn.Module, input_shape: Sequence[int], runs: int = 10,
                       warmup: int = 2) -> float:
    """Wall-clock milliseconds of one clip ``(1, 1, C, T, H, W)`` at the active configuration.

    The minimum over ``runs`` timed runs after ``warmup`` untimed ones: other processes on a
    shared machine only add time, so the minimum is the most reproducible estimate.
    """
    x = torch.zeros((1, 1) + tuple(input_shape), device=next(model.parameters()).device)
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        model.extract_feat(x, stage='head')
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return float(min(times))


def evaluate_configs(model: nn.Module, configs: Sequence[Config], calib_batches: List,
                     val_batches: List, input_shape: Sequence[int], latency_runs: int = 10,
                     logger: str = 'current') -> List[Dict]:
    """Calibrate BN, count FLOPs, time and measure top-1 at every configuration.

    The calibrated statistics are kept in ``model.bn_bank``.

    Args:
        model (nn.Module): An ``A3DRecognizer3D``.
        configs (Sequence[tuple]): ``(gamma_w, gamma_s, gamma_t)`` to evaluate.
        calib_batches (list): Training batches for BN calibration (all are used).
        val_batches (list): Validation batches for top-1.
        input_shape (Sequence[int]): Full-configuration clip ``(C, T, H, W)``.
        latency_runs (int): Timed runs per configuration. Defaults to 10.
        logger (str): Logger name for progress. Defaults to ``'current'``.

    Returns:
        list[dict]: One row per configuration (``gamma_w``, ``gamma_s``, ``gamma_t``,
        ``gflops``, ``latency_ms``, ``top1``).
    """
    from mmengine.logging import print_log
    rows = []
    model.eval()
    for i, config in enumerate(configs):
        model.calibrate_config(config, calib_batches, len(calib_batches))
        model.set_config(*config, use_bank=True)
        row = dict(zip(('gamma_w', 'gamma_s', 'gamma_t'), config))
        row['top1'] = _top1(model, val_batches)
        row['latency_ms'] = measure_latency_ms(model, input_shape, runs=latency_runs)
        row['gflops'] = count_gflops(model, config, input_shape)
        rows.append(row)
        print_log(f'[{i + 1}/{len(configs)}] w={config[0]:g} s={config[1]:g} t={config[2]:g}: '
                  f'top1={row["top1"]:.4f} GFLOPs={row["gflops"]:.5f} '
                  f'latency={row["latency_ms"]:.2f} ms', logger=logger)
    return rows


def plot_table(rows: List[Dict], path: str, title: str = 'A3D configuration-budget table') -> None:
    """Save accuracy vs GFLOPs and vs latency (all rows, Pareto fronts as lines) as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, cost, label in ((axes[0], 'gflops', 'GFLOPs per clip'),
                            (axes[1], 'latency_ms', 'CPU latency per clip (ms)')):
        ax.scatter([r[cost] for r in rows], [100 * r['top1'] for r in rows], s=12, c='0.6',
                   label='all configurations')
        front = pareto_front(rows, cost=cost)
        ax.plot([r[cost] for r in front], [100 * r['top1'] for r in front], 'o-', c='C3',
                label='Pareto front')
        ax.set_xscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('top-1 (%)')
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
