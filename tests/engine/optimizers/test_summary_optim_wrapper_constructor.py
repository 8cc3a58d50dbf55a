"""SummaryOptimWrapperConstructor: mmengine's parameter groups, a per-rule log summary."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmtad_ext.registry import OPTIM_WRAPPER_CONSTRUCTORS

OPTIM = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
PARAMWISE = dict(norm_decay_mult=0.0, bias_decay_mult=0.5, flat_decay_mult=0.25,
                 custom_keys={'backbone': dict(lr_mult=0.01),
                              'backbone.stem': dict(lr_mult=0.1, decay_mult=0.0),
                              '.scale': dict(decay_mult=0.0)})


class Scale(nn.Module):

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))


class Tiny(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential()
        self.backbone.add_module('stem', nn.Conv1d(3, 4, 3))
        self.backbone.add_module('bn', nn.BatchNorm1d(4))
        self.backbone.add_module('frozen', nn.Linear(4, 4))
        self.backbone.frozen.requires_grad_(False)
        self.neck = nn.Sequential(nn.Conv1d(4, 4, 1), nn.GroupNorm(2, 4), nn.LayerNorm(4))
        self.head = nn.Linear(4, 2)
        self.scales = nn.ModuleList([Scale(), Scale()])
        self.temperature = nn.Parameter(torch.ones(2))  # a root parameter (name '.temperature')


class Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, low, high=logging.CRITICAL):
        return [r.getMessage() for r in self.records if low <= r.levelno <= high]


@pytest.fixture
def records():
    """Every record of the current MMLogger (DEBUG and above) while the test runs."""
    logger = MMLogger.get_current_instance()
    handler = Records()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def build(constructor, model, paramwise=PARAMWISE):
    cfg = dict(type=constructor, optim_wrapper_cfg=OPTIM, paramwise_cfg=paramwise)
    return OPTIM_WRAPPER_CONSTRUCTORS.build(cfg)(model).optimizer.param_groups


def groups_by_param(groups):
    return [(id(p), {k: v for k, v in g.items() if k != 'params'})
            for g in groups for p in g['params']]


def test_same_groups_as_mmengine_and_per_parameter_lines_only_at_debug(records):
    model = Tiny()
    ours = build('mmtad_ext.SummaryOptimWrapperConstructor', model)
    ours_logged = list(records.records)
    records.records.clear()
    theirs = build('DefaultOptimWrapperConstructor', model)
    assert groups_by_param(ours) == groups_by_param(theirs)
    # the rules did apply (the comparison is not between two plain groupings)
    lr_wd = {n: (g['lr'], g['weight_decay']) for g in ours for p in g['params']
             for n, q in model.named_parameters() if q is p}
    assert lr_wd['backbone.stem.weight'] == pytest.approx((1e-4, 0.0))
    assert lr_wd['backbone.bn.weight'] == pytest.approx((1e-5, 0.05))
    assert lr_wd['neck.1.weight'] == pytest.approx((1e-3, 0.0))  # GroupNorm: norm_decay_mult
    assert lr_wd['head.bias'] == pytest.approx((1e-3, 0.025))
    assert lr_wd['scales.0.scale'] == pytest.approx((1e-3, 0.0))
    assert lr_wd['temperature'] == pytest.approx((1e-3, 0.0125))  # flat_decay_mult
    assert 'backbone.frozen.weight' not in lr_wd

    # mmengine's per-parameter lines (INFO options, WARNING frozen) come out at DEBUG, all of them
    def per_parameter(logged, level):
        return sorted(r.getMessage() for r in logged if r.levelno in level and (
            'paramwise_options' in r.getMessage() or 'requires_grad=False' in r.getMessage()))

    theirs_lines = per_parameter(records.records, (logging.INFO, logging.WARNING))
    assert len(theirs_lines) == 29
    assert per_parameter(ours_logged, (logging.DEBUG,)) == theirs_lines
    info = [r.getMessage() for r in ours_logged if r.levelno >= logging.INFO]
    assert not any('paramwise_options' in m or 'backbone.frozen' in m for m in info)
    assert len(info) == 6, info
    assert not any(r.levelno >= logging.WARNING for r in ours_logged)
    summary = '\n'.join(info)
    assert '2 parameter tensors have requires_grad=False' in summary
    assert '15 trainable parameter tensors' in summary
    # each key with the tensors it took (longest key first: 'backbone.stem' takes the stem's 2)
    assert ("custom key 'backbone.stem' {'lr_mult': 0.1, 'decay_mult': 0.0}: 2 tensors "
            "(40 elements): 2 with lr=0.0001 (x0.1), weight_decay=0 (x0)") in summary
    assert ("custom key 'backbone' {'lr_mult': 0.01}: 2 tensors (8 elements): "
            "2 with lr=1e-05 (x0.01), weight_decay=0.05 (x1)") in summary
    assert "custom key '.scale' {'decay_mult': 0.0}: 2 tensors (2 elements)" in summary
    assert ("other parameters {'norm_decay_mult': 0.0, 'bias_decay_mult': 0.5, "
            "'flat_decay_mult': 0.25}: 9 tensors (48 elements): 4 with lr=0.001 (x1), "
            "weight_decay=0 (x0); 2 with lr=0.001 (x1), weight_decay=0.05 (x1); 2 with "
            "lr=0.001 (x1), weight_decay=0.025 (x0.5); 1 with lr=0.001 (x1), "
            "weight_decay=0.0125 (x0.25)") in summary


def test_key_that_matches_nothing_warns(records):
    paramwise = dict(custom_keys={'backbone': dict(lr_mult=0.1), 'bakbone.stem': dict(lr_mult=0),
                                  'frozen': dict(lr_mult=0), 'back': dict(lr_mult=0.5)})
    build('SummaryOptimWrapperConstructor', Tiny(), paramwise)
    warnings = records.messages(logging.WARNING)
    assert len(warnings) == 3, warnings
    assert ("'bakbone.stem' matches nothing (no trainable parameter name contains it; keys are "
            "substrings of names such as 'temperature'; did you mean 'backbone.stem'?)"
            ) in warnings[0]
    assert "'frozen' matches nothing (no trainable parameter name contains it; " in warnings[1]
    assert ("'back' matches nothing (the 4 trainable parameters containing it are taken by "
            "longer keys)") in warnings[2]


def test_without_paramwise_cfg_logs_nothing(records):
    groups = build('SummaryOptimWrapperConstructor', Tiny(), None)
    assert len(groups) == 1 and not records.messages(logging.INFO)
