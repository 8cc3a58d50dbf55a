"""DDP for models whose ``train_step`` runs several forward/backward passes (A3D).

mmengine's :class:`~mmengine.model.MMDistributedDataParallel` implements ``train_step`` itself:
one ``forward(mode='loss')``, one backward, one step. A model-specific ``train_step`` (A3D's
mutual training: full network, minimum and random sub-networks, gradients accumulated over three
backward passes) is then never called. :class:`DelegatingDistributedDataParallel` calls the
model's own ``train_step`` and lends it the wrapper: inside ``module.routed_forward(wrapper)``
the model sends each of its forward passes through the DDP wrapper, the passes before the last
under ``wrapper.no_sync()``, so the last backward pass all-reduces the locally accumulated
gradient once per iteration. The gradient at the optimizer step is then the mean over the
ranks of each rank's own multi-pass gradient, which is what DDP guarantees for a single pass
(with equal batch sizes; BatchNorm in training mode normalises with per-rank batch statistics,
as under mmengine's wrapper).
"""
from typing import Dict, Union

import torch
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from mmtad_ext.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DelegatingDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` whose ``train_step`` is the wrapped model's.

    The model must provide ``routed_forward(wrapper)``, a context manager under which its
    ``train_step`` calls ``wrapper(inputs, mode='tensor', ...)`` for each forward pass
    (:class:`~mmtad_ext.models.recognizers.A3DRecognizer3D` does); a model with neither
    ``routed_forward`` nor a ``train_step`` of its own trains as under mmengine's wrapper.
    ``val_step``/``test_step`` are mmengine's. Use it with
    ``model_wrapper_cfg=dict(type='mmtad_ext.DelegatingDistributedDataParallel')`` (the A3D
    configs set it; the scope prefix is needed because mmengine's ``Runner.wrap_model`` looks
    the type up in its root registry); the constructor arguments are those of
    ``MMDistributedDataParallel``.
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Run ``module.train_step`` with its forward passes routed through this wrapper.

        A model without ``routed_forward`` and without a train_step of its own (e.g. the plain
        ``Recognizer3D`` baselines that inherit the A3D configs) gets mmengine's step.
        """
        if hasattr(self.module, 'routed_forward'):
            with self.module.routed_forward(self):
                return self.module.train_step(data, optim_wrapper)
        if type(self.module).train_step is not BaseModel.train_step:
            raise TypeError(
                f'{type(self.module).__name__} has its own train_step but no '
                'routed_forward(wrapper) to send its forward passes through DDP; '
                'DelegatingDistributedDataParallel cannot synchronise its gradients')
        return super().train_step(data, optim_wrapper)
