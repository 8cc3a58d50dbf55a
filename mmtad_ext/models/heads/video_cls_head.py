"""Video-level multi-label classification head for TAD (replaces an external classifier)."""
from typing import List

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmtad_ext.registry import MODELS


@MODELS.register_module()
class TADVideoClsHead(BaseModule):
    """Predict which action classes occur in a sample from its enhanced snippet features.

    ETAD (like BMN) detects class-agnostic actions and takes the classes from a video-level
    classifier. The paper fuses an external one on ActivityNet/THUMOS (``TADMetric``'s
    ``class_score_file``); this head is the built-in alternative, trained jointly with a sigmoid
    BCE on the multi-hot set of classes present in the sample. Every snippet gets class logits
    (kernel-1 convolution) and the video-level logit of a class is the mean of its ``topk_ratio``
    highest snippet logits (multiple-instance pooling: an action may cover a small part of the
    video, which a plain mean would dilute).

    Args:
        in_channels (int): Input channels.
        num_classes (int): Number of action classes.
        dropout (float): Dropout before the classifier. Defaults to 0.1.
        topk_ratio (float): Fraction of the snippets pooled per class, in (0, 1].
            Defaults to 0.125.
        loss (dict): Loss on logits. Defaults to mmdet's sigmoid ``CrossEntropyLoss``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 dropout: float = 0.1,
                 topk_ratio: float = 0.125,
                 loss: dict = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True,
                                   loss_weight=1.0),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if not 0 < topk_ratio <= 1:
            raise ValueError(f'topk_ratio must be in (0, 1], got {topk_ratio}')
        self.num_classes = num_classes
        self.topk_ratio = topk_ratio
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Conv1d(in_channels, num_classes, 1)
        self.loss_fn = MODELS.build(loss)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) features -> (B, num_classes) video-level logits (top-k mean over time)."""
        snippet_logits = self.fc(self.dropout(x))  # (B, K, T)
        k = max(1, int(round(self.topk_ratio * x.shape[-1])))
        return snippet_logits.topk(k, dim=2).values.mean(dim=2)  # (B, K)

    def loss(self, logits: torch.Tensor, gt_labels: List[torch.Tensor]) -> dict:
        """Multi-label loss against the classes present in each sample."""
        target = logits.new_zeros(logits.shape)
        for i, labels in enumerate(gt_labels):
            if labels.numel():
                target[i, labels.long()] = 1
        return dict(loss_cls=self.loss_fn(logits, target))
