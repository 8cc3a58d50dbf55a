"""ActionFormer's pre-LN transformer block with optional 2x down-sampling.

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925), sec. 3.2;
the form of OpenTAD's ``TransformerBlock`` (``bricks/transformer.py``): LN -> masked (local)
MHCA -> skip (max-pooled when down-sampling) + affine drop-path; LN -> 1x1-conv MLP (4x, GELU)
-> affine drop-path. The affine drop-path (a per-channel scale initialised to 1e-4 before
stochastic depth, *Going deeper with Image Transformers*, arXiv 2103.17239) is used when
``drop_path > 0``, as in the public code.
"""
from typing import Tuple

import torch
from mmcv.cnn.bricks.drop import drop_path
from torch import Tensor, nn

from .masked_conv1d import ChannelLayerNorm
from .masked_mhca import MaskedMHCA


class AffineDropPath(nn.Module):
    """``drop_path(scale * x)`` with a learned per-channel scale (B, C, T layout).

    Args:
        channels (int): C.
        drop_prob (float): Stochastic depth probability.
        init_scale (float): Initial scale. Defaults to 1e-4.
    """

    def __init__(self, channels: int, drop_prob: float, init_scale: float = 1e-4) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, channels, 1), init_scale))
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(self.scale * x, self.drop_prob, self.training)


class ActionFormerBlock(nn.Module):
    """Masked transformer block on (B, C, T) features.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        window_size (int): Local attention window; -1 for global. Defaults to -1.
        stride (int): 1, or 2 to halve the length. Defaults to 1.
        mlp_ratio (int): MLP hidden width ratio. Defaults to 4.
        proj_drop (float): Dropout of the projections / MLP. Defaults to 0.
        attn_drop (float): Attention dropout. Defaults to 0.
        drop_path (float): Stochastic depth (with the affine scale). Defaults to 0.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int = -1, stride: int = 1,
                 mlp_ratio: int = 4, proj_drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.ln1, self.ln2 = ChannelLayerNorm(embed_dims), ChannelLayerNorm(embed_dims)
        self.attn = MaskedMHCA(embed_dims, num_heads, window_size=window_size, stride=stride,
                               attn_drop=attn_drop, proj_drop=proj_drop)
        self.pool_skip = (nn.MaxPool1d(stride + 1, stride=stride, padding=(stride + 1) // 2)
                          if stride > 1 else nn.Identity())
        hidden = mlp_ratio * embed_dims
        self.mlp = nn.Sequential(
            nn.Conv1d(embed_dims, hidden, 1), nn.GELU(), nn.Dropout(proj_drop),
            nn.Conv1d(hidden, embed_dims, 1), nn.Dropout(proj_drop))
        for m in (self.mlp[0], self.mlp[3]):
            nn.init.zeros_(m.bias)
        if drop_path > 0:
            self.drop_path_attn = AffineDropPath(embed_dims, drop_path)
            self.drop_path_mlp = AffineDropPath(embed_dims, drop_path)
        else:
            self.drop_path_attn = self.drop_path_mlp = nn.Identity()

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, C, T), (B, T) bool -> (B, C, T / stride), (B, T / stride) bool."""
        out, mask = self.attn(self.ln1(x), mask)
        keep = mask[:, None].to(out.dtype)
        out = self.pool_skip(x) * keep + self.drop_path_attn(out)
        out = out + self.drop_path_mlp(self.mlp(self.ln2(out)) * keep)
        return out, mask
