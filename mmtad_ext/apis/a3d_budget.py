"""Measure an A3D network's sub-networks: counted MACs, latency and top-1 (the budget table).

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384): one trained
network is deployed at the width / resolution / frame count that fits a budget. This module
gives every sub-network of a grid its calibrated BN statistics, counted MACs, CPU latency and
validation top-1; ``tools/a3d_budget_table.py`` writes the table into a checkpoint, and
``A3DRecognizer3D.set_budget`` picks from it. The model is an ``A3DRecognizer3D``; only its
public methods are used (``set_subnet``, ``calibrate``, ``extract_feat``, ``test_step``). The
Pareto front and the budget choice are pure functions of :mod:`mmtad_ext.evaluation.functional`;
counting and timing follow :mod:`mmtad_ext.utils.measure`.
"""
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmtad_ext.models.utils import SubNet
from mmtad_ext.utils.measure import count_macs, measure_latency_ms


class SubNetForward(nn.Module):
    """Runs ``model`` at its active sub-network, input ``(B, V, C, T, H, W)`` -> logits.

    Takes the model's train/eval mode, so that measuring in eval mode restores that mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_feat(x, stage='head')[0]


def _clip(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """A zero clip ``(1, 1, C, T, H, W)`` on the model's device."""
    return torch.zeros((1, 1) + tuple(input_shape), device=next(model.parameters()).device)


@torch.no_grad()
def count_subnet_gmacs(model: nn.Module, subnet: SubNet, input_shape: Sequence[int]) -> float:
    """GMACs of one clip at ``subnet``, counted from a traced forward of the sub-network.

    Counted by :func:`mmtad_ext.utils.measure.count_macs` (sliced weights, resampled input),
    not computed from a formula. The model's active sub-network and train/eval mode are
    restored afterwards.

    Args:
        model (nn.Module): An ``A3DRecognizer3D``.
        subnet (tuple): ``(gamma_w, gamma_s, gamma_t)``.
        input_shape (Sequence[int]): Full-network input ``(C, T, H, W)``.

    Returns:
        float: GMACs for a batch of one clip.
    """
    previous = model.active_subnet
    try:
        model.set_subnet(subnet, use_bank=False)
        macs = count_macs(SubNetForward(model), (_clip(model, input_shape), ))
    finally:
        model.set_subnet(previous, use_bank=False)
    return macs / 1e9


def subnet_latency_ms(model: nn.Module, input_shape: Sequence[int], repeats: int = 10,
                      warmup: int = 2) -> float:
    """Median milliseconds of one clip ``(1, 1, C, T, H, W)`` at the active sub-network."""
    return measure_latency_ms(SubNetForward(model), (_clip(model, input_shape), ),
                              repeats=repeats, warmup=warmup)


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
    """Calibrate BN, count MACs, time and measure top-1 of every sub-network.

    The calibrated statistics are kept in the model's BN bank (``model.calibrate``).

    Args:
        model (nn.Module): An ``A3DRecognizer3D``.
        subnets (Sequence[tuple]): ``(gamma_w, gamma_s, gamma_t)`` to evaluate.
        calib_batches (list): Training batches for BN calibration (all are used).
        val_batches (list): Validation batches for top-1.
        input_shape (Sequence[int]): Full-network clip ``(C, T, H, W)``.
        latency_runs (int): Timed runs per sub-network (median). Defaults to 10.
        logger (str): Logger name for progress. Defaults to ``'current'``.

    Returns:
        list[dict]: One row per sub-network (``gamma_w``, ``gamma_s``, ``gamma_t``,
        ``gmacs``, ``latency_ms``, ``top1``).
    """
    rows = []
    model.eval()
    model.calibrate(calib_batches, subnets)
    for i, subnet in enumerate(subnets):
        model.set_subnet(subnet, use_bank=True)
        row = dict(zip(('gamma_w', 'gamma_s', 'gamma_t'), subnet))
        row['top1'] = top1_accuracy(model, val_batches)
        row['latency_ms'] = subnet_latency_ms(model, input_shape, repeats=latency_runs)
        row['gmacs'] = count_subnet_gmacs(model, subnet, input_shape)
        rows.append(row)
        print_log(f'[{i + 1}/{len(subnets)}] w={subnet[0]:g} s={subnet[1]:g} t={subnet[2]:g}: '
                  f'top1={row["top1"]:.4f} GMACs={row["gmacs"]:.5f} '
                  f'latency={row["latency_ms"]:.2f} ms', logger=logger)
    return rows
