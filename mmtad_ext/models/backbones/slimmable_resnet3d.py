"""SlimmableResNet3D: the Slow pathway ResNet of A3D at any width.

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384), sec. 3.

A thin subclass of mmaction2's ``ResNet3dSlowOnly`` (Slow-8x8 R50 layout by default): every conv
and norm is built through ``conv_cfg``/``norm_cfg`` as :class:`SlimmableConv3d` /
:class:`SlimmableBN3d`, so the module tree and the state-dict keys are those of mmaction2's
backbone and its checkpoints load unchanged. :meth:`set_width` sets the width factor gamma_w of
every slimmable layer; nothing else changes between widths.
"""
from typing import Dict, Optional

import torch.nn as nn
from mmaction.models.backbones.resnet3d_slowonly import ResNet3dSlowOnly

from mmtad_ext.registry import MODELS
from ..layers.slimmable_bn import SlimmableBN3d
from ..layers.slimmable_conv import SlimmableConv3d
from ..utils.subnet import check_factor


def resolve_slimmable_cfgs(conv_cfg: Optional[Dict], norm_cfg: Optional[Dict], divisor: int,
                           min_channels: int) -> tuple:
    """Resolve ``conv_cfg``/``norm_cfg`` type names to slimmable classes (scope independent).

    Args:
        conv_cfg (dict, optional): Conv config; ``None`` means ``SlimmableConv3d``.
        norm_cfg (dict, optional): Norm config; ``None`` means ``SlimmableBN3d``.
        divisor (int): Width rounding divisor passed to the convs.
        min_channels (int): Minimum active channels passed to the convs.

    Returns:
        tuple[dict, dict]: The resolved configs.
    """
    conv_cfg = dict(conv_cfg or dict(type='SlimmableConv3d'))
    norm_cfg = dict(norm_cfg or dict(type='SlimmableBN3d', requires_grad=True))
    for cfg, base, key in ((conv_cfg, SlimmableConv3d, 'conv_cfg'),
                           (norm_cfg, SlimmableBN3d, 'norm_cfg')):
        layer = cfg['type']
        if isinstance(layer, str):
            layer = MODELS.get(layer)
        if not (isinstance(layer, type) and issubclass(layer, base)):
            raise ValueError(f'{key}.type must be {base.__name__} or a subclass, got '
                             f'{cfg["type"]!r}')
        cfg['type'] = layer
    conv_cfg.setdefault('divisor', divisor)
    conv_cfg.setdefault('min_channels', min_channels)
    return conv_cfg, norm_cfg


def set_module_width(module: nn.Module, gamma_w: float) -> float:
    """Call ``set_width(gamma_w)`` on every :class:`SlimmableConv3d` inside ``module``.

    ``gamma_w`` is checked (:func:`~mmtad_ext.models.utils.check_factor`: a real number in
    (0, 1], else ``TypeError``/``ValueError``) before anything changes; returns it as a float.
    """
    gamma_w = check_factor('gamma_w', gamma_w)
    for m in module.modules():
        if isinstance(m, SlimmableConv3d):
            m.set_width(gamma_w)
    return gamma_w


@MODELS.register_module()
class SlimmableResNet3D(ResNet3dSlowOnly):
    """Slow-pathway ResNet whose width is set at run time (A3D).

    All arguments of ``ResNet3dSlowOnly`` (``depth``, ``base_channels``, ``num_stages``,
    ``stage_blocks``, strides, ``inflate``...) are accepted and mean the same; at
    ``gamma_w = 1`` the outputs equal mmaction2's backbone with the same weights.

    Args:
        width_divisor (int): Active channels are multiples of this. Defaults to 8.
        min_channels (int): Minimum active channels of any layer. Defaults to 8.
        conv_cfg (dict, optional): Must name ``SlimmableConv3d`` (or a subclass).
            Defaults to None (``SlimmableConv3d``).
        norm_cfg (dict, optional): Must name ``SlimmableBN3d`` (or a subclass).
            Defaults to None (``SlimmableBN3d``, ``requires_grad=True``).
        **kwargs: Arguments of ``ResNet3dSlowOnly``.
    """

    def __init__(self,
                 width_divisor: int = 8,
                 min_channels: int = 8,
                 conv_cfg: Optional[Dict] = None,
                 norm_cfg: Optional[Dict] = None,
                 **kwargs) -> None:
        conv_cfg, norm_cfg = resolve_slimmable_cfgs(conv_cfg, norm_cfg, width_divisor,
                                                    min_channels)
        super().__init__(conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
        self.gamma_w = 1.0

    def set_width(self, gamma_w: float) -> None:
        """Run the next forward passes with width factor ``gamma_w`` in (0, 1].

        Raises ``TypeError`` for a non-number and ``ValueError`` outside (0, 1] (NaN too). The
        trained range is the recognizer's (``A3DRecognizer3D.set_subnet`` warns outside it).
        """
        self.gamma_w = set_module_width(self, gamma_w)

    @property
    def head_fixed_in_channels(self) -> int:
        """Leading never-slimmed channels of the feature given to the head (none here)."""
        return 0
