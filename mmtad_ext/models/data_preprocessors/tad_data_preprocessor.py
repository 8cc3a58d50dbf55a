"""Data preprocessor for snippet-feature TAD inputs."""
import torch
from mmengine.model import BaseDataPreprocessor

from mmtad_ext.registry import MODELS


@MODELS.register_module()
class TADDataPreprocessor(BaseDataPreprocessor):
    """Move a batch to the model's device and stack its (C, T) feature tensors into (B, C, T).

    Raw-video configs use mmaction2's ``ActionDataPreprocessor`` (``format_shape='NCTHW'``)
    instead, which stacks (N, C, T, H, W) snippet grids into (B, N, C, T, H, W) and normalises.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError(f'TADDataPreprocessor: features of one batch differ in shape '
                                 f'{sorted(shapes)}; resize or window them to one temporal_dim')
            inputs = torch.stack(list(inputs))  # (B, C, T)
        return dict(inputs=inputs.float(), data_samples=data.get('data_samples'))

