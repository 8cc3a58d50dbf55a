"""Batch normalisation for any active width (A3D sec. 3.3; universally slimmable networks).

A :class:`SlimmableBN3d` normalises the first ``x.shape[1]`` channels with the first entries of
its affine parameters and running statistics. Statistics differ between sub-networks
(width, spatial and temporal size), so after training they are *calibrated* per sub-network
(:func:`mmtad_ext.models.utils.calibrate_bn`) and kept in a bank keyed by sub-network
(:meth:`mmtad_ext.models.recognizers.A3DRecognizer3D.calibrate`); switching sub-network copies
the bank's entry into these buffers.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmtad_ext.registry import MODELS


@MODELS.register_module()
class SlimmableBN3d(nn.BatchNorm3d):
    """``nn.BatchNorm3d`` over the first ``C'`` of ``num_features`` channels.

    At full width it is exactly ``nn.BatchNorm3d`` (same code path). Running statistics of the
    active channels are updated in place (slices of the full buffers), with the usual
    ``momentum`` (``None`` = cumulative average, used for calibration).
    Use through ``norm_cfg=dict(type='SlimmableBN3d')`` of any mmcv ``ConvModule``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (B, C', T, H, W), C' <= num_features."""
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        if not 0 < c < self.num_features:
            raise ValueError(f'SlimmableBN3d({self.num_features}) got {c} channels')
        self._check_input_dim(x)
        # same momentum logic as torch's _BatchNorm.forward
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = (1.0 / float(self.num_batches_tracked)
                      if self.momentum is None else self.momentum)
        use_batch_stats = self.training or self.running_mean is None
        mean = None if self.running_mean is None else self.running_mean[:c]
        var = None if self.running_var is None else self.running_var[:c]
        if self.training and not self.track_running_stats:
            mean = var = None
        weight = None if self.weight is None else self.weight[:c]
        bias = None if self.bias is None else self.bias[:c]
        # slices of the buffers are views: F.batch_norm updates the full buffers in place
        return F.batch_norm(x, mean, var, weight, bias, use_batch_stats, factor, self.eps)
