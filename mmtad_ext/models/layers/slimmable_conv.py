"""Slimmable 3D convolution.

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384),
sec. 3, eq. 2; slimmable networks (Yu et al.).

A :class:`SlimmableConv3d` owns the weights of the full layer and runs with the first
``active_channels(C_out, gamma_w)`` output channels and as many input channels as its input
has. The cost of the layer is then ``K^3 * gamma_w C_in * gamma_w C_out * H W T`` (eq. 2).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from mmtad_ext.registry import MODELS
from ..utils.subnet import check_factor


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
    gamma_w = check_factor('gamma_w', gamma_w)
    if gamma_w == 1:
        return channels
    c = int(round(channels * gamma_w / divisor)) * divisor
    return int(min(channels, max(min(min_channels, channels), c)))


class _LeadingBlock(torch.autograd.Function):
    """``weight[:rows, :cols]`` whose backward writes the full-size gradient in one pass.

    Two chained slices would back-propagate through two ``SliceBackward`` nodes, each filling a
    zero tensor (the second of the weight's full size) and copying into it; here the zeros are
    written only outside the block. Same values and gradients as ``weight[:rows, :cols]``.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        ctx.shape, ctx.rows, ctx.cols = weight.shape, rows, cols
        return weight[:rows, :cols].contiguous()  # (rows, cols, ...), a copy: cols < C_in

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple:
        rows, cols = ctx.rows, ctx.cols
        full = grad.new_empty(ctx.shape)
        full[rows:].zero_()
        full[:rows, cols:].zero_()
        full[:rows, :cols].copy_(grad)
        return full, None, None


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
        self.gamma_w = check_factor('gamma_w', gamma_w)

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
        if self.fixed_in_tail:
            weight = self.weight[:out]
            weight = torch.cat([weight[:, :head], weight[:, full_head:]], dim=1)
        elif head == self.in_channels:  # (out, C_in, ...) rows: a contiguous view
            weight = self.weight[:out]
        elif torch.is_grad_enabled() and self.weight.requires_grad and \
                not torch.jit.is_tracing():  # (FLOP counting traces the model)
            weight = _LeadingBlock.apply(self.weight, out, head)
        else:  # contiguous: a strided weight sends PyTorch to its slow non-oneDNN conv3d
            weight = self.weight[:out, :head].contiguous()
        bias = None if self.bias is None else self.bias[:out]
        return weight, bias

    def _use_onednn(self, x: torch.Tensor, weight: torch.Tensor) -> bool:
        """Whether to call oneDNN's convolution where PyTorch would pick ``slow_conv3d``.

        For a batch of one clip, PyTorch's CPU backend choice sends a conv3d with
        ``C * T * H <= 20480`` (a heuristic meant for 2D convolutions) to its native
        ``slow_conv3d``, 4-8x slower than oneDNN for the 1x1x1 / 1x3x3 kernels of a Slow R50
        (docs/benchmarks/a3d.md). Narrow widths and small inputs fall under that threshold, so
        latency would stop tracking FLOPs exactly where A3D saves them. Only that case is
        redirected: a contiguous float32 batch of one on the CPU, no autocast, not traced or
        compiled, and ``torch._C._select_conv_backend`` (as PyTorch's own tests use it) answers
        ``Slow3d``. Every other convolution runs as in ``nn.Conv3d``.
        """
        if (x.shape[0] != 1 or x.device.type != 'cpu' or x.dtype != torch.float32
                or not x.is_contiguous() or self.padding_mode != 'zeros'
                or isinstance(self.padding, str) or torch.jit.is_tracing()
                or torch.compiler.is_compiling() or torch.is_autocast_enabled('cpu')
                or not torch.backends.mkldnn.is_available() or not torch.backends.mkldnn.enabled):
            return False
        try:
            backend = torch._C._select_conv_backend(x, weight, None, self.stride, self.padding,
                                                    self.dilation, False, (0, 0, 0),
                                                    self.groups, None)
            return backend == torch._C._ConvBackend.Slow3d
        except (AttributeError, RuntimeError, TypeError):  # private API changed: no redirect
            return False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (B, C_in', T, H, W) into (B, C_out', T', H', W')."""
        weight, bias = self.active_weight(x.shape[1])
        if self._use_onednn(x, weight):
            return torch.mkldnn_convolution(x, weight.contiguous(), bias,
                                            self.padding, self.stride, self.dilation,
                                            self.groups)
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
