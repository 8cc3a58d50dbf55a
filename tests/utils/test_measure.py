"""mmtad_ext.utils.measure: counted MACs, latency, saved-for-backward bytes, seed statistics."""
import math

import pytest
import torch
from torch import nn

from mmtad_ext.utils.measure import (SavedTensorMeter, count_macs, format_mean_se,
                                     measure_latency_ms, mean_se, paired_differences)


def test_count_macs_of_a_linear_and_a_conv_is_exact_and_keeps_the_mode():
    model = nn.Sequential(nn.Conv1d(4, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 10, 5))
    model.train()
    macs = count_macs(model, (torch.randn(2, 4, 10), ))
    # conv: 2 x 8 x 10 outputs, 4 x 3 MACs each; linear: 2 x 5 outputs, 80 MACs each
    assert macs == 2 * 8 * 10 * 4 * 3 + 2 * 5 * 80
    assert model.training


def test_measure_latency_ms_counts_the_forwards_and_checks_its_arguments():
    calls = []

    class Probe(nn.Module):

        def forward(self, x):
            calls.append(self.training)
            return x

    probe = Probe().train()
    ms = measure_latency_ms(probe, (torch.zeros(1), ), repeats=3, warmup=2)
    assert ms >= 0 and calls == [False] * 5 and probe.training
    with pytest.raises(ValueError, match='repeats'):
        measure_latency_ms(probe, (torch.zeros(1), ), repeats=0)


def test_saved_tensor_meter_counts_what_autograd_saves():
    w = nn.Parameter(torch.randn(16, 16))
    x = torch.randn(4, 16, requires_grad=True)
    with SavedTensorMeter(exclude=[w]) as meter:
        y = torch.tanh(x @ w)  # matmul saves x (and w, excluded); tanh saves its output
        loss = (y * y).sum()  # mul saves y twice: one storage, counted twice in total_bytes
    assert meter.total_bytes == 4 * 16 * 4 * 4  # x, tanh out, y, y: 4 x (4 x 16) floats
    assert meter.peak_bytes['total'] == 4 * 16 * 4 * 2  # two live storages: x and y
    assert meter.peak_bytes['scope'] == 0
    loss.backward()  # the saved tensors are freed
    assert meter._current['total'] == 0


def test_saved_tensor_meter_scope_counts_one_submodule():
    inner = nn.Linear(8, 8)
    model = nn.Sequential(inner, nn.Tanh())
    x = torch.randn(3, 8, requires_grad=True)
    with SavedTensorMeter(model.parameters(), scope=inner) as meter:
        model(x).sum().backward()
    # Linear saves its input x (3 x 8); Tanh saves its output (3 x 8), outside the scope
    assert meter.peak_bytes['scope'] == 3 * 8 * 4
    assert meter.peak_bytes['total'] == 2 * 3 * 8 * 4
    assert not inner._forward_hooks and not inner._forward_pre_hooks  # removed on exit


def test_mean_se_and_paired_differences():
    m, sd, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and sd == pytest.approx(1.2909944) and se == pytest.approx(1.2909944 / 2)
    assert math.isnan(mean_se([3.0])[2])
    with pytest.raises(ValueError):
        mean_se([])
    diffs, m, _, se = paired_differences({0: 3.0, 1: 5.0, 2: 1.0}, {0: 1.0, 1: 2.0, 3: 9.0})
    assert diffs == {0: 2.0, 1: 3.0} and m == 2.5 and se == pytest.approx(0.5)
    with pytest.raises(ValueError, match='share no seed'):
        paired_differences({0: 1.0}, {1: 1.0})
    assert format_mean_se([1.0, 2.0, 3.0, 4.0]) == '2.5 +- 0.6 (n=4)'
