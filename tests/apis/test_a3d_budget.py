"""mmtad_ext.apis.a3d_budget: counted MACs of a sub-network and the rows of the budget table."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import init_default_scope

from mmtad_ext.apis import a3d_budget
from mmtad_ext.registry import MODELS
from mmtad_ext.visualization import plot_budget_table


@pytest.fixture
def model():
    init_default_scope('mmtad_ext')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='A3DRecognizer3D',
        backbone=dict(type='SlimmableResNet3D', depth=50, stage_blocks=(1, 1, 1, 1),
                      base_channels=8, pretrained=None, pretrained2d=False, width_divisor=4,
                      min_channels=4),
        cls_head=dict(type='I3DHead', num_classes=3, in_channels=256, dropout_ratio=0.0,
                      average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75] * 3,
                               std=[57.375] * 3, format_shape='NCTHW')))
    model.init_weights()
    return model


def _batches(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [dict(inputs=[torch.randint(0, 255, (1, 3, 4, 16, 16), generator=g).float()
                         for _ in range(2)],
                 data_samples=[ActionDataSample().set_gt_label(torch.tensor([(2 * b + i) % 3]))
                               for i in range(2)]) for b in range(n)]


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_count_subnet_gmacs_counts_the_subnet_and_restores_the_model(model):
    shape = (3, 4, 16, 16)
    model.train()
    model.set_subnet((0.75, 1.0, 1.0), use_bank=False)
    gmacs = a3d_budget.count_subnet_gmacs(model, (0.5, 0.5, 0.5), shape)
    assert model.training and model.active_subnet == (0.75, 1.0, 1.0)
    # the same count done by hand at the sub-network
    model.eval()
    model.set_subnet((0.5, 0.5, 0.5), use_bank=False)
    an = FlopAnalyzer(a3d_budget.SubNetForward(model), (torch.zeros((1, 1) + shape), ))
    an.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert gmacs == pytest.approx(an.total() / 1e9, rel=1e-12)
    # w^2 s^2 t = 1/32 for the slimmed convs; the tiny 8 x 8 input rounds sizes up (stem and
    # pools), so the whole network costs more than that, but well under 1/8 of the full one
    full = a3d_budget.count_subnet_gmacs(model, (1.0, 1.0, 1.0), shape)
    assert 1 / 32 < gmacs / full < 1 / 8


@pytest.mark.slow  # over 1 s
def test_evaluate_subnets_rows_match_the_calibrated_model(model, tmp_path):
    calib, val = _batches(2, seed=1), _batches(2, seed=2)
    subnets = [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0)]
    rows = a3d_budget.evaluate_subnets(model, subnets, calib, val, (3, 4, 16, 16), latency_runs=1)
    assert [(r['gamma_w'], r['gamma_s'], r['gamma_t']) for r in rows] == subnets
    assert set(model.bn_bank) == set(subnets)  # calibrated through model.calibrate()
    assert rows[0]['gmacs'] < rows[1]['gmacs'] and all(r['latency_ms'] > 0 for r in rows)
    for row, subnet in zip(rows, subnets):
        model.set_subnet(subnet)  # with the calibrated statistics
        hits = [int(s.pred_score.argmax() == s.gt_label.item())
                for batch in val for s in model.test_step(batch)]
        assert row['top1'] == sum(hits) / len(hits)
    plot_budget_table(rows, str(tmp_path / 'table.png'))
    assert (tmp_path / 'table.png').stat().st_size > 0
