"""Slimmable 3D convolution (A3D, paper 002 sec. 3, eq. 2; slimmable networks, Yu et al.).

A :class:`SlimmableConv3d` owns the weights of the full layer and runs with the first
``active_channels(C_out, gamma_w)`` output channels and as many input channels as its input
has. The cost of the layer is then ``K^3 * gamma_w C_in * gamma_w C_out * H W T`` (eq. 2).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmtad_ext.registry import MODELS


def active_channels(channels: int, gamma_w: float, divisor: int = 8,
                    min_channels: int = 8) -> int:
    """Number of channels a layer of ``channels`` channels keeps at width ``gamma_w``.

    ``round(gamma_w * channels)`` rounded to the nearest multiple of ``divisor`` (hardware
    friendly), never below ``min(min_channels, channels)`` and never above ``channels``.
    ``gamma_w >= 1`` always gives ``channels``.

    Args:
        channels (int): Channels of the full layer.
        gamma_w (float): Width factor in (0, 1].
        divisor (int): Rounding divisor. Defaults to 8.
        min_channels (int): Lower bound. Defaults to 8.

    Returns:
        int: Active channels.
    """
    if not 0 < gamma_w <= 1:
        raise ValueError(f'gamma_w must be in (0, 1], got {gamma_w}')
    if gamma_w == 1:
        return channels
    c = int(round(channels * gamma_w / divisor)) * divisor
    return int(min(channels, max(min(min_channels, channels), c)))


@MODELS.register_module()
class SlimmableConv3d(nn.Conv3d):
    """3D convolution whose active width is set by :meth:`set_width`.

    Output channels: the first ``active_channels(out_channels, gamma_w)`` (or all of them if
    ``slim_out=False``). Input channels: those of the input tensor, taken from the left of the
    weight; the last ``fixed_in_tail`` input channels (a lateral fusion of the never-slimmed
    SlowFast fast pathway, A3D sec. 3.2 and Fig. 3) always map to the last ``fixed_in_tail``
    weight columns. Use through ``conv_cfg=dict(type='SlimmableConv3d', ...)`` of any
    mmcv ``ConvModule``.

    Args:
        *args: Arguments of ``nn.Conv3d`` (``in_channels``, ``out_channels``, ``kernel_size``...).
        divisor (int): Width rounding divisor. Defaults to 8.
        min_channels (int): Minimum active output channels. Defaults to 8.
        slim_out (bool): Whether the output channels follow the width. Defaults to True.
        fixed_in_tail (int): Trailing input channels that are never slimmed. Defaults to 0.
        **kwargs: Keyword arguments of ``nn.Conv3d``.
    """

    def __init__(self,
                 *args,
                 divisor: int = 8,
                 min_channels: int = 8,
                 slim_out: bool = True,
                 fixed_in_tail: int = 0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.groups != 1:
            raise ValueError(f'SlimmableConv3d supports groups=1 only, got {self.groups}')
        if divisor < 1 or min_channels < 1:
            raise ValueError(f'divisor and min_channels must be >= 1, got {divisor}, '
                             f'{min_channels}')
        self.divisor = divisor
        self.min_channels = min_channels
        self.slim_out = slim_out
        self.fixed_in_tail = fixed_in_tail
        self.gamma_w = 1.0

    def set_width(self, gamma_w: float) -> None:
        """Set the width factor used by the next forward passes."""
        active_channels(self.out_channels, gamma_w)  # validates gamma_w
        self.gamma_w = float(gamma_w)

    @property
    def active_out_channels(self) -> int:
        """Output channels at the current width."""
        if not self.slim_out:
            return self.out_channels
        return active_channels(self.out_channels, self.gamma_w, self.divisor, self.min_channels)

    def active_weight(self, in_channels: int) -> tuple:
        """Weight ``(C_out', C_in', k, k, k)`` and bias for ``in_channels`` input channels."""
        full_head = self.in_channels - self.fixed_in_tail
        head = in_channels - self.fixed_in_tail
        if not 0 < head <= full_head:
            raise ValueError(f'{type(self).__name__}: got {in_channels} input channels, expected '
                             f'{self.fixed_in_tail} fixed + 1..{full_head} slimmable ones')
        out = self.active_out_channels
        if out == self.out_channels and head == full_head:
            # full width: the parameters themselves (a slice would add a SliceBackward that
            # scatters the gradient into a zero tensor of the weight's size)
            return self.weight, self.bias
        weight = self.weight[:out]
        if self.fixed_in_tail:
            weight = torch.cat([weight[:, :head], weight[:, full_head:]], dim=1)
        elif head != self.in_channels:
            weight = weight[:, :head]
        bias = None if self.bias is None else self.bias[:out]
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (B, C_in', T, H, W) into (B, C_out', T', H', W')."""
        weight, bias = self.active_weight(x.shape[1])
        return self._conv_forward(x, weight, bias)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f', divisor={self.divisor}, min_channels='
                f'{self.min_channels}, slim_out={self.slim_out}, fixed_in_tail='
                f'{self.fixed_in_tail}')


class SlimmableLinear(nn.Linear):
    """Linear layer over a slimmed feature: uses as many input features as ``x`` has.

    The first ``fixed_in_head`` input features are never slimmed (the fast pathway features that
    mmaction2's ``SlowFastHead`` puts before the slow ones); the remaining ones are the first
    columns of the slimmable part of the weight. Output features are never slimmed.

    Args:
        *args: Arguments of ``nn.Linear``.
        fixed_in_head (int): Leading input features that are never slimmed. Defaults to 0.
        **kwargs: Keyword arguments of ``nn.Linear``.
    """

    def __init__(self, *args, fixed_in_head: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_in_head = fixed_in_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` (B, C') to (B, num_out)."""
        slim = x.shape[-1] - self.fixed_in_head
        if not 0 < slim <= self.in_features - self.fixed_in_head:
            raise ValueError(f'SlimmableLinear: got {x.shape[-1]} input features, expected '
                             f'{self.fixed_in_head} fixed + 1..'
                             f'{self.in_features - self.fixed_in_head} slimmable ones')
        if slim == self.in_features - self.fixed_in_head:
            return F.linear(x, self.weight, self.bias)
        return F.linear(x, self.weight[:, :self.fixed_in_head + slim], self.bias)
