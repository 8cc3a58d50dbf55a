"""tools/analysis_tools/get_flops.py: default input shapes and counted FLOPs / parameters."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from _helpers.paths import CONFIGS
from mmtad_ext.registry import MODELS


@pytest.fixture(scope='module')
def get_flops(load_tool):
    return load_tool('analysis_tools/get_flops')


ETAD = osp.join(CONFIGS, 'etad', 'etad_lstm_1xb8-16e_synthetic-tad-feature.py')
SLOW = osp.join(CONFIGS, 'a3d', 'slowonly_tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py')


def _build(path, **options):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    model = MODELS.build(cfg.model).eval()
    return cfg, model


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_etad_features_tensor_mode(get_flops):
    cfg, model = _build(ETAD)
    shape = get_flops.default_input_shape(cfg)
    assert shape == (1, 64, 64)  # (B, neck.in_channels, proposal_sampler.temporal_dim)
    res = get_flops.complexity(model, shape, 'tensor')
    assert res['params'] == sum(p.numel() for p in model.parameters())
    # each LSTM (128 -> 128, 64 steps): 4 gates x H x (I + H) multiply-adds per step
    assert res['flops_by_module']['neck.lstm_fwd'] == 64 * 4 * 128 * (128 + 128)
    assert res['flops_by_module']['neck.lstm_bwd'] == 64 * 4 * 128 * (128 + 128)
    assert res['flops'] == res['flops_by_module']['']
    assert res['flops'] > 2 * 64 * 4 * 128 * 256  # plus the convolutions
    assert res['uncalled'] == ['cls_head', 'proposal_head']  # not in mode='tensor'


@pytest.mark.slow  # over 1 s
def test_etad_predict_counts_the_proposal_and_class_heads(get_flops):
    # 32 snippets (528 valid proposals instead of 2080) keeps the trace short
    _, model = _build(ETAD, **{'model.proposal_sampler.temporal_dim': 32})
    res = get_flops.complexity(model, (1, 64, 32), 'tensor')
    full = get_flops.complexity(model, (1, 64, 32), 'predict')
    # the cascade head on every valid proposal dominates the inference (about 7.5x the rest here,
    # with RoIAlign fused behind the first FC layers)
    assert full['flops_by_module']['proposal_head'] > 5 * res['flops']
    assert full['flops_by_module']['cls_head'] > 0
    assert full['flops'] == pytest.approx(
        res['flops'] + full['flops_by_module']['proposal_head'] +
        full['flops_by_module']['cls_head'])
    # not called as modules: the training-only boundary branch, and each stage's first FC layers,
    # whose weights the fused RoIAlign projection applies
    fused = ('boundary_branch', 'start_branch.0', 'end_branch.0', 'ext_fc.0')
    assert full['uncalled'] and all(n.endswith(fused) for n in full['uncalled'])


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_recognizer_default_shape_and_exact_stem_flops(get_flops):
    cfg, model = _build(SLOW)
    shape = get_flops.default_input_shape(cfg)
    assert shape == (1, 1, 3, 8, 32, 32)  # SampleFrames clip_len 8, Resize (32, 32)
    res = get_flops.complexity(model, shape)
    assert res['params'] == sum(p.numel() for p in model.parameters())
    # conv1: 16 output channels, kernel (1, 7, 7) on 3 channels, stride (1, 2, 2): 8x16x16 out
    assert res['flops_by_module']['backbone.conv1.conv'] == 16 * 8 * 16 * 16 * 3 * 7 * 7
    assert res['uncalled'] == ['cls_head']  # mode='tensor' is the backbone, as mmaction2's


def test_lstm_handle_bidirectional_two_layers(get_flops):
    lstm = torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True)  # (T, B, C) input
    res = get_flops.complexity(_Seq(lstm), (7, 3, 10))
    # per step, per direction: layer 0 reads 10 features, layer 1 both directions' 40
    assert res['flops'] == 7 * 3 * 2 * 4 * 20 * ((10 + 20) + (40 + 20))


class _Seq(torch.nn.Module):
    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, x, mode='tensor'):
        return self.lstm(x)[0]


def test_shape_needs_the_pipeline(get_flops):
    cfg = Config(dict(model=dict(type='Recognizer3D'), test_pipeline=[dict(type='DecordInit')]))
    with pytest.raises(ValueError, match='--shape'):
        get_flops.default_input_shape(cfg)
    with pytest.raises(ValueError, match='mode'):
        get_flops.complexity(torch.nn.Linear(2, 2), (1, 2), 'loss')


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_cli_prints_table_and_summary(get_flops, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['get_flops.py', ETAD, '--shape', '2', '64', '64'])
    get_flops.main()
    out = capsys.readouterr().out
    _, model = _build(ETAD)
    params = sum(p.numel() for p in model.parameters())
    assert 'Input shape: (2, 64, 64)' in out
    assert f'({params})' in out and '| module' in out and ' neck.lstm_fwd ' in out
    assert "Not run in mode 'tensor' (not counted): cls_head, proposal_head" in out
