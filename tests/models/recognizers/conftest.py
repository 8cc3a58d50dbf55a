"""Tiny A3D recognizer shared by the A3D recognizer tests."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

from mmtad_ext.registry import MODELS


def tiny_a3d_cfg(num_classes=4, **mutual):
    return dict(
        type='A3DRecognizer3D',
        backbone=dict(type='SlimmableResNet3D', depth=50, stage_blocks=(1, 1, 1, 1),
                      base_channels=16, pretrained=None, pretrained2d=False, width_divisor=4,
                      min_channels=4),
        cls_head=dict(type='I3DHead', num_classes=num_classes, in_channels=512,
                      dropout_ratio=0.0, average_clips='prob'),
        mutual_cfg=dict(seed=0, **mutual),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75] * 3,
                               std=[57.375] * 3, format_shape='NCTHW'))


@pytest.fixture
def build_tiny():
    init_default_scope('mmtad_ext')

    def build(**kwargs):
        torch.manual_seed(0)
        model = MODELS.build(tiny_a3d_cfg(**kwargs))
        model.init_weights()
        return model

    return build


def make_batch(batch=2, frames=8, size=32, seed=0, num_classes=4):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 255, (1, 3, frames, size, size), generator=g).float()
              for _ in range(batch)]
    samples = [ActionDataSample().set_gt_label(torch.tensor([i % num_classes]))
               for i in range(batch)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture
def batch():
    """``batch(seed=0, ...)`` -> a data-loader-like batch of random clips."""
    return make_batch
