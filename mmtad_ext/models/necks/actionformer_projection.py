"""ActionFormer's projection: masked convs, stem transformer blocks and a down-sampling branch.

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925), sec. 3.2;
the form of OpenTAD's ``Conv1DTransformerProj`` (``projections/actionformer_proj.py``):
``arch=(2, 2, 5)`` = 2 masked conv layers (kernel 3, LayerNorm, ReLU), 2 stem transformer
blocks at full length and 5 branch blocks that each halve the length, giving a 6-level feature
pyramid with strides 1, 2, 4, ..., 32.
"""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
from torch import Tensor, nn

from mmtad_ext.registry import MODELS

from ..layers.actionformer_block import ActionFormerBlock
from ..layers.masked_conv1d import MaskedConv1dModule


@MODELS.register_module()
class ActionFormerProjection(nn.Module):
    """Masked conv embedding + transformer pyramid on (B, C, T) features.

    Args:
        in_channels (int): Input feature channels.
        embed_dims (int): Width of every level. Defaults to 512.
        arch (Sequence[int]): (#convs, #stem blocks, #branch blocks). Defaults to (2, 2, 5).
        num_heads (int): Attention heads. Defaults to 4.
        window_size (int | Sequence[int]): Local attention window of the stem and of each
            branch level (``1 + arch[2]`` values, or one for all); -1 for global attention.
            Defaults to 19 (THUMOS14).
        proj_drop (float): Dropout of the projections / MLPs. Defaults to 0.
        drop_path (float): Stochastic depth of the blocks. Defaults to 0.1.
        input_drop (float): Channel dropout (``Dropout1d``) on the input. Defaults to 0.
        use_abs_pe (bool): Add a sinusoidal position embedding (scaled by 1/sqrt(C)) after the
            convs (ActivityNet setting). Defaults to False.
        max_seq_len (int): Length of that embedding (linearly resized for longer inputs).
            Defaults to 2304.
    """

    def __init__(self, in_channels: int, embed_dims: int = 512,
                 arch: Sequence[int] = (2, 2, 5), num_heads: int = 4,
                 window_size: Union[int, Sequence[int]] = 19, proj_drop: float = 0.0,
                 drop_path: float = 0.1, input_drop: float = 0.0, use_abs_pe: bool = False,
                 max_seq_len: int = 2304) -> None:
        super().__init__()
        if len(arch) != 3:
            raise ValueError(f'ActionFormerProjection arch must be (convs, stem, branch), got '
                             f'{arch!r}')
        windows = ([window_size] * (1 + arch[2]) if isinstance(window_size, int)
                   else list(window_size))
        if len(windows) != 1 + arch[2]:
            raise ValueError(f'ActionFormerProjection window_size needs 1 + arch[2] = '
                             f'{1 + arch[2]} values (stem, then each branch level), got '
                             f'{window_size!r}')
        self.arch, self.window_sizes = tuple(arch), windows
        self.embed_dims, self.max_seq_len, self.use_abs_pe = embed_dims, max_seq_len, use_abs_pe
        self.input_drop = nn.Dropout1d(input_drop) if input_drop > 0 else nn.Identity()
        self.embed = nn.ModuleList([
            MaskedConv1dModule(in_channels if i == 0 else embed_dims, embed_dims, 3)
            for i in range(arch[0])])
        if use_abs_pe:  # (1, C, T), rescaled as the public code
            pe = get_sinusoid_encoding(max_seq_len, embed_dims).transpose(1, 2)
            self.register_buffer('pos_embed', pe / embed_dims**0.5, persistent=False)
        block = dict(embed_dims=embed_dims, num_heads=num_heads, proj_drop=proj_drop,
                     drop_path=drop_path)
        self.stem = nn.ModuleList([
            ActionFormerBlock(window_size=windows[0], **block) for _ in range(arch[1])])
        self.branch = nn.ModuleList([
            ActionFormerBlock(window_size=windows[1 + i], stride=2, **block)
            for i in range(arch[2])])

    @property
    def num_levels(self) -> int:
        return 1 + self.arch[2]

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """(B, C_in, T), (B, T) bool -> per level (B, C, T / 2^l) features and masks."""
        x = self.input_drop(x)
        for conv in self.embed:
            x, mask = conv(x, mask)
        if self.use_abs_pe:
            pe = self.pos_embed
            if x.shape[-1] > self.max_seq_len:
                if self.training:
                    raise ValueError(f'ActionFormerProjection: input length {x.shape[-1]} > '
                                     f'max_seq_len {self.max_seq_len} in training')
                pe = F.interpolate(pe, size=x.shape[-1], mode='linear', align_corners=False)
            x = x + pe[..., :x.shape[-1]].to(x.dtype) * mask[:, None].to(x.dtype)
        for blk in self.stem:
            x, mask = blk(x, mask)
        feats, masks = [x], [mask]
        for blk in self.branch:
            x, mask = blk(x, mask)
            feats.append(x)
            masks.append(mask)
        return feats, masks
