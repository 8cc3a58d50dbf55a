"""The cost summary of tools/analysis_tools/benchmark_a3d.py on hand-made timings."""
import pytest


@pytest.fixture(scope='module')
def bench(load_tool):
    return load_tool('analysis_tools/benchmark_a3d')


def test_summarise_mutual_cost(bench):
    # iteration ratios 1.5/1.0, 3.0/2.0, 1.2/1.0 over MACs ratios 1.5, 1.25, 1.2
    res = bench.summarise_mutual_cost([1.5, 3.0, 1.2], [1.0, 2.0, 1.0], [1.5, 1.25, 1.2])
    assert res['wallclock_over_macs'] == pytest.approx(1.0)  # median of 1.0, 1.2, 1.0
    assert res['wallclock_over_macs_totals'] == pytest.approx((5.7 / 4.0) / (3.95 / 3))
    assert res['in_memory_iter_ratio'] == pytest.approx(1.5)
    assert res['macs_ratio_sampled'] == pytest.approx(3.95 / 3)
    assert len(res['per_iter']) == 3 and res['per_iter'][1]['a3d_s'] == 3.0
