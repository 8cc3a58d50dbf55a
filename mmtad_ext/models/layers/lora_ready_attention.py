"""VideoMAE attention whose qkv projection is a real module call (LoRA can wrap it).

mmaction2's :class:`mmaction.models.backbones.vit_mae.Attention` computes the fused qkv as
``F.linear(x, self.qkv.weight, cat(q_bias, 0, v_bias))`` when ``qkv_bias=True`` (VideoMAE's
default). It reads ``self.qkv.weight`` instead of calling ``self.qkv``, so an adapter that wraps
``attn.qkv`` (peft's LoRA ``Linear`` replaces the module and adds its update in ``forward``) is
never called: the output does not change and, with a qkv-only LoRA, does not even require grad.
mmengine's FLOP counter misses the projection for the same reason (it counts module calls).

:class:`LoRAReadyAttention` calls ``self.qkv(x)`` and adds the same ``(q_bias, 0, v_bias)``
afterwards. Parameters and state-dict keys are unchanged, so mmaction2 VideoMAE checkpoints
load as they are, and the output equals mmaction2's bit for bit (tested) while adapters and
hooks on ``attn.qkv`` act.

The bias is passed *into* the qkv call (``self.qkv(x, bias)``, a :class:`QKVLinear`) rather than
added afterwards: ``F.linear`` with a bias is one fused ``addmm``, whose rounding differs from a
matmul followed by an addition (up to ~1e-2 on random weights), so only the fused call is
bit-identical. peft's LoRA ``Linear`` forwards extra arguments to the layer it wraps
(``base_layer(x, *args, **kwargs)``) and adds its update to the result.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import Attention
from torch import Tensor, nn


class QKVLinear(nn.Linear):
    """``nn.Linear`` without its own bias that accepts the bias as an argument.

    ``forward(x, bias)`` is ``F.linear(x, weight, bias)``: the exact operation mmaction2's
    attention performs, as a module call that adapters (peft LoRA) and FLOP counters see.
    """

    def forward(self, x: Tensor, bias: Optional[Tensor] = None) -> Tensor:
        return F.linear(x, self.weight, bias if bias is not None else self.bias)


class LoRAReadyAttention(Attention):
    """mmaction2's VideoMAE ``Attention`` with the qkv projection called as a module.

    Same arguments, parameters and outputs as
    :class:`mmaction.models.backbones.vit_mae.Attention`.
    """

    def __init__(self, embed_dims: int, *args, **kwargs) -> None:
        super().__init__(embed_dims, *args, **kwargs)
        self.qkv = QKVLinear(embed_dims, embed_dims * 3, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, C) tokens -> (B, N, C)."""
        b, n, _ = x.shape
        bias = None
        if hasattr(self, 'q_bias'):
            k_bias = torch.zeros_like(self.v_bias, requires_grad=False)
            bias = torch.cat((self.q_bias, k_bias, self.v_bias))
        qkv = self.qkv(x, bias)  # (B, N, 3C); a LoRA wrapper on self.qkv acts here
        qkv = qkv.reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, h, N, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (B, h, N, N)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(b, n, -1)  # (B, N, C)
        return self.proj_drop(self.proj(x))
