"""Distributed helpers for hooks that change a model's structure during training.

mmengine's ``Runner`` wraps the model once (``Runner.wrap_model`` at construction); a
``DistributedDataParallel`` wrapper registers the parameters that require grad *then* and does
not follow blocks removed, adapters injected or merged, a submodule replaced or
``requires_grad`` changed later. :func:`rewrap_model` wraps the changed module anew the way the
runner did; :func:`from_rank0` makes every rank take rank 0's decision; :func:`check_ranks_agree`
fails loudly when the ranks' parameters have drifted apart. All three are no-ops in one process.
Used by :class:`~mmtad_ext.engine.hooks.BlockDropHook`.
"""
import copy
from typing import Any

import torch
from mmengine.dist import all_gather, broadcast_object_list, get_world_size
from mmengine.model import is_model_wrapper
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def rewrap_model(runner) -> None:
    """Wrap ``runner.model``'s module anew after its structure or ``requires_grad`` changed.

    Unwraps, then ``runner.model = runner.wrap_model(cfg.model_wrapper_cfg, module)``:
    mmengine's own wrapping with the config's wrapper type and options (device ids,
    ``find_unused_parameters``, ``broadcast_buffers``; SyncBN conversion when ``cfg.sync_bn``).
    A new ``DistributedDataParallel`` registers the parameters that require grad now and
    broadcasts rank 0's parameters and buffers, so every rank must already hold the same
    structure (shapes are checked by DDP). The train and val loops and mmengine's hooks read
    ``runner.model`` at use time, so they use the new wrapper. A model that is not wrapped (one
    process) is left alone.

    Raises:
        NotImplementedError: For a wrapper that is not a ``DistributedDataParallel`` (FSDP,
            ``DataParallel``): rebuilding those is not supported.
    """
    if not is_model_wrapper(runner.model):
        return
    if not isinstance(runner.model, DistributedDataParallel):
        raise NotImplementedError(
            f'cannot re-wrap a {type(runner.model).__name__} after a structure change; use '
            'a DistributedDataParallel wrapper (mmengine\'s default MMDistributedDataParallel)')
    module = runner.model.module
    runner.model = runner.wrap_model(copy.deepcopy(runner.cfg.get('model_wrapper_cfg')), module)


def from_rank0(obj: Any) -> Any:
    """Rank 0's ``obj`` (picklable) on every rank; ``obj`` itself in one process."""
    box = [obj]
    broadcast_object_list(box, src=0)
    return box[0]


@torch.no_grad()
def check_ranks_agree(module: nn.Module, what: str, rtol: float = 1e-6) -> None:
    """Raise if the ranks' parameters of ``module`` differ (a no-op in one process).

    Compares a float64 fingerprint (sum and sum of squares of every parameter) across ranks:
    data-parallel training keeps the ranks' parameters equal, so a difference means that some
    parameters were trained without gradient synchronisation. Buffers are not compared (BatchNorm
    running statistics legitimately differ per rank with ``broadcast_buffers=False``).

    Args:
        module (nn.Module): The module whose parameters should be equal on every rank.
        what (str): Named in the error message.
        rtol (float): Relative tolerance of the fingerprints. Defaults to 1e-6.
    """
    if get_world_size() < 2:
        return
    params = list(module.parameters())
    device = params[0].device if params else torch.device('cpu')
    stats = torch.zeros(len(params), 2, dtype=torch.float64, device=device)
    for i, p in enumerate(params):
        stats[i, 0] = p.double().sum()
        stats[i, 1] = p.double().pow(2).sum()
    gathered = all_gather(stats)  # one (P, 2) tensor per rank
    for rank, other in enumerate(gathered[1:], start=1):
        bad = ~torch.isclose(other, gathered[0], rtol=rtol, atol=0).all(dim=1)
        if bad.any():
            names = [n for (n, _), b in zip(module.named_parameters(), bad.tolist()) if b]
            raise RuntimeError(f'{what}: rank {rank}\'s parameters differ from rank 0\'s '
                               f'({len(names)} of {len(params)}, e.g. {names[:4]}); '
                               'the ranks are no longer in sync')
