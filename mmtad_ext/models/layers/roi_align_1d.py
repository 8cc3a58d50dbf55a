"""1D RoIAlign over snippet sequences, built on ``mmcv.ops.RoIAlign``."""
import torch
import torch.nn as nn
from mmcv.ops import RoIAlign


class RoIAlign1d(nn.Module):
    """Pool ``output_size`` points of a (B, C, T) sequence inside each temporal RoI.

    Coordinates are continuous snippet units: snippet ``i`` covers ``[i, i + 1)`` and its feature
    sits at ``i + 0.5`` (``aligned=True`` in mmcv's convention). The sequence is viewed as a
    (B, C, 1, T) image and every RoI as the box ``[x1, 0, x2, 1]``, so the single row is sampled
    exactly and the result is linear interpolation along time, averaged over ``sampling_ratio``
    points per bin. Gradients flow to the features (mmcv's CPU and CUDA kernels both implement
    the backward); RoI coordinates receive none. The op runs in float32 (float64 stays float64), also under
    ``torch.autocast``: mmcv's CPU kernel has no bfloat16 version, and RoI coordinates in half
    precision would be rounded (bfloat16 keeps 8 bits: snippet 100.3 becomes 100.5).

    Args:
        output_size (int): Number of bins per RoI. Defaults to 16.
        sampling_ratio (int): Sampling points per bin, mmcv ``RoIAlign``'s name (0 = adaptive,
            ceil(roi_width / bins), which makes long RoIs slow on CPU). Defaults to 2.
    """

    def __init__(self, output_size: int = 16, sampling_ratio: int = 2):
        super().__init__()
        self.output_size = int(output_size)
        self.roi_align = RoIAlign((1, self.output_size), spatial_scale=1.0,
                                  sampling_ratio=sampling_ratio, pool_mode='avg', aligned=True)

    def forward(self, feats: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Pool RoI features.

        Args:
            feats (Tensor): (B, C, T) snippet features.
            rois (Tensor): (R, 3) rows ``[batch_index, start, end]`` in snippet units.

        Returns:
            Tensor: (R, C, output_size) pooled features.
        """
        if rois.dim() != 2 or rois.shape[1] != 3:
            raise ValueError(f'rois must be (R, 3) [batch, start, end], got {tuple(rois.shape)}')
        zeros = rois.new_zeros(rois.shape[0])
        boxes = torch.stack([rois[:, 0], rois[:, 1], zeros, rois[:, 2], zeros + 1], dim=1)
        dtype = torch.float32 if feats.dtype in (torch.float16, torch.bfloat16) else feats.dtype
        with torch.autocast(device_type=feats.device.type, enabled=False):
            out = self.roi_align(feats.to(dtype).unsqueeze(2), boxes.to(dtype))  # (R, C, 1, L)
        return out.squeeze(2)

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}'
