"""A3DSlowFast: SlowFast with a slimmable, resizable Slow pathway.

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384), sec. 3.2.

A thin subclass of mmaction2's ``ResNet3dSlowFast``. The Slow pathway is built through
``conv_cfg``/``norm_cfg`` with :class:`SlimmableConv3d` / :class:`SlimmableBN3d` (as
:class:`SlimmableResNet3D` does), so module tree and state-dict keys are mmaction2's and its
checkpoints load unchanged. The Fast pathway is never slimmed and always sees its full input
(gamma_w = gamma_s = gamma_t = 1, sec. 3.2).

Adaptive fusion (sec. 3.2, Fig. 3): a lateral conv (5x1x1 kernel, 2*beta*C outputs, temporal
stride alpha; mmaction2's ``layer*_lateral``, never slimmed) maps the Fast features to
``{T, S^2, 2 beta C}``; they are then temporally down-sampled and spatially interpolated to the
Slow pathway's *current* ``{gamma_t T, (gamma_s S)^2}`` and concatenated behind its
``gamma_w C`` channels. The first convs after a fusion (``conv1`` and ``downsample`` of the first
block of the next stage) take ``gamma_w C + 2 beta C`` inputs whose last ``2 beta C`` always use
the last weight columns (``SlimmableConv3d.fixed_in_tail``).
"""
import copy
import inspect
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmaction.models.backbones.resnet3d_slowfast import ResNet3dSlowFast

from mmtad_ext.registry import MODELS
from ..layers.slimmable_conv import SlimmableConv3d
from ..utils.subnet import check_factor, resample_clip, temporal_indices
from .slimmable_resnet3d import resolve_slimmable_cfgs, set_module_width

_DEFAULTS = inspect.signature(ResNet3dSlowFast.__init__).parameters


