"""build_trainable_optim_wrapper: only the parameters that require grad, paramwise settings kept."""
from torch import nn

from mmtad_ext.engine.optimizers import build_trainable_optim_wrapper


def test_only_trainable_parameters_and_no_empty_groups():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    model[0].requires_grad_(False)  # a frozen layer: no group may hold it
    model[2].bias.requires_grad_(False)
    cfg = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
               paramwise_cfg=dict(norm_decay_mult=0.0))
    wrapper = build_trainable_optim_wrapper(model, cfg)
    groups = wrapper.optimizer.param_groups
    held = [p for g in groups for p in g['params']]
    assert {id(p) for p in held} == {id(p) for p in model.parameters() if p.requires_grad}
    assert all(g['params'] for g in groups)
    norm = [g for g in groups if any(p is model[1].weight for p in g['params'])]
    assert norm[0]['weight_decay'] == 0.0  # the paramwise setting survives
    assert cfg['optimizer']['lr'] == 1e-3 and 'type' in cfg['optimizer']  # config not consumed
