"""Tiny A3D recognizer (``_helpers.tiny_configs.tiny_a3d_recognizer_cfg``) and random clips for
the A3D recognizer tests."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

from _helpers.tiny_configs import tiny_a3d_recognizer_cfg
from mmtad_ext.registry import MODELS


@pytest.fixture
def build_tiny():
    init_default_scope('mmtad_ext')

    def build(**kwargs):
        torch.manual_seed(0)
        model = MODELS.build(tiny_a3d_recognizer_cfg(**kwargs))
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
