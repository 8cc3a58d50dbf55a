"""An optimizer wrapper over the parameters that train now, for hooks that change them."""
import copy

from mmengine.optim import OptimWrapper, build_optim_wrapper
from torch import nn


def build_trainable_optim_wrapper(model: nn.Module, optim_wrapper_cfg: dict) -> OptimWrapper:
    """mmengine's optimizer wrapper of ``model`` from ``optim_wrapper_cfg`` (paramwise settings
    included), keeping only the parameters that require grad; groups left empty are dropped.

    Used by hooks that freeze or add parameters during a run (``BlockDropHook``,
    ``LoRAFinetuneHook``) and rebuild the runner's optimizer afterwards.
    """
    optim_wrapper = build_optim_wrapper(model, copy.deepcopy(optim_wrapper_cfg))
    optimizer = optim_wrapper.optimizer
    for group in optimizer.param_groups:
        group['params'] = [p for p in group['params'] if p.requires_grad]
    optimizer.param_groups = [g for g in optimizer.param_groups if g['params']]
    return optim_wrapper
