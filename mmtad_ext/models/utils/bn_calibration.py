"""BN calibration (A3D sec. 3.3, from universally slimmable networks, Yu & Huang 2019).

Batch-norm statistics differ between sub-networks. For one sub-network, reset the running
statistics of every BN layer and recompute them as the cumulative average (``momentum=None``)
over a few training batches; no weight changes and no gradients. Under ``torch.distributed`` the
statistics are averaged over the ranks' batches, so every rank ends with the same ones.
:func:`snapshot_bn_stats` keeps the active slice of the statistics so a bank of sub-networks
stays small; :func:`load_bn_stats` restores them instantly without data.
:meth:`~mmtad_ext.models.recognizers.A3DRecognizer3D.calibrate` runs it for each sub-network.
"""
from typing import Dict, Iterable, Optional

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import print_log
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm


def bn_layers(model: nn.Module) -> Dict[str, _BatchNorm]:
    """Named batch-norm layers (with running statistics) of ``model``."""
    return {n: m for n, m in model.named_modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats}


@torch.no_grad()
def calibrate_bn(model: nn.Module, batches: Iterable, num_batches: int,
                 forward_fn=None) -> Dict[str, int]:
    """Recompute the running statistics of ``model``'s BN layers on ``num_batches`` batches.

    Only BN layers are put in training mode (other layers keep their mode, e.g. dropout stays
    off); their momentum is set to ``None`` (cumulative average) and restored afterwards.

    Args:
        model (nn.Module): Model already switched to the sub-network to calibrate.
        batches (Iterable): Data batches (as given by a data loader).
        num_batches (int): Batches to use (> 0); fewer if ``batches`` runs out.
        forward_fn (callable, optional): ``forward_fn(batch)`` runs the model on one batch.
            Defaults to ``model.calibration_forward`` if it exists, else ``model(batch)``.

    Returns:
        dict[str, int]: Active channels seen by each BN layer (the slice that was calibrated).
    """
    if num_batches < 1:
        raise ValueError(f'num_batches must be >= 1, got {num_batches}')
    if forward_fn is None:
        forward_fn = getattr(model, 'calibration_forward', model)
    layers = bn_layers(model)
    if not layers:
        raise ValueError(f'{type(model).__name__} has no batch-norm layer to calibrate')
    saved = {n: (m.training, m.momentum) for n, m in layers.items()}
    active: Dict[str, int] = {}
    hooks = []
    for name, m in layers.items():
        m.reset_running_stats()
        m.momentum = None
        m.train()
        hooks.append(m.register_forward_pre_hook(
            lambda mod, args, name=name: active.__setitem__(name, args[0].shape[1])))
    seen = 0
    try:
        for batch in batches:
            if seen >= num_batches:
                break
            forward_fn(batch)
            seen += 1
    finally:
        for h in hooks:
            h.remove()
        for name, m in layers.items():
            m.train(saved[name][0])
            m.momentum = saved[name][1]
    if seen == 0:
        raise ValueError('BN calibration got no batch: the calibration data loader is empty')
    if seen < num_batches:
        print_log(f'BN calibration used {seen} of the {num_batches} requested batches '
                  '(data loader exhausted)', logger='current')
    _average_over_ranks(layers, seen)
    return active


def _average_over_ranks(layers: Dict[str, _BatchNorm], seen: int) -> None:
    """Under ``torch.distributed``, replace each rank's statistics by the batch-weighted mean.

    Each rank's running statistics are the average of its ``seen`` per-batch statistics, so
    ``sum_r(seen_r * stats_r) / sum_r(seen_r)`` is the cumulative average over every rank's
    batches: the statistics a single process would compute on all of them, the same on every
    rank (and in the checkpoint rank 0 writes).
    """
    if get_world_size() < 2:
        return
    total = torch.tensor(float(seen))
    all_reduce(total, op='sum')  # batches over all ranks
    for m in layers.values():
        for buf in (m.running_mean, m.running_var):
            buf.mul_(seen)
            all_reduce(buf, op='sum')
            buf.div_(float(total))
        m.num_batches_tracked.fill_(int(total))


def snapshot_bn_stats(model: nn.Module, active: Optional[Dict[str, int]] = None) -> dict:
    """Copy the running statistics (the first ``active[name]`` channels of each layer)."""
    out = {}
    for name, m in bn_layers(model).items():
        c = m.num_features if active is None else active.get(name, m.num_features)
        out[name] = dict(mean=m.running_mean[:c].detach().clone().cpu(),
                         var=m.running_var[:c].detach().clone().cpu())
    return out


@torch.no_grad()
def load_bn_stats(model: nn.Module, stats: dict) -> None:
    """Copy statistics saved by :func:`snapshot_bn_stats` into ``model``'s BN buffers."""
    layers = bn_layers(model)
    missing = set(stats) ^ set(layers)
    if missing:
        raise KeyError(f'BN statistics do not match the model; differing layers: '
                       f'{sorted(missing)[:5]}')
    for name, s in stats.items():
        c = s['mean'].numel()
        layers[name].running_mean[:c].copy_(s['mean'])
        layers[name].running_var[:c].copy_(s['var'])
