"""LoRA adapters on a module's attention projections with peft, and merging them back.

Used by block drop's recovery (*Temporal Action Detection Model Compression by Progressive Block
Drop*, arXiv 2503.16916, sec. 3.2; LoRA: *LoRA: Low-Rank Adaptation of Large Language Models*,
arXiv 2106.09685): adapters ``W + (alpha / r) B A`` with ``B = 0`` at init (the wrapped model is
unchanged until it trains), merged into ``W`` at the end of a stage (no inference overhead).
peft's ``LoRA`` layers replace the target modules in place (``qkv`` becomes a LoRA ``Linear``
wrapping the original as ``base_layer``); :func:`merge_lora` folds them back into plain modules
with the original state-dict keys. The encoder must call its projections as modules
(:class:`~mmtad_ext.models.layers.LoRAReadyAttention`), or LoRA on ``qkv`` is a no-op.
"""
import math
from typing import Optional

import torch
from torch import nn

# ``blocks.N.attn.qkv`` and ``blocks.N.attn.proj`` only: a bare ``proj`` also matches the patch
# embedding's ``patch_embed.projection`` prefix and heads' projections.
ATTENTION_TARGETS = r'.*blocks\.\d+\.attn\.(qkv|proj)'


LORA_INITS = ('peft', 'public')


def inject_lora(module: nn.Module,
                rank: int,
                alpha: Optional[float] = None,
                target_modules: str = ATTENTION_TARGETS,
                dropout: float = 0.0,
                seed: Optional[int] = None,
                init: str = 'peft') -> nn.Module:
    """Inject peft LoRA adapters (adapter ``'default'``) into ``module`` in place.

    Args:
        module (nn.Module): Where to inject (e.g. the encoder only, not the whole detector).
        rank (int): LoRA rank ``r``.
        alpha (float, optional): LoRA ``alpha``; the update is scaled by ``alpha / r``.
            Defaults to None: ``rank`` (scale 1, as the public block-drop code).
        target_modules (str): Regex (``re.fullmatch``) on module names relative to ``module``.
            Defaults to :data:`ATTENTION_TARGETS`.
        dropout (float): LoRA dropout. Defaults to 0.0.
        seed (int, optional): Seed of the adapters' random initialisation (``A``), drawn from
            a forked CPU generator so that the global RNG is neither used nor advanced (a
            resumed run re-creates the same adapters). Defaults to None: the global RNG.
        init (str): Initialisation of ``A`` (``B = 0`` either way): ``'peft'`` (peft's
            Kaiming-uniform, std ``1 / sqrt(3 * in_features)``: 0.0295 for VideoMAE-S) or
            ``'public'`` (the public block-drop code's ``randn / sqrt(r)``, std 0.102 at rank
            96, which makes the early LoRA updates about 3x larger at the same learning rate).
            Defaults to ``'peft'``.

    Returns:
        nn.Module: ``module`` itself. peft freezes its non-adapter parameters; set what trains
        afterwards.
    """
    from peft import LoraConfig, inject_adapter_in_model
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f'inject_lora: rank must be a positive int, got {rank!r}')
    if init not in LORA_INITS:
        raise ValueError(f'inject_lora: init must be one of {LORA_INITS}, got {init!r}')
    if has_lora(module):
        raise RuntimeError('inject_lora: the module already holds LoRA adapters; merge them '
                           'first (merge_lora)')
    config = LoraConfig(r=rank, lora_alpha=rank if alpha is None else alpha,
                        target_modules=target_modules, lora_dropout=dropout,
                        init_lora_weights=True)  # A: Kaiming-uniform, B: 0
    # peft creates and initialises the adapters on the CPU, then moves them to the base layer
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        inject_adapter_in_model(config, module)
        if init == 'public':  # A ~ N(0, 1 / r), drawn on the CPU as peft's own init
            with torch.no_grad():
                for _, layer in lora_layers(module):
                    weight = layer.lora_A['default'].weight  # (r, in_features)
                    weight.copy_(torch.randn(weight.shape) / math.sqrt(rank))
    return module


def lora_layers(module: nn.Module):
    """``[(qualified name, peft LoRA layer)]`` inside ``module``."""
    from peft.tuners.lora import LoraLayer
    return [(n, m) for n, m in module.named_modules() if isinstance(m, LoraLayer)]


def has_lora(module: nn.Module) -> bool:
    """Whether ``module`` holds peft LoRA layers."""
    return bool(lora_layers(module))


def merge_lora(module: nn.Module) -> int:
    """Merge every LoRA layer into its base layer and put the base layer back in its place.

    Afterwards ``module`` has exactly its pre-injection structure and state-dict keys, with
    ``W <- W + (alpha / r) B A``.

    Returns:
        int: The number of merged layers.
    """
    layers = lora_layers(module)
    for name, layer in layers:
        layer.merge()
        parent_name, _, child = name.rpartition('.')
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, layer.get_base_layer())
    if 'peft_config' in vars(module):  # peft's record of the injected adapters
        del module.peft_config
    return len(layers)