def fuse_lateral(x_slow: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """Resize the lateral Fast features to ``x_slow``'s frames and size, concatenate behind it.

    Temporal down-sampling keeps the frames :func:`mmtad_ext.models.utils.temporal_indices`
    keeps from the Slow input (the centres of equal segments), so fused frames stay aligned in
    time; spatial resizing is bilinear. For the full network both are skipped (mmaction2's
    plain concatenation).

    Args:
        x_slow (torch.Tensor): Slow features ``(B, gamma_w C, T', H', W')``.
        lateral (torch.Tensor): Lateral conv output ``(B, 2 beta C, T, H, W)``.

    Returns:
        torch.Tensor: ``(B, gamma_w C + 2 beta C, T', H', W')``.
    """
    t, h, w = (int(v) for v in x_slow.shape[2:])  # ints also while tracing
    t_lat = int(lateral.shape[2])
    if t != t_lat:
        idx = temporal_indices(t_lat, t / t_lat).to(lateral.device)
        lateral = lateral.index_select(2, idx)  # (B, 2 beta C, T', H, W)
    if tuple(lateral.shape[3:]) != (h, w):
        # trilinear at an unchanged frame count = bilinear per frame
        lateral = F.interpolate(lateral, size=(t, h, w), mode='trilinear',
                                align_corners=False)  # (B, 2 beta C, T', H', W')
    return torch.cat((x_slow, lateral), dim=1)


@MODELS.register_module()
class A3DSlowFast(ResNet3dSlowFast):
    """SlowFast backbone whose Slow pathway runs at any width and input size (A3D-SlowFast).

    All arguments of ``ResNet3dSlowFast`` are accepted and mean the same; as the full network
    (gamma_w = gamma_s = gamma_t = 1) the outputs equal mmaction2's backbone with the same
    weights.
    :meth:`set_width` sets gamma_w of the Slow pathway; :meth:`set_input_scale` sets the
    spatial/temporal factors (gamma_s, gamma_t) of the Slow input, which the backbone resamples
    itself (after taking one frame in ``resample_rate``), so that the Fast pathway keeps its
    full input. :class:`A3DRecognizer3D` calls both.

    Args:
        slow_pathway (dict, optional): Slow pathway config (``lateral`` must be True,
            ``lateral_inv`` False). Its ``conv_cfg``/``norm_cfg`` must name
            ``SlimmableConv3d``/``SlimmableBN3d`` (or subclasses) and default to them.
            Defaults to None (mmaction2's default Slow pathway, R50).
        fast_pathway (dict, optional): Fast pathway config (plain layers). Defaults to None
            (mmaction2's default Fast pathway, R50, 8 base channels).
        width_divisor (int): Active Slow channels are multiples of this. Defaults to 8.
        min_channels (int): Minimum active channels of any Slow layer. Defaults to 8.
        **kwargs: Other arguments of ``ResNet3dSlowFast`` (``pretrained``, ``resample_rate``,
            ``speed_ratio``, ``channel_ratio``, ``init_cfg``).
    """

    def __init__(self,
                 slow_pathway: Optional[Dict] = None,
                 fast_pathway: Optional[Dict] = None,
                 width_divisor: int = 8,
                 min_channels: int = 8,
                 **kwargs) -> None:
        slow = copy.deepcopy(slow_pathway or _DEFAULTS['slow_pathway'].default)
        fast = copy.deepcopy(fast_pathway or _DEFAULTS['fast_pathway'].default)
        if not slow.get('lateral', False) or slow.get('lateral_inv', False):
            raise ValueError('A3DSlowFast needs slow_pathway.lateral=True and lateral_inv=False '
                             f'(adaptive fusion of time-strided convs), got lateral='
                             f'{slow.get("lateral")}, lateral_inv={slow.get("lateral_inv")}')
        slow['conv_cfg'], slow['norm_cfg'] = resolve_slimmable_cfgs(
            slow.get('conv_cfg'), slow.get('norm_cfg'), width_divisor, min_channels)
        super().__init__(slow_pathway=slow, fast_pathway=fast, **kwargs)
        path = self.slow_path
        # Lateral convs read the never-slimmed Fast pathway and write 2 beta C channels.
        for m in self._lateral_modules():
            for conv in m.modules():
                if isinstance(conv, SlimmableConv3d):
                    conv.slim_out = False
        # The first convs after a fusion: last lateral_inplanes[i] inputs are the Fast ones.
        for i, tail in enumerate(path.lateral_inplanes):
            if not tail:
                continue
            block = getattr(path, path.res_layers[i])[0]
            fused_in = block.inplanes  # gamma_w C + 2 beta C at full width
            convs = [c for c in block.modules() if isinstance(c, SlimmableConv3d)
                     and c.in_channels == fused_in]
            if not convs:
                raise RuntimeError(f'no conv after the fusion into {path.res_layers[i]} takes '
                                   f'{fused_in} input channels')
            for conv in convs:
                conv.fixed_in_tail = tail
        self.gamma_w, self.gamma_s, self.gamma_t = 1.0, 1.0, 1.0

    def _lateral_modules(self) -> list:
        """The lateral fusion modules (``conv1_lateral``, ``layer*_lateral``) of the Slow path."""
        names = (['conv1_lateral'] if hasattr(self.slow_path, 'conv1_lateral') else [])
        return [getattr(self.slow_path, n) for n in names + self.slow_path.lateral_connections]

    # ------------------------------------------------------------------ sub-network
    def set_width(self, gamma_w: float) -> None:
        """Run the Slow pathway with width factor ``gamma_w`` in (0, 1] (Fast: unchanged).

        Raises ``TypeError`` for a non-number and ``ValueError`` outside (0, 1] (NaN too).
        """
        self.gamma_w = set_module_width(self.slow_path, gamma_w)

    def set_input_scale(self, gamma_s: float, gamma_t: float) -> None:
        """Resample the Slow input by ``gamma_s`` (space) and ``gamma_t`` (time), in (0, 1].

        Both are checked before anything changes (``TypeError`` for a non-number,
        ``ValueError`` outside (0, 1], NaN too).
        """
        gamma_s, gamma_t = check_factor('gamma_s', gamma_s), check_factor('gamma_t', gamma_t)
        self.gamma_s, self.gamma_t = gamma_s, gamma_t

    @property
    def head_fixed_in_channels(self) -> int:
        """Never-slimmed leading channels of the head's feature (``SlowFastHead`` puts the
        Fast features first)."""
        return self.fast_path.feat_dim

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Extract Slow and Fast features of one clip.

        Args:
            x (torch.Tensor): ``(B, C, T, H, W)``.

        Returns:
            tuple[torch.Tensor]: Slow ``(B, gamma_w C_s, gamma_t T_s', ...)`` and Fast
            ``(B, C_f, T_f', H', W')`` features.
        """
        x_slow = F.interpolate(x, mode='nearest', scale_factor=(1.0 / self.resample_rate, 1.0,
                                                                 1.0))  # (B, C, T/tau, H, W)
        # (B, C, gamma_t T/tau, gamma_s H, gamma_s W)
        x_slow = resample_clip(x_slow, self.gamma_s, self.gamma_t)
        x_slow = self.slow_path.maxpool(self.slow_path.conv1(x_slow))
        x_fast = F.interpolate(
            x, mode='nearest',
            scale_factor=(1.0 / (self.resample_rate // self.speed_ratio), 1.0, 1.0))
        x_fast = self.fast_path.maxpool(self.fast_path.conv1(x_fast))
        if hasattr(self.slow_path, 'conv1_lateral'):
            x_slow = fuse_lateral(x_slow, self.slow_path.conv1_lateral(x_fast))

        last = len(self.slow_path.res_layers) - 1
        for i, layer_name in enumerate(self.slow_path.res_layers):
            x_slow = getattr(self.slow_path, layer_name)(x_slow)
            x_fast = getattr(self.fast_path, layer_name)(x_fast)
            lateral = getattr(self.slow_path, f'{layer_name}_lateral', None)
            if i != last and lateral is not None:  # no fusion after the final stage
                x_slow = fuse_lateral(x_slow, lateral(x_fast))
        return x_slow, x_fast
