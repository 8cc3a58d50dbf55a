"""Measurement helpers of the A3D tools: counted FLOPs, latency, top-1 and the budget plot.

A helper module, not a script: ``tools/a3d_budget_table.py`` and ``tools/benchmark_a3d.py``
import it as a sibling (``python tools/<tool>.py`` puts ``tools/`` on ``sys.path``). The model is
an ``A3DRecognizer3D``; only its public methods are used (``set_subnet``, ``calibrate``,
``extract_feat``, ``test_step``). Pareto front and budget selection are pure functions of
:mod:`mmtad_ext.evaluation.functional`.
"""
import time
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmtad_ext.evaluation.functional import pareto_front
from mmtad_ext.models.utils import SubNet


class SubNetForward(nn.Module):
    """Runs ``model`` at its active sub-network, input ``(B, V, C, T, H, W)`` -> logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_feat(x, stage='head')[0]


@torch.no_grad()
def count_gflops(model: nn.Module, subnet: SubNet, input_shape: Sequence[int]) -> float:
    """GFLOPs (multiply-adds, fvcore/mmengine convention) of one clip at ``subnet``.

    Counted by :class:`mmengine.analysis.FlopAnalyzer` from a traced forward pass of the
    sub-network (sliced weights, resampled input), not computed from the formula. The model's
    active sub-network and train/eval mode are restored afterwards.

    Args:
        model (nn.Module): An ``A3DRecognizer3D``.
        subnet (tuple): ``(gamma_w, gamma_s, gamma_t)``.
        input_shape (Sequence[int]): Full-network input ``(C, T, H, W)``.

    Returns:
        float: GFLOPs for a batch of one clip.
    """
    from mmengine.analysis import FlopAnalyzer
    previous = model.active_subnet
    was_training = model.training
    model.eval()
    try:
        model.set_subnet(subnet, use_bank=False)
        x = torch.zeros((1, 1) + tuple(input_shape), device=next(model.parameters()).device)
        analyzer = FlopAnalyzer(SubNetForward(model), (x, ))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        flops = analyzer.total()
    finally:
        model.set_subnet(previous, use_bank=False)
        model.train(was_training)
    return flops / 1e9


@torch.no_grad()
def measure_latency_ms(model: nn.Module, input_shape: Sequence[int], runs: int = 10,
                       warmup: int = 2) -> float:
    """Wall-clock milliseconds of one clip ``(1, 1, C, T, H, W)`` at the active sub-network.

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


def top1_accuracy(model: nn.Module, batches: List) -> float:
    """Top-1 accuracy of ``model.test_step`` over cached data-loader batches."""
    correct = total = 0
    for batch in batches:
        for sample in model.test_step(batch):
            correct += int(sample.pred_score.argmax().item() == int(sample.gt_label.item()))
            total += 1
    return correct / max(total, 1)


def evaluate_subnets(model: nn.Module, subnets: Sequence[SubNet], calib_batches: List,
                     val_batches: List, input_shape: Sequence[int], latency_runs: int = 10,
                     logger: str = 'current') -> List[Dict]:
    """Calibrate BN, count FLOPs, time and measure top-1 of every sub-network.

    The calibrated statistics are kept in the model's BN bank (``model.calibrate``).

    Args:
        model (nn.Module): An ``A3DRecognizer3D``.
        subnets (Sequence[tuple]): ``(gamma_w, gamma_s, gamma_t)`` to evaluate.
        calib_batches (list): Training batches for BN calibration (all are used).
        val_batches (list): Validation batches for top-1.
        input_shape (Sequence[int]): Full-network clip ``(C, T, H, W)``.
        latency_runs (int): Timed runs per sub-network. Defaults to 10.
        logger (str): Logger name for progress. Defaults to ``'current'``.

    Returns:
        list[dict]: One row per sub-network (``gamma_w``, ``gamma_s``, ``gamma_t``,
        ``gflops``, ``latency_ms``, ``top1``).
    """
    rows = []
    model.eval()
    model.calibrate(calib_batches, subnets)
    for i, subnet in enumerate(subnets):
        model.set_subnet(subnet, use_bank=True)
        row = dict(zip(('gamma_w', 'gamma_s', 'gamma_t'), subnet))
        row['top1'] = top1_accuracy(model, val_batches)
        row['latency_ms'] = measure_latency_ms(model, input_shape, runs=latency_runs)
        row['gflops'] = count_gflops(model, subnet, input_shape)
        rows.append(row)
        print_log(f'[{i + 1}/{len(subnets)}] w={subnet[0]:g} s={subnet[1]:g} t={subnet[2]:g}: '
                  f'top1={row["top1"]:.4f} GFLOPs={row["gflops"]:.5f} '
                  f'latency={row["latency_ms"]:.2f} ms', logger=logger)
    return rows


def plot_table(rows: List[Dict], path: str, title: str = 'A3D budget table') -> None:
    """Save accuracy vs GFLOPs and vs latency (all rows, Pareto fronts as lines) as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, cost, label in ((axes[0], 'gflops', 'GFLOPs per clip'),
                            (axes[1], 'latency_ms', 'CPU latency per clip (ms)')):
        ax.scatter([r[cost] for r in rows], [100 * r['top1'] for r in rows], s=12, c='0.6',
                   label='all sub-networks')
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
