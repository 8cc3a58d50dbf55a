"""Run a module in eval mode for a while."""
import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Within the context ``module`` is in eval mode; afterwards its previous mode is back
    (set on the whole module, as ``module.train(mode)`` does)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
