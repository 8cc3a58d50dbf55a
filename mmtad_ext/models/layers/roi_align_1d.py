"""1D RoIAlign over snippet sequences, built on ``mmcv.ops.RoIAlign``."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
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
        aligned (bool): mmcv's ``aligned``. False is the legacy convention of the public ETAD
            code (torchvision ``roi_align(aligned=False)``): snippet ``i``'s feature sits at
            ``i`` and every RoI is at least one snippet long. Defaults to True.
    """

    def __init__(self, output_size: int = 16, sampling_ratio: int = 2, aligned: bool = True):
        super().__init__()
        self.output_size = int(output_size)
        self.aligned = bool(aligned)
        self.roi_align = RoIAlign((1, self.output_size), spatial_scale=1.0,
                                  sampling_ratio=sampling_ratio, pool_mode='avg',
                                  aligned=self.aligned)

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

    def sampling_taps(self, rois: torch.Tensor, num_snippets: int) -> tuple:
        """Snippet indices and weights of every bin, exactly as mmcv's RoIAlign samples them.

        mmcv (``aligned=True``) averages ``sampling_ratio`` points per bin at
        ``x = start - 0.5 + (j + (i + 0.5) / sampling_ratio) * (end - start) / output_size``
        (``aligned=False``: no ``- 0.5``, and ``end - start`` at least 1);
        a point beyond ``[-1, T]`` counts as zero, others are clamped to ``[0, T - 1]`` and
        interpolated linearly between two snippets. (The single-row box also samples
        ``sampling_ratio`` rows, all on row 0: they repeat the same value.)

        Args:
            rois (Tensor): (R, 3) rows ``[batch_index, start, end]`` in snippet units.
            num_snippets (int): T.

        Returns:
            tuple[Tensor, Tensor]: (R, output_size, 2 * sampling_ratio) snippet indices and
            weights (a bin's output is ``sum(weight * feats[..., index])``).
        """
        sr = self.roi_align.sampling_ratio
        if sr <= 0:
            raise ValueError('RoIAlign1d.sampling_taps needs sampling_ratio >= 1 (the adaptive '
                             f'0 depends on the RoI), got {sr}')
        rois = rois.double() if rois.dtype == torch.float64 else rois.float()
        length = rois[:, 2] - rois[:, 1]
        if not self.aligned:  # mmcv: roi_width = max(roi_width, 1), no half-snippet shift
            length = length.clamp(min=1.0)
        start = rois[:, 1] - (0.5 if self.aligned else 0.0)
        bin_size = length / self.output_size
        bins = torch.arange(self.output_size, device=rois.device, dtype=rois.dtype)
        points = torch.arange(sr, device=rois.device, dtype=rois.dtype) + 0.5
        # mmcv's order of operations: start + j * bin + (i + .5) * bin / sampling_ratio
        x = (start[:, None, None] + bins[None, :, None] * bin_size[:, None, None] +
             points[None, None] * bin_size[:, None, None] / sr)  # (R, L, sr)
        valid = ((x >= -1) & (x <= num_snippets)).to(x)
        x = x.clamp(min=0)
        low = x.floor().long()
        last = low >= num_snippets - 1
        low = low.clamp(max=num_snippets - 1)
        x = torch.where(last, low.to(x), x)
        high = torch.where(last, low, low + 1)
        frac = x - low.to(x)
        index = torch.stack([low, high], dim=-1).flatten(2)  # (R, L, 2 * sr)
        weight = (torch.stack([1 - frac, frac], dim=-1) * (valid / sr)[..., None]).flatten(2)
        return index, weight

    def linear(self, feats: torch.Tensor, rois: torch.Tensor, layer: nn.Linear,
               bins: Optional[slice] = None) -> torch.Tensor:
        """``layer(self(feats, rois)[:, :, bins].flatten(1))`` without the RoI features.

        RoIAlign is linear in the features, so the product of ``layer``'s weight
        (out, C, L') with every RoI's (C, L') samples equals projecting the sequence first,
        ``Z[b, l, t] = W[:, :, l] @ feats[b, :, t]`` (B x L' x T x out), and summing the
        interpolation taps of ``Z``: ``out = b + sum_{l, k} w[r, l, k] Z[b_r, l, t[r, l, k]]``
        (an ``embedding_bag``). With R RoIs over T snippets this costs ``B L' T C out +
        R L' 2 sr out`` multiply-adds instead of ``R C L' out`` (ETAD on 8,256 proposals:
        about 30x fewer), with the same result up to float rounding. Runs in float32 (also
        under autocast), as :meth:`forward`.

        Args:
            feats (Tensor): (B, C, T) snippet features.
            rois (Tensor): (R, 3) rows ``[batch_index, start, end]`` in snippet units.
            layer (nn.Linear): Linear layer over ``C * L'`` inputs in ``(C, L')`` order.
            bins (slice, optional): The bins ``layer`` reads. Defaults to all.

        Returns:
            Tensor: (R, out_features).
        """
        b, c, t = feats.shape
        index, weight = self.sampling_taps(rois.detach(), t)  # (R, L, K) each
        if bins is not None:
            index, weight = index[:, bins], weight[:, bins]
        num_bins = index.shape[1]
        if layer.in_features != c * num_bins:
            raise ValueError(f'RoIAlign1d.linear: the layer reads {layer.in_features} inputs, '
                             f'the RoIs give {c} channels x {num_bins} bins')
        dtype = torch.float32 if feats.dtype in (torch.float16, torch.bfloat16) else feats.dtype
        with torch.autocast(device_type=feats.device.type, enabled=False):
            w = layer.weight.to(dtype).view(layer.out_features, c, num_bins)  # (out, C, L')
            z = torch.einsum('ocl,bct->blto', w, feats.to(dtype))  # (B, L', T, out)
            z = z.reshape(b * num_bins * t, layer.out_features)
            offset = (rois[:, 0].long() * num_bins * t)[:, None, None] + (
                torch.arange(num_bins, device=feats.device) * t)[None, :, None]  # (R, L', 1)
            out = F.embedding_bag((index + offset).flatten(1), z, mode='sum',
                                  per_sample_weights=weight.flatten(1).to(dtype))
            return out + layer.bias.to(dtype) if layer.bias is not None else out

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}, aligned={self.aligned}'
